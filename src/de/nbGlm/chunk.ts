/**
 * Reading X for the NB GLM: one pass over rows for the size factors (which also refuses any value that is
 * not a non-negative whole number, naming its cell and gene), and gene chunks holding each slot's non-zero
 * counts with their cells' size factors (CSR and dense read in row bands, CSC column by column).
 *
 * Cost: the size-factor pass reads X once (O(stored values), memory one band); a chunk holds 16 bytes per
 * non-zero of its slots (count + size factor) and is read from X once (CSR: one pass over the row bands
 * per chunk, as the Wilcoxon test; CSC: only its columns).
 */
import type { MatrixReader } from "../../io/anndata/matrixReader.ts";
import type { NdArray, SparseMatrix } from "../../io/anndata/model.ts";
import type { TypedArray } from "../../io/dtypes.ts";
import { num } from "../../core/sparse.ts";
import { throwIfAborted, type StreamOptions } from "../../core/streaming.ts";
import { CrispyxError, InvalidArgumentError } from "../../errors.ts";
import { openH5ad } from "../../io/anndata/handle.ts";
import { rowBands } from "../groupStats.ts";
import type { NbChunk } from "./kernel.ts";

/** The error for a value that is not a count, naming the cell and gene (by name when the file gives them). */
function notACount(v: number, cell: number, gene: number, inputPath: string, method: string): InvalidArgumentError {
  let where = `cell ${cell}, gene ${gene} (0-based)`;
  try {
    const h = openH5ad(inputPath);
    try {
      where = `cell '${h.obsNames[cell]}' (row ${cell}), gene '${h.varNames[gene]}' (column ${gene})`;
    } finally {
      h.close();
    }
  } catch {
    // names are a courtesy: the indices say it too
  }
  return new InvalidArgumentError(
    `X holds ${v} at ${where}, not a non-negative whole number; DE method '${method}' expects raw counts`,
    { file: inputPath, hint: "give the raw counts: the file before 'crispyx normalize', or a counts layer (--layer)" },
  );
}

const isCount = (v: number) => v >= 0 && Math.floor(v) === v && v < Infinity;

/**
 * Every cell's total count (one pass over X), refusing the first value that is not a count. CSR and dense:
 * row bands; CSC: column bands.
 */
export function cellTotals(
  reader: MatrixReader,
  opts: StreamOptions,
  inputPath: string,
  method: string,
  geneLogs: { logSum: Float64Array; count: Float64Array } | null = null,
  classNnz: { cls: Int32Array; nnz: Int32Array } | null = null,
): Float64Array {
  const [nObs, nGenes] = reader.shape;
  const totals = new Float64Array(nObs);
  // Each non-zero's log into its gene's sum (median-of-ratios' geometric means), and its count into its
  // cell's class × gene (covariate levels), when asked.
  const addLog = (j: number, v: number, cell: number) => {
    if (geneLogs && v > 0) {
      geneLogs.logSum[j] += Math.log(v);
      geneLogs.count[j]++;
    }
    if (classNnz && v > 0) {
      const c = classNnz.cls[cell]!;
      if (c >= 0) classNnz.nnz[c * nGenes + j]++;
    }
  };
  if (reader.info.format === "csc") {
    const step = Math.max(
      1,
      Math.min(nGenes, Math.floor((1 << 23) / Math.max(1, reader.info.nnz / Math.max(1, nGenes)))),
    );
    for (let g0 = 0; g0 < nGenes; g0 += step) {
      throwIfAborted(opts.signal);
      const g1 = Math.min(nGenes, g0 + step);
      const b = reader.cols(g0, g1, "csc") as SparseMatrix;
      const data = b.data as unknown as ArrayLike<number>,
        idx = b.indices as unknown as ArrayLike<number>;
      for (let c = 0; c < g1 - g0; c++) {
        for (let k = num(b.indptr, c), e = num(b.indptr, c + 1); k < e; k++) {
          const v = Number(data[k]!);
          if (!isCount(v)) throw notACount(v, Number(idx[k]!), g0 + c, inputPath, method);
          totals[Number(idx[k]!)] += v;
          addLog(g0 + c, v, Number(idx[k]!));
        }
      }
    }
    return totals;
  }
  for (const { r0, r1, block: b } of rowBands(reader, { memoryBudget: opts.memoryBudget, signal: opts.signal }, 0.25)) {
    if (b.type === "array") {
      const d = b.data as TypedArray as unknown as ArrayLike<number>;
      for (let r = 0; r < r1 - r0; r++) {
        let t = 0;
        for (let j = 0; j < nGenes; j++) {
          const v = Number(d[r * nGenes + j]!);
          if (!isCount(v)) throw notACount(v, r0 + r, j, inputPath, method);
          t += v;
          addLog(j, v, r0 + r);
        }
        totals[r0 + r] = t;
      }
    } else {
      const s = b as SparseMatrix;
      const data = s.data as unknown as ArrayLike<number>,
        idx = s.indices as unknown as ArrayLike<number>;
      for (let r = 0; r < r1 - r0; r++) {
        let t = 0;
        for (let k = num(s.indptr, r), e = num(s.indptr, r + 1); k < e; k++) {
          const v = Number(data[k]!);
          if (!isCount(v)) throw notACount(v, r0 + r, Number(idx[k]!), inputPath, method);
          t += v;
          addLog(Number(idx[k]!), v, r0 + r);
        }
        totals[r0 + r] = t;
      }
    }
    opts.onProgress?.({ phase: "size factors", done: r1, total: nObs, unit: "cells" });
  }
  return totals;
}

