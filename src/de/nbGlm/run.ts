/**
 * The NB GLM's own pass over X (the registry's columnPass, ../methods/nbGlm.ts), after the statistics pass:
 *
 * 1. size factors from one pass over X (library size), which also refuses values that are not counts;
 * 2. control pass over gene chunks holding only the control's cells: base means and gene-wise dispersions;
 *    then the dispersion trend and prior on this thread (O(genes));
 * 3. group pass over gene chunks of every compared cell: MAP dispersion and β0 once per gene, then each
 *    perturbation's fit and test, into the shared result arrays.
 *
 * Size factors and everything of the control (steps 1–2 and the control's part of step 3) are kept per
 * reader and option set, so a batched run (../batchedRun.ts: one call per batch of perturbations) computes
 * them once and every batch gets the same bits as a single pass would. While the workers fit one chunk,
 * this thread reads the next. Memory: two chunks (16 bytes per non-zero of their slots) within what the
 * budget leaves after the run's result arrays, plus O(cells + genes) for the size factors and the
 * per-gene state.
 */
import { DEFAULT_MEMORY_BUDGET, throwIfAborted } from "../../core/streaming.ts";
import type { ColumnPassContext } from "../methods/types.ts";
import {
  buildNbChunk,
  ChunkBuffers,
  cellTotals,
  librarySizeFactors,
  medianRatioSizeFactors,
  planNbChunks,
} from "./chunk.ts";
import { dispersionPrior, fitDispersionTrend, maxDispersion, MIN_DISPERSION, trendAt } from "./dispersion.ts";
import type { NbChunk, NbShared } from "./kernel.ts";
import { NbPool } from "./pool.ts";

export interface NbGlmOptions {
  /** "wald" (default) or "lrt" (likelihood-ratio test against one common mean). */
  test?: "wald" | "lrt";
  /**
   * "library" (default): total counts over their geometric mean; "ratio": median-of-ratios over each
   * cell's non-zero genes (the Python crispyx's default; one more pass over X).
   */
  sizeFactors?: "library" | "ratio";
  /** pseudobulk-nb: the obs column whose values split each group into pseudo-bulk samples. */
  replicateColumn?: string;
}

/** Memory of the process besides the arrays (as the Wilcoxon pass assumes). */
const PROCESS_BYTES = 160 << 20;

interface ControlCache {
  sf: Float64Array;
  controlPassDone: boolean;
  perGene: Pick<
    NbShared,
    "baseMeanC" | "genewise" | "fixedLogMean" | "trend" | "prior" | "alpha" | "beta0" | "infoC" | "llC" | "controlDone"
  >;
}

const caches = new WeakMap<object, Map<string, ControlCache>>();

function sharedF64(n: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(Math.max(1, n) * 8));
}

function controlCache(ctx: ColumnPassContext, key: string): ControlCache | undefined {
  return caches.get(ctx.reader)?.get(key);
}

export function nbGlmOptions(options: unknown): Required<Omit<NbGlmOptions, "replicateColumn">> & NbGlmOptions {
  const o = ((options as { nbGlm?: NbGlmOptions }).nbGlm ?? {}) as NbGlmOptions;
  return { ...o, test: o.test ?? "wald", sizeFactors: o.sizeFactors ?? "library" };
}

