/**
 * Tail probabilities of the normal and Student t distributions, accurate far into the tails (to the
 * smallest doubles, ~1e-308) because DE p-values of strongly regulated genes live there.
 *
 * Built on stdlib (Apache-2.0): `erfc` for the normal tail and the regularised incomplete beta function
 * for the t tail. Both evaluate the tail directly instead of as 1 − cdf, which would round to 0 below
 * ~1e-16. scipy computes these the same way (ndtr via erfc, stdtr via incbet).
 */
import erfc from "@stdlib/math-base-special-erfc";
import betainc from "@stdlib/math-base-special-betainc";

/** P(Z > z) for a standard normal Z (scipy.stats.norm.sf). */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/** P(|Z| ≥ |z|): the two-sided normal p-value, 2·norm.sf(|z|) as Scanpy computes it. */
export function normalTwoSidedP(z: number): number {
  if (Number.isNaN(z)) return NaN;
  return erfc(Math.abs(z) / Math.SQRT2);
}

/** P(|T| ≥ |t|) for Student's t with `df` degrees of freedom (2·t.sf(|t|, df)). */
export function studentTTwoSidedP(t: number, df: number): number {
  if (Number.isNaN(t) || Number.isNaN(df) || df <= 0) return NaN;
  const t2 = t * t;
  if (!Number.isFinite(t2)) return 0;
  if (!Number.isFinite(df)) return normalTwoSidedP(t);
  // I_x(df/2, 1/2) with x = df/(df+t²); near x = 1 evaluate the complement through the other tail
  // so that 1 − x is not formed by subtraction.
  const x = df / (df + t2);
  if (x < 0.5) return betainc(x, df / 2, 0.5);
  return betainc(t2 / (df + t2), 0.5, df / 2, true, true);
}

/** P(T > t) for Student's t (scipy.stats.t.sf). */
export function studentTSf(t: number, df: number): number {
  if (Number.isNaN(t)) return NaN;
  const half = 0.5 * studentTTwoSidedP(t, df);
  return t >= 0 ? half : 1 - half;
}
