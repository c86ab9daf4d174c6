/**
 * NB dispersions, as DESeq2 estimates them (Love, Huber & Anders 2014), from the control cells:
 *
 * 1. gene-wise: the mean fitted at the moments estimate, then the Cox–Reid adjusted profile likelihood
 *    ℓ(α) − ½·log I(α) maximised over log α with that mean held fixed (DESeq2's estimateDispersionsGeneEst
 *    with one iteration), on [1e-8, max(10, cells)]: a grid of GRID points, then Brent between the best
 *    point's neighbours;
 * 2. the trend α(m) = a0 + a1/m over genes (DESeq2's parametric fit: a gamma GLM with identity link by
 *    IRLS, genes whose ratio to the trend falls outside [1e-4, 15] dropped and the fit repeated);
 * 3. MAP: the same likelihood plus a normal prior on log α centred on the trend, with variance
 *    max(σ²_lr − ψ₁((m−p)/2), 0.25) (σ_lr the MAD of the log residuals, m cells, p = 1 coefficient);
 *    genes more than 2 σ_lr above the trend keep their gene-wise value (DESeq2's dispersion outliers).
 *
 * Why the control cells: their means are the same for every perturbation, so the dispersion is computed
 * once per gene and reused ("freeze control", as the Python crispyx), it does not depend on which
 * perturbations share a batch, and a strong perturbation cannot inflate it. Why MAP toward a trend:
 * gene-wise estimates from sparse single-cell counts are noisy (many near 0 or at the bound); the trend
 * borrows strength across genes and the prior width is learnt from the data (DESeq2's argument).
 *
 * Cost: gene-wise and MAP are each (GRID + ~20) evaluations of an O(control cells) sum per gene; the
 * trend is O(genes) per IRLS step.
 */
import { countTail, coxReidLogLik, fitLogMean, momentsDispersion, sumCounts, type GroupCells } from "./irls.ts";
import { gridBrentMin } from "./optimize.ts";
import { trigamma } from "./special.ts";

export const MIN_DISPERSION = 1e-8;
/** Grid points over log α before Brent's method. */
const GRID = 24;
/** Tolerance on log α. */
const LOG_ALPHA_TOL = 1e-7;

export function maxDispersion(cells: number): number {
  return Math.max(10, cells);
}

export interface GenewiseDispersion {
  alpha: number;
  /** The log mean held fixed while α was estimated (reused by the MAP step). */
  logMean: number;
}

/** The gene-wise Cox–Reid dispersion of the cells `g`; null when they hold no counts. */
export function genewiseDispersion(g: GroupCells, maxDisp: number): GenewiseDispersion | null {
  const gs = [g];
  if (sumCounts(gs) === 0) return null;
  const a0 = Math.min(Math.max(momentsDispersion(gs), 1e-6), maxDisp);
  const logMean = fitLogMean(gs, a0).logMean;
  const tail = countTail(g);
  const t = gridBrentMin(
    (la) => -coxReidLogLik(gs, logMean, Math.exp(la), tail),
    Math.log(MIN_DISPERSION),
    Math.log(maxDisp),
    GRID,
    LOG_ALPHA_TOL,
  );
  return { alpha: Math.exp(t), logMean };
}

/** The MAP dispersion: the Cox–Reid likelihood plus a normal prior on log α (mean logTrend, variance priorVar). */
export function mapDispersion(
  g: GroupCells,
  logMean: number,
  logTrend: number,
  priorVar: number,
  maxDisp: number,
): number {
  const gs = [g];
  const tail = countTail(g);
  const t = gridBrentMin(
    (la) => -coxReidLogLik(gs, logMean, Math.exp(la), tail) + ((la - logTrend) * (la - logTrend)) / (2 * priorVar),
    Math.log(MIN_DISPERSION),
    Math.log(maxDisp),
    GRID,
    LOG_ALPHA_TOL,
  );
  return Math.exp(t);
}

export interface DispersionTrend {
  /** α(m) = a0 + a1/m; kind "mean": a constant a0 (the parametric fit failed). */
  a0: number;
  a1: number;
  kind: "parametric" | "mean";
}

/** Weighted least squares of y on [1, 1/m] (a 2×2 solve); null when singular. */
function wls2(m: Float64Array, y: Float64Array, w: Float64Array, use: Uint8Array): [number, number] | null {
  let s00 = 0,
    s01 = 0,
    s11 = 0,
    t0 = 0,
    t1 = 0;
  for (let i = 0; i < m.length; i++) {
    if (!use[i]) continue;
    const x = 1 / m[i]!,
      wi = w[i]!;
    s00 += wi;
    s01 += wi * x;
    s11 += wi * x * x;
    t0 += wi * y[i]!;
    t1 += wi * x * y[i]!;
  }
  const det = s00 * s11 - s01 * s01;
  if (!(Math.abs(det) > 1e-300)) return null;
  return [(s11 * t0 - s01 * t1) / det, (s00 * t1 - s01 * t0) / det];
}

