/**
 * The tests of β1 = 0 once the groups are fitted: Wald (default; z = β̂1/SE, SE² = 1/I_c + 1/I_p, two-sided
 * normal p) and the likelihood-ratio test (2·[ℓ_c(β̂0) + ℓ_p(γ̂) − ℓ_{c∪p}(γ̂0)], the reduced model one
 * common mean over the control and the perturbation, χ²₁ p = erfc(√(LR/2))). Scores for ranking: z, or
 * sign(β̂1)·√LR. Cost: O(1) for Wald; the LRT refits the common mean: O(control + group cells) per step.
 */
import { normalTwoSidedP } from "../../stats/distributions.ts";

export function waldTest(beta: number, se: number): { z: number; p: number } {
  const z = beta / se;
  if (!Number.isFinite(z)) return { z: Number.isNaN(z) ? Number.NaN : z, p: Number.isNaN(z) ? Number.NaN : 0 };
  return { z, p: normalTwoSidedP(z) };
}

/** The χ²₁ likelihood-ratio test: statistic max(2·(llFull − llReduced), 0). */
export function lrTest(llFull: number, llReduced: number, beta: number): { stat: number; score: number; p: number } {
  const stat = Math.max(2 * (llFull - llReduced), 0);
  const root = Math.sqrt(stat);
  return { stat, score: beta < 0 ? -root : root, p: normalTwoSidedP(root) };
}
