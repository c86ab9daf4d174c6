/**
 * DE in batches of perturbations, for screens whose statistics and results do not fit the memory budget
 * at once (genome-wide: 10⁴ perturbations × 2·10⁴ genes is ~14 GB): each batch is one statistics pass
 * over X for the control and the batch's groups (and the method's own passes), finished, and written to
 * the checkpoint (./checkpoint.ts) with its CSV rows; the .h5ad is assembled from the parts at the end
 * (./batchedOutput.ts) and the CSV renamed into place. The results are the same bits as an unbatched
 * run's (./computeGroups.ts: groups are independent), and a killed run continues with `resume` after
 * the last finished batch.
 *
 * Cost model: memory is one batch's statistics and results (planned to fit the budget with the streamed
 * blocks: planDeBatches) — independent of the number of perturbations; time is one pass over X per batch
 * plus the work of the tests, and the parts are written and read once.
 */
import { createHash } from "node:crypto";
import { closeSync, fsyncSync, realpathSync, statSync } from "node:fs";
import { commitFile } from "../io/atomic.ts";
import { collectGarbage } from "../core/garbage.ts";
import { DEFAULT_MEMORY_BUDGET, throwIfAborted } from "../core/streaming.ts";
import type { GroupPlan } from "./groups.ts";
import { computeGroups, type DeComputeContext } from "./computeGroups.ts";
import { deResultBytes, type DeResults } from "./finishGroups.ts";
import { DeCheckpoint } from "./checkpoint.ts";
import { appendDeCsvRows } from "./csvFormat.ts";
import { csvHeader } from "./methods/columns.ts";
import type { DeMethodSpec } from "./methods/types.ts";
import { rankedLayout, type DeMeta, type DeTables } from "./output.ts";
import { writeBatchedH5ad } from "./batchedOutput.ts";

/** Memory the process itself takes beside DE's arrays (code, heap, HDF5's caches): measured ~150 MB. */
const PROCESS_BYTES = 160 << 20;
/** Share of the budget left to the streamed blocks of X when results are planned. */
const STREAM_SHARE = 0.25;

export interface DeBatchPlan {
  /** [g0, g1) per batch, in order: groups g0..g1-1 of the plan. */
  batches: [number, number][];
  /** Bytes of statistics and results one batch holds (deResultBytes). */
  batchBytes: number;
  /** Bytes all groups at once would hold. */
  allBytes: number;
  /** Why there are that many batches, one clause. */
  reason: string;
}

/**
 * Batches of perturbations whose statistics and results fit the budget beside the streamed blocks and
 * the process: one batch when everything fits; otherwise equal batches of at most what fits (at least
 * one group each). `perBatch` fixes the batch size instead.
 */
export function planDeBatches(
  groups: number,
  genes: number,
  spec: DeMethodSpec,
  budget: number = DEFAULT_MEMORY_BUDGET,
  perBatch?: number,
): DeBatchPlan {
  const allBytes = deResultBytes(groups, genes, spec);
  const allowed = Math.max(0, budget * (1 - STREAM_SHARE) - PROCESS_BYTES);
  let size: number;
  let reason: string;
  const mib = (b: number) => `${Math.round(b / 2 ** 20).toLocaleString("en-US")} MiB`;
  if (perBatch !== undefined) {
    size = Math.max(1, Math.min(groups, perBatch));
    reason = `${size} perturbations per pass were asked for`;
  } else if (allBytes <= allowed || groups <= 1) {
    size = Math.max(1, groups);
    reason = `the statistics and results of all ${groups} perturbations (${mib(allBytes)}) fit the budget`;
  } else {
    const fixed = deResultBytes(0, genes, spec);
    const perGroup = deResultBytes(1, genes, spec) - fixed;
    const fits = Math.max(1, Math.floor((allowed - fixed) / perGroup));
    const count = Math.ceil(groups / fits);
    size = Math.ceil(groups / count);
    reason =
      `the statistics and results of ${groups} perturbations take ${mib(allBytes)}; ` +
      `${mib(allowed)} of the ${mib(budget)} budget are left beside the streamed blocks: ${size} perturbations per pass`;
  }
  // Equal batches (sizes differ by at most one), or slices of the size asked for.
  const count = Math.max(1, Math.ceil(groups / size));
  const batches: [number, number][] = [];
  for (let k = 0; k < count; k++)
    batches.push(
      perBatch !== undefined
        ? [k * size, Math.min(groups, (k + 1) * size)]
        : [Math.floor((k * groups) / count), Math.floor(((k + 1) * groups) / count)],
    );
  return { batches, batchBytes: deResultBytes(size, genes, spec), allBytes, reason };
}

/** The plan of groups [g0, g1) only: their cells keep slots 1..(g1-g0), the control slot 0, the rest -1. */
export function batchPlan(plan: GroupPlan, g0: number, g1: number): GroupPlan {
  const cellSlot = new Int32Array(plan.cellSlot.length);
  for (let i = 0; i < cellSlot.length; i++) {
    const s = plan.cellSlot[i]!;
    cellSlot[i] = s === 0 ? 0 : s > g0 && s <= g1 ? s - g0 : -1;
  }
  const sizes = new Int32Array(g1 - g0 + 1);
  sizes[0] = plan.sizes[0]!;
  sizes.set(plan.sizes.subarray(g0 + 1, g1 + 1), 1);
  const run = plan.run ?? { cellSlot: plan.cellSlot, sizes: plan.sizes };
  return { ...plan, groups: plan.groups.slice(g0, g1), cellSlot, sizes, skipped: [], run };
}

