/**
 * Tie correction of the rank-sum statistic's variance (scipy.stats.tiecorrect):
 * 1 − Σ(t³ − t) / (N³ − N) over the tie blocks of sizes t among N ranked values.
 */

/** t³ − t for one tie block of `t` equal values (0 for t ≤ 1). */
export function tieTerm(t: number): number {
  return t > 1 ? t * t * t - t : 0;
}

/** The correction factor from the summed tie terms of N values; 1 when N < 2 (as scipy). */
export function tieCorrectionFactor(sumTieTerms: number, n: number): number {
  if (n < 2) return 1;
  return 1 - sumTieTerms / (n * n * n - n);
}

/** tiecorrect of a set of values: sorts a copy and sums the tie terms. */
export function tieCorrect(values: ArrayLike<number>): number {
  const a = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < a.length; ) {
    let j = i + 1;
    while (j < a.length && a[j] === a[i]) j++;
    sum += tieTerm(j - i);
    i = j;
  }
  return tieCorrectionFactor(sum, a.length);
}
