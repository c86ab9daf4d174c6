/**
 * One perturbation's ranked table from a DE result file, as Scanpy's
 * `sc.get.rank_genes_groups_df(adata, group)` gives it (names, scores, logfoldchanges, pvals, pvals_adj,
 * pct_nz_group, pct_nz_reference; genes by descending score), reading only that perturbation: from its
 * datasets in the per-group layout, or otherwise from its row of X and the layers (the record arrays
 * interleave every group in each record, so one field cannot be read alone). Both give the same table:
 * the ranking is the one the run made (the same sort of the same stored scores).
 *
 * Cost model: O(genes) read and memory, whatever the number of perturbations (plus the obs index, to
 * find the row).
 */
import { InvalidArgumentError, FileFormatError } from "../errors.ts";
import { openStore } from "../io/openStore.ts";
import type { ReadStore } from "../io/store.ts";
import { readElem } from "../io/anndata/registry.ts";
import { argsortFloat64 } from "../stats/argsort.ts";
import { columnKeys } from "./labelKeys.ts";

export interface RankedGroupTable {
  group: string;
  names: string[];
  scores: Float64Array;
  logfoldchanges: Float64Array;
  pvals: Float64Array;
  pvals_adj: Float64Array;
  /** Fraction of the perturbation's cells expressing the gene (Scanpy's pct_nz_group). */
  pct_nz_group: Float64Array;
  /** Fraction of the control cells expressing it (pct_nz_reference). */
  pct_nz_reference: Float64Array;
  /** Where the table was read from. */
  layout: "per-group" | "layers";
}

const BASE = "/uns/rank_genes_groups";

/**
 * The ranked table of `group` in the DE result at `path` (written by `crispyx de` / rankGenesGroups).
 *
 * @example
 * const t = rankGenesGroupsDf("screen_de_t_test.h5ad", "KO_17");
 * console.log(t.names.slice(0, 5), t.pvals_adj.slice(0, 5));
 */
export function rankGenesGroupsDf(path: string, group: string): RankedGroupTable {
  const f = openStore(path);
  try {
    const groups = f.readStrings("/obs/_index");
    const g = groups.indexOf(group);
    if (g < 0)
      throw new InvalidArgumentError(`no perturbation '${group}' in the DE result (obs has ${groups.length})`, {
        file: path,
      });
    const genes = f.readStrings("/var/_index");
    const n = genes.length;
    const row = (p: string) => toFloat64(f.read(p, [g, 0], [1, n]) as ArrayLike<number>);
    const pts = row("/layers/pts");
    const controlPts = toFloat64(f.read("/uns/control_pts") as ArrayLike<number>);
    const key = columnKeys(groups)[g]!;
    if (f.isGroup(`${BASE}/names`) && f.exists(`${BASE}/names/${key}`)) {
      // Per-group layout: the run's ranking and ranked values as stored.
      const names = f.readStrings(`${BASE}/names/${key}`);
      const index = new Map(genes.map((name, j) => [name, j]));
      const order = Int32Array.from(names, (name) => index.get(name) ?? -1);
      const read = (table: string) => toFloat64(f.read(`${BASE}/${table}/${key}`) as ArrayLike<number>);
      return {
        group,
        names,
        scores: read("scores"),
        logfoldchanges: read("logfoldchanges"),
        pvals: read("pvals"),
        pvals_adj: read("pvals_adj"),
        pct_nz_group: gather(pts, order),
        pct_nz_reference: gather(controlPts, order),
        layout: "per-group",
      };
    }
    // Otherwise the group's rows of X and the layers (only now: the per-group layout needs none of them).
    assertDeResult(f);
    const scoresByGene = row("/layers/scores");
    const order = argsortFloat64(scoresByGene, true);
    return {
      group,
      names: Array.from(order, (j) => genes[j]!),
      // Scanpy's tables keep scores and fold changes as float32: the same values as its record arrays.
      scores: Float64Array.from(gather(scoresByGene, order), Math.fround),
      logfoldchanges: gather(row("/X"), order),
      pvals: gather(row("/layers/pvals"), order),
      pvals_adj: gather(row("/layers/pvals_adj"), order),
      pct_nz_group: gather(pts, order),
      pct_nz_reference: gather(controlPts, order),
      layout: "layers",
    };
  } finally {
    f.close();
  }
}

function assertDeResult(f: ReadStore): void {
  const m = f.exists("/uns/method") ? readElem(f, "/uns/method") : null;
  if (m?.type !== "scalar" || !f.exists("/layers/scores"))
    throw new FileFormatError("not a DE result of crispyx (no uns['method'] or layers['scores'])", { file: f.path });
}

function toFloat64(a: ArrayLike<number>): Float64Array {
  return a instanceof Float64Array ? a : Float64Array.from(a);
}

function gather(a: Float64Array, order: Int32Array): Float64Array {
  const out = new Float64Array(order.length);
  for (let r = 0; r < order.length; r++) out[r] = order[r]! >= 0 ? a[order[r]!]! : Number.NaN;
  return out;
}
