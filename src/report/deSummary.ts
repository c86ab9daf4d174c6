/**
 * What the report shows of a differential-expression result file (the .h5ad that `crispyx de`
 * writes, as the Python crispyx does: one row per perturbation, one column per gene, statistics in
 * layers). Rows are read one perturbation at a time, so memory grows with the number of genes only.
 */
import type { H5adHandle } from "../io/anndata/handle.ts";
import type { NdArray, SparseMatrix } from "../io/anndata/model.ts";
import { InvalidArgumentError } from "../errors.ts";
import { scanpyColumn } from "../de/methods/columns.ts";
import { deMethodByStoredName } from "../de/methods/registry.ts";
import type { VolcanoPoint } from "./plots.ts";

/** Layer names the Python crispyx and Scanpy use for the same statistic (the DE columns' declarations). */
const LFC_LAYERS = [...scanpyColumn("logfoldchanges").readNames];
const PADJ_LAYERS = [...scanpyColumn("pvals_adj").readNames];

export interface TopGene {
  gene: string;
  logfc: number;
  padj: number;
}

export interface GroupSummary {
  group: string;
  up: number;
  down: number;
  /** Smallest adjusted p-values first (ties: larger |log fold change| first). */
  top: TopGene[];
  /** Points for the volcano plot: every hit, and an even sample of the other genes. */
  points: VolcanoPoint[];
  /** Genes left out of the plot (sampled away among non-hits). */
  pointsOmitted: number;
}

export interface DeSummary {
  path: string;
  method: string;
  controlLabel: string | null;
  nGroups: number;
  nGenes: number;
  alpha: number;
  lfcThreshold: number;
  groups: GroupSummary[];
}

export interface DeSummaryOptions {
  /** Adjusted p-value below which a gene is a hit (default 0.05). */
  alpha?: number;
  /** |log2 fold change| a hit must exceed (default 0). */
  lfcThreshold?: number;
  /** Genes listed per perturbation (default 10). */
  topN?: number;
  /** Top hits named in each volcano (default 5). */
  labelN?: number;
  /** Non-hit genes drawn per volcano at most (default 600): keeps the page small on 30k genes. */
  maxBackgroundPoints?: number;
  /** false: counts and top genes only, no volcano points (no sort of every gene: the CLI's summary of 10⁴ perturbations). */
  points?: boolean;
}

function pickLayer(h: H5adHandle, names: string[], what: string): string {
  const found = names.find((n) => h.layers.has(n));
  if (!found) {
    throw new InvalidArgumentError(`is not a differential-expression result (no ${what} layer)`, {
      file: h.path,
      hint: `expected one of the layers ${names.join(", ")}, as written by 'crispyx de'; layers found: ${h.layers.keys().join(", ") || "(none)"}`,
    });
  }
  return found;
}

function rowValues(block: NdArray | SparseMatrix, n: number): Float64Array {
  const out = new Float64Array(n);
  if (block.type === "array") {
    for (let j = 0; j < n; j++) out[j] = Number((block.data as ArrayLike<number>)[j]);
  } else {
    for (let k = Number(block.indptr[0]); k < Number(block.indptr[1]); k++)
      out[Number(block.indices[k])] = Number(block.data[k]);
  }
  return out;
}

function unsText(h: H5adHandle, key: string): string | null {
  const attr = h.file.attr("/uns", key);
  if (typeof attr === "string") return attr;
  if (h.uns.has(key)) {
    const v = h.uns.get(key);
    if (v.type === "scalar") return String(v.value);
    if (v.type === "array" && Array.isArray(v.data) && v.data.length === 1) return String(v.data[0]);
  }
  return null;
}

/** The method's name for what a result file's `uns['method']` says (the registry's stored names; others as they are). */
function methodName(stored: string | null): string {
  if (stored === null) return "unknown";
  return deMethodByStoredName(stored)?.name ?? stored;
}

/** The first `k` of `items` in the order `before` gives (a sort's first k, in O(items × k)). */
function firstInOrder(items: number[], k: number, before: (a: number, b: number) => number): number[] {
  const best: number[] = [];
  if (k <= 0) return best;
  for (const x of items) {
    if (best.length === k) {
      if (before(x, best[k - 1]!) >= 0) continue;
      best.pop();
    }
    let i = best.length;
    best.push(x);
    while (i > 0 && before(x, best[i - 1]!) < 0) {
      best[i] = best[i - 1]!;
      i--;
    }
    best[i] = x;
  }
  return best;
}

