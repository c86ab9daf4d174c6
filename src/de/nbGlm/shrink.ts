/**
 * Shrunken log fold changes, apeGLM-style (Zhu, Ibrahim & Love 2019) as the Python crispyx and PyDESeq2
 * offer them: a Cauchy prior with scale S on β1, and the likelihood of β1 approximated by the normal
 * N(β̂1, SE²) of its Wald fit (the Python crispyx's "from stats" variant: no second pass over the counts).
 * The posterior mode minimises (t − β̂)²/(2SE²) + log(1 + t²/S²); its stationary points solve the cubic
 * t³ − β̂t² + (S² + 2SE²)t − β̂S² = 0, solved exactly and the best root in [min(0, β̂), max(0, β̂)] taken
 * (the mode lies between 0 and the MLE), so no local search can stop at the wrong mode.
 *
 * S is estimated per perturbation from all its genes (apeGLM's / PyDESeq2's prior variance: the root A of
 * Σw(β̂² − SE²)/Σw = A with w = 1/(A + SE²)², on [1e-6, 400]; S = min(√A, 1)).
 *
 * Cost: O(genes · 60) bisection steps for S, O(1) per gene for the mode.
 */

/** The apeGLM prior variance A (1e-6 when the MLEs are no wider than their errors). */
export function apeglmPriorVar(beta: ArrayLike<number>, se: ArrayLike<number>): number {
  const S: number[] = [],
    D: number[] = [];
  for (let i = 0; i < beta.length; i++) {
    const b = beta[i]!,
      s = se[i]!;
    if (Number.isFinite(b) && Number.isFinite(s) && s > 0) {
      S.push(b * b);
      D.push(s * s);
    }
  }
  const f = (A: number) => {
    let num = 0,
      den = 0;
    for (let i = 0; i < S.length; i++) {
      const w = 1 / ((A + D[i]!) * (A + D[i]!));
      num += w * (S[i]! - D[i]!);
      den += w;
    }
    return num / den - A;
  };
  let lo = 1e-6,
    hi = 400;
  if (S.length === 0 || !(f(lo) >= 0)) return lo;
  if (f(hi) >= 0) return hi;
  for (let it = 0; it < 200 && hi - lo > 1e-15 * hi; it++) {
    const mid = 0.5 * (lo + hi);
    if (f(mid) >= 0) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/** The prior scale S from A: min(√A, 1). */
export function apeglmScale(priorVar: number): number {
  return Math.min(Math.sqrt(priorVar), 1);
}

/** Real roots of t³ + a t² + b t + c. */
function cubicRoots(a: number, b: number, c: number): number[] {
  const q = (a * a - 3 * b) / 9;
  const r = (2 * a * a * a - 9 * a * b + 27 * c) / 54;
  if (r * r < q * q * q) {
    const th = Math.acos(Math.max(-1, Math.min(1, r / Math.sqrt(q * q * q))));
    const s = -2 * Math.sqrt(q);
    return [
      s * Math.cos(th / 3) - a / 3,
      s * Math.cos((th + 2 * Math.PI) / 3) - a / 3,
      s * Math.cos((th - 2 * Math.PI) / 3) - a / 3,
    ];
  }
  const A = -Math.sign(r) * Math.cbrt(Math.abs(r) + Math.sqrt(r * r - q * q * q));
  const B = A === 0 ? 0 : q / A;
  return [A + B - a / 3];
}

/** The posterior mode of β1 (natural log) under the Cauchy(0, scale) prior; NaN in, NaN out. */
export function shrinkLfc(beta: number, se: number, scale: number): number {
  if (!Number.isFinite(beta) || !Number.isFinite(se) || !(se > 0)) return beta;
  if (beta === 0) return 0;
  const s2 = scale * scale,
    v = se * se;
  const f = (t: number) => ((t - beta) * (t - beta)) / (2 * v) + Math.log1p((t * t) / s2);
  const lo = Math.min(0, beta),
    hi = Math.max(0, beta);
  let best = beta,
    fBest = f(beta);
  const candidates = [0, ...cubicRoots(-beta, s2 + 2 * v, -beta * s2)];
  for (const t0 of candidates) {
    // One Newton polish of the cubic's root (its closed form loses digits when roots nearly coincide).
    let t = t0;
    const g = (x: number) => (x - beta) / v + (2 * x) / (s2 + x * x);
    const h = (x: number) => 1 / v + (2 * (s2 - x * x)) / ((s2 + x * x) * (s2 + x * x));
    for (let k = 0; k < 3 && t0 !== 0; k++) {
      const hh = h(t);
      if (hh !== 0 && Number.isFinite(hh)) t -= g(t) / hh;
    }
    if (!(t >= lo && t <= hi)) continue;
    const ft = f(t);
    if (ft < fBest) {
      fBest = ft;
      best = t;
    }
  }
  return best;
}
