/**
 * The NB GLM of one gene, log μ_c = log s_c + β0 + β1·[c in the perturbation], fitted per group: with an
 * intercept and a group indicator the design is block-diagonal by group, so the MLE is the control's own
 * log mean β0 and the perturbation's own log mean γ = β0 + β1, each a one-parameter Fisher-scoring fit
 * (Newton steps on a concave log-likelihood, from the Poisson estimate log(Σy/Σs)). The control's fit is
 * made once per gene and reused for every perturbation ("freeze control"); Var(β1) = 1/I_c + 1/I_p, the
 * inverse Fisher information of the two-column design (what statsmodels' GLM reports).
 *
 * A group's cells: its non-zero counts with their cells' size factors, and every cell's size factor
 * (zeros are never stored: a zero count contributes −μ/(1+αμ) to the score and −(1/α)·log(1+αμ) to the
 * log-likelihood, summed over all cells minus the non-zero ones).
 *
 * Cost per fit: O(cells of the group + non-zeros) per Newton step, 3–8 steps; the log-likelihood is one
 * such sum (log1p per cell, logRising per non-zero: O(min(y, 48))).
 */
import { logRising } from "./special.ts";

/** The cells of one group for one gene (views into a chunk: [from, to) and [sfFrom, sfTo)). */
export interface GroupCells {
  /** Non-zero counts and their cells' size factors, at [from, to). */
  y: ArrayLike<number>;
  ys: ArrayLike<number>;
  from: number;
  to: number;
  /** Every cell's size factor, at [sfFrom, sfTo). */
  sf: ArrayLike<number>;
  sfFrom: number;
  sfTo: number;
  /**
   * A fixed factor on this group's means (covariates: the control's mean of the cells' covariate level,
   * ./levels.ts): μ = s·scale·e^logMean. Absent: 1.
   */
  scale?: number;
}

export interface MeanFit {
  /** The MLE log mean (−Infinity when the group has no counts). */
  logMean: number;
  /** Fisher information Σ μ/(1+αμ) at the estimate. */
  info: number;
  iterations: number;
  converged: boolean;
}

export function sumCounts(gs: readonly GroupCells[]): number {
  let t = 0;
  for (const g of gs) for (let k = g.from; k < g.to; k++) t += g.y[k]!;
  return t;
}

/** Σ s (times the group's scale) over the groups' cells. */
export function sumSizeFactors(gs: readonly GroupCells[]): number {
  let t = 0;
  for (const g of gs) {
    let u = 0;
    for (let k = g.sfFrom; k < g.sfTo; k++) u += g.sf[k]!;
    t += g.scale === undefined ? u : u * g.scale;
  }
  return t;
}

/** Σ μ/(1+αμ) over the groups' cells at log mean `logMean` (μ = s·e^logMean). */
export function fisherInfo(gs: readonly GroupCells[], logMean: number, alpha: number): number {
  const m = Math.exp(logMean);
  let info = 0;
  for (const g of gs) {
    const mg = g.scale === undefined ? m : m * g.scale;
    for (let k = g.sfFrom; k < g.sfTo; k++) {
      const mu = g.sf[k]! * mg;
      info += mu / (1 + alpha * mu);
    }
  }
  return info;
}

/** Log mean bounds: e^±50 is beyond any count and keeps μ finite. */
const LOG_MEAN_MIN = -50;
const LOG_MEAN_MAX = 50;

/** The NB MLE of the groups' common log mean at dispersion α (one parameter; offsets log s). */
export function fitLogMean(gs: readonly GroupCells[], alpha: number, start?: number, maxIter = 100): MeanFit {
  const sy = sumCounts(gs);
  if (sy === 0) return { logMean: Number.NEGATIVE_INFINITY, info: 0, iterations: 0, converged: true };
  let lm = start !== undefined && Number.isFinite(start) ? start : Math.log(sy / sumSizeFactors(gs));
  let it = 0;
  let converged = false;
  for (; it < maxIter; it++) {
    const m = Math.exp(lm);
    // Score U = Σ (y−μ)/(1+αμ); observed information J = Σ μ(1+αy)/(1+αμ)².
    let u = 0,
      j = 0;
    for (const g of gs) {
      const mg = g.scale === undefined ? m : m * g.scale;
      for (let k = g.sfFrom; k < g.sfTo; k++) {
        const mu = g.sf[k]! * mg;
        const d = 1 / (1 + alpha * mu);
        u -= mu * d;
        j += mu * d * d;
      }
      for (let k = g.from; k < g.to; k++) {
        const y = g.y[k]!,
          mu = g.ys[k]! * mg;
        const d = 1 / (1 + alpha * mu);
        u += y * d;
        j += alpha * y * mu * d * d;
      }
    }
    let step = u / j;
    if (!Number.isFinite(step)) break;
    if (step > 3) step = 3;
    else if (step < -3) step = -3;
    lm = Math.min(LOG_MEAN_MAX, Math.max(LOG_MEAN_MIN, lm + step));
    if (Math.abs(step) < 1e-12 * Math.max(1, Math.abs(lm))) {
      converged = true;
      it++;
      break;
    }
  }
  return { logMean: lm, info: fisherInfo(gs, lm, alpha), iterations: it, converged };
}

