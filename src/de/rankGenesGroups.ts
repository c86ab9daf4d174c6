/**
 * Differential expression of every perturbation against the control cells, computed as Scanpy's
 * `sc.tl.rank_genes_groups(adata, groupby, reference=control, method=..., pts=True)` computes it, but
 * streamed from the file with bounded memory:
 *
 * - the method (./methods/registry.ts) is looked up and its input check run (log-normalised or counts);
 * - one pass over X accumulates per-group sums, non-zero counts and, when the method asks, sums of squares
 *   (memory O(groups × genes)); a CSR X is read on this thread while worker threads add the previous band;
 * - t-test: everything else follows from those sums (its groupScores kernel);
 * - Wilcoxon: its own pass over gene chunks; zeros form one tie block, control values are sorted once per
 *   gene and each perturbation's few non-zeros are ranked into them by binary search; chunks run on worker threads;
 * - then each group is finished on the worker threads (./finishGroups.ts: the method's group scores,
 *   BH, fold changes, ranking) while this thread writes the start of the .h5ad (./output.ts); the CSV
 *   follows on threads too (./csvOutput.ts).
 */
import { assertValidStructure } from "../io/anndata/validate.ts";
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { availableParallelism } from "node:os";
import { InvalidArgumentError, FileFormatError } from "../errors.ts";
import { openH5ad } from "../io/anndata/handle.ts";
import { readElem } from "../io/anndata/registry.ts";
import { resolveDataPath, resolveOutputPath, type DataSource } from "../io/anndata/fileHelpers.ts";
import { DEFAULT_MEMORY_BUDGET, throwIfAborted, type StreamOptions } from "../core/streaming.ts";
import { planGroups, type SkippedGroup } from "./groups.ts";
import { accumulateGroupStats } from "./groupStats.ts";
import { WorkerPool } from "./workerPool.ts";
import { allocateResults, allocateScores, allPts, controlMeans, deResultBytes, finishGroup } from "./finishGroups.ts";
import { writeDeH5ad, type DeTables } from "./output.ts";
import { writeDeCsv, writeDeCsvInBackground } from "./csvOutput.ts";
import {
  DEFAULT_DE_METHOD,
  deMethod,
  isBuiltinDeMethod,
  loadDeKernels,
  type BuiltinDeMethod,
} from "./methods/registry.ts";
import { DE_INPUTS } from "./methods/inputs.ts";
import type { DeMethodSpec } from "./methods/types.ts";
import type { NdArray } from "../io/anndata/model.ts";

/** A DE method's name: a built-in one ("t-test", "wilcoxon") or one registered at run time (registerDeMethod). */
export type DeMethod = BuiltinDeMethod | (string & {});

export interface RankGenesGroupsOptions extends StreamOptions {
  /** obs column holding the perturbation labels (Scanpy's `groupby`). */
  perturbationColumn: string;
  /** Label of the control cells (Scanpy's `reference`); inferred from the labels when omitted. */
  controlLabel?: string | null;
  /** "t-test" (Welch, default) or "wilcoxon" (rank-sum, normal approximation), or an alias (./methods/registry.ts). */
  method?: DeMethod;
  /** Test only these perturbations (default: all but the control). */
  groups?: readonly string[];
  /** Perturbations with fewer cells are skipped (default 2; Scanpy refuses single-cell groups). */
  minCellsPerGroup?: number;
  /** Wilcoxon: correct the variance for ties (default true, as the crispyx seed; Scanpy's default is false). */
  tieCorrect?: boolean;
  /** Worker threads for the statistics pass, the Wilcoxon test, finishing the groups and the CSV (default: available cores, at most 8; 1 = none). */
  workers?: number;
  /** Output .h5ad path (default: `crispyx_{t_test|wilcoxon}.h5ad` beside the input, the seed's name). The CSV goes beside it. */
  output?: string;
  /** Directory and data name for the default output name (resolveOutputPath). */
  outputDir?: string;
  dataName?: string;
  /** Also write the tidy CSV beside the .h5ad (default true). */
  csv?: boolean;
  /** Recompute even when a complete result exists at the output path. */
  force?: boolean;
  /** Test a layer instead of X. */
  layer?: string;
}

export interface RankGenesGroupsResult {
  method: DeMethod;
  /** The result .h5ad: obs = tested perturbations, var = genes, uns['rank_genes_groups'] in Scanpy's layout. */
  outputPath: string;
  /** Tidy table: perturbation, gene, score, pvalue, pvalue_adj, logfoldchange, pct_group, pct_control (null with csv: false). */
  csvPath: string | null;
  perturbationColumn: string;
  controlLabel: string;
  /** Perturbations tested, in output order. */
  groups: string[];
  /** Perturbations not tested, with the reason. */
  skipped: SkippedGroup[];
  nGenes: number;
  /** True when an existing complete result was returned without recomputing. */
  reused: boolean;
  warnings: string[];
}

