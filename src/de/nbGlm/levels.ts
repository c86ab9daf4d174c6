/**
 * Covariates (categorical obs columns, e.g. gem_group): log μ = log s + θ_level + β1·x, one θ per level of
 * the covariates' cross-classification. As for the intercept without covariates, the θ are fitted on the
 * control cells only, once per gene, and held fixed for every perturbation ("freeze control", the Python
 * crispyx's covariate-offset approach): β1 is then a one-parameter fit over the perturbation's cells with
 * offsets log s + θ̂_level. Its variance comes from the joint Fisher information of (θ, β1), an arrowhead
 * matrix: Var(β1) = 1 / (Σ_ℓ I_pℓ − Σ_ℓ I_pℓ² / (I_cℓ + I_pℓ)) (with one level: 1/I_c + 1/I_p, as before).
 * The dispersion's Cox–Reid term has one block per level: −½ Σ_ℓ log I_ℓ.
 *
 * A level whose control cells have no counts of a gene gets the mean of half a count over its cells (a
 * floor; its MLE is −∞). Cost: as without covariates, the sums split by level.
 */
import { MIN_DISPERSION } from "./dispersion.ts";
import {
  countTail,
  coxReidLogLik,
  fitLogMean,
  momentsDispersion,
  sumCounts,
  sumSizeFactors,
  type GroupCells,
} from "./irls.ts";
import { gridBrentMin } from "./optimize.ts";

const GRID = 24;
const LOG_ALPHA_TOL = 1e-7;

/** The level's NB log mean at α, floored at half a count over its cells. */
export function levelLogMean(g: GroupCells, alpha: number): number {
  const lm = fitLogMean([g], alpha).logMean;
  return lm === Number.NEGATIVE_INFINITY ? Math.log(0.5 / sumSizeFactors([g])) : lm;
}

/** The groups with the levels' means as fixed scales (μ = s·e^θ). */
function scaled(gs: readonly GroupCells[], logMeans: readonly number[]): GroupCells[] {
  return gs.map((g, k) => ({ ...g, scale: Math.exp(logMeans[k]!) }));
}

/** The groups' log means held while α is estimated: each group's NB fit at the moments estimate of α. */
export function startingLogMeans(gs: readonly GroupCells[], maxDisp: number): number[] {
  const a0 = Math.min(Math.max(momentsDispersion(gs), 1e-6), maxDisp);
  return gs.map((g) => levelLogMean(g, a0));
}

/** Gene-wise Cox–Reid dispersion over the control's levels (non-empty groups); null without counts. */
export function genewiseDispersionLevels(
  gs: readonly GroupCells[],
  maxDisp: number,
): { alpha: number; logMeans: number[] } | null {
  if (sumCounts(gs) === 0) return null;
  const logMeans = startingLogMeans(gs, maxDisp);
  const fixed = scaled(gs, logMeans);
  const tail = countTail(gs);
  const t = gridBrentMin(
    (la) => -coxReidLogLik(fixed, 0, Math.exp(la), tail, true),
    Math.log(MIN_DISPERSION),
    Math.log(maxDisp),
    GRID,
    LOG_ALPHA_TOL,
  );
  return { alpha: Math.exp(t), logMeans };
}

/** MAP dispersion over the control's levels, their means held at `logMeans`. */
export function mapDispersionLevels(
  gs: readonly GroupCells[],
  logMeans: readonly number[],
  logTrend: number,
  priorVar: number,
  maxDisp: number,
): number {
  const fixed = scaled(gs, logMeans);
  const tail = countTail(gs);
  const t = gridBrentMin(
    (la) => -coxReidLogLik(fixed, 0, Math.exp(la), tail, true) + ((la - logTrend) * (la - logTrend)) / (2 * priorVar),
    Math.log(MIN_DISPERSION),
    Math.log(maxDisp),
    GRID,
    LOG_ALPHA_TOL,
  );
  return Math.exp(t);
}

/** Var(β1) from the arrowhead information: per level the control's and the perturbation's information. */
export function betaVariance(infoC: readonly number[], infoP: readonly number[]): number {
  let i = 0;
  for (let k = 0; k < infoP.length; k++) i += infoP[k]! - (infoP[k]! * infoP[k]!) / (infoC[k]! + infoP[k]!);
  return 1 / i;
}
