/**
 * Iterate over an on-disk matrix (X, a layer) in chunks of rows (axis 0) or columns (axis 1), the
 * seed's `iter_matrix_chunks`, with bounded memory whatever the storage format:
 *
 *   for (const { start, end, block } of iterMatrixChunks(handle, { axis: 1, chunkSize: 512, dense: false })) …
 *
 * Cost model (nnz bytes = stored elements × (value bytes + 4)):
 * - rows of CSR, columns of CSC, rows of dense: each chunk reads only its own bytes (one pass in all).
 * - the expensive direction — columns of CSR, rows of CSC, columns of dense — is served in bands: one
 *   sequential pass over the whole matrix fills every chunk of a band whose buffers fit the memory
 *   budget, so the matrix is read ceil(nnz bytes / (budget share)) times (once when it fits), never
 *   once per chunk. For sparse storage a first pass reads `indices` alone to size the bands exactly.
 */
import type { H5adHandle } from "../io/anndata/handle.ts";
import { MatrixReader, type MatrixInfo } from "../io/anndata/matrixReader.ts";
import { readIndices, readIndptr } from "../io/anndata/sparseParts.ts";
import type { NdArray, SparseMatrix } from "../io/anndata/model.ts";
import { TYPED_ARRAY_OF, type NumericDtype, type TypedArray } from "../io/dtypes.ts";
import { num, sparseToDense, toLayout, type Block, type BlockLayout } from "../core/sparse.ts";
import { DEFAULT_MEMORY_BUDGET, rowsForBudget } from "../core/streaming.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { ArrayPool } from "../core/arrayPool.ts";

export interface ChunkOptions {
  /** 0: chunks of rows (cells), 1: chunks of columns (genes). Default 0. */
  axis?: 0 | 1;
  /** Rows or columns per chunk. Default 1024 (as the seed). */
  chunkSize?: number;
  /** Hand out dense row-major blocks (the seed's convert_to_dense, default true). */
  dense?: boolean;
  /** Sparse layout of the blocks when not dense (default: the storage's own, CSR for dense storage). */
  layout?: Exclude<BlockLayout, "dense">;
  /** Working memory for one band of the expensive direction, in bytes. */
  memoryBudget?: number;
  /**
   * Read sparse blocks of the cheap direction into this pool's recycled buffers (../core/arrayPool.ts);
   * the caller gives each block's data and indices back when done with them.
   */
  pool?: ArrayPool;
}

export interface MatrixChunk {
  /** The chunk covers rows (axis 0) or columns (axis 1) start … end-1. */
  start: number;
  end: number;
  block: Block;
}

/** Share of the budget a band's buffers may use (the rest: read blocks, the caller's own work). */
const BAND_SHARE = 0.5;

function readerOf(src: H5adHandle | MatrixReader): MatrixReader {
  return src instanceof MatrixReader ? src : src.X;
}

/** Yield `{start, end, block}` chunks of the matrix along `axis` (see the module comment for the cost). */
export function* iterMatrixChunks(src: H5adHandle | MatrixReader, opts: ChunkOptions = {}): Generator<MatrixChunk> {
  const reader = readerOf(src);
  const axis = opts.axis ?? 0;
  if (axis !== 0 && axis !== 1)
    throw new InvalidArgumentError(`axis must be 0 (rows) or 1 (columns), got ${String(axis)}`);
  const chunkSize = opts.chunkSize ?? 1024;
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw new InvalidArgumentError(`chunk size must be a positive integer, got ${chunkSize}`);
  const { format } = reader.info;
  const cheap = format === "dense" ? axis === 0 : (format === "csr") === (axis === 0);
  const chunks = cheap
    ? cheapChunks(reader, axis, chunkSize)
    : bandedChunks(reader, chunkSize, opts.memoryBudget ?? DEFAULT_MEMORY_BUDGET);
  const previous = reader.pool;
  if (cheap && opts.pool) reader.pool = opts.pool;
  try {
    for (const c of chunks) yield { ...c, block: shape(c.block, opts) };
  } finally {
    reader.pool = previous;
  }
}

function shape(b: Block, opts: ChunkOptions): Block {
  if (opts.dense ?? true) return b.type === "array" ? b : sparseToDense(b);
  if (b.type === "array") return toLayout(b, opts.layout ?? "csr");
  return opts.layout ? toLayout(b, opts.layout) : b;
}

function* cheapChunks(reader: MatrixReader, axis: 0 | 1, chunkSize: number): Generator<MatrixChunk> {
  const n = reader.shape[axis];
  for (let start = 0; start < n; start += chunkSize) {
    const end = Math.min(n, start + chunkSize);
    yield { start, end, block: axis === 0 ? reader.rows(start, end) : reader.cols(start, end) };
  }
}

/** Bytes of one stored element: value + int32 index. */
function elementBytes(info: MatrixInfo): number {
  return TYPED_ARRAY_OF[dataDtype(info)].BYTES_PER_ELEMENT + 4;
}

