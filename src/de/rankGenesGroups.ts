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
import { planGroups, type GroupPlan, type SkippedGroup } from "./groups.ts";
import { computeGroups, type DeComputeContext } from "./computeGroups.ts";
import { planDeBatches, runBatched } from "./batchedRun.ts";
import { rankedLayout, writeDeH5ad, type DeMeta, type DeTables, type RankedLayout } from "./output.ts";
import { writeDeCsv, writeDeCsvInBackground } from "./csvOutput.ts";
import {
  DEFAULT_DE_METHOD,
  deMethod,
  isBuiltinDeMethod,
  loadDeKernels,
  type BuiltinDeMethod,
} from "./methods/registry.ts";
import { PoolReserve } from "./workerPool.ts";
import { DE_INPUTS } from "./methods/inputs.ts";
import type { DeMethodSpec } from "./methods/types.ts";
import type { NdArray } from "../io/anndata/model.ts";
import type { NbGlmOptions } from "./nbGlm/run.ts";

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
  /**
   * Worker threads for the statistics pass (started before the groups are planned, so they are warm), the
   * Wilcoxon test, finishing the groups and the CSV (default: available cores, at most 8; 1 = none). Each
   * phase uses them where they pay: see `finishOnWorkersFrom`.
   */
  workers?: number;
  /**
   * Tests (groups × genes) from which the groups are finished on the worker threads (default 2,000,000:
   * below, starting the threads costs more than they save); 0 = whenever there are workers.
   */
  finishOnWorkersFrom?: number;
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
  /**
   * Perturbations per pass over X (default: as many as the memory budget holds, ./batchedRun.ts
   * planDeBatches). Batched runs keep a checkpoint beside the output.
   */
  groupsPerPass?: number;
  /**
   * Layout of Scanpy's ranked tables in `uns['rank_genes_groups']`: "records" (Scanpy's record arrays,
   * the default while they fit HDF5's 64 KiB datatype limit, ~1,000–2,000 groups) or "per-group" (a
   * dataset per group: `names[group]`, `scores[group]`…, which anndata opens and Scanpy's
   * rank_genes_groups_df reads; used by itself beyond that limit).
   */
  rankedLayout?: RankedLayout;
  /** Continue a killed run from its checkpoint (the batches it finished), when it is this run's. */
  resume?: boolean;
  /** NB-GLM ("nb-glm"): the test ("wald" default, "lrt") and size factors ("library"). */
  nbGlm?: NbGlmOptions;
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
  /** Passes over X for the statistics (batches of perturbations; 0 when reused). */
  passes: number;
  /** Why that many passes (the memory plan). */
  passReason: string;
  /** Batches of perturbations the run was planned in (each one statistics pass; 0 when reused). */
  batches: number;
  /** Batches taken from an earlier run's checkpoint (resume). */
  resumedBatches: number;
  /** How Scanpy's ranked tables are stored: record arrays, or a dataset per group when there are too many groups. */
  rankedLayout: RankedLayout;
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
  if (options.groupsPerPass !== undefined && (!Number.isInteger(options.groupsPerPass) || options.groupsPerPass < 1))
    throw new InvalidArgumentError(`groupsPerPass must be a positive integer, got ${options.groupsPerPass}`);
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
  // Worker threads start loading now, while this thread checks the file and plans (computeGroups takes them;
  // left untaken after an error, they are stopped below).
  const warmPool = workers > 1 && isBuiltinDeMethod(spec) ? new PoolReserve(workers) : null;
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
    const readBefore = reader.passesRead; // the input check's sample of rows is not a pass
    const kernels = await loadDeKernels(spec);
    const genes = h.varNames;
    const G = plan.groups.length;
    const n = genes.length;
    throwIfAborted(options.signal);
    const ctx: DeComputeContext = {
      reader,
      spec,
      kernels,
      inputPath,
      workers,
      warmPool,
      ...(options.finishOnWorkersFrom !== undefined ? { finishOnWorkersFrom: options.finishOnWorkersFrom } : {}),
      tieCorrect: options.tieCorrect ?? true,
      options,
    };
    const meta: DeMeta = {
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
      rankedLayout: rankedLayout(plan.groups, options.rankedLayout),
    };
    const batching = planDeBatches(G, n, spec, options.memoryBudget ?? DEFAULT_MEMORY_BUDGET, options.groupsPerPass);
    let warnings: string[];
    let resumedBatches = 0;
    mkdirSync(dirname(outputPath), { recursive: true });
    if (batching.batches.length > 1 || options.resume) {
      const r = await runBatched(ctx, plan, meta, batching.batches, {
        outputPath,
        csvPath,
        resume: options.resume ?? false,
        identity: {
          method,
          layer: options.layer ?? null,
          tieCorrect: meta.tieCorrect,
          csv: wantCsv,
          n,
          layout: meta.rankedLayout,
          params: meta.params,
        },
      });
      warnings = r.warnings;
      resumedBatches = r.resumedBatches;
    } else {
      warnings = await writeUnbatched(ctx, plan, meta, outputPath, csvPath, workers);
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
      ...passesOverX(reader.passesRead - readBefore, batching, reader.format),
      batches: batching.batches.length,
      resumedBatches,
      rankedLayout: meta.rankedLayout!,
    };
  } finally {
    h.close();
    await warmPool?.close();
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
        passes: 0,
        passReason: "an existing complete result was reused",
        batches: 0,
        resumedBatches: 0,
        rankedLayout:
          h.file.exists("/uns/rank_genes_groups/names") && h.file.isGroup("/uns/rank_genes_groups/names")
            ? "per-group"
            : "records",
      };
    } finally {
      h.close();
    }
  } catch (err) {
    if (err instanceof FileFormatError) return null;
    throw err;
  }
}

