/**
 * Read a matrix once, in blocks along its cheap axis (rows of CSR or dense, columns of CSC), and hand
 * every stored element to an ExternalScatter with its destination line and minor index.
 *
 * `destFrom` says which coordinate becomes the destination line: "index" (the element's minor index in
 * storage — transposes) or "line" (the stored line itself — keeps the orientation); the other coordinate
 * becomes the minor index. `destMap` renumbers destinations (a permutation of cells, for sorting).
 * With "line" the scatter must be in lines mode: each stored line is handed over as one block.
 */
import type { MatrixReader } from "../io/anndata/matrixReader.ts";
import type { NdArray, SparseMatrix } from "../io/anndata/model.ts";
import type { TypedArray } from "../io/dtypes.ts";
import { throwIfAborted, type ProgressCallback } from "../core/streaming.ts";
import { CrispyxError } from "../errors.ts";
import type { ExternalScatter } from "./externalScatter.ts";

export interface FeedOptions {
  destFrom: "index" | "line";
  destMap?: Int32Array;
  /** Bytes of input to read per block. */
  blockBytes: number;
  /** Stored lines (rows of CSR/dense, columns of CSC) per block; overrides blockBytes. */
  linesPerBlock?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  phase?: string;
}

/** Feed every stored element of `reader` into `scatter`. Returns the number of blocks read. */
export function feedElements(reader: MatrixReader, scatter: ExternalScatter, opts: FeedOptions): number {
  const { format, shape, nnz } = reader.info;
  const lineAxis = format === "csc" ? 1 : 0;
  const nLines = shape[lineAxis];
  if (shape[0] >= 2 ** 31 || shape[1] >= 2 ** 31)
    throw new CrispyxError(`${reader.path}: matrices with 2^31 or more rows/columns are not supported`);
  const valueBytes = scatter.values.BYTES_PER_ELEMENT;
  const bytesPerLine = format === "dense" ? shape[1] * valueBytes : (nnz / Math.max(1, nLines)) * (4 + valueBytes) + 8;
  const step = opts.linesPerBlock ?? Math.max(1, Math.floor(opts.blockBytes / Math.max(1, bytesPerLine)));
  if (!Number.isInteger(step) || step < 1) throw new CrispyxError(`chunk size must be a positive integer, got ${step}`);
  let blocks = 0;
  for (let l0 = 0; l0 < nLines; l0 += step) {
    throwIfAborted(opts.signal);
    const l1 = Math.min(nLines, l0 + step);
    const block = lineAxis === 0 ? reader.rows(l0, l1) : reader.cols(l0, l1);
    if (block.type === "array") feedDense(block, l0, scatter, opts);
    else feedSparse(block, l0, scatter, opts);
    blocks++;
    opts.onProgress?.({
      phase: opts.phase ?? "reading",
      done: l1,
      total: nLines,
      unit: lineAxis === 0 ? "rows" : "columns",
    });
  }
  return blocks;
}

function feedSparse(m: SparseMatrix, l0: number, s: ExternalScatter, opts: FeedOptions): void {
  const nLines = m.indptr.length - 1;
  const indptr = m.indptr as unknown as ArrayLike<number | bigint>;
  const idx = m.indices as unknown as ArrayLike<number>;
  const vals = m.data as unknown as number[];
  const map = opts.destMap;
  const byIndex = opts.destFrom === "index";
  // Whole lines move as blocks: copy them with set() when the element types already match.
  const idxFast = m.indices instanceof Int32Array;
  const valFast = m.data.constructor === s.values.constructor;
  for (let i = 0; i < nLines; i++) {
    const line = l0 + i;
    let k = Number(indptr[i]!);
    const e = Number(indptr[i + 1]!);
    const lineDest = byIndex ? 0 : map ? map[line]! : line;
    while (k < e) {
      const room = s.makeRoom(e - k);
      const take = Math.min(room, e - k);
      const { dest, minor } = s;
      const out = s.values as unknown as number[];
      let n = s.n;
      if (byIndex) {
        for (let t = 0; t < take; t++, k++, n++) {
          const j = Number(idx[k]!);
          dest[n] = map ? map[j]! : j;
          minor[n] = line;
          out[n] = vals[k]!;
        }
      } else {
        if (idxFast) minor.set((m.indices as Int32Array).subarray(k, k + take), n);
        else for (let t = 0; t < take; t++) minor[n + t] = Number(idx[k + t]!);
        if (valFast) (s.values as unknown as { set(a: unknown, o: number): void }).set(m.data.subarray(k, k + take), n);
        else for (let t = 0; t < take; t++) out[n + t] = vals[k + t]!;
        k += take;
        n += take;
      }
      s.n = n;
      if (!byIndex) s.markLine(lineDest);
    }
  }
}

function feedDense(a: NdArray, l0: number, s: ExternalScatter, opts: FeedOptions): void {
  const [rows, cols] = a.shape as [number, number];
  const vals = a.data as TypedArray;
  const zero: number | bigint = vals instanceof BigInt64Array || vals instanceof BigUint64Array ? 0n : 0;
  const v = vals as unknown as (number | bigint)[];
  const map = opts.destMap;
  const byIndex = opts.destFrom === "index";
  for (let i = 0; i < rows; i++) {
    const line = l0 + i;
    const lineDest = byIndex ? 0 : map ? map[line]! : line;
    s.makeRoom(cols);
    for (let c = 0; c < cols; c++) {
      const x = v[i * cols + c]!;
      if (x === zero) continue;
      if (s.n === s.capacity) {
        if (!byIndex) s.markLine(lineDest);
        s.makeRoom(cols - c);
      }
      const n = s.n;
      if (byIndex) s.dest[n] = map ? map[c]! : c;
      s.minor[n] = byIndex ? line : c;
      (s.values as unknown as (number | bigint)[])[n] = x;
      s.n = n + 1;
    }
    if (!byIndex) s.markLine(lineDest);
  }
}
