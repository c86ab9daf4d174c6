/**
 * normalizeTotalLog1p: the seed's normalize_total_log1p, file → file with bounded memory — scanpy's
 * `normalize_total(target_sum=1e4)` followed by `log1p`, streamed by blocks of cells.
 *
 *   await normalizeTotalLog1p("screen.h5ad", { output: "screen_norm.h5ad", memoryBudget: 512 << 20 });
 *
 * Output: X as float32 CSR with the input's sparsity (explicit zeros of sparse input kept, zeros of dense
 * input dropped); everything else carried over as Scanpy's in-place normalize_total leaves it (obs, var,
 * uns, obsm, varm, obsp, varp, and layers and raw, streamed). As the seed, each cell's library size is the sum of its row of the input
 * (summed in float64; the seed sums float32 counts in float32), the target sum is a fixed 1e4 by
 * default (not the median of library sizes), values are scaled in float64 and stored as float32, and
 * log1p is applied to the float32 values. Rows with library size 0 stay 0.
 */
import { InvalidArgumentError } from "../errors.ts";
import { sparseMatrixBytes } from "../io/writeErrors.ts";
import type { SparseMatrix } from "../io/anndata/model.ts";
import type { StreamOptions } from "../core/streaming.ts";
import type { DataSource } from "../io/anndata/fileHelpers.ts";
import { checkValueRange } from "../io/anndata/sparseInvariants.ts";
import { iterMatrixChunks } from "./chunks.ts";
import { runRowOperator, type RowPlan } from "./runner.ts";

export interface NormalizeOptions extends StreamOptions {
  /** Path of the new .h5ad file (must differ from the input). */
  output: string;
  /** Scale each cell to `targetSum` counts. Default true. */
  normalize?: boolean;
  /** Apply log(1 + x). Default true. */
  log1p?: boolean;
  /** Counts per cell after normalisation. Default 1e4. */
  targetSum?: number;
  /** Write X on a worker thread (default: when X is larger than 256 MiB). */
  background?: boolean;
}

export interface NormalizeResult {
  output: string;
  nObs: number;
  nVars: number;
  nnz: number;
}

/** A block's indptr as plain numbers (int64 on disk comes as BigInt64Array). */
function ptrOf(b: SparseMatrix): Int32Array | Float64Array {
  return b.indptr instanceof Int32Array ? b.indptr : Float64Array.from(b.indptr as ArrayLike<number | bigint>, Number);
}

/**
 * Library size of row i of a CSR block, accumulated in float64 whatever the input's type: a float32 running
 * sum (the seed's scipy sum) drifts by up to ~1e-6 relative on long rows of non-integer values, where
 * Scanpy's sums agree with float64 to ~1e-7. (Integer counts sum exactly either way.)
 */
function librarySize(v: ArrayLike<number | bigint>, s0: number, e: number): number {
  let s = 0;
  for (let k = s0; k < e; k++) s += Number(v[k]!);
  return s;
}

/** Small non-negative integer counts get their log1p from a per-row table (counts repeat within a cell). */
const TABLE = 256;

/**
 * Checks the input values of row i's stored elements s … e-1 (before they are rewritten), throwing on a
 * value counts cannot hold. Called for the rows the table path does not already prove to be counts.
 */
export type RowValueCheck = (s: number, e: number, i: number) => void;

/**
 * The processed values of one CSR block (float32). `inPlace`: a float32 block's own `data` is overwritten
 * and returned (the caller owns it) — saves allocating and filling an X-sized output array per block.
 * Each row's library size is taken just before the row is rewritten, while it is still in cache.
 * `checkRow`: the values check, done here in the loop that reads the values anyway (see RowValueCheck).
 */
