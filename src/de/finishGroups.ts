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
import { welchGroup } from "./tTest.ts";

/** [group × gene] results (group k is slot k+1), plus [slot × gene] pts (slot 0 = control). */
export interface DeResults {
  scores: Float64Array;
  pvals: Float64Array;
  pvalsAdj: Float64Array;
  logfoldchanges: Float32Array;
  pts: Float64Array;
  /** Each group's genes by descending score (Scanpy's ranking), [group × rank]. */
  orders: Int32Array;
}

function shared<T>(Ctor: new (b: SharedArrayBuffer) => T, bytesPerElement: number, length: number): T {
  return new Ctor(new SharedArrayBuffer(Math.max(1, length) * bytesPerElement));
}

/** Zeroed result arrays for `groups` tested groups × `nGenes` genes, on SharedArrayBuffers. */
export function allocateResults(groups: number, nGenes: number): DeResults {
  const cells = groups * nGenes;
  return {
    scores: shared(Float64Array, 8, cells), pvals: shared(Float64Array, 8, cells), pvalsAdj: shared(Float64Array, 8, cells),
    logfoldchanges: shared(Float32Array, 4, cells), pts: shared(Float64Array, 8, (groups + 1) * nGenes), orders: shared(Int32Array, 4, cells),
  };
}

/** expm1 of each gene's control mean plus 1e-9: the denominator of every group's fold change. */
export function controlExpm1(stats: GroupStats, sizes: Int32Array): Float64Array {
  const out = shared(Float64Array, 8, stats.nGenes);
  for (let j = 0; j < stats.nGenes; j++) out[j] = Math.expm1(stats.sums[j]! / sizes[0]!) + 1e-9;
  return out;
}

/** The control's detection fractions (slot 0 of pts); the groups' are filled by finishGroup. */
export function controlPts(stats: GroupStats, sizes: Int32Array, r: DeResults): void {
  for (let j = 0; j < stats.nGenes; j++) r.pts[j] = stats.nnz[j]! / sizes[0]!;
}

/**
 * Finish group `g` (slot g+1): with `tTest`, first its Welch scores and p-values from the sums; then
 * pvals_adj (BH over its genes), logfoldchanges = log2((expm1(mean_group) + 1e-9) / (expm1(mean_control)
 * + 1e-9)), pts and its genes ranked by score.
 */
export function finishGroup(g: number, tTest: boolean, stats: GroupStats, sizes: Int32Array, ctrlExpm1: Float64Array, r: DeResults): void {
  const n = stats.nGenes;
  const slot = g + 1;
  const off = g * n;
  if (tTest) welchGroup(stats, sizes, slot, r.scores, r.pvals, off);
  benjaminiHochberg(r.pvals.subarray(off, off + n), r.pvalsAdj.subarray(off, off + n));
  const size = sizes[slot]!;
  const base = slot * n;
  for (let j = 0; j < n; j++) {
    r.logfoldchanges[off + j] = Math.log2((Math.expm1(stats.sums[base + j]! / size) + 1e-9) / ctrlExpm1[j]!);
    r.pts[base + j] = stats.nnz[base + j]! / size;
  }
  argsortFloat64(r.scores.subarray(off, off + n), true, r.orders.subarray(off, off + n));
}
