/**
 * The seed's memory estimates for the model-fitting steps (its _memory.py): bytes to densify a matrix,
 * gene batch sizes for the GLM fitter, worker counts, and whether result arrays must be streamed in
 * group batches. Same formulas and constants; memory is in decimal units (1e6 bytes per MB, 1e9 per GB).
 * Where the seed asks psutil for the machine's available memory, these use the cgroup-aware probe.
 */
import { availableParallelism } from "node:os";
import { InvalidArgumentError } from "../errors.ts";
import { detectAvailableMemory } from "./systemMemory.ts";

const pyMax = (a: number, b: number): number => (b > a ? b : a);
const pyMin = (a: number, b: number): number => (b < a ? b : a);

function nonNegative(name: string, v: number): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative finite number, got ${v}`);
  }
  return v;
}

/** GB needed to hold `nCopies` dense float64 copies of an nCells × nGenes matrix (default 3: Y, mu, work). */
export function estimateDenseMemoryGb(nCells: number, nGenes: number, nCopies = 3): number {
  return (nCells * nGenes * 8 * nCopies) / 1e9;
}

/**
 * Genes per batch so that `nWorkArrays` float64 arrays of nSamples × batch stay under `targetMb`,
 * clamped to [256, nGenes] (256 wins when nGenes is smaller, as in the seed).
 */
export function estimateGeneBatchSizeFitter(
  nSamples: number,
  nGenes: number,
  nWorkArrays = 4,
  targetMb = 100.0,
): number {
  const bytesPerGene = nSamples * 8 * nWorkArrays;
  if (bytesPerGene <= 0)
    throw new InvalidArgumentError(`nSamples and nWorkArrays must be positive, got ${nSamples} and ${nWorkArrays}`);
  const batch = Math.trunc((targetMb * 1e6) / bytesPerGene);
  return pyMax(256, pyMin(batch, nGenes));
}

export interface MaxWorkersOptions {
  /** MB each worker needs; default nSamples · nGenes · 8 bytes · 5 arrays. */
  memoryPerWorkerMb?: number | null;
  /** MB available; default 80% of the detected available memory. */
  availableMb?: number | null;
  /** An explicit cap in MB; 80% of it is used when smaller. */
  memoryLimitMb?: number | null;
  /** CPU count (default os.availableParallelism()). */
  cpuCount?: number;
}

/** Workers that fit in memory, at least 1 and at most the CPU count. */
export function estimateMaxWorkers(nSamples: number, nGenes: number, opts: MaxWorkersOptions = {}): number {
  const available = opts.availableMb ?? (detectAvailableMemory().availableBytes / 1e6) * 0.8;
  nonNegative("availableMb", available);
  const effective =
    opts.memoryLimitMb !== undefined && opts.memoryLimitMb !== null
      ? pyMin(available, nonNegative("memoryLimitMb", opts.memoryLimitMb) * 0.8)
      : available;
  const perWorker = opts.memoryPerWorkerMb ?? (nSamples * nGenes * 8 * 5) / 1e6;
  if (!(perWorker > 0)) throw new InvalidArgumentError(`memory per worker must be positive, got ${perWorker} MB`);
  const maxWorkers = pyMax(1, Math.trunc(effective / perWorker));
  const cpus = opts.cpuCount ?? (availableParallelism() || 4);
  return pyMin(maxWorkers, cpus);
}

/** The memory budget in bytes: `memoryLimitGb` when given, else the detected available memory. */
export function resolveMemoryLimitBytes(memoryLimitGb?: number | null): number {
  if (memoryLimitGb !== undefined && memoryLimitGb !== null) return nonNegative("memoryLimitGb", memoryLimitGb) * 1e9;
  return detectAvailableMemory().availableBytes;
}

export interface StreamingDecisionOptions {
  memoryLimitGb?: number | null;
  /** float64 result arrays per group (default 7). */
  nFloat64Arrays?: number;
  /** float32 result arrays per group (default 2). */
  nFloat32Arrays?: number;
  /** Peak / result-array footprint (default 5: copies, page cache, write buffers, allocator slack). */
  peakMultiplier?: number;
  /** Stream when the estimated peak exceeds this share of the budget (default 0.30). */
  thresholdFraction?: number;
}

export interface StreamingDecision {
  useStreaming: boolean;
  estimatedPeakBytes: number;
  memoryBudgetBytes: number;
  /** Groups per batch (all groups when not streaming; ≥ 100 otherwise). */
  groupBatchSize: number;
}

/**
 * Whether a test's nGroups × nGenes result arrays are too big to hold at once, and if so how many groups
 * to process per batch (half the threshold share of the budget per batch).
 */
export function shouldUseStreaming(
  nGroups: number,
  nGenes: number,
  opts: StreamingDecisionOptions = {},
): StreamingDecision {
  const { nFloat64Arrays = 7, nFloat32Arrays = 2, peakMultiplier = 5.0, thresholdFraction = 0.3 } = opts;
  const bytesPerGroup = nGenes * (nFloat64Arrays * 8 + nFloat32Arrays * 4);
  const estimatedPeakBytes = nGroups * bytesPerGroup * peakMultiplier;
  const memoryBudgetBytes = resolveMemoryLimitBytes(opts.memoryLimitGb);
  const useStreaming = estimatedPeakBytes > memoryBudgetBytes * thresholdFraction;
  let groupBatchSize = nGroups;
  if (useStreaming) {
    const batchBudget = memoryBudgetBytes * (thresholdFraction / 2);
    groupBatchSize = pyMin(pyMax(100, Math.trunc(batchBudget / bytesPerGroup)), nGroups);
  }
  return { useStreaming, estimatedPeakBytes, memoryBudgetBytes, groupBatchSize };
}
