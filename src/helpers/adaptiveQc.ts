/**
 * Data-driven QC thresholds (the seed's `calculate_adaptive_qc_thresholds`): minimum genes per cell,
 * cells per perturbation and cells per gene, chosen from low percentiles of the data so that filtering
 * removes outliers but keeps ~90% (conservative) or ~95% (aggressive) of it.
 *
 * Memory: X is read in blocks within the memory budget and never held whole. What grows with the data:
 * the perturbation column's codes (read once) and, when sampling, one 4-byte slot per cell for the
 * seeded shuffle (numpy's algorithm needs the whole permutation); a CSC file also needs one counter per
 * sampled cell. Everything else is per gene.
 */
import { InvalidArgumentError } from "../errors.ts";
import { openH5ad, type H5adHandle } from "../io/anndata/handle.ts";
import type { MatrixReader } from "../io/anndata/matrixReader.ts";
import { readIndices as storedIndices, readIndptr as storedIndptr } from "../io/anndata/sparseParts.ts";
import type { Column, NdArray } from "../io/anndata/model.ts";
import type { TypedArray } from "../io/dtypes.ts";
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
  const a = sorted[prev]!,
    b = sorted[prev + 1]!;
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
  return a instanceof BigInt64Array || a instanceof BigUint64Array
    ? Float64Array.from(a as ArrayLike<bigint>, Number)
    : (a as ArrayLike<number>);
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
  /** histogram[g] = sampled cells with g genes detected (memory set by the genes, not the cells). */
  genesPerCellHistogram: Float64Array;
}

/** Stored elements between two sampled rows below which one read covering both beats two reads. */
const COALESCE_GAP = 1 << 16;

/** indptr[start..end] of a sparse matrix's compressed axis, as absolute positions. */
function readIndptr(X: MatrixReader, start: number, end: number): ArrayLike<number> {
  return asNumbers(storedIndptr(X, start, end));
}

/** indices[lo..hi) of a sparse matrix (the data array is never needed: stored entries are what counts). */
function readIndices(X: MatrixReader, lo: number, hi: number): ArrayLike<number> {
  return hi > lo ? asNumbers(storedIndices(X, lo, hi)) : new Int32Array(0);
}

/**
 * Detection counts as the seed makes them: a sparse matrix counts its stored entries (explicit zeros
 * included, as scipy's indptr does), a dense matrix counts values > 0. Sparse files are read through
 * their index arrays only.
 */
