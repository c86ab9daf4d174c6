/**
 * What a DE method declares to the registry (./registry.ts): its names, the input it needs, its passes
 * over X, the columns it adds to Scanpy's, its kernels. Plain declarations: rankGenesGroups, the worker
 * threads, the writers and the CLI read them; no method is named anywhere else.
 *
 * Cost model of a run, whatever the method: one statistics pass over X (per-group sums, non-zero counts,
 * optionally sums of squares; memory O(groups × genes)), then optionally a method-owned pass over gene
 * columns (bounded by the memory budget), then a per-group finish (scores from the statistics when the
 * method computes them there, BH, fold changes, ranking) on the worker threads.
 */
import type { MatrixReader } from "../../io/anndata/matrixReader.ts";
import type { StreamOptions } from "../../core/streaming.ts";
import type { GroupPlan } from "../groups.ts";
import type { GroupStats } from "../groupStats.ts";
import type { DeResults } from "../finishGroups.ts";
import type { GeneChunk, KernelContext } from "../wilcoxonKernel.ts";
import type { WorkerPool } from "../workerPool.ts";
import type { DeInput } from "./inputs.ts";
import type { DeExtraColumn } from "./columns.ts";
import type { NbGlmOptions } from "../nbGlm/run.ts";

export type { DeInput } from "./inputs.ts";
export type { DeExtraColumn } from "./columns.ts";

/** Scores and p-values of one group (slot ≥ 1) against the control (slot 0), for every gene, into its row at `offset`. */
export type GroupScoresKernel = (
  stats: GroupStats,
  sizes: Int32Array,
  slot: number,
  results: DeResults,
  offset: number,
) => void;

/** Options a method may read (rankGenesGroups' options, as given). */
export interface DeMethodOptions extends StreamOptions {
  tieCorrect?: boolean;
  /** NB-GLM: its test and size factors (../nbGlm/run.ts). */
  nbGlm?: NbGlmOptions;
}

/** What a method's own pass over gene columns gets (after the statistics pass; before the groups are finished). */
export interface ColumnPassContext {
  reader: MatrixReader;
  plan: GroupPlan;
  stats: GroupStats;
  /** The [group × gene] outputs the pass fills (shared with the worker threads). */
  out: { scores: Float64Array; pvals: Float64Array };
  /** Every result array, allocated before the pass: a method may fill its extra columns (results.extra) and, with ownFoldChanges, logfoldchanges. */
  results: DeResults;
  /** Worker threads running this method's geneChunkKernel; null for none (one thread, or a method registered at run time). */
  pool: WorkerPool | null;
  /** Bytes already held for the whole run (statistics and result arrays): the pass shares the rest of the budget. */
  reservedBytes: number;
  options: DeMethodOptions;
  inputPath: string;
}

/** A method's code (./types.ts DeMethodSpec.kernels). */
export interface DeMethodKernels {
  /** Scores and p-values from the statistics, run per group while the groups are finished (the t-test); extras into results.extra. */
  readonly groupScores?: GroupScoresKernel;
  /** Its own pass over gene columns (passes.columns), filling scores and p-values. */
  readonly columnPass?: (ctx: ColumnPassContext) => Promise<void>;
  /** The worker-thread kernel of its column pass: genes [from, to) of a chunk (WorkerPool.runGeneChunk). */
  readonly geneChunkKernel?: (chunk: GeneChunk, from: number, to: number, ctx: KernelContext) => void;
}

export interface DeMethodSpec {
  /** The name in the API and on the CLI (`--method`), and Scanpy's `params.method`. */
  readonly name: string;
  /** Other spellings accepted by the API and the CLI (resolved to `name`). */
  readonly aliases: readonly string[];
  /** The name written to `uns['method']` and the default output suffix (`crispyx_<storedName>.h5ad`, the seed's names). */
  readonly storedName: string;
  /** How help text names it ("Wilcoxon"). */
  readonly label: string;
  /** Its passes over X, one short clause for `crispyx de --help`. */
  readonly help: string;
  /** The values it needs: the matching check (./inputs.ts) runs before any pass, and fold changes follow from it. */
  readonly input: DeInput;
  readonly passes: {
    /** The statistics pass (every method has it): `squares` adds per-group sums of squares (8 bytes per group × gene). */
    readonly statistics: { readonly squares: boolean };
    /** A pass over gene columns of its own (Wilcoxon's chunks), filling scores and p-values: kernels().columnPass. */
    readonly columns: boolean;
  };
  /**
   * Its code, loaded when it runs (a dynamic import: the CLI reads the declarations at start-up without
   * loading the statistics libraries). Loaded once per thread (loadDeKernels).
   */
  readonly kernels: () => Promise<DeMethodKernels>;
  /**
   * Its kernels write logfoldchanges themselves (e.g. NB-GLM's shrunken estimates); otherwise they are
   * made from the group means as the input kind says (./inputs.ts).
   */
  readonly ownFoldChanges?: boolean;
  /** What its worker threads split: genes (worth threads from the first gene) or groups (from ~10⁵ tests). */
  readonly parallelOver: "genes" | "groups";
  /** Result columns beyond Scanpy's (./columns.ts SCANPY_COLUMNS), filled by groupScores: a layer and a CSV column each. */
  readonly extraColumns: readonly DeExtraColumn[];
  /** Entries added to `uns['rank_genes_groups']['params']` (after Scanpy's). */
  readonly params?: (options: DeMethodOptions) => Record<string, string | number | boolean>;
}