export interface BatchedRunOptions {
  outputPath: string;
  csvPath: string | null;
  resume: boolean;
  /** What identifies the run beside the input file (method, options): a resumed run must match it. */
  identity: Record<string, unknown>;
}

export interface BatchedRunResult {
  warnings: string[];
  /** Batches taken from the checkpoint of an earlier run. */
  resumedBatches: number;
}

/** Run `batches` of `plan`'s groups and write the .h5ad (and CSV) of all of them. */
export async function runBatched(
  ctx: DeComputeContext,
  plan: GroupPlan,
  meta: DeMeta,
  batches: [number, number][],
  out: BatchedRunOptions,
): Promise<BatchedRunResult> {
  const { spec, options } = ctx;
  const warnings: string[] = [];
  const fingerprint = runFingerprint(ctx.inputPath, plan, batches, out.identity);
  const opened = DeCheckpoint.open(out.outputPath, fingerprint, out.resume);
  const cp = opened.checkpoint;
  if (out.resume && opened.reason) warnings.push(`--resume: ${opened.reason}; starting from the first batch`);
  const withRanked = rankedLayout(meta.groups, meta.rankedLayout) === "records";
  const csv = out.csvPath ? cp.openCsv(csvHeader(spec.extraColumns)) : null;
  try {
    for (let k = cp.finished; k < batches.length; k++) {
      throwIfAborted(options.signal);
      // Each batch may give the same note: say it once.
      for (const note of await runBatch(ctx, plan, meta, batches, k, cp, csv, withRanked))
        if (!warnings.includes(note)) warnings.push(note);
      // The batch's arrays are garbage now (its frame is gone): free them before the next batch allocates.
      collectGarbage();
    }
  } finally {
    if (csv) closeSync(csv.fd);
  }
  throwIfAborted(options.signal);
  warnings.push(...(await writeBatchedH5ad(out.outputPath, meta, cp, batches, options.onProgress)));
  // The CSV is put in place after the .h5ad (an existing result is reused only when both are there).
  if (out.csvPath) commitFile(cp.csvPath, out.csvPath);
  cp.remove();
  return { warnings, resumedBatches: opened.resumedFrom };
}

/** Batch k: its statistics pass and finishing, then its part and CSV rows into the checkpoint. Returns its notes. */
async function runBatch(
  ctx: DeComputeContext,
  plan: GroupPlan,
  meta: DeMeta,
  batches: [number, number][],
  k: number,
  cp: DeCheckpoint,
  csv: { fd: number; at: number } | null,
  withRanked: boolean,
): Promise<string[]> {
  const [g0, g1] = batches[k]!;
  const sub = batchPlan(plan, g0, g1);
  const label = `batch ${k + 1}/${batches.length}`;
  const onProgress = ctx.options.onProgress;
  const computed = await computeGroups(
    {
      ...ctx,
      options: {
        ...ctx.options,
        onProgress: onProgress && ((p) => onProgress({ ...p, phase: `${label}: ${p.phase}` })),
      },
    },
    sub,
  );
  try {
    await computed.finished;
    cp.writePart(k, partArrays(computed.results, withRanked));
    let end = 0;
    if (csv) {
      const t: DeTables = { ...meta, ...computed.results, groups: sub.groups, sizes: sub.sizes, skipped: [] };
      end = appendDeCsvRows(csv.fd, t, csv.at);
      fsyncSync(csv.fd);
      csv.at = end;
    }
    cp.finish(k, Math.max(1, end));
    return computed.notes;
  } finally {
    await computed.close();
  }
}

/** What a part keeps of a batch's results: the .h5ad's arrays, the order, and the ranked values when record arrays are written. */
function partArrays(r: DeResults, withRanked: boolean): Record<string, Float64Array | Float32Array | Int32Array> {
  const arrays: Record<string, Float64Array | Float32Array | Int32Array> = {
    scores: r.scores,
    pvals: r.pvals,
    pvalsAdj: r.pvalsAdj,
    logfoldchanges: r.logfoldchanges,
    pts: r.pts,
    orders: r.orders,
  };
  for (const [key, a] of Object.entries(r.extra ?? {})) arrays[`extra:${key}`] = a;
  if (withRanked) for (const [key, a] of Object.entries(r.ranked)) arrays[`ranked:${key}`] = a;
  return arrays;
}

/** The run's identity: the input file as it is now, the groups, the batches and the options. */
function runFingerprint(
  inputPath: string,
  plan: GroupPlan,
  batches: [number, number][],
  identity: Record<string, unknown>,
): string {
  const st = statSync(inputPath);
  const h = createHash("sha256");
  h.update(
    JSON.stringify({
      input: realpathSync(inputPath),
      size: st.size,
      mtime: st.mtimeMs,
      control: plan.controlLabel,
      groups: plan.groups,
      sizes: Array.from(plan.sizes),
      batches,
      ...identity,
    }),
  );
  return h.digest("hex");
}
