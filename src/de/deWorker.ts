/** Worker thread for the Wilcoxon test: takes gene blocks of the current chunk from a shared counter. */
import { parentPort, workerData } from "node:worker_threads";
import { RankSumScratch, rankSumGenes, type GeneChunk, type KernelContext } from "./wilcoxonKernel.ts";

interface InitData {
  nSlots: number; nGenes: number; sizes: Int32Array; tieCorrect: boolean;
  scores: SharedArrayBuffer; pvals: SharedArrayBuffer;
}
interface ChunkMessage {
  values: SharedArrayBuffer; float64: boolean; ptr: SharedArrayBuffer; g0: number; count: number;
  counter: SharedArrayBuffer; step: number;
}

const init = workerData as InitData;
const ctx: KernelContext = {
  nSlots: init.nSlots, nGenes: init.nGenes, sizes: init.sizes, tieCorrect: init.tieCorrect,
  scores: new Float64Array(init.scores), pvals: new Float64Array(init.pvals),
};
const scratch = new RankSumScratch();

parentPort!.on("message", (m: ChunkMessage) => {
  try {
    const chunk: GeneChunk = {
      values: m.float64 ? new Float64Array(m.values) : new Float32Array(m.values),
      ptr: new Int32Array(m.ptr), g0: m.g0, count: m.count,
    };
    const counter = new Int32Array(m.counter);
    for (;;) {
      const from = Atomics.add(counter, 0, m.step);
      if (from >= m.count) break;
      rankSumGenes(chunk, from, Math.min(m.count, from + m.step), ctx, scratch);
    }
    parentPort!.postMessage({ ok: true });
  } catch (err) {
    parentPort!.postMessage({ ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) });
  }
});
