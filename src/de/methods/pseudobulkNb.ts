/**
 * The NB GLM on pseudo-bulk samples (cells summed per perturbation × replicate column): DESeq2's setting,
 * where replicates, not cells, carry the biological variance. One pass over X for the sums; the fits are
 * O(samples) per gene on this thread (../nbGlm/pseudobulkNb.ts). Same columns as nb-glm.
 */
import { nbGlm } from "./nbGlm.ts";
import type { DeMethodSpec } from "./types.ts";

export const pseudobulkNb = {
  name: "pseudobulk-nb",
  aliases: ["pseudobulk_nb"],
  storedName: "pseudobulk_nb",
  label: "pseudo-bulk NB-GLM",
  help: "raw counts summed per perturbation × --replicate-column, then the NB GLM on those samples",
  input: "counts",
  passes: { statistics: { squares: false }, columns: true },
  kernels: async () => {
    const [{ pseudobulkNbColumnPass }, { shrinkGroup }] = await Promise.all([
      import("../nbGlm/pseudobulkNb.ts"),
      import("../nbGlm/shrinkGroup.ts"),
    ]);
    return {
      columnPass: pseudobulkNbColumnPass,
      groupScores: (stats, _sizes, _slot, r, offset) => shrinkGroup(r, offset, stats.nGenes),
    };
  },
  ownFoldChanges: true,
  parallelOver: "groups",
  extraColumns: nbGlm.extraColumns,
  params: (options) => ({
    ...nbGlm.params(options),
    replicate_column: (options as { nbGlm?: { replicateColumn?: string } }).nbGlm?.replicateColumn ?? "",
    size_factors: "library (of the samples)",
  }),
} as const satisfies DeMethodSpec;
