/**
 * Worker threads for the NB GLM's gene chunks: each gets the shared state once (./kernel.ts NbShared, on
 * SharedArrayBuffers) and then one message per chunk; genes are split through an atomic counter so fast
 * threads take more. Without threads (one worker asked for) the same kernel runs on the calling thread.
 */
import type { Worker } from "node:worker_threads";
import { startBundledWorker } from "../../core/workerThreads.ts";
import { CrispyxError } from "../../errors.ts";
import { controlGenes, controlMapGenes, groupGenes, type NbChunk, type NbShared } from "./kernel.ts";

export type NbTask = "control" | "controlMap" | "groups";
export const KERNELS = { control: controlGenes, controlMap: controlMapGenes, groups: groupGenes };

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
      KERNELS[kind](chunk, 0, chunk.count, this.shared);
      return Promise.resolve();
    }
    const msg = { kind, chunk, counter: new SharedArrayBuffer(4), step: GENES_PER_TASK };
    return Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const settle = () => {
              w.off("message", onMessage);
              w.off("error", onError);
              w.off("exit", onExit);
            };
            const onMessage = (m: { ok: boolean; error?: string }) => {
              settle();
              if (m.ok) resolve();
              else reject(new CrispyxError(`NB-GLM worker failed: ${m.error}`));
            };
            const onError = (err: Error) => {
              settle();
              reject(err);
            };
            const onExit = (code: number) => {
              settle();
              reject(new CrispyxError(`NB-GLM worker thread stopped (exit code ${code}) before finishing its task`));
            };
            w.once("message", onMessage);
            w.once("error", onError);
            w.once("exit", onExit);
            w.postMessage(msg);
          }),
      ),
    ).then(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }
}