/**
 * Library-size factors: each cell's total over the geometric mean of the totals of cells with counts
 * (so they multiply to 1, as DESeq2's and the Python crispyx's); a cell with no counts gets 0 (it then
 * adds nothing to any fit).
 */
export function librarySizeFactors(totals: Float64Array): Float64Array {
  let s = 0,
    n = 0;
  for (const t of totals) {
    if (t > 0) {
      s += Math.log(t);
      n++;
    }
  }
  const gm = n ? Math.exp(s / n) : 1;
  return totals.map((t) => (t > 0 ? t / gm : 0));
}

/** Row blocks of any storage: CSR and dense in bands; CSC as CSR blocks of 8,192 rows (each a scan of X). */
function* rowBlocks(
  reader: MatrixReader,
  opts: StreamOptions,
): Generator<{ r0: number; r1: number; block: NdArray | SparseMatrix }> {
  if (reader.info.format !== "csc") {
    yield* rowBands(reader, { memoryBudget: opts.memoryBudget, signal: opts.signal }, 0.25);
    return;
  }
  const nObs = reader.shape[0];
  for (let r0 = 0; r0 < nObs; r0 += 8192) {
    throwIfAborted(opts.signal);
    const r1 = Math.min(nObs, r0 + 8192);
    yield { r0, r1, block: reader.rows(r0, r1, "csr") as SparseMatrix };
  }
}

/**
 * Median-of-ratios size factors for sparse counts (the Python crispyx's default "sparse" variant of
 * DESeq2's): each gene's geometric mean over its non-zero values, each cell's median of y/gm over its
 * non-zero genes (numpy's median: the mean of the two middle values for an even count), cells without
 * any given the median of the others, all scaled to geometric mean 1. One more pass over X by rows
 * (memory: one band, and one cell's ratios to sort).
 */