/**
 * Rank genes for every perturbation against the control (Scanpy-compatible statistics) and write the
 * result .h5ad and CSV. The method declares the values it needs: the t-test and Wilcoxon expect
 * log-normalised values (integer counts are refused).
 *
 * Per gene and perturbation: `scores` (Welch t or rank-sum z), `pvals` (two-sided), `pvals_adj`
 * (Benjamini–Hochberg over the genes of that perturbation), `logfoldchanges`
 * = log2((expm1(mean_group) + 1e-9) / (expm1(mean_control) + 1e-9)) and `pts` (fraction of cells with a
 * non-zero value).
 *
 * @example
 * const r = await rankGenesGroups("screen_log.h5ad", { perturbationColumn: "gene", method: "wilcoxon" });
 * console.log(r.outputPath, r.groups.length, r.skipped);
 */
export async function rankGenesGroups(
  input: DataSource,
  options: RankGenesGroupsOptions,
): Promise<RankGenesGroupsResult> {
  const spec = deMethod(options.method ?? DEFAULT_DE_METHOD);
  const method = spec.name;
  if (!options.perturbationColumn)
    throw new InvalidArgumentError("perturbationColumn is required (the obs column with perturbation labels)");
  const minCells = options.minCellsPerGroup ?? 2;
  if (!Number.isInteger(minCells) || minCells < 1)
    throw new InvalidArgumentError(`minCellsPerGroup must be a positive integer, got ${minCells}`);
  const workers = options.workers ?? Math.max(1, Math.min(8, availableParallelism()));
  if (!Number.isInteger(workers) || workers < 1)
    throw new InvalidArgumentError(`workers must be a positive integer, got ${workers}`);
  const inputPath = resolveDataPath(input);
  const outputPath =
    options.output ??
    resolveOutputPath(inputPath, {
      suffix: spec.storedName,
      outputDir: options.outputDir,
      dataName: options.dataName,
    });
  if (!outputPath.endsWith(".h5ad")) throw new InvalidArgumentError(`output '${outputPath}' must end in .h5ad`);
  const wantCsv = options.csv ?? true;
  const csvPath = wantCsv ? outputPath.slice(0, -".h5ad".length) + ".csv" : null;

  if (!options.force && existsSync(outputPath) && (csvPath === null || existsSync(csvPath))) {
    const existing = loadExisting(outputPath, csvPath, spec);
    if (existing) return existing;
  }

  const h = openH5ad(inputPath);
  try {
    assertValidStructure(h.file);
    const plan = planGroups(h.file, {
      perturbationColumn: options.perturbationColumn,
      controlLabel: options.controlLabel,
      groups: options.groups,
      minCellsPerGroup: minCells,
    });
    const reader = h.matrix(options.layer);
    DE_INPUTS[spec.input].check(reader, inputPath, method);
    // Every block is checked as it streams: log-normalised input must be finite, counts finite and ≥ 0.
    reader.values = spec.input === "counts" ? "counts" : "finite";
    const kernels = await loadDeKernels(spec);
    const genes = h.varNames;
    const G = plan.groups.length;
    const n = genes.length;
    throwIfAborted(options.signal);

    const scores = allocateScores(G, n);
    // Worker threads start now, loading their modules while this thread reads X. Threads pay off from
    // ~10⁵ tests, or when the caller asked for them explicitly.
    // A method registered at run time is unknown to the worker threads: its kernels run on this thread.
    const byGenes = spec.parallelOver === "genes";
    const useWorkers = workers > 1 && (byGenes || G * n >= 100_000 || options.workers !== undefined);
    const kernelsOnWorkers = isBuiltinDeMethod(spec);
    const startPool = () =>
      useWorkers
        ? new WorkerPool(Math.min(workers, Math.max(1, byGenes ? n : G)), {
            nSlots: G + 1,
            nGenes: n,
            sizes: plan.sizes,
            tieCorrect: options.tieCorrect ?? true,
            scores: scores.scores,
            pvals: scores.pvals,
          })
        : null;
    let pool = startPool();
    // Fresh threads after each pass over X: the old ones' heaps still hold the last blocks' shared
    // buffers, which are freed only when every thread has let go of them (measured: the Wilcoxon test's
    // peak RSS 1.4 GB → 960 MiB at a 1 GB budget).
    const renewPool = async () => {
      await pool?.close();
      pool = startPool();
    };
    const notes: string[] = [];
    let warnings: string[];
    let csvDone: Promise<void> | null = null;
    try {
      const stats = await accumulateGroupStats(
        reader,
        plan.cellSlot,
        G + 1,
        spec.passes.statistics.squares,
        { ...options, phase: "group statistics" },
        pool,
      );
      await renewPool();
      // Every result array is allocated before the Wilcoxon test's chunks, which then share what is left of
      // the budget (allocated after them, they added to chunks not yet collected: peak 1.4 GB for a 1 GB budget).
      const results = allocateResults(stats, scores, spec.extraColumns);
      const held = deResultBytes(G, n, spec); // what `stats` and `results` hold (tested equal)
      const budget = options.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
      if (held > budget) {
        const mib = (b: number) => Math.round(b / 2 ** 20).toLocaleString("en-US");
        notes.push(
          `the statistics and results of ${G} perturbations × ${n} genes take ${mib(held)} MiB, more than the memory budget ` +
            `(${mib(budget)} MiB), which bounds only what is streamed: raise the budget, or test fewer perturbations at a time (groups)`,
        );
      }
      if (kernels.columnPass) {
        await kernels.columnPass({
          reader,
          plan,
          stats,
          out: scores,
          results,
          pool: kernelsOnWorkers ? pool : null,
          reservedBytes: held,
          options,
          inputPath,
        });
        await renewPool();
      }
      throwIfAborted(options.signal);
      // Per group: the method's group scores (the t-test's), adjusted p-values, fold changes and the
      // ranking — on the workers, while this thread starts the .h5ad with everything that does not depend on them.
      const logScaleMeans = DE_INPUTS[spec.input].logScaleMeans;
      const ctrl = controlMeans(stats, plan.sizes, logScaleMeans);
      allPts(stats, plan.sizes, results);
      const phase = "finishing perturbations";
      const report = (done: number) => options.onProgress?.({ phase, done, total: G, unit: "perturbations" });
      let finished: Promise<void>;
      if (pool && kernelsOnWorkers) {
        const count = new Int32Array(new SharedArrayBuffer(4));
        finished = pool.finishGroups(G, method, stats, ctrl, results, count);
        // The workers count finished groups; progress is read from the count while this thread waits.
        const timer = options.onProgress ? setInterval(() => report(Atomics.load(count, 0)), 250) : null;
        finished
          .finally(() => {
            if (timer) clearInterval(timer);
            report(Atomics.load(count, 0));
          })
          .catch(() => undefined);
      } else {
        const finishing = { groupScores: kernels.groupScores, logScaleMeans, ownFoldChanges: spec.ownFoldChanges };
        for (let g = 0; g < G; g++) {
          finishGroup(g, finishing, stats, plan.sizes, ctrl, results);
          if (g % 64 === 63) report(g + 1);
        }
        report(G);
        finished = Promise.resolve();
      }
      finished.catch(() => undefined); // awaited by the writers below

      mkdirSync(dirname(outputPath), { recursive: true });
      const tables: DeTables = {
        ...results,
        method,
        params: spec.params?.(options) ?? {},
        extraColumns: spec.extraColumns,
        perturbationColumn: options.perturbationColumn,
        controlLabel: plan.controlLabel,
        groups: plan.groups,
        genes,
        sizes: plan.sizes,
        tieCorrect: options.tieCorrect ?? true,
        skipped: plan.skipped,
      };
      const h5ad = writeDeH5ad(outputPath, tables, finished, options.onProgress);
      h5ad.catch(() => undefined); // awaited below
      // The CSV is formatted on worker threads while this thread writes the .h5ad's arrays; it is put in
      // place only after the .h5ad, so a failed run never pairs a new file with an old one.
      csvDone =
        csvPath && workers > 1
          ? finished.then(
              () => writeDeCsvInBackground(csvPath, tables, workers, h5ad) ?? writeDeCsv(csvPath, tables, h5ad),
            )
          : null;
      csvDone?.catch(() => undefined); // awaited below
      warnings = [...notes, ...(await h5ad)];
      if (csvDone) await csvDone;
      else if (csvPath) await writeDeCsv(csvPath, tables, h5ad);
    } finally {
      // After an error too, return only once the CSV writer has settled (and removed its temporary file).
      await csvDone?.catch(() => undefined);
      await pool?.close();
    }
    return {
      method,
      outputPath,
      csvPath,
      perturbationColumn: options.perturbationColumn,
      controlLabel: plan.controlLabel,
      groups: plan.groups,
      skipped: plan.skipped,
      nGenes: n,
      reused: false,
      warnings,
    };
  } finally {
    h.close();
  }
}