/**
 * All groups at once: computed, then the .h5ad written while the worker threads finish the groups (its
 * start needs only the names and pts), the CSV formatted on threads beside it.
 */
async function writeUnbatched(
  ctx: DeComputeContext,
  plan: GroupPlan,
  meta: DeMeta,
  outputPath: string,
  csvPath: string | null,
  workers: number,
): Promise<string[]> {
  const computed = await computeGroups(ctx, plan);
  const { results, finished } = computed;
  let csvDone: Promise<void> | null = null;
  try {
    const tables: DeTables = { ...results, ...meta };
    const h5ad = writeDeH5ad(outputPath, tables, finished, ctx.options.onProgress);
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
    const warnings = [...computed.notes, ...(await h5ad)];
    if (csvDone) await csvDone;
    else if (csvPath) await writeDeCsv(csvPath, tables, h5ad);
    return warnings;
  } finally {
    // After an error too, return only once the CSV writer has settled (and removed its temporary file).
    await csvDone?.catch(() => undefined);
    await computed.close();
  }
}

/**
 * The passes over X the run made, counted by the reader (stored elements read ÷ stored elements): one
 * statistics pass per batch of perturbations, plus a method's own passes (Wilcoxon's gene chunks each read
 * a CSR X again; a CSC X once in all).
 */
function passesOverX(
  read: number,
  batching: { batches: unknown[]; reason: string },
  format: string,
): { passes: number; passReason: string } {
  const batches = batching.batches.length;
  const passes = Math.max(batches, Math.round(read));
  if (passes <= batches) return { passes: batches, passReason: batching.reason };
  const perBatch = batches > 1 ? `${batches} batches of perturbations (${batching.reason})` : batching.reason;
  return {
    passes,
    passReason: `${perBatch}; the method's own passes over gene chunks read X ${passes - batches} more time${passes - batches === 1 ? "" : "s"}${format === "csc" ? "" : " (X stored as CSC is read once per batch: 'crispyx convert --to csc')"}`,
  };
}
