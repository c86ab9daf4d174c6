/**
 * The NB-GLM work on one gene chunk, the same on the main thread and on worker threads (./worker.ts):
 * plain typed arrays in (the chunk, every cell's size factor by slot, the per-gene control state) and out
 * (the [group × gene] results). Two passes over the genes:
 *
 * - control pass: per gene, the control's base mean and gene-wise Cox–Reid dispersion (./dispersion.ts);
 * - group pass: per gene, once, the MAP dispersion and the control's fit β0 (kept in the shared state, so
 *   later batches of perturbations reuse it), then each perturbation's fit, test and fold change.
 *
 * Cost per gene: control pass (GRID + ~20)·O(control cells); group pass the same once for MAP, then per
 * perturbation O(its cells)·(Newton steps) — plus O(control cells) per step for the LRT's common mean.
 */
import { finalDispersion, genewiseDispersion, mapDispersion } from "./dispersion.ts";
import { fisherInfo, fitLogMean, logLik, type GroupCells } from "./irls.ts";
import {
  betaVariance,
  genewiseDispersionLevels,
  levelLogMean,
  mapDispersionLevels,
  startingLogMeans,
} from "./levels.ts";
import { lrTest, waldTest } from "./tests.ts";

/**
 * One chunk of genes × slots: non-zero counts and their cells' size factors, slot-major (slot s, gene j at
 * ptr[(s − slot0)·count + j]).
 */
export interface NbChunk {
  y: Float64Array;
  ys: Float64Array;
  ptr: Int32Array;
  g0: number;
  count: number;
  /** The (sub-)slots the chunk holds: [slot0, slot0 + slots) (the control passes: [0, L)). */
  slot0: number;
  slots: number;
}

/** State shared by every chunk of a run (SharedArrayBuffers when worker threads take part). */
export interface NbShared {
  nGenes: number;
  nSlots: number;
  /**
   * Levels of the covariates (1: none). With L > 1 the chunk's and size factors' slots are sub-slots
   * s·L + level, and fixedLogMean, beta0, infoC, llC hold L values per gene (./levels.ts).
   */
  levels: number;
  /** Every compared cell's size factor grouped by slot: slot s at [slotPtr[s], slotPtr[s+1]). */
  slotSf: Float64Array;
  slotPtr: Int32Array;
  /** 1 for the likelihood-ratio test, 0 for Wald. */
  lrt: number;
  /**
   * 1: α was estimated beforehand over every compared cell (pooledGenes / pooledMapGenes on a state whose
   * levels are the run's slots) and is already in `alpha`; the control passes then only fit the control.
   */
  pooled: number;
  maxDisp: number;
  /** Per gene: the control's normalised mean, gene-wise α and the log mean held while estimating it (NaN: no counts). */
  baseMeanC: Float64Array;
  genewise: Float64Array;
  fixedLogMean: Float64Array;
  /** Per gene: the trend's α; [priorVar, residualVar, fallbackAlpha] (set between the passes). */
  trend: Float64Array;
  prior: Float64Array;
  /** Per gene, set once by the group pass: final α, β0, the control's Fisher information and log-likelihood, and a done flag. */
  alpha: Float64Array;
  beta0: Float64Array;
  infoC: Float64Array;
  llC: Float64Array;
  controlDone: Uint8Array;
  /** Outputs [group × gene] (group k is slot k+1). */
  scores: Float64Array;
  pvals: Float64Array;
  lfc: Float32Array;
  baseMean: Float64Array;
  lfcSE: Float64Array;
  dispersion: Float64Array;
}

/** |log fold change| cap (natural log, = 30 in log2) for a group with no counts on one side: the MLE is ±∞. */
export const LFC_CAP = 30 * Math.LN2;

/** Slot s's cells for chunk gene j; a slot the chunk does not hold gets its size factors only (no counts). */
function cellsOf(chunk: NbChunk, sh: NbShared, s: number, j: number, g: GroupCells): GroupCells {
  const inChunk = s >= chunk.slot0 && s < chunk.slot0 + chunk.slots;
  const at = (s - chunk.slot0) * chunk.count + j;
  g.y = chunk.y;
  g.ys = chunk.ys;
  g.from = inChunk ? chunk.ptr[at]! : 0;
  g.to = inChunk ? chunk.ptr[at + 1]! : 0;
  g.sf = sh.slotSf;
  g.sfFrom = sh.slotPtr[s]!;
  g.sfTo = sh.slotPtr[s + 1]!;
  return g;
}

function newCells(): GroupCells {
  return { y: [], ys: [], from: 0, to: 0, sf: [], sfFrom: 0, sfTo: 0 };
}

