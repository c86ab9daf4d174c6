/**
 * qcSummary: the seed's quality_control_summary — filter a Perturb-seq screen in three steps and write
 * the filtered file, streaming X so memory does not grow with the number of cells.
 *
 *   const r = await qcSummary("screen.h5ad", { perturbationColumn: "gene", outputDir: "out" });
 *   // out/crispyx_filtered.h5ad and out/crispyx_filtered_qc_summary.json
 *
 * Steps (the seed's order): drop cells with fewer than `minGenes` detected genes; drop perturbations
 * with fewer than `minCellsPerPerturbation` of the remaining cells (never the control); drop genes
 * detected in fewer than `minCellsPerGene` of the cells left. X passes: one over all cells (metrics,
 * gene detections), one over the cells dropped with their perturbation (their detections are
 * subtracted), one writing the subset (writeFilteredSubset).
 *
 * Beyond the seed: the output's obs gets Scanpy's per-cell metrics (total_counts, n_genes_by_counts,
 * pct_counts_mt), its uns the summary ('qc_summary'), also written as JSON beside it; an explicit
 * control label must occur; X with negative, NaN or infinite values is refused (QC needs counts); an
 * existing result made from the same input with the same settings is reused unless `force`.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { InvalidArgumentError } from "../errors.ts";
import { writeAtomically, writeAtomicallySync } from "../io/atomic.ts";
import { openStore, openWriteStore } from "../io/openStore.ts";
import { replaceElement } from "../io/anndata/edit.ts";
import { writeElem, readElem } from "../io/anndata/registry.ts";
import { ndarray, type Element } from "../io/anndata/model.ts";
import { columnOrder, indexName } from "../io/anndata/encodings/dataframe.ts";
import { resolveDataPath, resolveOutputPath, writeUnsDict, type DataSource } from "../io/anndata/fileHelpers.ts";
import type { PlainValue } from "../io/anndata/convert.ts";
import { throwIfAborted, type StreamOptions } from "../core/streaming.ts";
import { calculateAdaptiveQcThresholds, type AdaptiveQcThresholds, type QcMode } from "../helpers/adaptiveQc.ts";
import { ensureGeneSymbolColumn } from "../helpers/geneSymbols.ts";
import { readLabelCodes } from "../ops/sort.ts";
import { checkInputOutput, ensureOutputDir, openInput } from "../ops/operatorIO.ts";
import { writeFilteredSubset } from "../ops/subset.ts";
import { adjustDetections, computeQcMetrics, qcChunkSize, type CellQcMetrics } from "./metrics.ts";
import {
  cellMasks,
  cellsWhere,
  controlLabelFor,
  droppedByPerturbation,
  geneMask,
  mitochondrialMask,
  type PerturbationCount,
} from "./filters.ts";

/** The seed's defaults. */
export const QC_DEFAULTS = { minGenes: 100, minCellsPerPerturbation: 50, minCellsPerGene: 100 } as const;

/** Where the summary goes in the output's uns. */
export const QC_SUMMARY_KEY = "qc_summary";

export interface QcOptions extends StreamOptions {
  /** obs column with the perturbation labels. */
  perturbationColumn: string;
  /** Label of the control cells (never dropped); inferred from the labels when absent. */
  controlLabel?: string | null;
  /** var column with gene symbols (default: var_names), used for mt- genes and var['gene_symbols']. */
  geneNameColumn?: string | null;
  /** Minimum detected genes per cell (default 100, or adaptive). */
  minGenes?: number;
  /** Minimum cells (after the gene filter) per perturbation (default 50, or adaptive). */
  minCellsPerPerturbation?: number;
  /** Minimum kept cells detecting a gene (default 100, or adaptive). */
  minCellsPerGene?: number;
  /**
   * Choose the thresholds not given explicitly from the data (calculateAdaptiveQcThresholds): true or
   * "conservative" (10th percentiles), "aggressive" (5th).
   */
  adaptive?: boolean | QcMode;
  /** Cells sampled and sampling seed for adaptive thresholds (defaults 10000 and 0). */
  adaptiveSampleSize?: number;
  adaptiveSeed?: number;
  /** Prefix of mitochondrial gene symbols, case-insensitive (default "MT-", which also matches mouse mt-). */
  mtPrefix?: string;
  /** Output file. Default: resolveOutputPath(input, {suffix: "filtered", outputDir, dataName}). */
  output?: string;
  /** Folder of the default output name (default: beside the input). */
  outputDir?: string;
  /** Data name in the default output name: crispyx_<dataName>_filtered.h5ad. */
  dataName?: string;
  /** Compute and return the masks and summary without writing anything. */
  dryRun?: boolean;
  /** Recompute even when the output already holds a result for the same input and settings. */
  force?: boolean;
}