function countDetections(X: MatrixReader, sample: Uint32Array | null, opts: AdaptiveQcOptions): Counters {
  const [nObs, nVars] = X.shape;
  const cellsPerGene = new Float64Array(nVars);
  const histogram = new Float64Array(nVars + 1);
  const report = (done: number, total: number, unit: string) =>
    opts.onProgress?.({ phase: "counting detected genes", done, total, unit });

  if (X.format === "csc") {
    // Columns are CSC's cheap direction: one pass over gene blocks, keeping the sampled cells' entries
    // (a counter per sampled cell, since a cell's genes arrive spread over the whole pass).
    const genesPerCell = new Int32Array(sample ? sample.length : nObs);
    const bytesPerCol = (X.info.nnz / Math.max(1, nVars)) * 8 + 16;
    const step = rowsForBudget(bytesPerCol, nVars, { memoryBudget: opts.memoryBudget });
    for (let c0 = 0; c0 < nVars; c0 += step) {
      throwIfAborted(opts.signal);
      const c1 = Math.min(nVars, c0 + step);
      const ptr = readIndptr(X, c0, c1);
      const base = ptr[0]!;
      const rows = readIndices(X, base, ptr[c1 - c0]!);
      for (let j = 0; j < c1 - c0; j++) {
        let n = 0;
        for (let k = ptr[j]! - base, e = ptr[j + 1]! - base; k < e; k++) {
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
    for (let i = 0; i < genesPerCell.length; i++) histogram[genesPerCell[i]!]!++;
    return { cellsPerGene, genesPerCellHistogram: histogram };
  }

  const itemBytes = X.info.dtype === "bool" ? 1 : Number(/\d+/.exec(X.info.dtype)?.[0] ?? 64) / 8;
  const bytesPerRow = X.format === "dense" ? nVars * itemBytes : (X.info.nnz / Math.max(1, nObs)) * 8 + 16;
  const step = rowsForBudget(bytesPerRow, nObs, { memoryBudget: opts.memoryBudget, chunkSize: opts.chunkSize });
  let filled = 0; // sampled cells counted so far (the sample is sorted, so blocks fill it in order)
  for (let r0 = 0; r0 < nObs; r0 += step) {
    throwIfAborted(opts.signal);
    const r1 = Math.min(nObs, r0 + step);
    // Rows of this block to count, relative to r0.
    let picks: ArrayLike<number>;
    if (sample) {
      const hi = lowerBound(sample, r1, filled);
      picks = Array.from(sample.subarray(filled, hi), (r) => r - r0);
    } else {
      picks = { length: r1 - r0 } as ArrayLike<number>; // every row: picks[t] = t (see below)
    }
    const nPicked = picks.length;
    const pick = sample ? (t: number) => picks[t]! : (t: number) => t;
    if (nPicked > 0 && X.format === "dense") {
      const block = X.rows(r0, r1, "dense") as NdArray;
      const data = block.data as ArrayLike<number>;
      for (let t = 0; t < nPicked; t++) {
        const row = pick(t) * nVars;
        let n = 0;
        for (let j = 0; j < nVars; j++) {
          if (data[row + j]! > 0) {
            cellsPerGene[j]!++;
            n++;
          }
        }
        histogram[n]!++;
      }
    } else if (nPicked > 0) {
      // CSR: genes per cell come from indptr; cells per gene from the picked rows' indices, read in
      // ranges that cover several picked rows when the stored elements between them are few.
      const ptr = readIndptr(X, r0, r1);
      let t = 0;
      while (t < nPicked) {
        let u = t + 1;
        while (u < nPicked && ptr[pick(u)]! - ptr[pick(u - 1) + 1]! <= COALESCE_GAP) u++;
        const lo = ptr[pick(t)]!,
          hi = ptr[pick(u - 1) + 1]!;
        const cols = readIndices(X, lo, hi);
        for (let v = t; v < u; v++) {
          const s = ptr[pick(v)]!,
            e = ptr[pick(v) + 1]!;
          for (let k = s - lo; k < e - lo; k++) cellsPerGene[cols[k]!]!++;
          histogram[e - s]!++;
        }
        t = u;
      }
    }
    filled += nPicked;
    report(r1, nObs, "cells");
  }
  return { cellsPerGene, genesPerCellHistogram: histogram };
}

/** numpy's median of the integers a histogram counts: the middle value, or the mean of the two middle ones. */
function medianOfHistogram(histogram: Float64Array): number {
  let n = 0;
  for (const c of histogram) n += c;
  const mid = Math.floor(n / 2);
  // The value at sorted position `pos`.
  const at = (pos: number): number => {
    let seen = 0;
    for (let v = 0; v < histogram.length; v++) {
      seen += histogram[v]!;
      if (seen > pos) return v;
    }
    return Number.NaN;
  };
  return n % 2 === 1 ? at(mid) : (at(mid - 1) + at(mid)) / 2;
}

function checkInt(name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new InvalidArgumentError(
      `${name} must be an integer ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `between ${min} and ${max}`}, got ${v}`,
    );
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
  if (nObs === 0)
    throw new InvalidArgumentError(`has no cells, so there is nothing to base QC thresholds on`, { file });
  if (nVars === 0)
    throw new InvalidArgumentError(`has no genes, so there is nothing to base QC thresholds on`, { file });
  const labels = handle.obs.column(column);
  const percentile = mode === "conservative" ? 10.0 : 5.0;

  const perPerturbation = Float64Array.from(valueCounts(labels)).sort();
  const perturbationPercentile = numpyPercentileSorted(perPerturbation, percentile);
  const minCellsPerPerturbation = Math.trunc(pyMax(5, pyMin(50, perturbationPercentile)));

  const nSample = Math.min(sampleSize, nObs);
  const sample = nSample < nObs ? legacyChoiceWithoutReplacement(nObs, nSample, seed) : null;
  const { cellsPerGene, genesPerCellHistogram } = countDetections(X, sample, options);

  const genePercentile = numpyPercentileSorted(cellsPerGene.sort(), percentile);
  const minCellsPerGene = Math.trunc(pyMax(5, pyMin(100, genePercentile)));
  const medianGenes = medianOfHistogram(genesPerCellHistogram);
  const minGenes = pyMax(5, pyMin(50, Math.floor(Math.trunc(medianGenes) / 10)));

  const chunkSize =
    options.chunkSize ??
    calculateOptimalChunkSize(nObs, nVars, {
      availableMemoryGb: options.availableMemoryGb,
      memorySources: options.memorySources,
    });
  return {
    minGenes,
    minCellsPerPerturbation,
    minCellsPerGene,
    chunkSize,
    chunkSizeSource: options.chunkSize === undefined ? "planned" : "given",
    mode,
    percentile,
    perturbationPercentile,
    nPerturbations: perPerturbation.length,
    genePercentile,
    medianGenes,
    nCells: nObs,
    nGenes: nVars,
    nCellsSampled: nSample,
    seed: sample ? seed : null,
  };
}