/** Σ y/s over a group's non-zeros. */
function normalisedSum(g: GroupCells): number {
  let t = 0;
  for (let k = g.from; k < g.to; k++) t += g.y[k]! / g.ys[k]!;
  return t;
}

/** Control pass over genes [from, to) of the chunk (chunk-local). */
export function controlGenes(chunk: NbChunk, from: number, to: number, sh: NbShared): void {
  if (sh.levels > 1) return controlGenesLevels(chunk, from, to, sh);
  const c = newCells();
  const nc = sh.slotPtr[1]! - sh.slotPtr[0]!;
  for (let j = from; j < to; j++) {
    const gene = chunk.g0 + j;
    cellsOf(chunk, sh, 0, j, c);
    sh.baseMeanC[gene] = nc > 0 ? normalisedSum(c) / nc : Number.NaN;
    if (sh.pooled) continue;
    const d = genewiseDispersion(c, sh.maxDisp);
    sh.genewise[gene] = d ? d.alpha : Number.NaN;
    sh.fixedLogMean[gene] = d ? d.logMean : Number.NaN;
  }
}

/** The control's final α, β0, information and log-likelihood for `gene` (once per run). */
function prepareControl(c: GroupCells, gene: number, sh: NbShared): void {
  if (sh.controlDone[gene]) return;
  const gw = sh.genewise[gene]!;
  let alpha: number;
  if (sh.pooled) alpha = sh.alpha[gene]!;
  else if (Number.isFinite(gw)) {
    const t = sh.trend[gene]!;
    const map = mapDispersion(c, sh.fixedLogMean[gene]!, Math.log(t), sh.prior[0]!, sh.maxDisp);
    alpha = finalDispersion(gw, map, t, { priorVar: sh.prior[0]!, residualVar: sh.prior[1]! });
  } else alpha = sh.prior[2]!; // no control counts: the trend's largest value (its lowest mean)
  const fit = fitLogMean([c], alpha);
  sh.alpha[gene] = alpha;
  sh.beta0[gene] = fit.logMean;
  sh.infoC[gene] = fit.info;
  sh.llC[gene] = sh.lrt ? logLik([c], fit.logMean, alpha) : 0;
  sh.controlDone[gene] = 1;
}

/** Second control pass over genes [from, to) (chunks of the control's cells): MAP dispersion and β0. */
export function controlMapGenes(chunk: NbChunk, from: number, to: number, sh: NbShared): void {
  const c = newCells();
  for (let j = from; j < to; j++) {
    if (sh.levels > 1) prepareControlLevels(chunk, sh, j);
    else prepareControl(cellsOf(chunk, sh, 0, j, c), chunk.g0 + j, sh);
  }
}

/**
 * Group pass over genes [from, to) of the chunk (chunk-local): each perturbation the chunk holds against
 * the control's state (the control's cells are in the chunk only for the LRT, which refits over them).
 */
export function groupGenes(chunk: NbChunk, from: number, to: number, sh: NbShared): void {
  if (sh.levels > 1) return groupGenesLevels(chunk, from, to, sh);
  const c = newCells(),
    p = newCells();
  const { nGenes, nSlots } = sh;
  const nc = sh.slotPtr[1]! - sh.slotPtr[0]!;
  const sFrom = Math.max(1, chunk.slot0),
    sTo = Math.min(nSlots, chunk.slot0 + chunk.slots);
  for (let j = from; j < to; j++) {
    const gene = chunk.g0 + j;
    cellsOf(chunk, sh, 0, j, c);
    const alpha = sh.alpha[gene]!;
    const b0 = sh.beta0[gene]!;
    const sumC = sh.baseMeanC[gene]! * nc;
    for (let s = sFrom; s < sTo; s++) {
      cellsOf(chunk, sh, s, j, p);
      const at = (s - 1) * nGenes + gene;
      const np = p.sfTo - p.sfFrom;
      sh.baseMean[at] = (sumC + normalisedSum(p)) / (nc + np);
      sh.dispersion[at] = alpha;
      const fp = fitLogMean([p], alpha);
      let beta: number, infoC: number, infoP: number;
      if (b0 === Number.NEGATIVE_INFINITY && fp.logMean === Number.NEGATIVE_INFINITY) {
        // No counts on either side: nothing to test.
        sh.scores[at] = 0;
        sh.pvals[at] = 1;
        sh.lfc[at] = 0;
        sh.lfcSE[at] = Number.NaN;
        continue;
      }
      if (fp.logMean === Number.NEGATIVE_INFINITY) {
        beta = -LFC_CAP;
        infoC = sh.infoC[gene]!;
        infoP = fisherInfo([p], b0 - LFC_CAP, alpha);
      } else if (b0 === Number.NEGATIVE_INFINITY) {
        beta = LFC_CAP;
        infoC = fisherInfo([c], fp.logMean - LFC_CAP, alpha);
        infoP = fp.info;
      } else {
        beta = Math.max(-LFC_CAP, Math.min(LFC_CAP, fp.logMean - b0));
        infoC = sh.infoC[gene]!;
        infoP = fp.info;
      }
      const se = Math.sqrt(1 / infoC + 1 / infoP);
      sh.lfc[at] = beta / Math.LN2;
      sh.lfcSE[at] = se / Math.LN2;
      if (sh.lrt) {
        const full = sh.llC[gene]! + logLik([p], fp.logMean, alpha);
        const reduced = fitLogMean([c, p], alpha);
        const t = lrTest(full, logLik([c, p], reduced.logMean, alpha), beta);
        sh.scores[at] = t.score;
        sh.pvals[at] = t.p;
      } else {
        const w = waldTest(beta, se);
        sh.scores[at] = Number.isNaN(w.z) ? 0 : w.z;
        sh.pvals[at] = Number.isNaN(w.p) ? 1 : w.p;
      }
    }
  }
}

