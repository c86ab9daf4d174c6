/**
 * Data-driven QC thresholds (the seed's `calculate_adaptive_qc_thresholds`): minimum genes per cell,
 * cells per perturbation and cells per gene, chosen from low percentiles of the data so that filtering
 * removes outliers but keeps ~90% (conservative) or ~95% (aggressive) of it.
 *
 * Memory: X is read in blocks within the memory budget and never held whole. What grows with the data:
 * the perturbation column's codes (read once), one 4-byte slot per cell for the seeded shuffle when
 * sampling (numpy's algorithm needs the whole permutation), per-gene counters, and one counter per
 * sampled cell.
 */
import { InvalidArgumentError } from "../errors.ts";
import { openH5ad, type H5adHandle } from "../io/anndata/handle.ts";
import type { MatrixReader } from "../io/anndata/matrixReader.ts";
import type { Column, NdArray, SparseMatrix } from "../io/anndata/model.ts";
import type { TypedArray } from "../io/h5/types.ts";
import { rowsForBudget, throwIfAborted, type StreamOptions } from "../core/streaming.ts";
import { calculateOptimalChunkSize } from "./chunkPlanning.ts";
import { legacyChoiceWithoutReplacement } from "./numpyRandom.ts";
import type { MemoryProbeSources } from "./systemMemory.ts";

export type QcMode = "conservative" | "aggressive";

export interface AdaptiveQcOptions extends StreamOptions {
  /** "conservative" (10th percentiles, default) or "aggressive" (5th percentiles). */
  mode?: QcMode;
  /** Cells sampled for the gene statistics (default 10000); all cells when the file has fewer. */
  sampleSize?: number;
  /**
   * Cells per block, reported back as `chunkSize` for the QC steps (the seed's `chunk_size`) and used
   * to read X. Default: `calculateOptimalChunkSize` for the file, reading X in blocks that fit `memoryBudget`.
   */
  chunkSize?: number;
  /**
   * Seed of the cell sample: the same cells as `np.random.seed(seed)` before the seed's function in
   * Python (default 0; the Python original uses numpy's global state, so it is only reproducible if seeded).
   */
  seed?: number;
  /** Read this layer ("raw" for raw/X) instead of X. */
  layer?: string;
  /** Memory in GB for planning the reported chunk size (default: detected, cgroup-aware). */
  availableMemoryGb?: number;
  /** Where memory detection reads from (tests). */
  memorySources?: MemoryProbeSources;
}

/** The thresholds, with the quantities they came from (for `crispyx qc-thresholds` to explain). */
export interface AdaptiveQcThresholds {
  /** Minimum genes per cell: a tenth of the median genes per sampled cell, within [5, 50]. */
  minGenes: number;
  /** Minimum cells per perturbation: the percentile of cells per perturbation, within [5, 50]. */
  minCellsPerPerturbation: number;
  /** Minimum cells per gene: the percentile of sampled cells expressing each gene, within [5, 100]. */
  minCellsPerGene: number;
  /** Cells per block for the QC passes (given, or planned from the memory). */
  chunkSize: number;
  chunkSizeSource: "given" | "planned";
  mode: QcMode;
  /** 10 (conservative) or 5 (aggressive). */
  percentile: number;
  /** The percentile of cells per perturbation (before clamping). */
  perturbationPercentile: number;
  /** Perturbations counted (a categorical's unused categories count, with 0 cells, as in pandas). */
  nPerturbations: number;
  /** The percentile of cells per gene over the sampled cells (before clamping). */
  genePercentile: number;
  /** The median genes per sampled cell. */
  medianGenes: number;
  nCells: number;
  nGenes: number;
  nCellsSampled: number;
  /** The sampling seed, or null when every cell was used (nothing was drawn). */
  seed: number | null;
}

/**
 * numpy's default ("linear") percentile of values sorted ascending, operation for operation
 * (`np.percentile(a, q)` with q in [0, 100]; pandas' `Series.quantile(q / 100)` gives the same).
 */
export function numpyPercentileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const quantile = q / 100;
  const virtual = (n - 1) * quantile;
  if (virtual >= n - 1) return sorted[n - 1]!;
  if (virtual < 0) return sorted[0]!;
  const prev = Math.floor(virtual);
  const a = sorted[prev]!, b = sorted[prev + 1]!;
  const gamma = virtual - prev;
  const diff = b - a;
  // numpy's _lerp: from below for gamma < 0.5, from above otherwise.
  return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
}

/** Python's max()/min() of two numbers: the first argument wins ties and NaN comparisons. */
const pyMax = (a: number, b: number): number => (b > a ? b : a);
const pyMin = (a: number, b: number): number => (b < a ? b : a);

