/**
 * Worker thread for DE. Three kinds of work, each split through a shared atomic counter so fast workers
 * take more: adding a band of X into the per-group statistics (ranges of slots), gene blocks of the
 * current chunk of a method's column pass (its geneChunkKernel: Wilcoxon), and finishing groups (the
 * method's groupScores — the t-test's —, adjusted p-values, fold changes, ranking; ./finishGroups.ts).
 * Methods are looked up by name in the registry (./methods/registry.ts), which this thread imports.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { GeneChunk, KernelContext } from "./wilcoxonKernel.ts";
import { finishGroup, type DeResults } from "./finishGroups.ts";
import { addBandSlots, type CsrBand, type GroupStats } from "./groupStats.ts";
import { deMethod, loadDeKernels } from "./methods/registry.ts";
import { DE_INPUTS } from "./methods/inputs.ts";
import { testFault } from "../core/testFaults.ts";

interface InitData {
  nSlots: number;
  nGenes: number;
  sizes: Int32Array;
  tieCorrect: boolean;
  scores: SharedArrayBuffer;
  pvals: SharedArrayBuffer;
}
interface InitMessage extends InitData {
  kind: "init";
}
interface ChunkMessage {
  kind: "genes";
  method: string;
  values: SharedArrayBuffer;
  float64: boolean;
  ptr: SharedArrayBuffer;
  g0: number;
  count: number;
  counter: SharedArrayBuffer;
  step: number;
}
interface FinishMessage {
  kind: "finish";
  method: string;
  count: number;
  counter: SharedArrayBuffer;
  step: number;
  /** Views of shared buffers (structured cloning shares them, offsets included). */
  stats: GroupStats;
  ctrlMeans: Float64Array;
  results: DeResults;
  /** Groups finished so far, for progress (shared). */
  finishedCount: Int32Array;
}

interface AccumulateMessage {
  kind: "accumulate";
  band: CsrBand;
  cellSlot: Int32Array;
  stats: GroupStats;
  slotBounds: Int32Array;
  counter: SharedArrayBuffer;
}

/** The run's shared state: from workerData, or from an "init" message when the pool started before it was known. */
let ctx: KernelContext = contextOf(workerData as InitData | null);

function contextOf(init: InitData | null): KernelContext {
  if (!init)
    return {
      nSlots: 0,
      nGenes: 0,
      sizes: new Int32Array(0),
      tieCorrect: true,
      scores: new Float64Array(0),
      pvals: new Float64Array(0),
    };
  return {
    nSlots: init.nSlots,
    nGenes: init.nGenes,
    sizes: init.sizes,
    tieCorrect: init.tieCorrect,
    scores: new Float64Array(init.scores),
    pvals: new Float64Array(init.pvals),
  };
}

function accumulate(m: AccumulateMessage): void {
  const counter = new Int32Array(m.counter);
  const { stats } = m;
  for (;;) {
    const k = Atomics.add(counter, 0, 1);
    if (k >= m.slotBounds.length - 1) break;
    addBandSlots(
      m.band,
      m.cellSlot,
      stats.nGenes,
      stats.sums,
      stats.sumsq,
      stats.nnz,
      m.slotBounds[k]!,
      m.slotBounds[k + 1]!,
    );
  }
}

async function finish(m: FinishMessage): Promise<void> {
  const counter = new Int32Array(m.counter);
  const spec = deMethod(m.method);
  const method = {
    groupScores: (await loadDeKernels(spec)).groupScores,
    logScaleMeans: DE_INPUTS[spec.input].logScaleMeans,
    ownFoldChanges: spec.ownFoldChanges,
  };
  for (;;) {
    const from = Atomics.add(counter, 0, m.step);
    if (from >= m.count) break;
    for (let g = from; g < Math.min(m.count, from + m.step); g++) {
      finishGroup(g, method, m.stats, ctx.sizes, m.ctrlMeans, m.results);
      Atomics.add(m.finishedCount, 0, 1);
    }
  }
}

async function geneChunk(m: ChunkMessage): Promise<void> {
  const chunk: GeneChunk = {
    values: m.float64 ? new Float64Array(m.values) : new Float32Array(m.values),
    ptr: new Int32Array(m.ptr),
    g0: m.g0,
    count: m.count,
  };
  const counter = new Int32Array(m.counter);
  const kernel = (await loadDeKernels(deMethod(m.method))).geneChunkKernel;
  if (!kernel) throw new Error(`internal: DE method '${m.method}' has no gene chunk kernel`);
  for (;;) {
    const from = Atomics.add(counter, 0, m.step);
    if (from >= m.count) break;
    kernel(chunk, from, Math.min(m.count, from + m.step), ctx);
  }
}

parentPort!.on("message", async (m: ChunkMessage | FinishMessage | AccumulateMessage | InitMessage) => {
  try {
    testFault("de-worker");
    if (m.kind === "init") ctx = contextOf(m);
    else if (m.kind === "genes") await geneChunk(m);
    else if (m.kind === "accumulate") accumulate(m);
    else await finish(m);
    parentPort!.postMessage({ ok: true });
  } catch (err) {
    parentPort!.postMessage({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
