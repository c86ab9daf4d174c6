/**
 * The NB GLM's own pass over X (the registry's columnPass, ../methods/nbGlm.ts), after the statistics pass:
 *
 * 1. size factors from one pass over X (library size), which also refuses values that are not counts;
 * 2. control pass over gene chunks holding only the control's cells: base means and gene-wise dispersions;
 *    then the dispersion trend and prior on this thread (O(genes)). With `dispersion: "pooled"` the
 *    dispersions come instead from every compared cell of the run, each perturbation its own mean (two
 *    passes over gene chunks of all slots: gene-wise, then MAP toward the trend of the pooled base means),
 *    and the control pass only fits the control;
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
import { InvalidArgumentError } from "../../errors.ts";
import { openH5ad } from "../../io/anndata/handle.ts";
import { readLabelCodes } from "../../ops/sort.ts";
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
import type { NbChunk, NbShared, NbTask } from "./kernel.ts";
import { NbPool } from "./pool.ts";
import { accumulateGroupStats } from "../groupStats.ts";

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
  /** Categorical obs columns (e.g. gem_group) whose levels get their own control mean (./levels.ts). */
  covariates?: string[];
  /**
   * Whose cells estimate the dispersions: "control" (default: the control's cells only, computed once for
   * every perturbation — the fast "freeze control" estimate) or "pooled" (every compared cell of the run,
   * each perturbation its own mean, as DESeq2 estimates over all samples; costs about (compared cells ÷
   * control cells) times the control's dispersion work and two more passes over gene chunks of every slot).
   */
  dispersion?: "control" | "pooled";
}

/** Memory of the process besides the arrays (as the Wilcoxon pass assumes). */
const PROCESS_BYTES = 160 << 20;