export interface QcThresholds {
  minGenes: number;
  minCellsPerPerturbation: number;
  minCellsPerGene: number;
  /** "given" (explicit or the seed's defaults) or the adaptive mode used. */
  source: "given" | QcMode;
  /** The adaptive computation, when adaptive thresholds were asked for. */
  adaptive?: AdaptiveQcThresholds;
}

/** Counts kept and dropped, as written to uns['qc_summary'] and the JSON file. */
export interface QcCounts {
  cells: { input: number; kept: number; droppedMinGenes: number; droppedSmallPerturbation: number };
  genes: { input: number; kept: number; dropped: number; mitochondrial: number };
  perturbations: { input: number; kept: number; dropped: string[] };
}

/** Masks and per-cell / per-gene numbers (present when computed, absent when a result was reused). */
export interface QcArrays {
  /** 1 for kept cells, one entry per input cell. */
  cellMask: Uint8Array;
  /** 1 for kept genes, one entry per input gene. */
  geneMask: Uint8Array;
  /** Per input cell: the seed's detected genes and Scanpy's metrics. */
  metrics: CellQcMetrics;
  /** Per input gene: kept cells detecting it (the seed's gene_cell_counts). */
  cellsPerGene: Float64Array;
}

export interface QcResult {
  /** The filtered .h5ad (null for a dry run). */
  output: string | null;
  /** The JSON summary beside it (null for a dry run). */
  summaryFile: string | null;
  /** True when an existing result was returned without recomputing. */
  reused: boolean;
  input: string;
  perturbationColumn: string;
  controlLabel: string;
  thresholds: QcThresholds;
  counts: QcCounts;
  /** Per perturbation: cells, cells passing the gene filter, kept. In order of first cell. */
  perturbations: PerturbationCount[];
  arrays?: QcArrays;
}

/** The JSON summary file beside an output: `x.h5ad` → `x_qc_summary.json`. */
export function qcSummaryPath(output: string): string {
  return join(dirname(output), `${basename(output).replace(/\.h5ad$/i, "")}_qc_summary.json`);
}

