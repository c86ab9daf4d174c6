/**
 * Per-cell QC metrics for the report, in one streaming pass over X with memory that does not grow
 * with the number of cells: each metric goes straight into a histogram with fixed bin edges (known
 * before the pass), and only per-group counts and medians' histograms are kept.
 *
 * Metrics are Scanpy's calculate_qc_metrics names: total_counts, n_genes_by_counts, pct_counts_mt.
 */
import { rowsForBudget, throwIfAborted, type StreamOptions } from "../core/streaming.ts";
import type { H5adHandle } from "../io/anndata/handle.ts";
import type { SparseMatrix } from "../io/anndata/model.ts";
import { columnCells } from "../cli/output.ts";

/** Counts in bins with fixed edges: edges[i] ≤ x < edges[i+1]; the last bin also takes x = max. */
export interface Histogram {
  edges: number[];
  counts: number[];
  /** Values outside [edges[0], edges.at(-1)] (should be none with the ranges chosen here). */
  outside: number;
  /** Whether the bins are equal on a log10 scale (the plot's x axis follows). */
  log: boolean;
}

export interface CellMetrics {
  nCells: number;
  nGenes: number;
  /** Genes counted as mitochondrial (symbol or name starting with MT-, case-insensitive). */
  nMitoGenes: number;
  totalCounts: Histogram;
  genesDetected: Histogram;
  pctMito: Histogram;
  /** Approximate medians, read off the histograms (bin midpoints). */
  median: { total_counts: number; n_genes_by_counts: number; pct_counts_mt: number };
  /** Cells per group of the perturbation column, largest first (empty without a column). */
  cellsPerGroup: { group: string; cells: number }[];
}

function linearEdges(lo: number, hi: number, bins: number): number[] {
  return Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
}

function logEdges(lo: number, hi: number, bins: number): number[] {
  const a = Math.log10(lo);
  const b = Math.log10(hi);
  return Array.from({ length: bins + 1 }, (_, i) => 10 ** (a + ((b - a) * i) / bins));
}

function emptyHistogram(edges: number[], log: boolean): Histogram {
  return { edges, counts: new Array(edges.length - 1).fill(0), outside: 0, log };
}

/** Bin index by binary search (edges are few, so this is cheap). */
export function addToHistogram(h: Histogram, x: number): void {
  const e = h.edges;
  const last = e.length - 1;
  if (!(x >= e[0]!) || x > e[last]!) {
    h.outside++;
    return;
  }
  let lo = 0;
  let hi = last;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (x >= e[mid]!) lo = mid;
    else hi = mid;
  }
  h.counts[lo]!++;
}

/** The value below which half the binned values fall, interpolated inside its bin. */
export function histogramMedian(h: Histogram): number {
  const total = h.counts.reduce((a, b) => a + b, 0);
  if (total === 0) return NaN;
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i]!;
    if (seen + c >= total / 2 && c > 0) {
      const f = (total / 2 - seen) / c;
      const a = h.edges[i]!;
      const b = h.edges[i + 1]!;
      return h.log ? 10 ** (Math.log10(a) + f * (Math.log10(b) - Math.log10(a))) : a + f * (b - a);
    }
    seen += c;
  }
  return h.edges.at(-1)!;
}

/** Empty histograms for the three per-cell metrics of a file with `nGenes` genes (edges fixed up front). */
export function cellHistograms(
  nGenes: number,
  bins = 50,
): { totalCounts: Histogram; genesDetected: Histogram; pctMito: Histogram } {
  return {
    // Any real cell has up to 10^7 counts: 20 bins per decade by default; the first bin [0, 1) holds empty cells.
    totalCounts: emptyHistogram([0, ...logEdges(1, 1e7, Math.round(bins * 2.8))], true),
    genesDetected: emptyHistogram(linearEdges(0, Math.max(1, nGenes), bins), false),
    pctMito: emptyHistogram(linearEdges(0, 100, bins), false),
  };
}

export interface CellMetricsOptions extends StreamOptions {
  /** obs column whose groups are counted (e.g. "perturbation"). */
  groupColumn?: string;
  /** var column with gene symbols used to find MT- genes (default: var_names). */
  symbolColumn?: string;
  bins?: number;
}

/** Stream X once and fill the histograms. Works on CSR, CSC (read by row blocks) and dense X. */
export async function cellMetrics(h: H5adHandle, opts: CellMetricsOptions = {}): Promise<CellMetrics> {
  const n = h.nObs;
  const m = h.nVars;
  const bins = opts.bins ?? 50;
  const names = opts.symbolColumn
    ? columnCells(h.var.column(opts.symbolColumn)).map((v) => String(v ?? ""))
    : h.var.index;
  const isMito = Uint8Array.from(names, (s) => (s.toUpperCase().startsWith("MT-") ? 1 : 0));
  const nMito = isMito.reduce((a, b) => a + b, 0);
  const { totalCounts, genesDetected, pctMito } = cellHistograms(m, bins);

  const X = h.X;
  const bytesPerRow = X.format === "dense" ? m * 8 : Math.max(16, (X.info.nnz / Math.max(1, n)) * 16);
  const step = rowsForBudget(bytesPerRow, n, opts);
  for (let start = 0; start < n; start += step) {
    throwIfAborted(opts.signal);
    const end = Math.min(n, start + step);
    const b = X.rows(start, end, "csr") as SparseMatrix;
    for (let r = 0; r < end - start; r++) {
      const lo = Number(b.indptr[r]);
      const hi = Number(b.indptr[r + 1]);
      let total = 0;
      let mt = 0;
      let detected = 0;
      for (let k = lo; k < hi; k++) {
        const v = Number(b.data[k]);
        if (v === 0) continue; // explicit zeros are not "detected"
        total += v;
        detected++;
        if (isMito[Number(b.indices[k])]) mt += v;
      }
      // Cells with no counts go into the first total-counts bin [0, 1).
      addToHistogram(totalCounts, total);
      addToHistogram(genesDetected, detected);
      addToHistogram(pctMito, total > 0 ? (100 * mt) / total : 0);
    }
    opts.onProgress?.({ phase: "QC metrics", done: end, total: n, unit: "cells" });
    // Let Ctrl-C and progress redraws through between blocks.
    await new Promise((r) => setImmediate(r));
  }

  let cellsPerGroup: CellMetrics["cellsPerGroup"] = [];
  if (opts.groupColumn) {
    const counts = new Map<string, number>();
    for (const v of columnCells(h.obs.column(opts.groupColumn))) {
      const k = v === null ? "(missing)" : String(v);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    cellsPerGroup = [...counts]
      .map(([group, cells]) => ({ group, cells }))
      .sort((a, b) => b.cells - a.cells || (a.group < b.group ? -1 : 1));
  }
  return {
    nCells: n,
    nGenes: m,
    nMitoGenes: nMito,
    totalCounts,
    genesDetected,
    pctMito,
    median: {
      total_counts: histogramMedian(totalCounts),
      n_genes_by_counts: histogramMedian(genesDetected),
      pct_counts_mt: histogramMedian(pctMito),
    },
    cellsPerGroup,
  };
}