/** Read the summary of every perturbation in a DE result file. */
export function summarizeDe(h: H5adHandle, opts: DeSummaryOptions = {}): DeSummary {
  const alpha = opts.alpha ?? 0.05;
  const lfcThreshold = opts.lfcThreshold ?? 0;
  const topN = opts.topN ?? 10;
  const labelN = opts.labelN ?? 5;
  const maxBg = opts.maxBackgroundPoints ?? 600;
  const padjReader = h.matrix(pickLayer(h, PADJ_LAYERS, "adjusted p-value"));
  // The Python crispyx keeps log fold changes in a layer; `crispyx de` stores them as X (as Scanpy's
  // rank_genes_groups_df would read them), next to the p-value layers.
  const lfcLayer = LFC_LAYERS.find((n) => h.layers.has(n));
  const lfcReader = lfcLayer ? h.matrix(lfcLayer) : h.X;
  const genes = h.var.index;
  const groupNames = h.obs.index;
  const nGenes = genes.length;
  const groups: GroupSummary[] = [];
  for (let g = 0; g < groupNames.length; g++) {
    const lfc = rowValues(lfcReader.rows(g, g + 1), nGenes);
    const padj = rowValues(padjReader.rows(g, g + 1), nGenes);
    const isHit = (j: number) => padj[j]! < alpha && Math.abs(lfc[j]!) > lfcThreshold && Number.isFinite(lfc[j]!);
    let up = 0;
    let down = 0;
    const ranked: number[] = [];
    for (let j = 0; j < nGenes; j++) {
      if (Number.isNaN(padj[j]!)) continue;
      ranked.push(j);
      if (isHit(j)) {
        if (lfc[j]! > 0) up++;
        else down++;
      }
    }
    const before = (a: number, b: number) => padj[a]! - padj[b]! || Math.abs(lfc[b]!) - Math.abs(lfc[a]!) || a - b;
    if (opts.points === false) {
      // Counts and the top genes only (the CLI's summary): the first topN by selection, no sort of every gene.
      const best = firstInOrder(ranked, topN, before);
      const top = best.map((j) => ({ gene: genes[j]!, logfc: lfc[j]!, padj: padj[j]! }));
      groups.push({ group: groupNames[g]!, up, down, top, points: [], pointsOmitted: ranked.length });
      continue;
    }
    ranked.sort(before);
    const top = ranked.slice(0, topN).map((j) => ({ gene: genes[j]!, logfc: lfc[j]!, padj: padj[j]! }));
    // p = 0 (underflow) is drawn one unit above the highest other point and above the hit line, so it
    // stays on the plot and on top instead of stretching the axis to 300.
    let minPositive = 1;
    for (const j of ranked) if (padj[j]! > 0 && padj[j]! < minPositive) minPositive = padj[j]!;
    const zeroAt = Math.max(-Math.log10(minPositive), -Math.log10(alpha)) + 1;
    const nlp = (p: number) => (p > 0 ? -Math.log10(p) : zeroAt);
    const labelled = new Set(ranked.filter(isHit).slice(0, labelN));
    const background = ranked.filter((j) => !isHit(j) && Number.isFinite(lfc[j]!));
    const stride = Math.max(1, Math.ceil(background.length / maxBg));
    const shown = [...ranked.filter(isHit), ...background.filter((_, i) => i % stride === 0)];
    const points: VolcanoPoint[] = shown.map((j) => ({
      gene: genes[j]!,
      logfc: lfc[j]!,
      nlp: nlp(padj[j]!),
      call: isHit(j) ? (lfc[j]! > 0 ? "up" : "down") : "ns",
      ...(labelled.has(j) ? { label: genes[j]! } : {}),
    }));
    groups.push({ group: groupNames[g]!, up, down, top, points, pointsOmitted: ranked.length - shown.length });
  }
  return {
    path: h.path,
    method: methodName(unsText(h, "method")),
    controlLabel: unsText(h, "control_label"),
    nGroups: groupNames.length,
    nGenes,
    alpha,
    lfcThreshold,
    groups,
  };
}
