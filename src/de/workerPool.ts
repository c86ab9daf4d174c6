/**
 * The DE worker threads (./deWorker.ts): they share the output arrays (scores and p-values) and split
 * each task — a band of X to add into the statistics, a gene chunk of a method's column pass, the groups to finish —
 * through an atomic counter, so fast threads take more. Started from a bundle of their modules
 * (../core/workerThreads.ts).
 */
import type { Worker } from "node:worker_threads";
import { broadcast, startBundledWorker } from "../core/workerThreads.ts";
import type { DeResults } from "./finishGroups.ts";
import type { BandAccumulator, CsrBand, GroupStats } from "./groupStats.ts";
import type { GeneChunk, KernelContext } from "./wilcoxonKernel.ts";

function initMessage(init: PoolInit) {
  return {
    nSlots: init.nSlots,
    nGenes: init.nGenes,
    sizes: init.sizes,
    tieCorrect: init.tieCorrect,
    scores: init.scores.buffer,
    pvals: init.pvals.buffer,
  };
}

/** Genes a worker takes at a time from the shared counter. */
const GENES_PER_TASK = 4;

/** What every task of a run's groups shares: the kernels' context (slots, genes, sizes, the shared outputs). */
export type PoolInit = KernelContext;

export class WorkerPool implements BandAccumulator {
  private workers: Worker[];
  /**
   * `init` now, or later through `configure` (a pool started before the groups are planned, so its threads
   * load their modules while this thread opens and checks the file).
   */
  constructor(n: number, init?: PoolInit) {
    const data = init ? initMessage(init) : null;
    this.workers = Array.from({ length: n }, () =>
      startBundledWorker(new URL("./deWorker.ts", import.meta.url), { workerData: data }),
    );
  }

  /** Give a pool started without it the run's shared state (before any gene chunk or finishing task). */
  configure(init: PoolInit): Promise<void> {
    return this.broadcast({ kind: "init", ...initMessage(init) });
  }

  /** Built-in `method`'s geneChunkKernel (./methods/types.ts) over the chunk's genes. */
  runGeneChunk(method: string, chunk: GeneChunk): Promise<void> {
    const counter = new SharedArrayBuffer(4);
    return this.broadcast({
      kind: "genes",
      method,
      values: chunk.values.buffer,
      float64: chunk.values instanceof Float64Array,
      ptr: chunk.ptr.buffer,
      g0: chunk.g0,
      count: chunk.count,
      counter,
      step: GENES_PER_TASK,
    });
  }

  get size(): number {
    return this.workers.length;
  }

  /** Add a CSR band into the shared statistics: the slot ranges between `slotBounds` are taken one at a time. */
  accumulate(band: CsrBand, cellSlot: Int32Array, stats: GroupStats, slotBounds: Int32Array): Promise<void> {
    return this.broadcast({ kind: "accumulate", band, cellSlot, stats, slotBounds, counter: new SharedArrayBuffer(4) });
  }

  /** finishGroup of built-in `method` for every group (see ./finishGroups.ts), into the shared results; `finishedCount[0]` counts the groups done. */
  finishGroups(
    groups: number,
    method: string,
    stats: GroupStats,
    ctrlMeans: Float64Array,
    results: DeResults,
    finishedCount: Int32Array,
  ): Promise<void> {
    // The arrays travel as views of their shared buffers; an unshared one would be copied and its results lost.
    const arrays = [
      stats.sums,
      stats.sumsq,
      stats.nnz,
      ctrlMeans,
      ...Object.values(results),
      ...Object.values(results.ranked),
      ...Object.values(results.extra ?? {}),
    ];
    for (const a of arrays) {
      if (a && ArrayBuffer.isView(a) && !(a.buffer instanceof SharedArrayBuffer))
        throw new Error("internal: DE results must be on SharedArrayBuffers");
    }
    return this.broadcast({
      kind: "finish",
      method,
      count: groups,
      counter: new SharedArrayBuffer(4),
      step: 4,
      stats,
      ctrlMeans,
      results,
      finishedCount,
    });
  }

  private broadcast(msg: object): Promise<void> {
    return broadcast(this.workers, msg, "DE worker");
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * Threads started ahead of need (before the groups are planned), handed to the first taker only: a run's
 * contexts are copied per batch, so the reserve, not a field of them, says whether they are taken.
 */
export class PoolReserve {
  private pool: WorkerPool | null;
  constructor(n: number) {
    this.pool = new WorkerPool(n);
  }
  take(): WorkerPool | null {
    const p = this.pool;
    this.pool = null;
    return p;
  }
  /** Stop the threads if nobody took them. */
  async close(): Promise<void> {
    await this.take()?.close();
  }
}