export function medianRatioSizeFactors(
  reader: MatrixReader,
  opts: StreamOptions,
  geneLogs: { logSum: Float64Array; count: Float64Array },
): Float64Array {
  const [nObs, nGenes] = reader.shape;
  const gm = new Float64Array(nGenes);
  for (let j = 0; j < nGenes; j++)
    gm[j] = geneLogs.count[j]! > 0 ? Math.exp(geneLogs.logSum[j]! / geneLogs.count[j]!) : 0;
  const sf = new Float64Array(nObs).fill(Number.NaN);
  let buf = new Float64Array(1024);
  const medianOf = (n: number) => {
    const a = buf.subarray(0, n).sort();
    return n % 2 ? a[(n - 1) >> 1]! : 0.5 * (a[n / 2 - 1]! + a[n / 2]!);
  };
  for (const { r0, r1, block: b } of rowBlocks(reader, opts)) {
    const dense = b.type === "array";
    const d = dense ? (b.data as TypedArray as unknown as ArrayLike<number>) : null;
    const s = dense ? null : (b as SparseMatrix);
    for (let r = 0; r < r1 - r0; r++) {
      let n = 0;
      const from = s ? num(s.indptr, r) : r * nGenes,
        to = s ? num(s.indptr, r + 1) : (r + 1) * nGenes;
      if (buf.length < to - from) buf = new Float64Array(to - from);
      for (let k = from; k < to; k++) {
        const v = Number(s ? (s.data as unknown as ArrayLike<number>)[k]! : d![k]!);
        const g = gm[s ? Number((s.indices as unknown as ArrayLike<number>)[k]!) : k - from]!;
        if (v > 0 && g > 0) buf[n++] = v / g;
      }
      if (n) sf[r0 + r] = medianOf(n);
    }
  }
  const valid = Array.from(sf).filter((v) => v > 0 && Number.isFinite(v));
  if (valid.length === 0) return new Float64Array(nObs).fill(1);
  valid.sort((a, b) => a - b);
  const m = valid.length;
  const fallback = m % 2 ? valid[(m - 1) >> 1]! : 0.5 * (valid[m / 2 - 1]! + valid[m / 2]!);
  let logMean = 0;
  for (let i = 0; i < nObs; i++) {
    if (!(sf[i]! > 0 && Number.isFinite(sf[i]!))) sf[i] = fallback;
    logMean += Math.log(sf[i]!);
  }
  const scale = Math.exp(logMean / nObs);
  for (let i = 0; i < nObs; i++) sf[i]! /= scale;
  return sf;
}

/** Gene ranges [start, end) whose non-zeros in slots [slot0, slot0 + slots) fit `maxValues` (≥ 1 gene each, ≤ maxGenes). */
export function planNbChunks(
  nnz: Int32Array,
  nGenes: number,
  slot0: number,
  slots: number,
  maxValues: number,
  maxGenes: number,
): [number, number][] {
  const chunks: [number, number][] = [];
  let start = 0,
    acc = 0;
  for (let j = 0; j < nGenes; j++) {
    let col = 0;
    for (let s = slot0; s < slot0 + slots; s++) col += nnz[s * nGenes + j]!;
    if (j > start && (acc + col > maxValues || j - start >= maxGenes)) {
      chunks.push([start, j]);
      start = j;
      acc = 0;
    }
    acc += col;
  }
  if (start < nGenes) chunks.push([start, nGenes]);
  return chunks;
}

/**
 * The arrays of one chunk, on SharedArrayBuffers, reused from chunk to chunk: a worker thread keeps a
 * buffer it was sent until its own garbage collector runs (rarely: the kernel allocates little), so fresh
 * buffers per chunk piled up (measured: 2.5 GiB peak at a 1 GiB budget, 100k cells × 5k genes).
 */
export class ChunkBuffers {
  private y: Float64Array<ArrayBufferLike> = new Float64Array(0);
  private ys: Float64Array<ArrayBufferLike> = new Float64Array(0);
  private ptr: Int32Array<ArrayBufferLike> = new Int32Array(0);
  constructor(private capacity: number) {}

  valuesFor(n: number): { y: Float64Array; ys: Float64Array } {
    if (this.y.length < n) {
      const len = Math.max(n, this.capacity);
      this.y = new Float64Array(new SharedArrayBuffer(len * 8));
      this.ys = new Float64Array(new SharedArrayBuffer(len * 8));
    }
    return { y: this.y.subarray(0, n), ys: this.ys.subarray(0, n) };
  }

  ptrFor(n: number): Int32Array {
    if (this.ptr.length < n) this.ptr = new Int32Array(new SharedArrayBuffer(n * 4));
    return this.ptr.subarray(0, n);
  }
}