/** pandas `value_counts()` counts (dropna): one count per category (unused ones count 0) or distinct value. */
export function valueCounts(col: Column): number[] {
  if (col.type === "categorical") {
    const counts = new Array<number>(col.categories.data.length).fill(0);
    const codes = col.codes as ArrayLike<number | bigint>;
    for (let i = 0; i < codes.length; i++) {
      const k = Number(codes[i]);
      if (k >= 0) counts[k]!++;
    }
    return counts;
  }
  const values: NdArray = col.type === "array" ? col : col.values;
  if (values.shape.length > 1) throw new InvalidArgumentError("a 2-D array is not a table column");
  const mask = col.type === "array" ? null : col.mask;
  const counts = new Map<unknown, number>();
  const data = values.data as ArrayLike<unknown>;
  for (let i = 0; i < data.length; i++) {
    if (mask && mask[i]) continue;
    const x = data[i];
    if (typeof x === "number" && Number.isNaN(x)) continue;
    counts.set(x, (counts.get(x) ?? 0) + 1);
  }
  return [...counts.values()];
}

function asNumbers(a: TypedArray): ArrayLike<number> {
  return a instanceof BigInt64Array || a instanceof BigUint64Array ? Float64Array.from(a as ArrayLike<bigint>, Number) : (a as ArrayLike<number>);
}

