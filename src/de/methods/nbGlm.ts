/**
 * Negative-binomial GLM (DESeq2-style) on raw counts: per gene and perturbation log μ = log s + β0 + β1·x,
 * control-cell dispersions shrunk toward a mean–dispersion trend, Wald (or likelihood-ratio) tests, MLE
 * and apeGLM-style shrunken log2 fold changes. The statistics pass gives the non-zero counts that size its
 * gene chunks; its own passes (size factors, the control's dispersions, the fits) run on worker threads
 * (../nbGlm/run.ts); the shrinkage runs per perturbation while the groups are finished.
 */
import type { DeMethodSpec } from "./types.ts";

export const nbGlm = {
  name: "nb-glm",
  aliases: ["nb_glm", "nbglm"],
  storedName: "nb_glm",
  label: "NB-GLM",
  help: "raw counts; size factors, control dispersions and per-gene fits over gene blocks on worker threads",
  input: "counts",
  passes: { statistics: { squares: false }, columns: true },
  kernels: async () => {
    const [{ nbGlmColumnPass }, { shrinkGroup }] = await Promise.all([
      import("../nbGlm/run.ts"),
      import("../nbGlm/shrinkGroup.ts"),
    ]);
    return {
      columnPass: nbGlmColumnPass,
      groupScores: (stats, _sizes, _slot, r, offset) => shrinkGroup(r, offset, stats.nGenes),
    };
  },
  ownFoldChanges: true,
  parallelOver: "genes",
  extraColumns: [
    {
      key: "baseMean",
      csv: "baseMean",
      description: "mean size-factor-normalised count over control and perturbation cells",
    },
    { key: "lfcSE", csv: "lfcSE", description: "standard error of the MLE log2 fold change" },
    {
      key: "dispersion",
      csv: "dispersion",
      description: "NB dispersion used (control or pooled cells, MAP toward the trend)",
    },
    { key: "lfc_shrunk", csv: "lfc_shrunk", description: "apeGLM-style shrunken log2 fold change (Cauchy prior)" },
  ],
  params: (options) => {
    const o =
      (options as { nbGlm?: { test?: string; sizeFactors?: string; covariates?: string[]; dispersion?: string } })
        .nbGlm ?? {};
    return {
      test: o.test ?? "wald",
      covariates: (o.covariates ?? []).join(","),
      size_factors: o.sizeFactors ?? "library",
      dispersion:
        o.dispersion === "pooled"
          ? "pooled: every compared cell (one mean per perturbation), Cox-Reid, MAP toward the parametric trend"
          : "control cells, Cox-Reid, MAP toward the parametric trend",
      lfc_shrinkage: "apeglm (normal approximation)",
    };
  },
} as const satisfies DeMethodSpec;