function checkThreshold(name: string, v: number | undefined): void {
  if (v === undefined) return;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative integer, got ${String(v)}`);
  }
}

function adaptiveMode(a: QcOptions["adaptive"]): QcMode | null {
  if (a === undefined || a === false) return null;
  if (a === true) return "conservative";
  if (a === "conservative" || a === "aggressive") return a;
  throw new InvalidArgumentError(`adaptive must be true, false, "conservative" or "aggressive", got '${String(a)}'`);
}

/** What decides whether an existing output can be reused: the input file and the settings asked for. */
function requestKey(input: string, opts: QcOptions, control: string, mode: QcMode | null): string {
  const st = statSync(input);
  return JSON.stringify({
    input: resolve(input),
    size: st.size,
    mtimeMs: st.mtimeMs,
    perturbationColumn: opts.perturbationColumn,
    controlLabel: control,
    geneNameColumn: opts.geneNameColumn ?? null,
    minGenes: opts.minGenes ?? null,
    minCellsPerPerturbation: opts.minCellsPerPerturbation ?? null,
    minCellsPerGene: opts.minCellsPerGene ?? null,
    adaptive: mode,
    adaptiveSampleSize: mode ? (opts.adaptiveSampleSize ?? null) : null,
    adaptiveSeed: mode ? (opts.adaptiveSeed ?? null) : null,
    mtPrefix: opts.mtPrefix ?? "MT-",
  });
}

/** The previous result under `output` when it was made with `key` and is complete; else null. */
function reusable(output: string, key: string): QcResult | null {
  const json = qcSummaryPath(output);
  if (!existsSync(output) || !existsSync(json)) return null;
  let stored: string | undefined;
  try {
    const f = openStore(output, "r");
    try {
      const at = `/uns/${QC_SUMMARY_KEY}/request`;
      if (f.exists(at)) {
        const e = readElem(f, at);
        if (e.type === "scalar") stored = String(e.value);
      }
    } finally {
      f.close();
    }
    if (stored !== key) return null;
    const result = JSON.parse(readFileSync(json, "utf8")) as QcResult & { request?: string };
    if (result.request !== key) return null;
    delete result.request;
    return { ...result, output, summaryFile: json, reused: true };
  } catch {
    return null; // unreadable: recompute
  }
}

/** The summary as a uns dict (snake_case, Scanpy style). */
function unsSummary(r: QcResult, key: string): Record<string, PlainValue> {
  const t = r.thresholds;
  return {
    perturbation_column: r.perturbationColumn,
    control_label: r.controlLabel,
    min_genes: t.minGenes,
    min_cells_per_perturbation: t.minCellsPerPerturbation,
    min_cells_per_gene: t.minCellsPerGene,
    thresholds_source: t.source,
    n_cells_input: r.counts.cells.input,
    n_cells_kept: r.counts.cells.kept,
    n_cells_dropped_min_genes: r.counts.cells.droppedMinGenes,
    n_cells_dropped_small_perturbation: r.counts.cells.droppedSmallPerturbation,
    n_genes_input: r.counts.genes.input,
    n_genes_kept: r.counts.genes.kept,
    n_genes_mitochondrial: r.counts.genes.mitochondrial,
    n_perturbations_input: r.counts.perturbations.input,
    n_perturbations_kept: r.counts.perturbations.kept,
    dropped_perturbations: r.counts.perturbations.dropped,
    input: r.input,
    request: key,
  };
}

/** Restrict a per-cell array to the kept cells. */
function keptValues<T extends Float64Array | Int32Array>(values: T, keep: Uint8Array, nKept: number): T {
  const out = new (values.constructor as { new (n: number): T })(nKept);
  for (let i = 0, k = 0; i < keep.length; i++) if (keep[i]) out[k++] = values[i]!;
  return out;
}

/** Add (or replace) obs columns of a finished .h5ad and list them in obs' column-order. */
function addObsColumns(path: string, columns: Record<string, Element>): void {
  for (const [name, e] of Object.entries(columns)) replaceElement(path, `/obs/${name}`, (f, at) => writeElem(f, at, e));
  const f = openWriteStore(path, "r+");
  try {
    const order = columnOrder(f, "/obs");
    const added = Object.keys(columns).filter((c) => !order.includes(c));
    if (added.length) f.setAttr("/obs", "column-order", [...order, ...added]);
  } finally {
    f.close();
  }
}

/** The passes over X and the masks (see the module comment); nothing is written. */
async function filterMasks(
  inputPath: string,
  opts: QcOptions,
  plan: { output: string | null; control: string; thresholds: QcThresholds; symbols: string[] },
): Promise<QcResult> {
  const { output, control, thresholds, symbols } = plan;
  const h = openInput(inputPath);
  try {
    const x = h.X;
    const [nObs, nVars] = x.shape;
    const lc = readLabelCodes(h.file, opts.perturbationColumn);
    const chunkSize = qcChunkSize(x, opts);
    const isMt = mitochondrialMask(symbols, opts.mtPrefix ?? "MT-");
    const obsIndex = `/obs/${indexName(h.file, "/obs")}`;
    const cellName = (i: number) => h.file.readStrings(obsIndex, i, 1)[0] ?? String(i);
    const pass = { ...opts, chunkSize };

    const { cells: metrics, cellsPerGene } = await computeQcMetrics(
      x,
      isMt,
      thresholds.minGenes,
      inputPath,
      cellName,
      pass,
    );
    const masks = cellMasks(
      metrics.detectedGenes,
      lc,
      control,
      thresholds.minGenes,
      thresholds.minCellsPerPerturbation,
    );
    // Genes are counted in the kept cells only (the seed's in-memory path; its streaming paths forget to
    // remove the cells that failed the gene filter). Pass 1 counted the cells passing the gene filter;
    // now either subtract those the perturbation filter dropped (usually few: only their rows are read)
    // or, when they outnumber the kept cells, count the kept cells afresh.
    const nKept = masks.keep.reduce((s, v) => s + v, 0);
    const dropped = droppedByPerturbation(metrics.detectedGenes, masks.keep, thresholds.minGenes);
    if (dropped.length <= nKept) await adjustDetections(x, dropped, cellsPerGene, -1, pass);
    else {
      cellsPerGene.fill(0);
      await adjustDetections(x, cellsWhere(masks.keep, 1), cellsPerGene, 1, pass);
    }
    const genes = geneMask(cellsPerGene, thresholds.minCellsPerGene);
    const nGenesKept = genes.reduce((s, v) => s + v, 0);
    const kept = masks.perturbations.filter((p) => p.kept);
    return {
      output,
      summaryFile: output ? qcSummaryPath(output) : null,
      reused: false,
      input: inputPath,
      perturbationColumn: opts.perturbationColumn,
      controlLabel: control,
      thresholds,
      counts: {
        cells: {
          input: nObs,
          kept: nKept,
          droppedMinGenes: masks.nDroppedMinGenes,
          droppedSmallPerturbation: masks.nDroppedSmallPerturbation,
        },
        genes: {
          input: nVars,
          kept: nGenesKept,
          dropped: nVars - nGenesKept,
          mitochondrial: isMt.reduce((s, v) => s + v, 0),
        },
        perturbations: {
          input: masks.perturbations.length,
          kept: kept.length,
          dropped: masks.perturbations.filter((p) => !p.kept).map((p) => p.label),
        },
      },
      perturbations: masks.perturbations,
      arrays: { cellMask: masks.keep, geneMask: genes, metrics, cellsPerGene },
    };
  } finally {
    h.close();
  }
}

/** Write the filtered file (with metrics and uns summary) and the JSON beside it, atomically. */
async function writeQcOutput(
  inputPath: string,
  output: string,
  result: QcResult,
  symbols: string[],
  key: string,
  opts: QcOptions,
): Promise<void> {
  throwIfAborted(opts.signal);
  const { cellMask, geneMask: gm, metrics } = result.arrays!;
  const nKept = result.counts.cells.kept;
  const keptSymbols = symbols.filter((_, j) => gm[j]);
  ensureOutputDir(output);
  await writeAtomically(output, async (tmp) => {
    await writeFilteredSubset(inputPath, {
      output: tmp,
      cellMask,
      geneMask: gm,
      varAssignments: { gene_symbols: keptSymbols },
      memoryBudget: opts.memoryBudget,
      chunkSize: opts.chunkSize,
      onProgress: opts.onProgress,
      signal: opts.signal,
    });
    throwIfAborted(opts.signal);
    opts.onProgress?.({ phase: "writing QC metrics", done: 0, total: 1, unit: "steps" });
    addObsColumns(tmp, {
      n_genes_by_counts: ndarray(keptValues(metrics.nGenesByCounts, cellMask, nKept)),
      total_counts: ndarray(keptValues(metrics.totalCounts, cellMask, nKept)),
      pct_counts_mt: ndarray(keptValues(metrics.pctCountsMt, cellMask, nKept)),
    });
    writeUnsDict(tmp, QC_SUMMARY_KEY, unsSummary(result, key));
    throwIfAborted(opts.signal);
    // The summary goes in place before the .h5ad: a complete output always has its JSON beside it.
    const { arrays: _omit, ...plain } = result;
    writeAtomicallySync(result.summaryFile!, (t) =>
      writeFileSync(t, JSON.stringify({ ...plain, request: key }, null, 2) + "\n"),
    );
    opts.onProgress?.({ phase: "writing QC metrics", done: 1, total: 1, unit: "steps" });
  });
}

/**
 * Filter low-quality cells, under-represented perturbations and rarely detected genes (see the module
 * comment), write the filtered file with per-cell metrics and a summary, and return what was done.
 *
 * @param input path (or open handle) of the .h5ad screen; never modified
 * @returns output paths, thresholds used, counts kept/dropped, per-perturbation counts and (unless
 *   reused) the masks and metrics
 * @throws InvalidArgumentError before any work for a missing obs column (listing the available ones),
 *   an unknown or uninferable control label, bad thresholds, Ensembl-like gene names, an output that is
 *   the input; during the first pass (before anything is written) for negative/NaN/infinite counts
 */
export async function qcSummary(input: DataSource, opts: QcOptions): Promise<QcResult> {
  if (!opts || typeof opts.perturbationColumn !== "string" || !opts.perturbationColumn) {
    throw new InvalidArgumentError("qcSummary needs perturbationColumn (the obs column with perturbation labels)");
  }
  checkThreshold("minGenes", opts.minGenes);
  checkThreshold("minCellsPerPerturbation", opts.minCellsPerPerturbation);
  checkThreshold("minCellsPerGene", opts.minCellsPerGene);
  const mode = adaptiveMode(opts.adaptive);
  const dryRun = opts.dryRun === true;
  const inputPath = resolveDataPath(input);
  const output = dryRun
    ? null
    : (opts.output ??
      resolveOutputPath(inputPath, { suffix: "filtered", outputDir: opts.outputDir, dataName: opts.dataName }));
  if (output) checkInputOutput(inputPath, output, "qcSummary");

  const h = openInput(inputPath);
  let key: string, control: string;
  try {
    const lc = readLabelCodes(h.file, opts.perturbationColumn);
    control = controlLabelFor(lc, opts.controlLabel, inputPath, opts.perturbationColumn);
    key = requestKey(inputPath, opts, control, mode);
  } finally {
    h.close();
  }
  if (output && !opts.force) {
    const previous = reusable(output, key);
    if (previous) return previous;
  }
  const symbols = ensureGeneSymbolColumn(inputPath, opts.geneNameColumn ?? null);

  let adaptive: AdaptiveQcThresholds | undefined;
  if (mode) {
    adaptive = calculateAdaptiveQcThresholds(inputPath, opts.perturbationColumn, {
      mode,
      sampleSize: opts.adaptiveSampleSize,
      seed: opts.adaptiveSeed,
      memoryBudget: opts.memoryBudget,
      signal: opts.signal,
    });
  }
  const thresholds: QcThresholds = {
    minGenes: opts.minGenes ?? adaptive?.minGenes ?? QC_DEFAULTS.minGenes,
    minCellsPerPerturbation:
      opts.minCellsPerPerturbation ?? adaptive?.minCellsPerPerturbation ?? QC_DEFAULTS.minCellsPerPerturbation,
    minCellsPerGene: opts.minCellsPerGene ?? adaptive?.minCellsPerGene ?? QC_DEFAULTS.minCellsPerGene,
    source: mode ?? "given",
    ...(adaptive ? { adaptive } : {}),
  };

  const result = await filterMasks(inputPath, opts, { output, control, thresholds, symbols });
  if (!output) return result;

  await writeQcOutput(inputPath, output, result, symbols, key, opts);
  return result;
}