/** First position in sorted `a` whose value is ≥ x. */
function lowerBound(a: Uint32Array, x: number, lo = 0, hi = a.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

interface Counters {
  /** Sampled cells in which each gene is detected. */
  cellsPerGene: Float64Array;
  /** Genes detected per sampled cell, in sample order. */
  genesPerCell: Int32Array;
}

/**
 * Detection counts as the seed makes them: a sparse matrix counts its stored entries (explicit zeros
 * included, as scipy's indptr does), a dense matrix counts values > 0.
 */
function countDetections(X: MatrixReader, sample: Uint32Array | null, opts: AdaptiveQcOptions): Counters {
  const [nObs, nVars] = X.shape;
  const nCells = sample ? sample.length : nObs;
  const cellsPerGene = new Float64Array(nVars);
  const genesPerCell = new Int32Array(nCells);
  const itemBytes = X.info.dtype === "bool" ? 1 : Number(/\d+/.exec(X.info.dtype)?.[0] ?? 64) / 8;
  const report = (done: number, total: number, unit: string) =>
    opts.onProgress?.({ phase: "counting detected genes", done, total, unit });

  if (X.format === "csc") {
    // Columns are CSC's cheap direction: one pass over gene blocks, keeping the sampled cells' entries.
    const bytesPerCol = (X.info.nnz / Math.max(1, nVars)) * (itemBytes + 8) + 16;
    const step = rowsForBudget(bytesPerCol, nVars, { memoryBudget: opts.memoryBudget });
    for (let c0 = 0; c0 < nVars; c0 += step) {
      throwIfAborted(opts.signal);
      const c1 = Math.min(nVars, c0 + step);
      const block = X.cols(c0, c1, "csc") as SparseMatrix;
      const indptr = asNumbers(block.indptr), rows = asNumbers(block.indices);
      for (let j = 0; j < c1 - c0; j++) {
        let n = 0;
        for (let k = indptr[j]!, e = indptr[j + 1]!; k < e; k++) {
          const r = rows[k]!;
          const pos = sample ? lowerBound(sample, r) : r;
          if (sample && sample[pos] !== r) continue;
          genesPerCell[pos]!++;
          n++;
        }
        cellsPerGene[c0 + j]! += n;
      }
      report(c1, nVars, "genes");
    }
    return { cellsPerGene, genesPerCell };
  }

  const bytesPerRow = X.format === "dense" ? nVars * itemBytes : (X.info.nnz / Math.max(1, nObs)) * (itemBytes + 8) + 16;
  const step = rowsForBudget(bytesPerRow, nObs, { memoryBudget: opts.memoryBudget, chunkSize: opts.chunkSize });
  let filled = 0; // sampled cells counted so far (the sample is sorted, so blocks fill it in order)
  for (let r0 = 0; r0 < nObs; r0 += step) {
    throwIfAborted(opts.signal);
    const r1 = Math.min(nObs, r0 + step);
    // Rows of this block to count, relative to r0.
    let picks: Uint32Array | null = null;
    if (sample) {
      const hi = lowerBound(sample, r1, filled);
      picks = sample.subarray(filled, hi);
      if (picks.length === 0) {
        report(r1, nObs, "cells");
        continue;
      }
    }
    const nPicked = picks ? picks.length : r1 - r0;
    if (X.format === "dense") {
      const block = X.rows(r0, r1, "dense") as NdArray;
      const data = block.data as ArrayLike<number>;
      for (let t = 0; t < nPicked; t++) {
        const row = (picks ? picks[t]! - r0 : t) * nVars;
        let n = 0;
        for (let j = 0; j < nVars; j++) {
          if (data[row + j]! > 0) {
            cellsPerGene[j]!++;
            n++;
          }
        }
        genesPerCell[filled + t] = n;
      }
    } else {
      // CSR: read only the sampled rows when they are few, else the whole block.
      const sparseSample = picks !== null && picks.length * 8 < r1 - r0;
      const block = (sparseSample ? X.takeRows(picks!, "csr") : X.rows(r0, r1, "csr")) as SparseMatrix;
      const indptr = asNumbers(block.indptr), cols = asNumbers(block.indices);
      for (let t = 0; t < nPicked; t++) {
        const row = sparseSample || !picks ? t : picks[t]! - r0;
        const s = indptr[row]!, e = indptr[row + 1]!;
        for (let k = s; k < e; k++) cellsPerGene[cols[k]!]!++;
        genesPerCell[filled + t] = e - s;
      }
    }
    filled += nPicked;
    report(r1, nObs, "cells");
  }
  return { cellsPerGene, genesPerCell };
}

/** numpy's median of integers: the middle value, or the mean of the two middle values. */
function medianOf(values: Int32Array): number {
  const sorted = Int32Array.from(values).sort();
  const n = sorted.length;
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function checkInt(name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new InvalidArgumentError(`${name} must be an integer ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `between ${min} and ${max}`}, got ${v}`);
  }
  return v;
}

/**
 * Adaptive QC thresholds from the data, as the seed computes them:
 * - minCellsPerPerturbation = clamp(percentile of cells per perturbation label, 5, 50)
 * - minCellsPerGene = clamp(percentile of sampled cells detecting each gene, 5, 100)
 * - minGenes = clamp(floor(median genes per sampled cell / 10), 5, 50)
 * with the 10th percentile ("conservative") or the 5th ("aggressive"), over at most `sampleSize` cells
 * drawn with numpy's seeded algorithm (so a seeded Python run samples the same cells).
 *
 * @param source an open handle or a path to a .h5ad file (opened and closed here)
 * @param column the obs column with perturbation labels
 * @throws InvalidArgumentError for a missing column, a bad option, or a file without cells or genes
 */
export function calculateAdaptiveQcThresholds(
  source: H5adHandle | string,
  column: string,
  options: AdaptiveQcOptions = {},
): AdaptiveQcThresholds {
  const handle = typeof source === "string" ? openH5ad(source) : source;
  try {
    return computeThresholds(handle, column, options);
  } finally {
    if (typeof source === "string") handle.close();
  }
}

function computeThresholds(handle: H5adHandle, column: string, options: AdaptiveQcOptions): AdaptiveQcThresholds {
  const mode = options.mode ?? "conservative";
  if (mode !== "conservative" && mode !== "aggressive") {
    throw new InvalidArgumentError(`QC mode must be conservative or aggressive, got '${String(mode)}'`);
  }
  const sampleSize = checkInt("sampleSize", options.sampleSize ?? 10000, 1);
  if (options.chunkSize !== undefined) checkInt("chunkSize", options.chunkSize, 1);
  const seed = checkInt("seed", options.seed ?? 0, 0, 0xffffffff);
  // Validate everything before reading X.
  const X = handle.matrix(options.layer);
  const [nObs, nVars] = X.shape;
  const file = handle.path;
  if (nObs === 0) throw new InvalidArgumentError(`${file}: has no cells, so there is nothing to base QC thresholds on`, { file });
  if (nVars === 0) throw new InvalidArgumentError(`${file}: has no genes, so there is nothing to base QC thresholds on`, { file });
  const labels = handle.obs.column(column);
  const percentile = mode === "conservative" ? 10.0 : 5.0;

  const perPerturbation = Float64Array.from(valueCounts(labels)).sort();
  const perturbationPercentile = numpyPercentileSorted(perPerturbation, percentile);
  const minCellsPerPerturbation = Math.trunc(pyMax(5, pyMin(50, perturbationPercentile)));

  const nSample = Math.min(sampleSize, nObs);
  const sample = nSample < nObs ? legacyChoiceWithoutReplacement(nObs, nSample, seed) : null;
  const { cellsPerGene, genesPerCell } = countDetections(X, sample, options);

  const genePercentile = numpyPercentileSorted(cellsPerGene.sort(), percentile);
  const minCellsPerGene = Math.trunc(pyMax(5, pyMin(100, genePercentile)));
  const medianGenes = medianOf(genesPerCell);
  const minGenes = pyMax(5, pyMin(50, Math.floor(Math.trunc(medianGenes) / 10)));

  const chunkSize = options.chunkSize ?? calculateOptimalChunkSize(nObs, nVars, {
    availableMemoryGb: options.availableMemoryGb, memorySources: options.memorySources,
  });
  return {
    minGenes, minCellsPerPerturbation, minCellsPerGene, chunkSize,
    chunkSizeSource: options.chunkSize === undefined ? "planned" : "given",
    mode, percentile, perturbationPercentile, nPerturbations: perPerturbation.length,
    genePercentile, medianGenes, nCells: nObs, nGenes: nVars, nCellsSampled: nSample,
    seed: sample ? seed : null,
  };
}
