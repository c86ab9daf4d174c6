/**
 * Everything DE reports per group once the per-group statistics are accumulated (and, for Wilcoxon,
 * the rank-sum scores computed): t-test scores and p-values, Benjamini–Hochberg adjusted p-values, log
 * fold changes, detection fractions and the genes' order by score. Groups are independent, so this runs
 * on worker threads a group at a time (./deWorker.ts) or on the main thread; every array lives on a
 * SharedArrayBuffer so that workers write their groups' rows in place.
 */
import { argsortFloat64 } from "../stats/argsort.ts";
import { benjaminiHochberg } from "../stats/multipleTesting.ts";
import type { GroupStats } from "./groupStats.ts";
import { deMethod } from "./methods/registry.ts";
import type { DeExtraColumn, DeMethodSpec, GroupScoresKernel } from "./methods/types.ts";

/** [group × gene] results (group k is slot k+1), plus [slot × gene] pts (slot 0 = control). */
export interface DeResults {
  scores: Float64Array;
  pvals: Float64Array;
  pvalsAdj: Float64Array;
  logfoldchanges: Float32Array;
  pts: Float64Array;
  /** Each group's genes by descending score (Scanpy's ranking), [group × rank]. */
  orders: Int32Array;
  /**
   * The values of Scanpy's ranked tables, [group × rank], in their stored types: made while a group's
   * values are in cache, so that writing the tables ([rank × group] records) is a transpose instead of
   * a random gather over every group (measured ~1 s of the t-test's output).
   */
  ranked: { scores: Float32Array; pvals: Float64Array; pvalsAdj: Float64Array; logfoldchanges: Float32Array };
  /** The method's extra columns (DeExtraColumn), [group × gene] by key; absent or empty for Scanpy's columns only. */
  extra?: Record<string, Float64Array>;
}

function shared<T>(Ctor: new (b: SharedArrayBuffer) => T, bytesPerElement: number, length: number): T {
  return new Ctor(new SharedArrayBuffer(Math.max(1, length) * bytesPerElement));
}

/**
 * Bytes DE holds for `groups` perturbations × `genes` whatever the number of cells: the statistics
 * (sums, sums of squares for the t-test, non-zero counts per slot) and the result arrays allocated here
 * (ranked p-values need their own array unless they lie over the sums of squares), as the method
 * declares them (its statistics, its extra columns). `crispyx plan` shows it; rankGenesGroups warns when
 * the real figure exceeds the budget.
 */
export function deResultBytes(groups: number, genes: number, method: string | DeMethodSpec): number {
  const m = typeof method === "string" ? deMethod(method) : method;
  const slots = (groups + 1) * genes,
    cells = groups * genes;
  const squares = m.passes.statistics.squares;
  const statistics = slots * (8 + (squares ? 8 : 0) + 4);
  // scores, p-values, adjusted p-values, fold changes, orders; pts; ranked float32 tables (+ ranked p-values); extras
  const results =
    cells * (8 + 8 + 8 + 4 + 4) + slots * 8 + cells * (4 + 4 + (squares ? 0 : 8)) + cells * 8 * m.extraColumns.length;
  return statistics + results;
}

/** Zeroed scores and p-values ([group × gene]) on SharedArrayBuffers: the test statistics' outputs. */
export function allocateScores(groups: number, nGenes: number): { scores: Float64Array; pvals: Float64Array } {
  return { scores: shared(Float64Array, 8, groups * nGenes), pvals: shared(Float64Array, 8, groups * nGenes) };
}

/**
 * The other result arrays, allocated after the statistics pass. The ranked float64 values are stored over the
 * groups' rows of the accumulated sums and sums of squares (same [group × gene] shape and type; slot k+1
 * is group k): finishGroup reads a group's rows before it writes its ranked values, and nothing reads
 * them after — 128 MB less at 1,000 groups × 8,000 genes. The control's row (slot 0) is left alone.
 */