/** Row bands of rows [a, b) only (a sorted file's perturbation slice), each within a tenth of the budget. */
function* rangeBands(
  reader: MatrixReader,
  a: number,
  b: number,
  opts: StreamOptions,
): Generator<{ r0: number; r1: number; block: NdArray | SparseMatrix }> {
  const [nObs, nGenes] = reader.shape;
  const perRow = reader.info.format === "dense" ? nGenes * 8 : Math.max(1, (reader.info.nnz / Math.max(1, nObs)) * 12);
  const step = Math.max(1, Math.floor(((opts.memoryBudget ?? 512 << 20) * 0.1) / perRow));
  for (let r0 = a; r0 < b; r0 += step) {
    throwIfAborted(opts.signal);
    const r1 = Math.min(b, r0 + step);
    yield { r0, r1, block: reader.rows(r0, r1) as NdArray | SparseMatrix };
  }
}

/**
 * Genes [g0, g1) of the cells in (sub-)slots [slot0, slot0 + slots): non-zero counts and size factors,
 * slot-major (see NbChunk). `nnz` ([slot × gene] non-zero counts) sizes every segment exactly. `rows`
 * limits the read to rows [r0, r1) when those slots' cells lie there (a file sorted by perturbation).
 */
export function buildNbChunk(
  reader: MatrixReader,
  cellSlot: Int32Array,
  nnz: Int32Array,
  sf: Float64Array,
  slot0: number,
  slots: number,
  g0: number,
  g1: number,
  buffers: ChunkBuffers,
  opts: StreamOptions,
  rows: [number, number] | null = null,
): NbChunk {
  const nGenes = reader.shape[1];
  const count = g1 - g0;
  const ptr = buffers.ptrFor(count * slots + 1);
  let total = 0;
  for (let s = 0; s < slots; s++) {
    for (let j = 0; j < count; j++) {
      ptr[s * count + j] = total;
      total += nnz[(slot0 + s) * nGenes + g0 + j]!;
    }
  }
  ptr[count * slots] = total;
  if (total > 2 ** 31 - 1)
    throw new CrispyxError(`an NB-GLM gene chunk of ${total} values is too large; lower the memory budget`);
  const { y, ys } = buffers.valuesFor(total);
  const cursor = ptr.slice(0, count * slots);
  const slotEnd = slot0 + slots;
  const put = (cell: number, j: number, v: number) => {
    const slot = cellSlot[cell]!;
    if (slot < slot0 || slot >= slotEnd || v === 0) return;
    const k = cursor[(slot - slot0) * count + j]!++;
    y[k] = v;
    ys[k] = sf[cell]!;
  };
  if (reader.info.format === "csc") {
    const b = reader.cols(g0, g1, "csc") as SparseMatrix;
    const data = b.data as unknown as ArrayLike<number>,
      idx = b.indices as unknown as ArrayLike<number>;
    for (let c = 0; c < count; c++)
      for (let k = num(b.indptr, c), e = num(b.indptr, c + 1); k < e; k++) put(Number(idx[k]!), c, Number(data[k]!));
  } else {
    const bands = rows
      ? rangeBands(reader, rows[0], rows[1], opts)
      : rowBands(reader, { memoryBudget: opts.memoryBudget, signal: opts.signal }, 0.1);
    for (const { r0, r1, block: b } of bands) {
      if (b.type === "array") {
        const d = b.data as TypedArray as unknown as ArrayLike<number>;
        for (let r = 0; r < r1 - r0; r++) {
          const slot = cellSlot[r0 + r]!;
          if (slot < slot0 || slot >= slotEnd) continue;
          for (let j = g0; j < g1; j++) put(r0 + r, j - g0, Number(d[r * nGenes + j]!));
        }
      } else {
        const s = b as SparseMatrix;
        const data = s.data as unknown as ArrayLike<number>,
          idx = s.indices as unknown as ArrayLike<number>;
        const all = g0 === 0 && g1 === nGenes;
        for (let r = 0; r < r1 - r0; r++) {
          const slot = cellSlot[r0 + r]!;
          if (slot < slot0 || slot >= slotEnd) continue;
          for (let k = num(s.indptr, r), e = num(s.indptr, r + 1); k < e; k++) {
            const j = Number(idx[k]!);
            if (all || (j >= g0 && j < g1)) put(r0 + r, j - g0, Number(data[k]!));
          }
        }
      }
    }
  }
  return { y, ys, ptr, g0, count, slot0, slots };
}
