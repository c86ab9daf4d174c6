/**
 * A differential-expression result file shaped like the Python crispyx's (and `crispyx de`'s): one row
 * per perturbation, one column per gene, statistics in layers. Written directly, so the report can be
 * tested without running DE; the planted hits are known.
 */
import { writeH5ad } from "../../src/io/anndata/anndata.ts";
import { dataframe, emptyAnnData, ndarray, scalar, strings } from "../../src/io/anndata/model.ts";

export interface PlantedDe {
  groups: string[];
  genes: string[];
  /** hits[g] = indices of genes that are hits in group g (first one strongest, down-regulated). */
  hits: number[][];
}

/**
 * `layout: "seed"` keeps log fold changes in a layer (the Python crispyx); "crispyx" stores them as X
 * with a pvals_adj layer and uns method "t_test" (what `crispyx de` writes).
 */
export function writeDeFixture(
  path: string,
  nGroups = 5,
  nGenes = 300,
  method = "t-test",
  layout: "seed" | "crispyx" = "seed",
): PlantedDe {
  const groups = Array.from({ length: nGroups }, (_, g) => `GENE${g}`);
  const genes = Array.from({ length: nGenes }, (_, j) => `G${String(j).padStart(4, "0")}`);
  const lfc = new Float32Array(nGroups * nGenes);
  const padj = new Float64Array(nGroups * nGenes);
  const hits: number[][] = [];
  for (let g = 0; g < nGroups; g++) {
    const mine: number[] = [];
    for (let j = 0; j < nGenes; j++) {
      // Deterministic background: small effects, large p-values.
      lfc[g * nGenes + j] = 0.2 * Math.sin(7 * j + g);
      padj[g * nGenes + j] = 0.2 + (0.8 * ((j * 37 + g * 11) % 100)) / 100;
    }
    // Group g has g hits (group 0 none): gene g*10 strongly down (p = 0: underflow), the rest up.
    for (let k = 0; k < g; k++) {
      const j = g * 10 + k;
      lfc[g * nGenes + j] = k === 0 ? -3 : 1 + k / 10;
      padj[g * nGenes + j] = k === 0 ? 0 : 10 ** -(10 - k);
      mine.push(j);
    }
    hits.push(mine);
  }
  const ad = emptyAnnData(nGroups, nGenes);
  ad.X = ndarray(layout === "crispyx" ? lfc : new Float32Array(nGroups * nGenes), [nGroups, nGenes]);
  ad.obs = dataframe(groups, { perturbation: strings(groups) });
  ad.var = dataframe(genes);
  ad.layers =
    layout === "crispyx"
      ? { pvals_adj: ndarray(padj, [nGroups, nGenes]) }
      : { logfoldchanges: ndarray(lfc, [nGroups, nGenes]), pvalue_adj: ndarray(padj, [nGroups, nGenes]) };
  ad.uns = {
    method: scalar(layout === "crispyx" ? method.replace("-", "_") : method),
    control_label: scalar("non-targeting"),
  };
  writeH5ad(path, ad);
  return { groups, genes, hits };
}
