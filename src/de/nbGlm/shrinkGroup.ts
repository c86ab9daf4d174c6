/**
 * The shrunken log2 fold changes of one perturbation (the method's groupScores kernel, run while its
 * results are finished): the apeGLM prior scale from all its genes' MLE fold changes and standard
 * errors, then each gene's posterior mode (./shrink.ts). Works in natural-log units, as the prior's cap
 * of 1 is stated in them. Cost: O(genes).
 */
import type { DeResults } from "../finishGroups.ts";
import { apeglmPriorVar, apeglmScale, shrinkLfc } from "./shrink.ts";

export function shrinkGroup(r: DeResults, offset: number, nGenes: number): void {
  const se = r.extra!.lfcSE!,
    out = r.extra!.lfc_shrunk!;
  const b = new Float64Array(nGenes),
    s = new Float64Array(nGenes);
  for (let j = 0; j < nGenes; j++) {
    b[j] = r.logfoldchanges[offset + j]! * Math.LN2;
    s[j] = se[offset + j]! * Math.LN2;
  }
  const scale = apeglmScale(apeglmPriorVar(b, s));
  for (let j = 0; j < nGenes; j++) out[offset + j] = shrinkLfc(b[j]!, s[j]!, scale) / Math.LN2;
}
