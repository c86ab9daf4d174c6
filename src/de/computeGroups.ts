/**
 * The computing half of a DE run, for one set of groups (every tested perturbation, or one batch of them:
 * ./batchedRun.ts): one pass over X for the per-group statistics, the method's column pass when it has one
 * (Wilcoxon), then each group finished (./finishGroups.ts) on the worker threads or this thread.
 *
 * Groups are independent of one another: a group's results depend only on its own cells and the control's,
 * and each slot's sums are added in cell order by one thread, so a group's numbers are the same bits
 * whichever groups share its pass.
 *
 * Cost model: memory O((groups + 1) × genes) for the statistics and results (deResultBytes) plus the
 * streamed blocks, which share what the budget leaves; one read of X for the statistics, and the method's
 * own passes.
 */
import { DEFAULT_MEMORY_BUDGET, throwIfAborted, type StreamOptions } from "../core/streaming.ts";
import type { MatrixReader } from "../io/anndata/matrixReader.ts";
import type { GroupPlan } from "./groups.ts";
import { accumulateGroupStats } from "./groupStats.ts";
import { WorkerPool, type PoolReserve } from "./workerPool.ts";
import {
  allocateResults,
  allocateScores,
  allPts,
  controlMeans,
  deResultBytes,
  finishGroup,
  type DeResults,
} from "./finishGroups.ts";
import { isBuiltinDeMethod } from "./methods/registry.ts";
import { DE_INPUTS } from "./methods/inputs.ts";
import type { DeMethodKernels, DeMethodSpec } from "./methods/types.ts";

/**
 * Tests (groups × genes) from which finishing the groups on worker threads pays for starting them: t-test,
 * 2 workers vs this thread, 100 × 5,000 tests 0.47 vs 0.05 s (the threads' start-up); 1,000 × 8,000 tests
 * 1.75 s on the threads.
 */
export const FINISH_ON_WORKERS_FROM = 2_000_000;
/**
 * Worker threads from which the statistics pass adds the bands on them while this thread reads: with 2 on
 * 2 cores adding on this thread is faster (50k cells 0.33 vs 0.43 s, 200k cells 0.96 vs 1.05 s).
 */
const ACCUMULATE_MIN_WORKERS = 3;

/** What every set of groups of one run shares. */
export interface DeComputeContext {
  reader: MatrixReader;
  spec: DeMethodSpec;
  kernels: DeMethodKernels;
  inputPath: string;
  /** Worker threads asked for (1 = none). */
  workers: number;
  /** Groups × genes from which the groups are finished on the worker threads (default FINISH_ON_WORKERS_FROM). */
  finishOnWorkersFrom?: number;
  /**
   * Threads started before the groups were planned (not yet configured), taken by the first computeGroups
   * call: they have loaded their modules by the time X is read, so the statistics pass can use them.
   */
  warmPool?: PoolReserve | null;
  tieCorrect: boolean;
  options: StreamOptions;
}

export interface ComputedGroups {
  results: DeResults;
  /** Settles when every group is finished (the writers may start before). */
  finished: Promise<void>;
  /** Notes for the user (e.g. the results exceed the budget). */
  notes: string[];
  /** Stops the worker threads; call once the results have been used. */
  close(): Promise<void>;
}

