/**
 * Worker threads for the NB GLM's gene chunks: each gets the shared state once (./kernel.ts NbShared, on
 * SharedArrayBuffers) and then one message per chunk; genes are split through an atomic counter so fast
 * threads take more. Without threads (one worker asked for) the same kernel runs on the calling thread.
 */
import type { Worker } from "node:worker_threads";
import { broadcast, startBundledWorker } from "../../core/workerThreads.ts";
import { NB_KERNELS, type NbChunk, type NbShared, type NbTask } from "./kernel.ts";

/** Genes per take from the counter: a gene's group pass is ~10³–10⁵ cell visits, so 2 balances well. */
const GENES_PER_TASK = 2;

export class NbPool {
  private workers: Worker[];
  constructor(
    n: number,
    private shared: NbShared,
  ) {
    this.workers = Array.from({ length: n }, () =>
      startBundledWorker(new URL("./worker.ts", import.meta.url), { workerData: shared }),
    );
  }

  /** Run a pass's kernel over every gene of `chunk`. */
  run(kind: NbTask, chunk: NbChunk): Promise<void> {
    if (this.workers.length === 0) {
      NB_KERNELS[kind](chunk, 0, chunk.count, this.shared);
      return Promise.resolve();
    }
    return broadcast(
      this.workers,
      { kind, chunk, counter: new SharedArrayBuffer(4), step: GENES_PER_TASK },
      "NB-GLM worker",
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }
}
