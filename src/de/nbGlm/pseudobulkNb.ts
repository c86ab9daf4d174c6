/**
 * `--method pseudobulk-nb`: the NB GLM of ./kernel.ts on pseudo-bulk samples instead of cells. The cells of
 * each perturbation (and of the control) are summed per value of a replicate column (guide, replicate,
 * gem group: `nbGlm.replicateColumn`) in one pass over X; each sum is a sample, with library-size factors
 * over the samples; the control's samples give the dispersions (Cox–Reid, trend, MAP as for cells) and
 * every perturbation's samples are tested against them (Wald or LRT). Each group, the control included,
 * needs ≥ 2 samples: otherwise a clear error names it.
 *
 * Cost: one pass over X (the sums: 8 bytes per slot × replicate × gene), then O(samples) per gene.
 */
import { InvalidArgumentError } from "../../errors.ts";
import { openH5ad } from "../../io/anndata/handle.ts";
import { readLabelCodes } from "../../ops/sort.ts";
import { accumulateGroupStats } from "../groupStats.ts";
import type { ColumnPassContext } from "../methods/types.ts";
import { maxDispersion } from "./dispersion.ts";
import { controlGenes, controlMapGenes, groupGenes, type NbChunk, type NbShared } from "./kernel.ts";
import { nbGlmOptions, setTrend } from "./run.ts";

export async function pseudobulkNbColumnPass(ctx: ColumnPassContext): Promise<void> {
  const { reader, plan, options } = ctx;
  const opts = nbGlmOptions(options);
  const column = opts.replicateColumn;
  if (!column)
    throw new InvalidArgumentError("DE method 'pseudobulk-nb' needs a replicate column", {
      file: ctx.inputPath,
      hint: "name the obs column that splits each perturbation into samples (guide, replicate): --replicate-column",
    });
  const h = openH5ad(ctx.inputPath);
  let rep: { codes: Int32Array; labels: string[] };
  try {
    rep = readLabelCodes(h.file, column);
  } finally {
    h.close();
  }
  const R = rep.labels.length;
  const nSlots = plan.sizes.length;
  const nGenes = reader.shape[1];
  const cellSample = new Int32Array(plan.cellSlot.length);
  for (let i = 0; i < cellSample.length; i++) {
    const s = plan.cellSlot[i]!,
      r = rep.codes[i]!;
    cellSample[i] = s < 0 || r < 0 ? -1 : s * R + r;
  }
  const sums = await accumulateGroupStats(reader, cellSample, nSlots * R, false, {
    ...options,
    phase: "pseudo-bulk sums",
  });
  // Non-empty samples, grouped by slot.
  const cells = new Float64Array(nSlots * R);
  for (const k of cellSample) if (k >= 0) cells[k]++;
  const slotPtr = new Int32Array(nSlots + 1);
  const samples: number[] = [];
  for (let s = 0; s < nSlots; s++) {
    for (let r = 0; r < R; r++) if (cells[s * R + r]! > 0) samples.push(s * R + r);
    slotPtr[s + 1] = samples.length;
    if (slotPtr[s + 1]! - slotPtr[s]! < 2) {
      const name = s === 0 ? `the control '${plan.controlLabel}'` : `perturbation '${plan.groups[s - 1]}'`;
      throw new InvalidArgumentError(
        `${name} has ${slotPtr[s + 1]! - slotPtr[s]!} pseudo-bulk sample(s) in obs['${column}']; pseudobulk-nb needs at least 2 per group`,
        { file: ctx.inputPath, hint: "use a column with replicates within each perturbation, or --method nb-glm" },
      );
    }
  }
  // Library-size factors of the samples (geometric mean 1).
  const totals = samples.map((k) => {
    let t = 0;
    for (let j = 0; j < nGenes; j++) t += sums.sums[k * nGenes + j]!;
    return t;
  });
  const logs = totals.filter((t) => t > 0).map(Math.log);
  const gm = Math.exp(logs.reduce((a, b) => a + b, 0) / Math.max(1, logs.length));
  const slotSf = Float64Array.from(totals, (t) => (t > 0 ? t / gm : 0));
  // One chunk of every gene: the samples' non-zero sums, slot-major.
  const n = samples.length;
  const ptr = new Int32Array(nGenes * nSlots + 1);
  const y: number[] = [],
    ys: number[] = [];
  for (let s = 0; s < nSlots; s++) {
    for (let j = 0; j < nGenes; j++) {
      ptr[s * nGenes + j] = y.length;
      for (let q = slotPtr[s]!; q < slotPtr[s + 1]!; q++) {
        const v = sums.sums[samples[q]! * nGenes + j]!;
        if (v > 0) {
          y.push(v);
          ys.push(slotSf[q]!);
        }
      }
    }
  }
  ptr[nGenes * nSlots] = y.length;
  const chunk: NbChunk = {
    y: Float64Array.from(y),
    ys: Float64Array.from(ys),
    ptr,
    g0: 0,
    count: nGenes,
    slot0: 0,
    slots: nSlots,
  };
  const f64 = (k: number) => new Float64Array(Math.max(1, k));
  const extra = ctx.results.extra ?? {};
  const sh: NbShared = {
    nGenes,
    nSlots,
    levels: 1,
    slotSf,
    slotPtr,
    lrt: opts.test === "lrt" ? 1 : 0,
    pooled: 0,
    maxDisp: maxDispersion(slotPtr[1]!),
    baseMeanC: f64(nGenes),
    genewise: f64(nGenes),
    fixedLogMean: f64(nGenes),
    trend: f64(nGenes),
    prior: f64(3),
    alpha: f64(nGenes),
    beta0: f64(nGenes),
    infoC: f64(nGenes),
    llC: f64(nGenes),
    controlDone: new Uint8Array(nGenes),
    scores: ctx.out.scores,
    pvals: ctx.out.pvals,
    lfc: ctx.results.logfoldchanges,
    baseMean: extra.baseMean!,
    lfcSE: extra.lfcSE!,
    dispersion: extra.dispersion!,
  };
  controlGenes(chunk, 0, nGenes, sh);
  setTrend(sh);
  controlMapGenes(chunk, 0, nGenes, sh);
  groupGenes(chunk, 0, nGenes, sh);
  options.onProgress?.({ phase: "pseudo-bulk NB-GLM fits", done: nGenes, total: nGenes, unit: "genes" });
  void n;
}