/** A complete earlier result at the output paths, or null when it is not one for this method. */
function loadExisting(outputPath: string, csvPath: string | null, spec: DeMethodSpec): RankGenesGroupsResult | null {
  try {
    const h = openH5ad(outputPath);
    try {
      const m = readElem(h.file, "/uns/method");
      if (m.type !== "scalar" || m.value !== spec.storedName) return null;
      const str = (key: string) => {
        const e = readElem(h.file, `/uns/${key}`);
        return e.type === "scalar" ? String(e.value) : "";
      };
      const sk = readElem(h.file, "/uns/skipped_groups");
      const skipped: SkippedGroup[] = [];
      if (sk.type === "dict") {
        const g = sk.items.group as NdArray,
          c = sk.items.cells as NdArray,
          r = sk.items.reason as NdArray;
        for (let i = 0; i < (g?.data.length ?? 0); i++)
          skipped.push({ group: String(g.data[i]), cells: Number(c.data[i]), reason: String(r.data[i]) });
      }
      return {
        method: spec.name,
        outputPath,
        csvPath,
        perturbationColumn: str("perturbation_column"),
        controlLabel: str("control_label"),
        groups: h.obsNames,
        skipped,
        nGenes: h.nVars,
        reused: true,
        warnings: [],
      };
    } finally {
      h.close();
    }
  } catch (err) {
    if (err instanceof FileFormatError) return null;
    throw err;
  }
}