/**
 * Pooled dispersion, first pass, on a state whose levels are the run's slots (control and every tested
 * perturbation, each its own mean: the full design): per gene the base mean over every compared cell and
 * the gene-wise Cox–Reid α (DESeq2's estimate over all samples).
 */
export function pooledGenes(chunk: NbChunk, from: number, to: number, sh: NbShared): void {
  const cells = sh.slotPtr[sh.levels]! - sh.slotPtr[0]!;
  for (let j = from; j < to; j++) {
    const gene = chunk.g0 + j;
    const { gs } = controlLevels(chunk, sh, j);
    let t = 0;
    for (const g of gs) t += normalisedSum(g);
    sh.baseMeanC[gene] = cells > 0 ? t / cells : Number.NaN;
    const d = genewiseDispersionLevels(gs, sh.maxDisp);
    sh.genewise[gene] = d ? d.alpha : Number.NaN;
  }
}

/** Pooled dispersion, second pass (after the trend): MAP α toward the trend, DESeq2's outlier rule, into `alpha`. */
export function pooledMapGenes(chunk: NbChunk, from: number, to: number, sh: NbShared): void {
  for (let j = from; j < to; j++) {
    const gene = chunk.g0 + j;
    const gw = sh.genewise[gene]!;
    if (!Number.isFinite(gw)) {
      sh.alpha[gene] = sh.prior[2]!; // no counts: the trend's largest value (its lowest mean)
      continue;
    }
    const { gs } = controlLevels(chunk, sh, j);
    const t = sh.trend[gene]!;
    const map = mapDispersionLevels(gs, startingLogMeans(gs, sh.maxDisp), Math.log(t), sh.prior[0]!, sh.maxDisp);
    sh.alpha[gene] = finalDispersion(gw, map, t, { priorVar: sh.prior[0]!, residualVar: sh.prior[1]! });
  }
}

/** The control's non-empty levels of gene j (sub-slots 0..L−1), with their level indices. */
function controlLevels(chunk: NbChunk, sh: NbShared, j: number): { gs: GroupCells[]; at: number[] } {
  const gs: GroupCells[] = [],
    at: number[] = [];
  for (let l = 0; l < sh.levels; l++) {
    if (sh.slotPtr[l + 1]! === sh.slotPtr[l]!) continue;
    gs.push(cellsOf(chunk, sh, l, j, newCells()));
    at.push(l);
  }
  return { gs, at };
}

function controlGenesLevels(chunk: NbChunk, from: number, to: number, sh: NbShared): void {
  const L = sh.levels;
  const nc = sh.slotPtr[L]! - sh.slotPtr[0]!;
  for (let j = from; j < to; j++) {
    const gene = chunk.g0 + j;
    const { gs, at } = controlLevels(chunk, sh, j);
    let t = 0;
    for (const g of gs) t += normalisedSum(g);
    sh.baseMeanC[gene] = nc > 0 ? t / nc : Number.NaN;
    const d = genewiseDispersionLevels(gs, sh.maxDisp);
    sh.genewise[gene] = d ? d.alpha : Number.NaN;
    for (let k = 0; k < at.length; k++) sh.fixedLogMean[gene * L + at[k]!] = d ? d.logMeans[k]! : Number.NaN;
  }
}