/**
 * The NB log-likelihood of the groups' cells at a common log mean, up to Σ −log(y!) (a constant of the
 * data, so differences — likelihood ratios, profiles over α — are exact). −Infinity mean: 0 when every
 * count is 0 (the limit), −Infinity otherwise.
 */
export function logLik(gs: readonly GroupCells[], logMean: number, alpha: number): number {
  if (logMean === Number.NEGATIVE_INFINITY) return sumCounts(gs) === 0 ? 0 : Number.NEGATIVE_INFINITY;
  const m = Math.exp(logMean);
  const r = 1 / alpha;
  let ll = 0;
  for (const g of gs) {
    const mg = g.scale === undefined ? m : m * g.scale;
    for (let k = g.sfFrom; k < g.sfTo; k++) ll -= r * Math.log1p(alpha * g.sf[k]! * mg);
    for (let k = g.from; k < g.to; k++) {
      const y = g.y[k]!,
        mu = g.ys[k]! * mg;
      // y·log(αμ) − y·log(1+αμ) + log Γ(y+r) − log Γ(r), with the zero-count term (−r·log(1+αμ)) already added.
      ll += logRising(y, alpha) + y * Math.log(mu) - y * Math.log1p(alpha * mu);
    }
  }
  return ll;
}

/**
 * The counts' tail table of one group: tail[k] = #{non-zero y > k} for k < maxCount (null when a count
 * exceeds TAIL_MAX). Σ_i Σ_{k<y_i} log(1+kα) = Σ_k tail[k]·log(1+kα): the rising-factorial part of the
 * log-likelihood in O(max count) per α instead of O(Σ y) — the dispersion search evaluates ~50 α per gene.
 */
export function countTail(g: GroupCells | readonly GroupCells[]): Float64Array | null {
  const gs = Array.isArray(g) ? (g as readonly GroupCells[]) : [g as GroupCells];
  let max = 0;
  for (const c of gs) for (let k = c.from; k < c.to; k++) if (c.y[k]! > max) max = c.y[k]!;
  if (max > TAIL_MAX) return null;
  const tail = new Float64Array(max + 1);
  for (const c of gs) for (let k = c.from; k < c.to; k++) tail[c.y[k]!]++;
  // From the histogram to #{y > k}.
  let above = 0;
  for (let v = max; v >= 0; v--) {
    const n = tail[v]!;
    tail[v] = above;
    above += n;
  }
  return tail;
}

const TAIL_MAX = 4096;

/**
 * The Cox–Reid adjusted profile log-likelihood of α with the mean held at `logMean` (DESeq2's gene-wise
 * objective): ℓ(α) − ½·log I(α), I(α) = Σ μ/(1+αμ) the Fisher information of the log mean (with
 * `blockInfo`, one mean per group: −½ Σ_g log I_g). One pass over the cells computes both sums; `tail`
 * (countTail of all the groups' counts) replaces the per-count rising sums.
 */
export function coxReidLogLik(
  gs: readonly GroupCells[],
  logMean: number,
  alpha: number,
  tail: Float64Array | null = null,
  blockInfo = false,
): number {
  const m = Math.exp(logMean);
  const r = 1 / alpha;
  let ll = 0,
    info = 0,
    logInfo = 0;
  if (tail) for (let k = 1; k < tail.length; k++) ll += tail[k]! * Math.log1p(k * alpha);
  for (const g of gs) {
    const mg = g.scale === undefined ? m : m * g.scale;
    let gi = 0;
    for (let k = g.sfFrom; k < g.sfTo; k++) {
      const mu = g.sf[k]! * mg;
      ll -= r * Math.log1p(alpha * mu);
      gi += mu / (1 + alpha * mu);
    }
    for (let k = g.from; k < g.to; k++) {
      const y = g.y[k]!,
        mu = g.ys[k]! * mg;
      ll += (tail ? 0 : logRising(y, alpha)) + y * Math.log(mu) - y * Math.log1p(alpha * mu);
    }
    info += gi;
    if (gi > 0) logInfo += Math.log(gi);
  }
  // blockInfo: one mean per group (covariate levels), a block-diagonal information: −½ Σ log I_g.
  return ll - 0.5 * (blockInfo ? logInfo : Math.log(info));
}

/** The method-of-moments dispersion at each group's Poisson mean: Σ((y−μ)² − μ) / Σμ² (may be ≤ 0). */
export function momentsDispersion(gs: readonly GroupCells[]): number {
  let num = 0,
    den = 0;
  for (const g of gs) {
    // Each group at its own Poisson mean (one group: the usual estimate).
    const m = sumCounts([g]) / sumSizeFactors([g]);
    if (!(m > 0)) continue;
    for (let k = g.sfFrom; k < g.sfTo; k++) {
      const mu = g.sf[k]! * m;
      num += mu * mu - mu; // as if every count were 0 …
      den += mu * mu;
    }
    for (let k = g.from; k < g.to; k++) {
      const y = g.y[k]!,
        mu = g.ys[k]! * m;
      num += (y - mu) * (y - mu) - mu * mu; // … corrected for the non-zero ones
    }
  }
  return num / den;
}
