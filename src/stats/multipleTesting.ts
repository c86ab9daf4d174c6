/**
 * Multiple-testing correction of one group's p-values across genes, as Scanpy applies it:
 * statsmodels' `multipletests(p, method="fdr_bh")` after NaN p-values are replaced by 1.
 */
import { argsortFloat64 } from "./argsort.ts";

/**
 * Benjamini–Hochberg adjusted p-values (statsmodels fdr_bh): p_(i)·n/i, made monotone from the largest
 * p-value down, capped at 1. NaN inputs count as 1. Returns a new Float64Array in the input order.
 */
export function benjaminiHochberg(
  pvalues: ArrayLike<number>,
  out: Float64Array = new Float64Array(pvalues.length),
): Float64Array {
  const n = pvalues.length;
  if (n === 0) return out;
  const p = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = pvalues[i]!;
    p[i] = Number.isNaN(v) ? 1 : v;
  }
  const order = argsortFloat64(p);
  let running = Infinity;
  for (let r = n - 1; r >= 0; r--) {
    const i = order[r]!;
    const adj = (p[i]! * n) / (r + 1);
    if (adj < running) running = adj;
    out[i] = running > 1 ? 1 : running;
  }
  return out;
}

/** Bonferroni: min(p·n, 1), NaN kept as NaN (Scanpy's behaviour). */
export function bonferroni(pvalues: ArrayLike<number>, out = new Float64Array(pvalues.length)): Float64Array {
  const n = pvalues.length;
  for (let i = 0; i < n; i++) out[i] = Math.min(pvalues[i]! * n, 1);
  return out;
}
