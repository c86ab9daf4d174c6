/**
 * Worker thread for DE. Two kinds of work, both split through a shared atomic counter so fast workers
 * take more: Wilcoxon gene blocks of the current chunk, and t-test p-values (the Student t tail is the
 * t-test's most expensive step).
 */
import { parentPort, workerData } from "node:worker_threads";
import { RankSumScratch, rankSumGenes, type GeneChunk, type KernelContext } from "./wilcoxonKernel.ts";
import { studentTTwoSidedP } from "../stats/distributions.ts";

interface InitData {
  nSlots: number; nGenes: number; sizes: Int32Array; tieCorrect: boolean;
  scores: SharedArrayBuffer; pvals: SharedArrayBuffer;
}
interface ChunkMessage {
  kind: "wilcoxon";
  values: SharedArrayBuffer; float64: boolean; ptr: SharedArrayBuffer; g0: number; count: number;
  counter: SharedArrayBuffer; step: number;
}
interface TTestMessage {
  kind: "t-test-p";
  /** t statistics and degrees of freedom; p-values go to the shared pvals. */
  df: SharedArrayBuffer; count: number; counter: SharedArrayBuffer; step: number;
}

const init = workerData as InitData;
const ctx: KernelContext = {
  nSlots: init.nSlots, nGenes: init.nGenes, sizes: init.sizes, tieCorrect: init.tieCorrect,
  scores: new Float64Array(init.scores), pvals: new Float64Array(init.pvals),
};
const scratch = new RankSumScratch();

function tTestPValues(m: TTestMessage): void {
  const df = new Float64Array(m.df);
  const counter = new Int32Array(m.counter);
  for (;;) {
    const from = Atomics.add(counter, 0, m.step);
    if (from >= m.count) break;
    const to = Math.min(m.count, from + m.step);
    for (let i = from; i < to; i++) {
      const p = studentTTwoSidedP(ctx.scores[i]!, df[i]!);
      ctx.pvals[i] = Number.isNaN(p) ? 1 : p;
    }
  }
}

function wilcoxon(m: ChunkMessage): void {
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
}

parentPort!.on("message", (m: ChunkMessage | TTestMessage) => {
  try {
    if (m.kind === "wilcoxon") wilcoxon(m); else tTestPValues(m);
    parentPort!.postMessage({ ok: true });
  } catch (err) {
    parentPort!.postMessage({ ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) });
  }
});