export async function nbGlmColumnPass(ctx: ColumnPassContext): Promise<void> {
  const { reader, plan, options } = ctx;
  const opts = nbGlmOptions(options);
  const [nObs, nGenes] = reader.shape;
  const nSlots = plan.sizes.length;
  const key = JSON.stringify({ ...opts, control: plan.controlLabel, nc: plan.sizes[0] });
  let cache = controlCache(ctx, key);
  if (!cache) {
    const geneLogs =
      opts.sizeFactors === "ratio" ? { logSum: new Float64Array(nGenes), count: new Float64Array(nGenes) } : null;
    const totals = cellTotals(reader, options, ctx.inputPath, "nb-glm", geneLogs);
    cache = {
      sf: geneLogs ? medianRatioSizeFactors(reader, options, geneLogs) : librarySizeFactors(totals),
      controlPassDone: false,
      perGene: {
        baseMeanC: sharedF64(nGenes),
        genewise: sharedF64(nGenes),
        fixedLogMean: sharedF64(nGenes),
        trend: sharedF64(nGenes),
        prior: sharedF64(3),
        alpha: sharedF64(nGenes),
        beta0: sharedF64(nGenes),
        infoC: sharedF64(nGenes),
        llC: sharedF64(nGenes),
        controlDone: new Uint8Array(new SharedArrayBuffer(nGenes)),
      },
    };
    if (!caches.has(reader)) caches.set(reader, new Map());
    caches.get(reader)!.set(key, cache);
  }
  // Every compared cell's size factor, grouped by slot.
  const slotPtr = new Int32Array(new SharedArrayBuffer((nSlots + 1) * 4));
  for (let s = 0; s < nSlots; s++) slotPtr[s + 1] = slotPtr[s]! + plan.sizes[s]!;
  const slotSf = sharedF64(slotPtr[nSlots]!);
  const cursor = slotPtr.slice(0, nSlots);
  for (let i = 0; i < nObs; i++) {
    const s = plan.cellSlot[i]!;
    if (s >= 0) slotSf[cursor[s]!++] = cache.sf[i]!;
  }
  const extra = ctx.results.extra ?? {};
  const sh: NbShared = {
    nGenes,
    nSlots,
    slotSf,
    slotPtr,
    lrt: opts.test === "lrt" ? 1 : 0,
    maxDisp: maxDispersion(plan.sizes[0]!),
    ...cache.perGene,
    scores: ctx.out.scores,
    pvals: ctx.out.pvals,
    lfc: ctx.results.logfoldchanges,
    baseMean: extra.baseMean!,
    lfcSE: extra.lfcSE!,
    dispersion: extra.dispersion!,
  };
  const budget = options.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  const free = budget - ctx.reservedBytes - PROCESS_BYTES - nObs * 16;
  // Two chunks live at once (one fitted, one read), 16 bytes per value: each gets 30% of what is left.
  const maxValues = Math.max(1, Math.floor(Math.max(budget * 0.05, free * 0.3) / 16));
  const maxGenes = options.chunkSize ?? Number.MAX_SAFE_INTEGER;
  const threads = ctx.pool ? ctx.pool.size : 0;
  const pool = new NbPool(threads, sh);
  try {
    if (!cache.controlPassDone) {
      await chunkPass(ctx, pool, "control", 1, cache.sf, maxValues, maxGenes);
      setTrend(sh);
      cache.controlPassDone = true;
    }
    await chunkPass(ctx, pool, "groups", nSlots, cache.sf, maxValues, maxGenes);
  } finally {
    await pool.close();
  }
}

/** One pass over gene chunks of slots < `slots`: each chunk read while the previous one is fitted. */
async function chunkPass(
  ctx: ColumnPassContext,
  pool: NbPool,
  kind: "control" | "groups",
  slots: number,
  sf: Float64Array,
  maxValues: number,
  maxGenes: number,
): Promise<void> {
  const { reader, plan, stats, options } = ctx;
  const nGenes = reader.shape[1];
  const chunks = planNbChunks(stats.nnz, nGenes, slots, maxValues, maxGenes);
  const phase = kind === "control" ? "NB-GLM control dispersions" : "NB-GLM fits";
  let pending: Promise<void> | null = null;
  let done = 0;
  const buffers = [new ChunkBuffers(maxValues), new ChunkBuffers(maxValues)];
  try {
    for (const [k, [g0, g1]] of chunks.entries()) {
      throwIfAborted(options.signal);
      // Alternate between two sets of buffers: the one being fitted is not written.
      const chunk: NbChunk = buildNbChunk(
        reader,
        plan.cellSlot,
        stats.nnz,
        sf,
        slots,
        g0,
        g1,
        buffers[k % 2]!,
        options,
      );
      if (pending) await pending;
      pending = pool.run(kind, chunk).then(() => {
        done += chunk.count;
        options.onProgress?.({ phase, done, total: nGenes, unit: "genes" });
      });
    }
    if (pending) await pending;
    pending = null;
  } finally {
    if (pending) await pending.catch(() => undefined);
  }
}

/** The trend, the prior and the fallback α (genes without control counts), from the control pass. */
export function setTrend(sh: NbShared): void {
  const trend = fitDispersionTrend(sh.baseMeanC, sh.genewise);
  const resid: number[] = [];
  let fallback = 0;
  for (let j = 0; j < sh.nGenes; j++) {
    const m = sh.baseMeanC[j]!;
    const t = m > 0 ? trendAt(trend, m) : Number.NaN;
    sh.trend[j] = t;
    if (t > fallback) fallback = t;
    const gw = sh.genewise[j]!;
    if (gw > 100 * MIN_DISPERSION && t > 0) resid.push(Math.log(gw) - Math.log(t));
  }
  const prior = dispersionPrior(Float64Array.from(resid), sh.slotPtr[1]! - sh.slotPtr[0]!, 1);
  sh.prior[0] = prior.priorVar;
  sh.prior[1] = prior.residualVar;
  sh.prior[2] = Math.min(Math.max(fallback, MIN_DISPERSION), sh.maxDisp) || 0.1;
}