/** The control's final α and per-level means, information and log-likelihoods for chunk gene j (once per run). */
function prepareControlLevels(chunk: NbChunk, sh: NbShared, j: number): void {
  const L = sh.levels;
  const gene = chunk.g0 + j;
  const { gs, at } = controlLevels(chunk, sh, j);
  if (!sh.controlDone[gene]) {
    const gw = sh.genewise[gene]!;
    let alpha: number;
    if (Number.isFinite(gw)) {
      const t = sh.trend[gene]!;
      const lms = at.map((l) => sh.fixedLogMean[gene * L + l]!);
      const map = mapDispersionLevels(gs, lms, Math.log(t), sh.prior[0]!, sh.maxDisp);
      alpha = finalDispersion(gw, map, t, { priorVar: sh.prior[0]!, residualVar: sh.prior[1]! });
    } else alpha = sh.prior[2]!;
    sh.alpha[gene] = alpha;
    gs.forEach((g, k) => {
      const lm = levelLogMean(g, alpha);
      const l = at[k]!;
      sh.beta0[gene * L + l] = lm;
      sh.infoC[gene * L + l] = fisherInfo([g], lm, alpha);
      sh.llC[gene * L + l] = sh.lrt ? logLik([g], lm, alpha) : 0;
    });
    sh.controlDone[gene] = 1;
  }
}

function groupGenesLevels(chunk: NbChunk, from: number, to: number, sh: NbShared): void {
  const { nGenes, nSlots, levels: L } = sh;
  const nc = sh.slotPtr[L]! - sh.slotPtr[0]!;
  const sFrom = Math.max(1, Math.floor(chunk.slot0 / L)),
    sTo = Math.min(nSlots, Math.floor((chunk.slot0 + chunk.slots) / L));
  for (let j = from; j < to; j++) {
    const gene = chunk.g0 + j;
    const alpha = sh.alpha[gene]!;
    const sumC = sh.baseMeanC[gene]! * nc;
    for (let s = sFrom; s < sTo; s++) {
      const at1 = (s - 1) * nGenes + gene;
      // The perturbation's cells by level, each with the control's level mean as its scale.
      const ps: GroupCells[] = [],
        cs: GroupCells[] = [],
        lv: number[] = [];
      let np = 0,
        sumP = 0;
      for (let l = 0; l < L; l++) {
        const sub = s * L + l;
        if (sh.slotPtr[sub + 1]! === sh.slotPtr[sub]!) continue;
        const p = cellsOf(chunk, sh, sub, j, newCells());
        np += p.sfTo - p.sfFrom;
        sumP += normalisedSum(p);
        p.scale = Math.exp(sh.beta0[gene * L + l]!);
        ps.push(p);
        cs.push(cellsOf(chunk, sh, l, j, newCells()));
        lv.push(l);
      }
      sh.baseMean[at1] = (sumC + sumP) / (nc + np);
      sh.dispersion[at1] = alpha;
      const fit = fitLogMean(ps, alpha);
      const beta =
        fit.logMean === Number.NEGATIVE_INFINITY ? -LFC_CAP : Math.max(-LFC_CAP, Math.min(LFC_CAP, fit.logMean));
      const infoP = ps.map((p) => fisherInfo([p], beta, alpha));
      const se = Math.sqrt(
        betaVariance(
          lv.map((l) => sh.infoC[gene * L + l]!),
          infoP,
        ),
      );
      sh.lfc[at1] = beta / Math.LN2;
      sh.lfcSE[at1] = se / Math.LN2;
      if (sh.lrt) {
        // Full: the frozen level means and β1; reduced: each shared level's mean refitted over both groups.
        let full = 0,
          reduced = 0;
        for (let k = 0; k < ps.length; k++) {
          const l = lv[k]!;
          full += sh.llC[gene * L + l]! + logLik([ps[k]!], fit.logMean, alpha);
          const both = [cs[k]!, { ...ps[k]!, scale: undefined }];
          reduced += logLik(both, fitLogMean(both, alpha).logMean, alpha);
        }
        const t = lrTest(full, reduced, beta);
        sh.scores[at1] = t.score;
        sh.pvals[at1] = t.p;
      } else {
        const w = waldTest(beta, se);
        sh.scores[at1] = Number.isNaN(w.z) ? 0 : w.z;
        sh.pvals[at1] = Number.isNaN(w.p) ? 1 : w.p;
      }
    }
  }
}

/** Every pass's kernel by name (the pool and its worker threads look them up here). */
export const NB_KERNELS = {
  control: controlGenes,
  controlMap: controlMapGenes,
  groups: groupGenes,
  pooled: pooledGenes,
  pooledMap: pooledMapGenes,
};
export type NbTask = keyof typeof NB_KERNELS;