export function allocateResults(
  stats: GroupStats,
  scores: { scores: Float64Array; pvals: Float64Array },
  extraColumns: readonly DeExtraColumn[] = [],
): DeResults {
  const n = stats.nGenes;
  const cells = (stats.nSlots - 1) * n;
  return {
    ...scores,
    pvalsAdj: shared(Float64Array, 8, cells),
    logfoldchanges: shared(Float32Array, 4, cells),
    pts: shared(Float64Array, 8, stats.nSlots * n),
    orders: shared(Int32Array, 4, cells),
    ranked: {
      scores: shared(Float32Array, 4, cells),
      pvals: stats.sumsq ? stats.sumsq.subarray(n) : shared(Float64Array, 8, cells),
      pvalsAdj: stats.sums.subarray(n),
      logfoldchanges: shared(Float32Array, 4, cells),
    },
    extra: Object.fromEntries(extraColumns.map((c) => [c.key, shared(Float64Array, 8, cells)])),
  };
}

/**
 * Each gene's control mean on the values' scale plus 1e-9 (expm1 of it for log-normalised input): the
 * denominator of every group's fold change.
 */
export function controlMeans(stats: GroupStats, sizes: Int32Array, logScale: boolean): Float64Array {
  const out = shared(Float64Array, 8, stats.nGenes);
  for (let j = 0; j < stats.nGenes; j++)
    out[j] = (logScale ? Math.expm1(stats.sums[j]! / sizes[0]!) : stats.sums[j]! / sizes[0]!) + 1e-9;
  return out;
}

/** Every slot's detection fractions (pts), made before the groups are finished: the .h5ad's start needs them. */
export function allPts(stats: GroupStats, sizes: Int32Array, r: DeResults): void {
  const n = stats.nGenes;
  for (let s = 0; s < stats.nSlots; s++) {
    const size = sizes[s]!;
    for (let j = 0; j < n; j++) r.pts[s * n + j] = stats.nnz[s * n + j]! / size;
  }
}

/** What finishing a group needs of the method: its group kernel (loaded) and the scale of its means (./methods/inputs.ts). */
export interface FinishingMethod {
  groupScores?: GroupScoresKernel;
  logScaleMeans: boolean;
  ownFoldChanges?: boolean;
}

/**
 * Finish group `g` (slot g+1): first the method's scores and p-values from the statistics when it makes
 * them here (groupScores: the t-test's Welch test); then pvals_adj (BH over its genes), logfoldchanges =
 * log2((expm1(mean_group) + 1e-9) / (expm1(mean_control) + 1e-9)) (without expm1 for counts: see
 * ./methods/inputs.ts), its genes ranked by score and the ranked values.
 */
export function finishGroup(
  g: number,
  method: FinishingMethod,
  stats: GroupStats,
  sizes: Int32Array,
  ctrlMeans: Float64Array,
  r: DeResults,
): void {
  const n = stats.nGenes;
  const slot = g + 1;
  const off = g * n;
  method.groupScores?.(stats, sizes, slot, r, off);
  benjaminiHochberg(r.pvals.subarray(off, off + n), r.pvalsAdj.subarray(off, off + n));
  const size = sizes[slot]!;
  const base = slot * n;
  // (A method with ownFoldChanges has written them in its kernels.)
  if (!method.ownFoldChanges && method.logScaleMeans) {
    for (let j = 0; j < n; j++)
      r.logfoldchanges[off + j] = Math.log2((Math.expm1(stats.sums[base + j]! / size) + 1e-9) / ctrlMeans[j]!);
  } else if (!method.ownFoldChanges) {
    for (let j = 0; j < n; j++)
      r.logfoldchanges[off + j] = Math.log2((stats.sums[base + j]! / size + 1e-9) / ctrlMeans[j]!);
  }
  const order = argsortFloat64(r.scores.subarray(off, off + n), true, r.orders.subarray(off, off + n));
  // From here on the group's rows of sums and sums of squares may be overwritten (allocateResults).
  const { scores, pvals, pvalsAdj, logfoldchanges } = r.ranked;
  for (let k = 0; k < n; k++) {
    const j = off + order[k]!;
    scores[off + k] = r.scores[j]!;
    pvals[off + k] = r.pvals[j]!;
    pvalsAdj[off + k] = r.pvalsAdj[j]!;
    logfoldchanges[off + k] = r.logfoldchanges[j]!;
  }
}