export function normalizeLog1pBlock(
  b: SparseMatrix,
  normalize: boolean,
  log1p: boolean,
  targetSum: number,
  inPlace = false,
  checkRow?: RowValueCheck,
): Float32Array {
  const n = b.data.length;
  const f32 = b.data instanceof Float32Array;
  let out: Float32Array;
  if (f32 && inPlace) out = b.data as Float32Array;
  else {
    out = new Float32Array(n);
    if (f32) out.set(b.data as Float32Array);
    else {
      const src = b.data as unknown as ArrayLike<number | bigint>;
      for (let k = 0; k < n; k++) out[k] = Number(src[k]!);
    }
  }
  const ptr = ptrOf(b);
  const rows = b.shape[0];
  if (f32 && ptr instanceof Int32Array) {
    normalizeRowsF32(out, ptr, rows, normalize, log1p, targetSum, checkRow);
    return out;
  }
  // Float32 input: sum what is in `out` (identical values); other types: the original, in its precision.
  const sumOf: ArrayLike<number | bigint> = f32 ? out : (b.data as unknown as ArrayLike<number | bigint>);
  const stamp = new Int32Array(TABLE).fill(-1);
  const table = new Float32Array(TABLE);
  for (let i = 0; i < rows; i++) {
    const s0 = ptr[i]!,
      e = ptr[i + 1]!;
    checkRow?.(s0, e, i);
    let scale = 1;
    if (normalize) {
      const l = librarySize(sumOf, s0, e);
      // numpy divides a Python float by a float32 array in float32 (NEP 50): round the scale the same way.
      scale = l > 0 ? (f32 ? Math.fround(targetSum / l) : targetSum / l) : 0;
    }
    for (let k = s0; k < e; k++) {
      const c = out[k]!;
      const ci = c | 0;
      if (ci === c && ci >= 0 && ci < TABLE) {
        // Same value as the general path below, computed once per distinct count of the row.
        if (stamp[ci] !== i) {
          stamp[ci] = i;
          const v = Math.fround(c * scale);
          table[ci] = log1p ? Math.log1p(v) : v;
        }
        out[k] = table[ci]!;
      } else {
        const v = normalize ? Math.fround(c * scale) : c;
        out[k] = log1p ? Math.log1p(v) : v;
      }
    }
  }
  return out;
}

/**
 * The float32 CSR case, rewritten in place (the common one: counts stored as float32). A row of small
 * non-negative integer counts — nearly every row of a count matrix — is summed as integers (exactly the
 * float32 running sum while the total stays ≤ 2^24) and mapped through a table of its 0..max transformed
 * values, so each element costs a table load instead of a multiply and a log1p (2× faster, measured).
 * Other rows take the element-by-element path with the same roundings. The table path's test is also the
 * counts check (whole, ≥ 0): `checkRow` runs only from a row's first value that fails it.
 */
function normalizeRowsF32(
  out: Float32Array,
  ptr: Int32Array,
  rows: number,
  normalize: boolean,
  log1p: boolean,
  targetSum: number,
  checkRow?: RowValueCheck,
): void {
  const table = new Float32Array(TABLE);
  const transform = (c: number, scale: number): number => {
    const v = normalize ? Math.fround(c * scale) : c;
    return log1p ? Math.log1p(v) : v;
  };
  for (let i = 0; i < rows; i++) {
    const s0 = ptr[i]!,
      e = ptr[i + 1]!;
    let sum = 0,
      max = 0,
      k = s0;
    for (; k < e; k++) {
      const c = out[k]!;
      const ci = c | 0;
      if (ci !== c || ci < 0) break;
      sum += ci;
      if (ci > max) max = ci;
    }
    if (k === e && sum <= 2 ** 24 && max < TABLE) {
      const scale = normalize ? (sum > 0 ? Math.fround(targetSum / sum) : 0) : 1;
      for (let c = 0; c <= max; c++) table[c] = transform(c, scale);
      for (let q = s0; q < e; q++) out[q] = table[out[q]! | 0]!;
      continue;
    }
    if (k < e) checkRow?.(k, e, i);
    let scale = 1;
    if (normalize) {
      const l = librarySize(out, s0, e);
      scale = l > 0 ? Math.fround(targetSum / l) : 0;
    }
    for (let q = s0; q < e; q++) out[q] = transform(out[q]!, scale);
  }
}

