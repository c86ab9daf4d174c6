/**
 * Worker thread of the NB GLM (./pool.ts): takes genes of the current chunk from a shared counter, a few
 * at a time, and runs the kernel (./kernel.ts) on them into the shared state.
 */
import { parentPort, workerData } from "node:worker_threads";
import { NB_KERNELS, type NbChunk, type NbShared, type NbTask } from "./kernel.ts";

const shared = workerData as NbShared;

interface Task {
  kind: NbTask;
  chunk: NbChunk;
  counter: SharedArrayBuffer;
  step: number;
}

parentPort!.on("message", (m: Task) => {
  try {
    const counter = new Int32Array(m.counter);
    const run = NB_KERNELS[m.kind];
    for (;;) {
      const from = Atomics.add(counter, 0, m.step);
      if (from >= m.chunk.count) break;
      run(m.chunk, from, Math.min(m.chunk.count, from + m.step), shared);
    }
    parentPort!.postMessage({ ok: true });
  } catch (err) {
    parentPort!.postMessage({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
