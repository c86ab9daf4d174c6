/**
 * One-dimensional optimisation for the NB GLM's dispersion: Brent's method (golden section with
 * parabolic steps) on a bracket, and a coarse grid that finds the bracket. Cost: one objective call per
 * grid point, then ~10–25 calls for Brent to `tol`.
 */

const GOLD = 0.3819660112501051;

/** The minimiser of f on [a, b] (Brent 1973, as scipy's fminbound), to absolute tolerance `tol` in x. */
export function brentMin(f: (x: number) => number, a: number, b: number, tol = 1e-8, maxIter = 200): number {
  let x = a + GOLD * (b - a);
  let w = x,
    v = x;
  let fx = f(x);
  let fw = fx,
    fv = fx;
  let d = 0,
    e = 0;
  for (let it = 0; it < maxIter; it++) {
    const m = 0.5 * (a + b);
    const tol1 = 1e-12 * Math.abs(x) + tol / 3;
    const tol2 = 2 * tol1;
    if (Math.abs(x - m) <= tol2 - 0.5 * (b - a)) break;
    let golden = true;
    if (Math.abs(e) > tol1) {
      // Parabola through x, w, v.
      let r = (x - w) * (fx - fv);
      let q = (x - v) * (fx - fw);
      let p = (x - v) * q - (x - w) * r;
      q = 2 * (q - r);
      if (q > 0) p = -p;
      else q = -q;
      r = e;
      e = d;
      if (Math.abs(p) < Math.abs(0.5 * q * r) && p > q * (a - x) && p < q * (b - x)) {
        d = p / q;
        const u = x + d;
        if (u - a < tol2 || b - u < tol2) d = x < m ? tol1 : -tol1;
        golden = false;
      }
    }
    if (golden) {
      e = (x < m ? b : a) - x;
      d = GOLD * e;
    }
    const u = Math.abs(d) >= tol1 ? x + d : x + (d > 0 ? tol1 : -tol1);
    const fu = f(u);
    if (fu <= fx) {
      if (u < x) b = x;
      else a = x;
      v = w;
      fv = fw;
      w = x;
      fw = fx;
      x = u;
      fx = fu;
    } else {
      if (u < x) a = u;
      else b = u;
      if (fu <= fw || w === x) {
        v = w;
        fv = fw;
        w = u;
        fw = fu;
      } else if (fu <= fv || v === x || v === w) {
        v = u;
        fv = fu;
      }
    }
  }
  return x;
}

/**
 * The minimiser of f on [lo, hi]: the best of `points` evenly spaced values, then Brent between its
 * neighbours (an edge point when the best is at the edge).
 */
export function gridBrentMin(f: (x: number) => number, lo: number, hi: number, points: number, tol = 1e-8): number {
  let best = 0,
    fBest = Number.POSITIVE_INFINITY;
  const step = (hi - lo) / (points - 1);
  for (let k = 0; k < points; k++) {
    const v = f(lo + k * step);
    if (v < fBest) {
      fBest = v;
      best = k;
    }
  }
  const a = lo + Math.max(0, best - 1) * step,
    b = lo + Math.min(points - 1, best + 1) * step;
  const x = brentMin(f, a, b, tol);
  return f(x) <= fBest ? x : lo + best * step;
}