interface ControlCache {
  sf: Float64Array;
  /** Covariates: each cell's level (L levels) and label class (label code × L + level), non-zeros per class × gene. */
  levels: { L: number; levelOf: Int32Array; labelOf: Int32Array; classNnz: Int32Array } | null;
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

/** Every compared cell's size factor grouped by (sub-)slot: slot s at slotSf[slotPtr[s] .. slotPtr[s+1]) (shared). */
function sizeFactorsBySlot(
  cellSlot: Int32Array,
  nSlots: number,
  sf: Float64Array,
): { slotPtr: Int32Array; slotSf: Float64Array } {
  const sizes = new Int32Array(nSlots);
  for (const s of cellSlot) if (s >= 0) sizes[s]++;
  const slotPtr = new Int32Array(new SharedArrayBuffer((nSlots + 1) * 4));
  for (let s = 0; s < nSlots; s++) slotPtr[s + 1] = slotPtr[s]! + sizes[s]!;
  const slotSf = sharedF64(slotPtr[nSlots]!);
  const cursor = slotPtr.slice(0, nSlots);
  for (let i = 0; i < cellSlot.length; i++) {
    const s = cellSlot[i]!;
    if (s >= 0) slotSf[cursor[s]!++] = sf[i]!;
  }
  return { slotPtr, slotSf };
}

function controlCache(ctx: ColumnPassContext, key: string): ControlCache | undefined {
  return caches.get(ctx.reader)?.get(key);
}

export function nbGlmOptions(
  options: unknown,
): Required<Pick<NbGlmOptions, "test" | "sizeFactors" | "dispersion">> & NbGlmOptions {
  const o = ((options as { nbGlm?: NbGlmOptions }).nbGlm ?? {}) as NbGlmOptions;
  return {
    ...o,
    test: o.test ?? "wald",
    sizeFactors: o.sizeFactors ?? "library",
    dispersion: o.dispersion ?? "control",
  };
}

export async function nbGlmColumnPass(ctx: ColumnPassContext): Promise<void> {
  const { reader, plan, options } = ctx;
  const opts = nbGlmOptions(options);
  const [nObs, nGenes] = reader.shape;
  const nSlots = plan.sizes.length;
  const pooled = opts.dispersion === "pooled";
  if (pooled && opts.covariates?.length)
    throw new InvalidArgumentError("pooled dispersions do not take covariates yet", {
      file: ctx.inputPath,
      hint: "use the control's dispersions (the default) with covariates",
    });
  const runCells = plan.run?.sizes ?? plan.sizes;
  const key = JSON.stringify({ ...opts, control: plan.controlLabel, nc: plan.sizes[0], run: runCells.length });
  let cache = controlCache(ctx, key);
  if (!cache) {
    const geneLogs =
      opts.sizeFactors === "ratio" ? { logSum: new Float64Array(nGenes), count: new Float64Array(nGenes) } : null;
    const cov = opts.covariates?.length ? covariateLevels(ctx, opts.covariates) : null;
    const classNnz = cov ? new Int32Array(cov.nLabels * cov.L * nGenes) : null;
    const cls = cov ? Int32Array.from(cov.labelOf, (c, i) => (c < 0 ? -1 : c * cov.L + cov.levelOf[i]!)) : null;
    const totals = cellTotals(reader, options, ctx.inputPath, "nb-glm", geneLogs, cls ? { cls, nnz: classNnz! } : null);
    const L = cov?.L ?? 1;
    cache = {
      levels: cov ? { L: cov.L, levelOf: cov.levelOf, labelOf: cov.labelOf, classNnz: classNnz! } : null,
      sf: geneLogs ? medianRatioSizeFactors(reader, options, geneLogs) : librarySizeFactors(totals),
      controlPassDone: false,
      perGene: {
        baseMeanC: sharedF64(nGenes),
        genewise: sharedF64(nGenes),
        fixedLogMean: sharedF64(nGenes * L),
        trend: sharedF64(nGenes),
        prior: sharedF64(3),
        alpha: sharedF64(nGenes),
        beta0: sharedF64(nGenes * L),
        infoC: sharedF64(nGenes * L),
        llC: sharedF64(nGenes * L),
        controlDone: new Uint8Array(new SharedArrayBuffer(nGenes)),
      },
    };
    if (!caches.has(reader)) caches.set(reader, new Map());
    caches.get(reader)!.set(key, cache);
  }
  // Covariates: slots split by level (sub-slot s·L + level), with their non-zero counts per gene.
  const L = cache.levels?.L ?? 1;
  const sub = cache.levels ? subSlots(ctx, cache.levels, nGenes) : { cellSlot: plan.cellSlot, nnz: ctx.stats.nnz };
  const nSub = nSlots * L;
  const { slotPtr, slotSf } = sizeFactorsBySlot(sub.cellSlot, nSub, cache.sf);
  const extra = ctx.results.extra ?? {};
  const sh: NbShared = {
    nGenes,
    nSlots,
    levels: L,
    slotSf,
    slotPtr,
    lrt: opts.test === "lrt" ? 1 : 0,
    pooled: pooled ? 1 : 0,
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
  const rows = slotRows(plan.cellSlot, nSlots);
  const controlRows = rows[0] ?? null;
  try {
    if (!cache.controlPassDone) {
      if (pooled) await pooledDispersions(ctx, cache.sf, sh.alpha, threads, maxValues, maxGenes);
      const chunks = geneChunks(sub.nnz, nGenes, 0, L, maxValues, maxGenes, controlRows);
      await chunkPass(ctx, pool, "control", sub, cache.sf, chunks, maxValues);
      if (!pooled) setTrend(sh);
      await chunkPass(ctx, pool, "controlMap", sub, cache.sf, chunks, maxValues);
      cache.controlPassDone = true;
    }
    await chunkPass(ctx, pool, "groups", sub, cache.sf, groupChunks(sh, sub, rows, L, maxValues, maxGenes), maxValues);
  } finally {
    await pool.close();
  }
}

interface ChunkSpec {
  slot0: number;
  slots: number;
  g0: number;
  g1: number;
  rows: [number, number] | null;
}

function geneChunks(
  nnz: Int32Array,
  nGenes: number,
  slot0: number,
  slots: number,
  maxValues: number,
  maxGenes: number,
  rows: [number, number] | null,
): ChunkSpec[] {
  return planNbChunks(nnz, nGenes, slot0, slots, maxValues, maxGenes).map(([g0, g1]) => ({
    slot0,
    slots,
    g0,
    g1,
    rows,
  }));
}

/** Each slot's rows [first, last + 1) when its cells are contiguous (a file sorted by perturbation), else null. */
function slotRows(cellSlot: Int32Array, nSlots: number): ([number, number] | null)[] {
  const first = new Float64Array(nSlots).fill(Number.POSITIVE_INFINITY),
    last = new Float64Array(nSlots).fill(-1),
    count = new Float64Array(nSlots);
  for (let i = 0; i < cellSlot.length; i++) {
    const s = cellSlot[i]!;
    if (s < 0) continue;
    if (i < first[s]!) first[s] = i;
    last[s] = i;
    count[s]++;
  }
  return Array.from({ length: nSlots }, (_, s) =>
    count[s]! > 0 && count[s] === last[s]! - first[s]! + 1 ? ([first[s]!, last[s]! + 1] as [number, number]) : null,
  );
}

/**
 * The group pass's chunks. Wald on a file whose perturbations are contiguous row slices (sorted): runs of
 * adjacent perturbations whose non-zeros fit, each read from its own rows only — X is read once in all.
 * Otherwise gene chunks over every perturbation, each a pass over X's rows (CSR) or its columns (CSC);
 * the control's cells are in them only for the LRT, which refits over them.
 */
function groupChunks(
  sh: NbShared,
  sub: { nnz: Int32Array },
  rows: ([number, number] | null)[],
  L: number,
  maxValues: number,
  maxGenes: number,
): ChunkSpec[] {
  const { nGenes, nSlots } = sh;
  if (sh.lrt) return geneChunks(sub.nnz, nGenes, 0, nSlots * L, maxValues, maxGenes, null);
  if (rows.slice(1).some((r) => r === null))
    return geneChunks(sub.nnz, nGenes, L, (nSlots - 1) * L, maxValues, maxGenes, null);
  const perSlot = (s: number) => {
    let t = 0;
    for (let q = s * L * nGenes; q < (s + 1) * L * nGenes; q++) t += sub.nnz[q]!;
    return t;
  };
  const out: ChunkSpec[] = [];
  let s0 = 1,
    acc = perSlot(1);
  const flush = (s1: number) => {
    const r: [number, number] = [rows[s0]![0], rows[s1 - 1]![1]];
    out.push(...geneChunks(sub.nnz, nGenes, s0 * L, (s1 - s0) * L, maxValues, maxGenes, r));
  };
  for (let s = 2; s < nSlots; s++) {
    const t = perSlot(s);
    if (acc + t > maxValues || rows[s]![0] !== rows[s - 1]![1]) {
      flush(s);
      s0 = s;
      acc = 0;
    }
    acc += t;
  }
  if (nSlots > 1) flush(nSlots);
  return out;
}

/** One pass over chunks: each read while the previous one is fitted. */
async function chunkPass(
  ctx: ColumnPassContext,
  pool: NbPool,
  kind: NbTask,
  sub: { cellSlot: Int32Array; nnz: Int32Array },
  sf: Float64Array,
  chunks: ChunkSpec[],
  maxValues: number,
): Promise<void> {
  const { reader, options } = ctx;
  const phase = PHASES[kind];
  const total = chunks.reduce((t, c) => t + (c.g1 - c.g0) * c.slots, 0);
  let pending: Promise<void> | null = null;
  let done = 0;
  const buffers = [new ChunkBuffers(maxValues), new ChunkBuffers(maxValues)];
  try {
    for (const [k, c] of chunks.entries()) {
      throwIfAborted(options.signal);
      // Alternate between two sets of buffers: the one being fitted is not written.
      const chunk: NbChunk = buildNbChunk(
        reader,
        sub.cellSlot,
        sub.nnz,
        sf,
        c.slot0,
        c.slots,
        c.g0,
        c.g1,
        buffers[k % 2]!,
        options,
        c.rows,
      );
      if (pending) await pending;
      pending = pool.run(kind, chunk).then(() => {
        done += chunk.count * chunk.slots;
        options.onProgress?.({ phase, done, total, unit: "gene × group fits" });
      });
    }
    if (pending) await pending;
    pending = null;
  } finally {
    if (pending) await pending.catch(() => undefined);
  }
}

const PHASES: Record<NbTask, string> = {
  control: "NB-GLM control dispersions",
  controlMap: "NB-GLM control fits",
  groups: "NB-GLM fits",
  pooled: "NB-GLM pooled dispersions",
  pooledMap: "NB-GLM pooled dispersions, MAP",
};

/**
 * Pooled dispersions into `alpha`: a state whose levels are the run's slots (every compared cell of the
 * whole run, also in a batch of it, so each batch gets the same bits), gene chunks of all slots, the
 * gene-wise pass, the trend of the pooled base means and the prior (cells − slots degrees of freedom), the
 * MAP pass. The run's non-zeros per slot × gene are the statistics of an unbatched run, or one counting
 * pass over X for a batched one (refused when they would take more than half the budget).
 */
async function pooledDispersions(
  ctx: ColumnPassContext,
  sf: Float64Array,
  alpha: Float64Array,
  threads: number,
  maxValues: number,
  maxGenes: number,
): Promise<void> {
  const { reader, plan, options } = ctx;
  const nGenes = reader.shape[1];
  const run = plan.run ?? { cellSlot: plan.cellSlot, sizes: plan.sizes };
  const L = run.sizes.length;
  let nnz = ctx.stats.nnz;
  if (plan.run) {
    const bytes = L * nGenes * 12;
    const budget = options.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
    if (bytes > budget / 2)
      throw new InvalidArgumentError(
        `pooled dispersions over ${L - 1} perturbations × ${nGenes} genes need ${Math.ceil(bytes / 2 ** 20)} MiB of counts, more than half the memory budget`,
        { file: ctx.inputPath, hint: "raise --memory-limit, or use the control's dispersions (the default)" },
      );
    nnz = (await accumulateGroupStats(reader, run.cellSlot, L, false, { ...options, phase: "NB-GLM pooled counts" }))
      .nnz;
  }
  const { slotPtr, slotSf } = sizeFactorsBySlot(run.cellSlot, L, sf);
  const none = sharedF64(1);
  const psh: NbShared = {
    nGenes,
    nSlots: 1,
    levels: L,
    slotSf,
    slotPtr,
    lrt: 0,
    pooled: 0,
    maxDisp: maxDispersion(slotPtr[L]!),
    baseMeanC: sharedF64(nGenes),
    genewise: sharedF64(nGenes),
    fixedLogMean: none,
    trend: sharedF64(nGenes),
    prior: sharedF64(3),
    alpha,
    beta0: none,
    infoC: none,
    llC: none,
    controlDone: new Uint8Array(new SharedArrayBuffer(1)),
    scores: none,
    pvals: none,
    lfc: new Float32Array(new SharedArrayBuffer(4)),
    baseMean: none,
    lfcSE: none,
    dispersion: none,
  };
  const sub = { cellSlot: run.cellSlot, nnz };
  const chunks = geneChunks(nnz, nGenes, 0, L, maxValues, maxGenes, null);
  const pool = new NbPool(threads, psh);
  try {
    await chunkPass(ctx, pool, "pooled", sub, sf, chunks, maxValues);
    setTrend(psh);
    await chunkPass(ctx, pool, "pooledMap", sub, sf, chunks, maxValues);
  } finally {
    await pool.close();
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
  // The control's cells and coefficients (one mean per covariate level).
  const prior = dispersionPrior(Float64Array.from(resid), sh.slotPtr[sh.levels]! - sh.slotPtr[0]!, sh.levels);
  sh.prior[0] = prior.priorVar;
  sh.prior[1] = prior.residualVar;
  sh.prior[2] = Math.min(Math.max(fallback, MIN_DISPERSION), sh.maxDisp) || 0.1;
}

/** Each cell's level of the covariates' cross-classification, and its perturbation label's code. */
function covariateLevels(
  ctx: ColumnPassContext,
  covariates: readonly string[],
): { L: number; levelOf: Int32Array; labelOf: Int32Array; nLabels: number } {
  const column = (ctx.options as { perturbationColumn?: string }).perturbationColumn;
  const h = openH5ad(ctx.inputPath);
  try {
    const nObs = ctx.reader.shape[0];
    const key = new Array<string>(nObs).fill("");
    for (const c of covariates) {
      if (c === column)
        throw new InvalidArgumentError(
          `covariate '${c}' is the perturbation column: collinear with every perturbation`,
          {
            file: ctx.inputPath,
            hint: "give covariates other than the perturbation labels (gem_group, batch)",
          },
        );
      const { codes } = readLabelCodes(h.file, c);
      for (let i = 0; i < nObs; i++) key[i] += `${codes[i]}\u0000`;
    }
    const ids = new Map<string, number>();
    const levelOf = Int32Array.from(key, (k) => {
      if (!ids.has(k)) ids.set(k, ids.size);
      return ids.get(k)!;
    });
    const labels = readLabelCodes(h.file, column!);
    return { L: ids.size, levelOf, labelOf: labels.codes, nLabels: labels.labels.length };
  } finally {
    h.close();
  }
}

/**
 * This run's sub-slots (slot·L + level) and their non-zeros per gene (from the cached per-class counts),
 * refusing a perturbation level without control cells: its effect and the perturbation's cannot be told
 * apart (collinear).
 */
function subSlots(
  ctx: ColumnPassContext,
  lv: { L: number; levelOf: Int32Array; labelOf: Int32Array; classNnz: Int32Array },
  nGenes: number,
): { cellSlot: Int32Array; nnz: Int32Array } {
  const { plan } = ctx;
  const { L } = lv;
  const nSlots = plan.sizes.length;
  const cellSlot = Int32Array.from(plan.cellSlot, (s, i) => (s < 0 ? -1 : s * L + lv.levelOf[i]!));
  const labelOfSlot = new Int32Array(nSlots).fill(-1);
  const cells = new Int32Array(nSlots * L);
  plan.cellSlot.forEach((s, i) => {
    if (s < 0) return;
    labelOfSlot[s] = lv.labelOf[i]!;
    cells[cellSlot[i]!]++;
  });
  for (let s = 1; s < nSlots; s++) {
    for (let l = 0; l < L; l++) {
      if (cells[s * L + l]! > 0 && cells[l] === 0)
        throw new InvalidArgumentError(
          `perturbation '${plan.groups[s - 1]}' has cells in a covariate level with no control cells: the covariates are collinear with it`,
          { file: ctx.inputPath, hint: "use covariates whose every level occurs among the control cells" },
        );
    }
  }
  const nnz = new Int32Array(nSlots * L * nGenes);
  for (let s = 0; s < nSlots; s++) {
    if (labelOfSlot[s]! < 0) continue;
    for (let l = 0; l < L; l++)
      nnz.set(
        lv.classNnz.subarray((labelOfSlot[s]! * L + l) * nGenes, (labelOfSlot[s]! * L + l + 1) * nGenes),
        (s * L + l) * nGenes,
      );
  }
  return { cellSlot, nnz };
}