function dataDtype(info: MatrixInfo): NumericDtype {
  return info.dtype === "bool" ? "uint8" : info.dtype;
}

/** Stored elements per minor position (per column of CSR, per row of CSC), from one pass over indices. */
function minorCounts(reader: MatrixReader, budget: number): Float64Array {
  const { format, shape, nnz } = reader.info;
  const csr = format === "csr";
  const nMajor = csr ? shape[0] : shape[1];
  const counts = new Float64Array(csr ? shape[1] : shape[0]);
  const span = rowsForBudget((nnz / Math.max(1, nMajor)) * 8 + 8, nMajor, { memoryBudget: budget }, 0.25);
  const ptr = readIndptr(reader, 0, 0);
  let lo = num(ptr, 0);
  for (let m0 = 0; m0 < nMajor; m0 += span) {
    const m1 = Math.min(nMajor, m0 + span);
    const hi = num(readIndptr(reader, m1, m1), 0);
    const idx = readIndices(reader, lo, hi);
    for (let k = 0; k < idx.length; k++) counts[num(idx, k)]!++;
    lo = hi;
  }
  return counts;
}

interface Band {
  /** Chunk boundaries along the minor axis: chunk t covers edges[t] … edges[t+1]-1. */
  edges: number[];
}

/** Group consecutive chunks into bands whose buffers fit `bandBytes`. */
function planBands(
  nMinor: number,
  chunkSize: number,
  chunkBytes: (s: number, e: number) => number,
  bandBytes: number,
): Band[] {
  const bands: Band[] = [];
  let cur: number[] = [];
  let used = 0;
  for (let s = 0; s < nMinor; s += chunkSize) {
    const e = Math.min(nMinor, s + chunkSize);
    const b = chunkBytes(s, e);
    if (cur.length && used + b > bandBytes) {
      bands.push({ edges: cur });
      cur = [];
      used = 0;
    }
    if (!cur.length) cur.push(s);
    cur.push(e);
    used += b;
  }
  if (cur.length) bands.push({ edges: cur });
  return bands;
}

/** The expensive direction (columns of CSR or dense, rows of CSC): bands of chunks filled in one sequential pass. */
function* bandedChunks(reader: MatrixReader, chunkSize: number, budget: number): Generator<MatrixChunk> {
  const info = reader.info;
  const bandBytes = Math.max(1, budget * BAND_SHARE);
  if (info.format === "dense") {
    yield* denseBands(reader, chunkSize, bandBytes, budget);
    return;
  }
  const csr = info.format === "csr";
  const [nr, nc] = info.shape;
  const nMajor = csr ? nr : nc;
  const nMinor = csr ? nc : nr;
  const counts = minorCounts(reader, budget);
  const prefix = new Float64Array(nMinor + 1);
  for (let j = 0; j < nMinor; j++) prefix[j + 1] = prefix[j]! + counts[j]!;
  const eb = elementBytes(info);
  // Per chunk: its elements, plus its indptr (float64 while filling, then int32 when handed out).
  const chunkBytes = (s: number, e: number) => (prefix[e]! - prefix[s]!) * eb + (nMajor + 1) * 12;
  const readSpan = rowsForBudget((info.nnz / Math.max(1, nMajor)) * eb * 2 + 8, nMajor, { memoryBudget: budget }, 0.25);
  const Data = TYPED_ARRAY_OF[dataDtype(info)];
  for (const band of planBands(nMinor, chunkSize, chunkBytes, bandBytes)) {
    const { edges } = band;
    const nChunks = edges.length - 1;
    const lo = edges[0]!,
      hi = edges[nChunks]!;
    // Which chunk each minor position of the band falls in.
    const chunkOf = new Int32Array(hi - lo);
    for (let t = 0; t < nChunks; t++) chunkOf.fill(t, edges[t]! - lo, edges[t + 1]! - lo);
    const datas: TypedArray[] = [],
      idxs: Int32Array[] = [],
      ptrs: Float64Array[] = [];
    const fill = new Float64Array(nChunks);
    for (let t = 0; t < nChunks; t++) {
      const n = prefix[edges[t + 1]!]! - prefix[edges[t]!]!;
      datas.push(new Data(n));
      idxs.push(new Int32Array(n));
      ptrs.push(new Float64Array(nMajor + 1));
    }
    // One sequential pass: distribute every stored element of the band into its chunk.
    for (let m0 = 0; m0 < nMajor; m0 += readSpan) {
      const m1 = Math.min(nMajor, m0 + readSpan);
      const b = (csr ? reader.rows(m0, m1) : reader.cols(m0, m1)) as SparseMatrix;
      const src = b.data as unknown as (number | bigint)[];
      for (let i = 0; i < m1 - m0; i++) {
        for (let k = num(b.indptr, i), e = num(b.indptr, i + 1); k < e; k++) {
          const j = num(b.indices, k) - lo;
          if (j < 0 || j >= hi - lo) continue;
          const t = chunkOf[j]!;
          const p = fill[t]!++;
          (datas[t] as unknown as (number | bigint)[])[p] = src[k]!;
          idxs[t]![p] = j + lo - edges[t]!;
        }
        for (let t = 0; t < nChunks; t++) ptrs[t]![m0 + i + 1] = fill[t]!;
      }
    }
    for (let t = 0; t < nChunks; t++) {
      const width = edges[t + 1]! - edges[t]!;
      const ptr = ptrs[t]!;
      const indptr = ptr[nMajor]! < 2 ** 31 ? Int32Array.from(ptr) : BigInt64Array.from(ptr, BigInt);
      const block: SparseMatrix = {
        type: info.format as "csr" | "csc",
        shape: csr ? [nr, width] : [width, nc],
        data: datas[t]!,
        indices: idxs[t]!,
        indptr,
      };
      // Release the chunk's buffers before handing out the next one.
      datas[t] = new Data(0);
      idxs[t] = new Int32Array(0);
      ptrs[t] = new Float64Array(0);
      yield { start: edges[t]!, end: edges[t + 1]!, block };
    }
  }
}