/** Statistics, the method's column pass and the finishing of `plan`'s groups. */
export async function computeGroups(ctx: DeComputeContext, plan: GroupPlan): Promise<ComputedGroups> {
  const { reader, spec, kernels, options } = ctx;
  const method = spec.name;
  const G = plan.groups.length;
  const n = reader.shape[1];
  const scores = allocateScores(G, n);
  // Which phases run on worker threads: each where it pays on its own (measured on this 2-core VM, 50k × 5k ×
  // 100 and 200k × 8k × 1,000, --workers 2 vs 1). A method registered at run time is unknown to the worker
  // threads: its kernels run on this thread.
  const kernelsOnWorkers = isBuiltinDeMethod(spec);
  const threads = kernelsOnWorkers ? ctx.workers : 1;
  const byGenes = spec.parallelOver === "genes";
  const size = Math.min(ctx.workers, Math.max(1, byGenes ? n : G));
  let warm = ctx.warmPool?.take() ?? null;
  if (warm && warm.size !== size) {
    await warm.close();
    warm = null;
  }
  const onWorkers = {
    // Warm threads add the bands faster than this thread (50k cells, 2 workers: 0.27 vs 0.34 s); threads
    // started now would still be loading (0.43 s).
    statistics: warm !== null || ctx.workers >= ACCUMULATE_MIN_WORKERS,
    columns: threads > 1 && byGenes && kernels.columnPass !== undefined,
    finishing: threads > 1 && G * n >= (ctx.finishOnWorkersFrom ?? FINISH_ON_WORKERS_FROM),
  };
  const init = {
    nSlots: G + 1,
    nGenes: n,
    sizes: plan.sizes,
    tieCorrect: ctx.tieCorrect,
    scores: scores.scores,
    pvals: scores.pvals,
  };
  const startPool = () => new WorkerPool(size, init);
  // Threads needed later start now, loading their modules while this thread reads X.
  let pool: WorkerPool | null = null;
  if (warm) {
    await warm.configure(init);
    pool = warm;
  } else if (onWorkers.statistics || onWorkers.columns || onWorkers.finishing) pool = startPool();
  // After a pass whose blocks the threads held, fresh threads for the next phase that uses them: the old
  // ones' heaps still hold the last blocks' shared buffers, which are freed only when every thread has let
  // go of them (measured: the Wilcoxon test's peak RSS 1.4 GB → 960 MiB at a 1 GB budget).
  const afterPass = async (passUsedPool: boolean, needed: boolean) => {
    if (!needed) {
      await pool?.close();
      pool = null;
    } else if (passUsedPool) {
      await pool?.close();
      pool = startPool();
    }
  };
  const close = async () => {
    await pool?.close();
    pool = null;
  };
  const notes: string[] = [];
  try {
    const stats = await accumulateGroupStats(
      reader,
      plan.cellSlot,
      G + 1,
      spec.passes.statistics.squares,
      { ...options, phase: "group statistics" },
      onWorkers.statistics ? pool : null,
    );
    await afterPass(onWorkers.statistics, onWorkers.columns || onWorkers.finishing);
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
        pool: onWorkers.columns ? pool : null,
        reservedBytes: held,
        options,
        inputPath: ctx.inputPath,
      });
      await afterPass(onWorkers.columns, onWorkers.finishing);
    }
    throwIfAborted(options.signal);
    // Per group: the method's group scores (the t-test's), adjusted p-values, fold changes and the
    // ranking — on the workers, while the caller may start writing what does not depend on them.
    const logScaleMeans = DE_INPUTS[spec.input].logScaleMeans;
    const ctrl = controlMeans(stats, plan.sizes, logScaleMeans);
    allPts(stats, plan.sizes, results);
    const phase = "finishing perturbations";
    const report = (done: number) => options.onProgress?.({ phase, done, total: G, unit: "perturbations" });
    let finished: Promise<void>;
    const activePool = pool as WorkerPool | null;
    if (activePool && onWorkers.finishing) {
      const count = new Int32Array(new SharedArrayBuffer(4));
      // The workers count finished groups; progress is read from the count while this thread waits. A
      // progress callback that throws fails the run (through `finished`), never a timer.
      let progressError: unknown = null;
      const timer = options.onProgress
        ? setInterval(() => {
            try {
              report(Atomics.load(count, 0));
            } catch (err) {
              progressError ??= err;
              clearInterval(timer!);
            }
          }, 250)
        : null;
      finished = activePool
        .finishGroups(G, method, stats, ctrl, results, count)
        .finally(() => {
          if (timer) clearInterval(timer);
        })
        .then(() => {
          if (progressError) throw progressError;
          report(Atomics.load(count, 0));
        });
    } else {
      const finishing = { groupScores: kernels.groupScores, logScaleMeans, ownFoldChanges: spec.ownFoldChanges };
      try {
        for (let g = 0; g < G; g++) {
          finishGroup(g, finishing, stats, plan.sizes, ctrl, results);
          if (g % 64 === 63) report(g + 1);
        }
        report(G);
        finished = Promise.resolve();
      } catch (err) {
        finished = Promise.reject(err);
      }
    }
    finished.catch(() => undefined); // awaited by the caller
    return { results, finished, notes, close };
  } catch (err) {
    await close();
    throw err;
  }
}
