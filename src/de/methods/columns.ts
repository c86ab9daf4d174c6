/**
 * The result columns every DE method writes (Scanpy's rank_genes_groups names) and where each goes: the
 * .h5ad (X or a layer, Scanpy's ranked record arrays), the tidy CSV, and the layer names `crispyx report`
 * and `crispyx overlap` accept for the same statistic from other tools. Methods add their own columns
 * (DeExtraColumn: a layer and a CSV column each). Plain data: it travels to the CSV worker threads.
 */

/** The DeResults arrays holding Scanpy's columns ([group × gene]; pts per slot, slot 0 the control). */
export type ScanpyArray = "scores" | "pvals" | "pvalsAdj" | "logfoldchanges" | "pts";

export interface DeColumn {
  /** Scanpy's name (`rank_genes_groups` key). */
  readonly key: string;
  readonly source: ScanpyArray;
  /** Where the .h5ad keeps the [perturbation × gene] matrix: "X" or a layer's name. */
  readonly layer: string;
  /** Its CSV header names, in order (pts gives the group's and the control's fractions). */
  readonly csv: readonly string[];
  /** Stored type of its field in Scanpy's ranked record arrays; null when it has none. */
  readonly ranked: "float32" | "float64" | null;
  /** Layer names read as this statistic by the report (first found wins): ours and the Python crispyx's. */
  readonly readNames: readonly string[];
}

/**
 * Scanpy's columns, in the CSV's order and the ranked tables' order (after `names`); the .h5ad writes
 * X first, then the layers in this order. The CSV's row formatter (../csvFormat.ts) writes them in this
 * order too (test/de/methodRegistry.test.ts checks the header).
 */
export const SCANPY_COLUMNS: readonly DeColumn[] = [
  { key: "scores", source: "scores", layer: "scores", csv: ["score"], ranked: "float32", readNames: ["scores"] },
  { key: "pvals", source: "pvals", layer: "pvals", csv: ["pvalue"], ranked: "float64", readNames: ["pvals"] },
  {
    key: "pvals_adj",
    source: "pvalsAdj",
    layer: "pvals_adj",
    csv: ["pvalue_adj"],
    ranked: "float64",
    readNames: ["pvalue_adj", "pvals_adj", "padj"],
  },
  {
    key: "logfoldchanges",
    source: "logfoldchanges",
    layer: "X",
    csv: ["logfoldchange"],
    ranked: "float32",
    readNames: ["logfoldchanges", "logfoldchange", "log2fc"],
  },
  { key: "pts", source: "pts", layer: "pts", csv: ["pct_group", "pct_control"], ranked: null, readNames: ["pts"] },
];

/** A Scanpy column by key. */
export function scanpyColumn(key: string): DeColumn {
  const c = SCANPY_COLUMNS.find((x) => x.key === key);
  if (!c) throw new Error(`internal: no DE column '${key}'`);
  return c;
}

/**
 * A column a method adds (e.g. NB-GLM's baseMean, lfcSE, dispersion): float64 [perturbation × gene],
 * written as `layers[key]` and as CSV column `csv` after Scanpy's; filled by the method's groupScores
 * kernel into `results.extra[key]`.
 */
export interface DeExtraColumn {
  readonly key: string;
  readonly csv: string;
  readonly description: string;
}

/** The CSV header for a method's columns. */
export function csvHeader(extra: readonly DeExtraColumn[] = []): string {
  return ["perturbation", "gene", ...SCANPY_COLUMNS.flatMap((c) => c.csv), ...extra.map((c) => c.csv)].join(",") + "\n";
}