/** Column chunks of dense storage: row blocks read once per band, copied into each chunk's buffer. */
function* denseBands(
  reader: MatrixReader,
  chunkSize: number,
  bandBytes: number,
  budget: number,
): Generator<MatrixChunk> {
  const info = reader.info;
  const [nr, nc] = info.shape;
  const Data = TYPED_ARRAY_OF[dataDtype(info)];
  const bytes = Data.BYTES_PER_ELEMENT;
  const bands = planBands(nc, chunkSize, (s, e) => (e - s) * nr * bytes, bandBytes);
  for (const { edges } of bands) {
    const lo = edges[0]!,
      hi = edges.at(-1)!;
    const width = hi - lo;
    const readSpan = rowsForBudget(width * bytes, nr, { memoryBudget: budget }, 0.25);
    const bufs = edges.slice(0, -1).map((s, t) => new Data(nr * (edges[t + 1]! - s)));
    for (let r0 = 0; r0 < nr; r0 += readSpan) {
      const r1 = Math.min(nr, r0 + readSpan);
      const data = reader.file.read(reader.path, [r0, lo], [r1 - r0, width]);
      for (let t = 0; t < bufs.length; t++) {
        const s = edges[t]! - lo,
          w = edges[t + 1]! - edges[t]!;
        for (let i = 0; i < r1 - r0; i++) {
          (bufs[t] as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(
            data.subarray(i * width + s, i * width + s + w) as ArrayLike<unknown>,
            (r0 + i) * w,
          );
        }
      }
    }
    for (let t = 0; t < bufs.length; t++) {
      const w = edges[t + 1]! - edges[t]!;
      const block: NdArray = {
        type: "array",
        dtype: info.dtype === "bool" ? "bool" : dataDtype(info),
        shape: [nr, w],
        data: bufs[t]!,
      };
      bufs[t] = new Data(0);
      yield { start: edges[t]!, end: edges[t + 1]!, block };
    }
  }
}

export interface NormalizeBlockOptions {
  /** Precomputed library sizes of the block's cells (default: the block's row sums). */
  librarySize?: ArrayLike<number>;
  /** Default 1e4 (scanpy's normalize_total default, as the seed). */
  targetSum?: number;
  /** Element type of the result. Default float64. */
  dtype?: "float32" | "float64";
}

/**
 * The seed's normalize_total_block: a dense copy of `block` with each row scaled to sum to
 * `targetSum` (rows with library size 0 become 0). Returns the normalised block and the library sizes.
 */
export function normalizeTotalBlock(
  block: Block,
  opts: NormalizeBlockOptions = {},
): { normalized: NdArray; librarySize: Float64Array } {
  const dense = block.type === "array" ? block : sparseToDense(block);
  if (dense.shape.length !== 2) throw new InvalidArgumentError("block must be two-dimensional");
  const [rows, cols] = dense.shape as [number, number];
  const dtype = opts.dtype ?? "float64";
  const out = new (dtype === "float32" ? Float32Array : Float64Array)(rows * cols);
  const src = dense.data as unknown as ArrayLike<number | bigint>;
  for (let k = 0; k < out.length; k++) out[k] = Number(src[k]!);
  let lib: Float64Array;
  if (opts.librarySize === undefined) {
    lib = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += out[i * cols + j]!;
      lib[i] = dtype === "float32" ? Math.fround(s) : s;
    }
  } else {
    if (opts.librarySize.length !== rows) {
      throw new InvalidArgumentError(
        `library size has ${opts.librarySize.length} entries but the block has ${rows} cells`,
      );
    }
    lib = Float64Array.from(opts.librarySize);
  }
  const target = opts.targetSum ?? 1e4;
  for (let i = 0; i < rows; i++) {
    const scale = lib[i]! > 0 ? target / lib[i]! : 0;
    for (let j = 0; j < cols; j++) out[i * cols + j] = out[i * cols + j]! * scale;
  }
  return { normalized: { type: "array", dtype, shape: [rows, cols], data: out }, librarySize: lib };
}