/** Normalise each cell to `targetSum` counts and/or log1p-transform X, streaming, into a new file (./runner.ts). */
export async function normalizeTotalLog1p(input: DataSource, opts: NormalizeOptions): Promise<NormalizeResult> {
  const normalize = opts.normalize ?? true;
  const log1p = opts.log1p ?? true;
  const targetSum = opts.targetSum ?? 1e4;
  if (!normalize && !log1p) throw new InvalidArgumentError("at least one of normalize or log1p must be true");
  if (!(Number.isFinite(targetSum) && targetSum > 0))
    throw new InvalidArgumentError(`target sum must be a positive number, got ${targetSum}`);
  return runRowOperator(input, opts, {
    name: "normalizeTotalLog1p",
    phase: "normalizing",
    prepare: ({ x }): RowPlan<SparseMatrix, NormalizeResult> => {
      // Scaling needs counts: NaN, ±Inf and negative values are refused, naming cell and gene. CSR input is
      // checked by the transform's own loop over the values (a pass over X saved); other layouts by the reader.
      const csr = x.format === "csr";
      if (!csr) x.values = "counts";
      let firstRow = 0; // of the block being transformed: blocks come in order
      let block: SparseMatrix | null = null;
      let row = 0;
      const where = {
        file: x.file.path,
        path: x.path,
        locate: { cellGene: (k: number): [number, number] => [row, Number(block!.indices[k]!)] },
      };
      const checkRow: RowValueCheck | undefined = csr
        ? (s, e, i) => {
            row = firstRow + i;
            checkValueRange(block!.data, s, e, "counts", where);
          }
        : undefined;
      const [nObs, nVars] = x.shape;
      const dense = x.format === "dense";
      const bytesIn = x.info.dtype === "float64" || x.info.dtype === "int64" || x.info.dtype === "uint64" ? 8 : 4;
      return {
        // Per cell: the input row (value + index) and the output row (float32 + index), plus dense rows.
        bytesPerRow: dense ? nVars * (bytesIn + 12) : (x.info.nnz / Math.max(1, nObs)) * (bytesIn + 12) + 16,
        // Sparse input keeps its stored elements; dense input's count is only known at the end.
        output: () => ({
          carry: { memoryBudget: opts.memoryBudget },
          x: {
            format: "csr",
            shape: [nObs, nVars],
            dtype: "float32",
            ...(dense ? { maxNnz: nObs * nVars } : { nnz: x.info.nnz }),
          },
          xBytes: x.info.nnz * 8,
          ...(dense ? {} : { expectedBytes: sparseMatrixBytes(x.info.nnz, 4, nObs) }),
        }),
        // Recycled read buffers for CSR input (blocks of other layouts are built fresh by conversion).
        blocks: (chunkSize, pool) =>
          blocksOf(
            iterMatrixChunks(x, {
              axis: 0,
              chunkSize,
              dense: false,
              layout: "csr",
              memoryBudget: opts.memoryBudget,
              pool,
            }),
          ),
        transform: (b, pool) => {
          // The block's arrays are ours alone: rewrite the values in place, recycle them once written.
          block = b;
          const values = normalizeLog1pBlock(b, normalize, log1p, targetSum, true, checkRow);
          firstRow += b.shape[0];
          return {
            indptr: b.indptr,
            indices: b.indices,
            data: values,
            release: pool && (() => pool.give(b.indices, b.data, values)),
          };
        },
        result: (nnz) => ({ output: opts.output, nObs, nVars, nnz }),
      };
    },
  });
}

function* blocksOf(chunks: Iterable<{ block: unknown }>): Generator<SparseMatrix> {
  for (const c of chunks) yield c.block as SparseMatrix;
}
