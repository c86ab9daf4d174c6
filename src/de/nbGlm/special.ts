/**
 * Special functions the NB GLM needs beyond what src/stats has: log Γ (Lanczos, g = 7, 9 terms; ~15
 * significant digits, as src/demo/random.ts) and trigamma ψ₁ (recurrence to x ≥ 12, then the asymptotic
 * series; ~1e-15 relative). Cost: O(1) each (ψ₁: at most 12 recurrence steps).
 */

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** log Γ(x) for x > 0. */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = LANCZOS[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (x + i);
  return HALF_LOG_2PI + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** ψ₁(x), the trigamma function, for x > 0. */
export function trigamma(x: number): number {
  let acc = 0;
  while (x < 12) {
    acc += 1 / (x * x);
    x += 1;
  }
  const x2 = 1 / (x * x);
  // 1/x + 1/(2x²) + Σ B₂ₖ / x^(2k+1)
  return acc + 1 / x + x2 / 2 + (1 / x) * x2 * (1 / 6 - x2 * (1 / 30 - x2 * (1 / 42 - x2 * (1 / 30 - (x2 * 5) / 66))));
}

/**
 * Σ_{k<y} log(1 + kα) = log Γ(y + 1/α) − log Γ(1/α) + y·log α, for a whole y ≥ 0 and α > 0: the part of an
 * NB log-likelihood term that couples the count and the dispersion, without the cancellation of two
 * large log Γ values when 1/α ≫ y. Direct sum for small y, a series when yα is tiny, log Γ otherwise.
 */
export function logRising(y: number, alpha: number): number {
  if (y <= 1) return 0;
  if (y <= 48) {
    let s = 0;
    for (let k = 1; k < y; k++) s += Math.log1p(k * alpha);
    return s;
  }
  if (y * alpha < 1e-4) {
    // Σ log1p(kα) = α S₁ − α² S₂/2 + α³ S₃/3 − …; with yα < 1e-4 the fourth term is < 1e-16 of the first.
    const n = y - 1;
    const s1 = (n * (n + 1)) / 2;
    const s2 = (n * (n + 1) * (2 * n + 1)) / 6;
    const s3 = s1 * s1;
    return alpha * s1 - (alpha * alpha * s2) / 2 + (alpha * alpha * alpha * s3) / 3;
  }
  const r = 1 / alpha;
  return logGamma(y + r) - logGamma(r) + y * Math.log(alpha);
}
