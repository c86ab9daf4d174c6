/**
 * `crispyx demo`: write a synthetic Perturb-seq screen, then run the pipeline available so far on it,
 * each step on files and in bounded memory, and report what each step found and how long it took.
 */
import { mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { openH5ad } from "../io/anndata/handle.ts";
import type { SparseMatrix } from "../io/anndata/model.ts";
import { categoricalValues } from "../io/anndata/encodings/categorical.ts";
import { rowsForBudget, throwIfAborted, type StreamOptions } from "../core/streaming.ts";
import { CONTROL_LABEL, DEFAULT_SCREEN, syntheticScreen, type ScreenSpec, type SyntheticScreen } from "./synthetic.ts";
import { writeSyntheticScreen, yieldToEventLoop } from "./write.ts";
import { inferColumns } from "../helpers/columnDetection.ts";
import { resolveControlLabel } from "../helpers/controlLabel.ts";
import { calculateAdaptiveQcThresholds, type AdaptiveQcThresholds } from "../helpers/adaptiveQc.ts";
import { standardizeDataset } from "../ops/standardize.ts";
import { normalizeTotalLog1p } from "../ops/normalize.ts";
import { writeReport } from "../report/html.ts";
import { addToHistogram, cellHistograms, histogramMedian } from "../report/cellMetrics.ts";
import { summarizeDe } from "../report/deSummary.ts";
import { rankGenesGroups } from "../de/rankGenesGroups.ts";
import { qcSummary, qcSummaryPath, type QcCounts } from "../qc/qcSummary.ts";

export interface DemoOptions extends ScreenSpec {
  /** Directory for the demo's files (created if missing). */
  out: string;
  /** Memory budget and progress for every pass over X. */
  stream?: StreamOptions;
  /** Called when a step starts (for status lines). */
  onStep?: (name: string) => void;
}

export interface DemoStep {
  name: string;
  seconds: number;
  /** One line: what the step found or wrote. */
  detail: string;
  /** The file the step wrote, if any. */
  output?: string;
}

export interface KnockdownRow {
  perturbation: string;
  cells: number;
  /** Target expression in its own cells relative to control cells (normalised per 10k counts). */
  observed_ratio: number;
  /** 1 − planted knock-down. */
  planted_ratio: number;
  /** Rank of the target among all genes in its perturbation's DE result (smallest adjusted p first; 1 = top). */
  ttest_rank?: number | null;
  wilcoxon_rank?: number | null;
  /** The perturbation's top genes (t-test). */
  top_genes?: string[];
}

interface TargetRecovery {
  rank: number | null;
  padj: number;
  logfc: number;
  top: string[];
}

/** For each perturbation of a DE result, where its own target gene ranks (the demo's perturbations are named by target). */
function targetRecovery(dePath: string): Map<string, TargetRecovery> {
  const h = openH5ad(dePath);
  try {
    const d = summarizeDe(h, { topN: h.nVars, maxBackgroundPoints: 0 });
    return new Map(
      d.groups.map((g) => {
        const i = g.top.findIndex((t) => t.gene === g.group);
        return [
          g.group,
          {
            rank: i >= 0 ? i + 1 : null,
            padj: i >= 0 ? g.top[i]!.padj : NaN,
            logfc: i >= 0 ? g.top[i]!.logfc : NaN,
            top: g.top.slice(0, 3).map((t) => t.gene),
          },
        ];
      }),
    );
  } finally {
    h.close();
  }
}

export interface DemoResult {
  spec: ScreenSpec;
  outDir: string;
  files: Record<string, string>;
  steps: DemoStep[];
  knockdown: KnockdownRow[];
  thresholds: AdaptiveQcThresholds;
  qc: QcCounts;
  totalSeconds: number;
}

/** Where `crispyx demo` writes by default (the CLI repeats it in its help). */
export const DEFAULT_DEMO_DIR = "crispyx-demo";

/** Per-cell totals and the knock-down check, in one streaming pass over X. */
interface CountsPass {
  medianCounts: number;
  medianGenes: number;
  medianMitoPercent: number;
  knockdown: KnockdownRow[];
}

/**
 * Read X in row blocks: per-cell counts, genes detected and mitochondrial share, and for each
 * perturbation the expression of its own target relative to control cells.
 */
async function countsPass(path: string, screen: SyntheticScreen, opts: StreamOptions): Promise<CountsPass> {
  const h = openH5ad(path);
  try {
    const n = h.nObs;
    const X = h.X;
    const symbols = h.var.column("gene_symbols");
    const sym = symbols.type === "array" ? (symbols.data as string[]) : [];
    const pertCol = h.obs.column("perturbation");
    const labels = pertCol.type === "categorical" ? categoricalValues(pertCol) : [];
    const targets = screen.truth.targets;
    const targetIndex = new Map(targets.map((t, i) => [t, i]));
    const geneOfTarget = targets.map((t) => sym.indexOf(t));
    const targetOfGene = new Int32Array(h.nVars).fill(-1);
    geneOfTarget.forEach((g, t) => {
      targetOfGene[g] = t;
    });
    const isMito = Uint8Array.from(sym, (s) => (s.toUpperCase().startsWith("MT-") ? 1 : 0));
    // Medians from fixed-bin histograms: memory does not grow with the number of cells.
    const hist = cellHistograms(h.nVars, 200);
    const ctrlSum = new Float64Array(targets.length);
    let ctrlCells = 0;
    const ownSum = new Float64Array(targets.length);
    const ownCells = new Float64Array(targets.length);
    const bytesPerRow = Math.max(16, (X.info.nnz / Math.max(1, n)) * 16);
    const step = rowsForBudget(bytesPerRow, n, opts);
    for (let start = 0; start < n; start += step) {
      throwIfAborted(opts.signal);
      const end = Math.min(n, start + step);
      const b = X.rows(start, end, "csr") as SparseMatrix;
      for (let r = 0; r < end - start; r++) {
        const c = start + r;
        const lo = Number(b.indptr[r]);
        const hi = Number(b.indptr[r + 1]);
        let total = 0;
        let mt = 0;
        for (let k = lo; k < hi; k++) {
          const v = Number(b.data[k]);
          total += v;
          if (isMito[Number(b.indices[k])]) mt += v;
        }
        addToHistogram(hist.totalCounts, total);
        addToHistogram(hist.genesDetected, hi - lo);
        addToHistogram(hist.pctMito, total > 0 ? (100 * mt) / total : 0);
        const label = labels[c];
        const own = label === null || label === undefined ? undefined : targetIndex.get(label);
        const isCtrl = label === CONTROL_LABEL;
        if (isCtrl) ctrlCells++;
        if (own !== undefined) ownCells[own]!++;
        if (total === 0 || (!isCtrl && own === undefined)) continue;
        for (let k = lo; k < hi; k++) {
          const t = targetOfGene[Number(b.indices[k])]!;
          if (t < 0) continue;
          const x = (Number(b.data[k]) / total) * 1e4;
          if (isCtrl) ctrlSum[t]! += x;
          else if (t === own) ownSum[t]! += x;
        }
      }
      opts.onProgress?.({ phase: "checking counts", done: end, total: n, unit: "cells" });
      await yieldToEventLoop();
    }
    const knockdown = targets.map(
      (t, i): KnockdownRow => ({
        perturbation: t,
        cells: ownCells[i]!,
        observed_ratio: ownCells[i]! && ctrlSum[i]! ? ownSum[i]! / ownCells[i]! / (ctrlSum[i]! / ctrlCells) : NaN,
        planted_ratio: 1 - screen.truth.knockdown[i]!,
      }),
    );
    return {
      medianCounts: histogramMedian(hist.totalCounts),
      medianGenes: histogramMedian(hist.genesDetected),
      medianMitoPercent: histogramMedian(hist.pctMito),
      knockdown,
    };
  } finally {
    h.close();
  }
}

export async function runDemo(options: Partial<DemoOptions> = {}): Promise<DemoResult> {
  const spec: ScreenSpec = {
    cells: options.cells ?? DEFAULT_SCREEN.cells,
    genes: options.genes ?? DEFAULT_SCREEN.genes,
    perturbations: options.perturbations ?? DEFAULT_SCREEN.perturbations,
    seed: options.seed ?? DEFAULT_SCREEN.seed,
  };
  const stream = options.stream ?? {};
  const outDir = resolve(options.out ?? DEFAULT_DEMO_DIR);
  const t0 = performance.now();
  const steps: DemoStep[] = [];
  const files: Record<string, string> = {};
  const step = async <T>(
    name: string,
    fn: () => T | Promise<T>,
    describe: (r: T) => { detail: string; output?: string },
  ): Promise<T> => {
    options.onStep?.(name);
    const t = performance.now();
    const r = await fn();
    const d = describe(r);
    steps.push({ name, seconds: (performance.now() - t) / 1000, ...d });
    return r;
  };

  const screen = syntheticScreen(spec); // validates the spec before anything is written
  mkdirSync(outDir, { recursive: true });
  // The demo owns its directory's files: a re-run replaces them.
  const file = (name: string) => {
    const p = join(outDir, name);
    rmSync(p, { force: true });
    return p;
  };
  const raw = file("demo.h5ad");
  files.raw = raw;
  await step(
    "generate",
    () => writeSyntheticScreen(raw, screen, stream),
    ({ nnz }) => ({
      detail: `${spec.cells} cells × ${spec.genes} genes, ${spec.perturbations} knock-downs + '${CONTROL_LABEL}' controls; ${nnz} non-zero counts (${((100 * nnz) / (spec.cells * spec.genes)).toFixed(1)}%)`,
      output: raw,
    }),
  );

  const pass = await step(
    "check counts",
    () => countsPass(raw, screen, stream),
    (p) => {
      const found = p.knockdown.filter((k) => k.observed_ratio < 0.75).length;
      return {
        detail:
          `median ${Math.round(p.medianCounts)} counts, ${Math.round(p.medianGenes)} genes, ${p.medianMitoPercent.toFixed(1)}% mitochondrial per cell; ` +
          `${found}/${p.knockdown.length} targets down ≥ 25% in their own cells`,
      };
    },
  );

  // What a user does with a new file: find the columns, then make a standardised copy.
  const detected = await step(
    "detect",
    () => {
      const cols = inferColumns(raw, { explain: true });
      const labels = cols.perturbationColumn ? distinctLabels(raw, cols.perturbationColumn) : [];
      const control = labels.length ? resolveControlLabel(labels) : null;
      return { ...cols, control, groups: labels.length };
    },
    (d) => ({
      detail: `perturbations in obs['${d.perturbationColumn}'] (${d.groups} groups, control '${d.control}'), gene symbols in var['${d.geneNameColumn}']`,
    }),
  );
  if (!detected.perturbationColumn || !detected.control)
    throw new Error("demo: the generated screen's columns were not detected");

  const standardized = file("demo_standardized.h5ad");
  files.standardized = standardized;
  await step(
    "standardize",
    () =>
      standardizeDataset(raw, {
        perturbationColumn: detected.perturbationColumn!,
        controlLabel: detected.control,
        geneNameColumn: detected.geneNameColumn,
        output: standardized,
        force: true,
        onProgress: stream.onProgress,
        signal: stream.signal,
      }),
    () => ({
      detail: `obs['perturbation'] with '${detected.control}' → 'control'; var_names = gene symbols`,
      output: standardized,
    }),
  );

  const thresholds = await step(
    "qc thresholds",
    () => calculateAdaptiveQcThresholds(standardized, "perturbation", { ...stream, seed: spec.seed }),
    (t) => ({
      detail: `min ${t.minGenes} genes per cell, ${t.minCellsPerPerturbation} cells per perturbation, ${t.minCellsPerGene} cells per gene (${t.mode})`,
    }),
  );

  const filtered = file("demo_qc.h5ad");
  rmSync(qcSummaryPath(filtered), { force: true });
  files.qc = filtered;
  const qc = await step(
    "qc",
    () =>
      qcSummary(standardized, {
        ...stream,
        perturbationColumn: "perturbation",
        controlLabel: "control",
        minGenes: thresholds.minGenes,
        minCellsPerPerturbation: thresholds.minCellsPerPerturbation,
        minCellsPerGene: thresholds.minCellsPerGene,
        output: filtered,
        force: true,
      }),
    (r) => ({
      detail: `kept ${r.counts.cells.kept} of ${r.counts.cells.input} cells, ${r.counts.genes.kept} of ${r.counts.genes.input} genes, ${r.counts.perturbations.kept} of ${r.counts.perturbations.input} perturbations`,
      output: filtered,
    }),
  );

  const normalized = file("demo_normalized.h5ad");
  files.normalized = normalized;
  await step(
    "normalize",
    () => normalizeTotalLog1p(filtered, { ...stream, output: normalized }),
    (r) => ({
      detail: `${r.nObs} cells scaled to 10,000 counts, log1p (${r.nnz} non-zeros)`,
      output: normalized,
    }),
  );

  // Differential expression with both tests, and how well each finds the planted knock-downs.
  const deFiles: string[] = [];
  const recovery: Record<string, Map<string, TargetRecovery>> = {};
  for (const method of ["t-test", "wilcoxon"] as const) {
    const key = method === "t-test" ? "t_test" : "wilcoxon";
    const out = file(`demo_de_${key}.h5ad`);
    rmSync(out.replace(/\.h5ad$/, ".csv"), { force: true });
    files[`de_${key}`] = out;
    deFiles.push(out);
    await step(
      `de ${method}`,
      async () => {
        const r = await rankGenesGroups(normalized, {
          ...stream,
          perturbationColumn: "perturbation",
          controlLabel: "control",
          method,
          output: out,
          force: true,
        });
        recovery[method] = targetRecovery(out);
        return r;
      },
      (r) => {
        const ranks = [...recovery[method]!.values()];
        const top = ranks.filter((x) => x.rank === 1).length;
        const hit = ranks.filter((x) => x.padj < 0.05 && x.logfc < 0).length;
        return {
          detail: `${r.groups.length} perturbations vs control × ${r.nGenes} genes; own target is the top gene for ${top}/${ranks.length}, significantly down for ${hit}/${ranks.length}`,
          output: out,
        };
      },
    );
  }
  const knockdown = pass.knockdown.map((k) => ({
    ...k,
    ttest_rank: recovery["t-test"]?.get(k.perturbation)?.rank ?? null,
    wilcoxon_rank: recovery["wilcoxon"]?.get(k.perturbation)?.rank ?? null,
    top_genes: recovery["t-test"]?.get(k.perturbation)?.top ?? [],
  }));

  const report = file("demo_report.html");
  files.report = report;
  await step(
    "report",
    () =>
      writeReport(report, {
        data: filtered,
        de: deFiles,
        perturbationColumn: "perturbation",
        controlLabel: "control",
        title: `crispyx demo: ${spec.cells} cells × ${spec.genes} genes, ${spec.perturbations} knock-downs (seed ${spec.seed})`,
        stream,
      }),
    (r) => ({
      detail: `QC histograms${r.de.length ? `, ${r.de.map((d) => `${d.method} volcano plots`).join(", ")}` : ""} (${Math.round(r.bytes / 1024)} KiB, self-contained)`,
      output: report,
    }),
  );

  return {
    spec,
    outDir,
    files,
    steps,
    knockdown,
    thresholds,
    qc: qc.counts,
    totalSeconds: (performance.now() - t0) / 1000,
  };
}

/** The distinct labels of an obs column (categories in use, or distinct values). */
function distinctLabels(path: string, column: string): string[] {
  const h = openH5ad(path);
  try {
    const c = h.obs.column(column);
    const values = c.type === "categorical" ? categoricalValues(c) : c.type === "array" ? (c.data as unknown[]) : [];
    return [...new Set(values.filter((v) => v !== null && v !== undefined).map(String))];
  } finally {
    h.close();
  }
}
