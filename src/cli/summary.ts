/** What `crispyx info` reports about a file: a JSON-ready summary and the text shown in a terminal. */
import { statSync } from "node:fs";
import { previewElement, type H5adHandle } from "../io/anndata/handle.ts";
import type { MAPPING_KEYS } from "../io/anndata/anndata.ts";
import { formatBytes } from "./commands/common.ts";
import { isZarrStore, zarrStoreBytes } from "../io/zarr/index.ts";

export interface ColumnSummary {
  name: string;
  /** AnnData encoding: categorical, array, string-array, nullable-integer, … */
  encoding: string;
  dtype?: string;
  n_categories?: number;
}

export interface FileSummary {
  path: string;
  file_bytes: number;
  n_obs: number;
  n_vars: number;
  X: { format: string; dtype: string; nnz: number; density: number } | null;
  obs: ColumnSummary[];
  var: ColumnSummary[];
  uns: string[];
  obsm: Record<string, { encoding: string; shape?: number[]; dtype?: string }>;
  varm: Record<string, { encoding: string; shape?: number[]; dtype?: string }>;
  obsp: Record<string, { encoding: string; shape?: number[]; dtype?: string }>;
  varp: Record<string, { encoding: string; shape?: number[]; dtype?: string }>;
  layers: Record<string, { encoding: string; shape?: number[]; dtype?: string }>;
  raw: { n_vars: number } | null;
}

function columns(h: H5adHandle, table: "obs" | "var"): ColumnSummary[] {
  return h[table].columns.map((name) => {
    const path = `/${table}/${name}`;
    const p = previewElement(h.file, path, name);
    const s: ColumnSummary = { name, encoding: p.encoding };
    if (p.encoding === "categorical") {
      s.dtype = "category";
      s.n_categories = p.nCategories ?? 0;
    } else if (p.encoding.startsWith("nullable")) {
      s.dtype = p.encoding.replace("nullable-", "nullable ");
    } else if (p.dtype) {
      s.dtype = p.dtype;
    }
    return s;
  });
}

/** A machine-readable summary of a file (the `--json` output). */
export function summarize(h: H5adHandle): FileSummary {
  const mapping = (key: (typeof MAPPING_KEYS)[number]) =>
    Object.fromEntries(
      h
        .mapping(key)
        .keys()
        .map((k) => {
          const p = h.mapping(key).preview(k);
          return [
            k,
            { encoding: p.encoding, ...(p.shape ? { shape: p.shape } : {}), ...(p.dtype ? { dtype: p.dtype } : {}) },
          ];
        }),
    );
  let X: FileSummary["X"] = null;
  if (h.hasX) {
    const x = h.X.info;
    const cells = x.shape[0] * x.shape[1];
    X = { format: x.format, dtype: x.dtype, nnz: x.nnz, density: cells ? x.nnz / cells : 0 };
  }
  return {
    path: h.path,
    file_bytes: isZarrStore(h.path) ? zarrStoreBytes(h.path) : statSync(h.path).size,
    n_obs: h.nObs,
    n_vars: h.nVars,
    X,
    obs: columns(h, "obs"),
    var: columns(h, "var"),
    uns: h.uns.keys(),
    obsm: mapping("obsm"),
    varm: mapping("varm"),
    obsp: mapping("obsp"),
    varp: mapping("varp"),
    layers: mapping("layers"),
    raw: h.rawNVars === null ? null : { n_vars: h.rawNVars },
  };
}

/** The text printed by `crispyx info`: anndata's repr, then size and sparsity. */
export function infoText(h: H5adHandle, s: FileSummary): string {
  const lines = [h.describe()];
  const extra = [`file: ${formatBytes(s.file_bytes)}`];
  if (s.X && s.X.format !== "dense") extra.push(`X density ${(100 * s.X.density).toFixed(1)}%`);
  const cats = s.obs.filter((c) => c.n_categories !== undefined).map((c) => `${c.name} (${c.n_categories})`);
  if (cats.length) extra.push(`obs categories: ${cats.join(", ")}`);
  lines.push(`    ${extra.join("; ")}`);
  return lines.join("\n");
}