/** A gamma GLM with identity link of y on [1, 1/m] over `use`, by IRLS from `start` (weights 1/fitted²). */
function gammaIdentityFit(
  m: Float64Array,
  y: Float64Array,
  use: Uint8Array,
  start: [number, number],
): [number, number] | null {
  let c: [number, number] = start;
  const w = new Float64Array(m.length);
  for (let it = 0; it < 200; it++) {
    for (let i = 0; i < m.length; i++) {
      const f = c[0] + c[1] / m[i]!;
      w[i] = 1 / (f * f);
    }
    const next = wls2(m, y, w, use);
    if (!next || !Number.isFinite(next[0]) || !Number.isFinite(next[1])) return null;
    const change = Math.abs(next[0] - c[0]) + Math.abs(next[1] - c[1]);
    c = next;
    if (change <= 1e-13 * (Math.abs(c[0]) + Math.abs(c[1]))) break;
  }
  return c;
}

/**
 * DESeq2's parametric trend of gene-wise dispersions `disp` against means `mean` (genes with NaN or
 * α ≤ 100·MIN_DISPERSION are left out); the mean of the used dispersions when the fit fails or a
 * coefficient is not positive.
 */
export function fitDispersionTrend(mean: Float64Array, disp: Float64Array): DispersionTrend {
  const n = mean.length;
  const fitted = (i: number) => Number.isFinite(disp[i]!) && disp[i]! > 100 * MIN_DISPERSION && mean[i]! > 0;
  let use = new Uint8Array(n);
  for (let i = 0; i < n; i++) use[i] = fitted(i) ? 1 : 0;
  let coefs: [number, number] = [0.1, 1];
  let ok = false;
  for (let round = 0; round < 10; round++) {
    const next = gammaIdentityFit(mean, disp, use, coefs);
    if (!next) {
      ok = false;
      break;
    }
    const nextUse = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const ratio = disp[i]! / (next[0] + next[1] / mean[i]!);
      nextUse[i] = fitted(i) && ratio > 1e-4 && ratio < 15 ? 1 : 0;
    }
    const positive = next[0] > 0 && next[1] > 0 && coefs[0] > 0 && coefs[1] > 0;
    const converged = positive && Math.log(next[0] / coefs[0]) ** 2 + Math.log(next[1] / coefs[1]) ** 2 < 1e-6;
    coefs = next;
    ok = true;
    let same = true;
    for (let i = 0; i < n && same; i++) same = nextUse[i] === use[i];
    if (converged && same) break;
    use = nextUse;
  }
  if (ok && coefs[0] > 0 && coefs[1] > 0) return { a0: coefs[0], a1: coefs[1], kind: "parametric" };
  let s = 0,
    k = 0;
  for (let i = 0; i < n; i++) {
    if (fitted(i)) {
      s += disp[i]!;
      k++;
    }
  }
  return { a0: k ? s / k : 0.1, a1: 0, kind: "mean" };
}

export function trendAt(t: DispersionTrend, mean: number): number {
  return t.a0 + t.a1 / mean;
}

function median(a: Float64Array): number {
  const s = Float64Array.from(a).sort();
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2]! : 0.5 * (s[n / 2 - 1]! + s[n / 2]!);
}

export interface DispersionPrior {
  /** σ²_lr: the squared MAD (×1.4826) of log(gene-wise / trend). */
  residualVar: number;
  /** The prior variance of log α: max(σ²_lr − ψ₁((m − p)/2), 0.25). */
  priorVar: number;
}

/** DESeq2's dispersion prior from the genes' log residuals; m cells, p coefficients. */
export function dispersionPrior(logResiduals: Float64Array, cells: number, coefficients = 1): DispersionPrior {
  if (logResiduals.length === 0) return { residualVar: 0, priorVar: 0.25 };
  const med = median(logResiduals);
  const mad = 1.4826 * median(logResiduals.map((r) => Math.abs(r - med)));
  const residualVar = mad * mad;
  const excess = residualVar - (cells > coefficients ? trigamma((cells - coefficients) / 2) : 0);
  return { residualVar, priorVar: Math.max(excess, 0.25) };
}

/** The final dispersion: MAP, or the gene-wise value for an outlier more than 2 σ_lr above the trend. */
export function finalDispersion(genewise: number, map: number, trend: number, prior: DispersionPrior): number {
  return Math.log(genewise) > Math.log(trend) + 2 * Math.sqrt(prior.residualVar) ? genewise : map;
}
