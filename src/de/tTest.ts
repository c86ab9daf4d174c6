/**
 * Welch's t-test of each group against the control from per-group sums, as Scanpy does it
 * (scipy.stats.ttest_ind_from_stats(equal_var=False) on means and ddof=1 variances): NaN scores become
 * 0 and NaN p-values 1.
 */
import { studentTTwoSidedP } from "../stats/distributions.ts";
import type { GroupStats } from "./groupStats.ts";

/**
 * Scores and p-values of one group (`slot` ≥ 1) against the control (slot 0), for every gene, into
 * scores/pvals at `offset` (the group's row of the [group × gene] outputs).
 */
export function welchGroup(
  stats: GroupStats,
  sizes: Int32Array,
  slot: number,
  scores: Float64Array,
  pvals: Float64Array,
  offset: number,
): void {
  const { nGenes, sums, sumsq } = stats;
  if (!sumsq) throw new Error("internal: the t-test needs sums of squares");
  const n1 = sizes[slot]!;
  const n2 = sizes[0]!;
  const b1 = slot * nGenes;
  for (let j = 0; j < nGenes; j++) {
    const m1 = sums[b1 + j]! / n1;
    const m2 = sums[j]! / n2;
    const vn1 = variance(sums[b1 + j]!, sumsq[b1 + j]!, n1) / n1;
    const vn2 = variance(sums[j]!, sumsq[j]!, n2) / n2;
    let df = (vn1 + vn2) ** 2 / ((vn1 * vn1) / (n1 - 1) + (vn2 * vn2) / (n2 - 1));
    if (Number.isNaN(df)) df = 1; // variances both zero: any df gives the same answer (scipy)
    const t = (m1 - m2) / Math.sqrt(vn1 + vn2);
    scores[offset + j] = Number.isNaN(t) ? 0 : t;
    const p = Number.isNaN(t) ? NaN : studentTTwoSidedP(t, df);
    pvals[offset + j] = Number.isNaN(p) ? 1 : p;
  }
}

/** ddof=1 variance from sum and sum of squares, as Scanpy's aggregate computes it (NaN for n ≤ 1). */
function variance(sum: number, sumSq: number, n: number): number {
  if (n <= 1) return NaN;
  const mean = sum / n;
  const v = (sumSq / n - mean * mean) * (n / (n - 1));
  // Rounding can leave a tiny negative for constant genes; a variance is never negative.
  return v < 0 ? 0 : v;
}
