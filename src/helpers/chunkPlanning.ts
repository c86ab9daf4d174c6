/**
 * The seed's chunk planners: how many cells or genes to process per block so that a step fits in
 * memory. The formulas, constants and clamping order are the seed's, operation for operation, so that
 * every value equals the Python one (IEEE doubles on both sides; Python's int() truncates like
 * Math.trunc). Memory is in decimal GB (1e9 bytes) as in the seed. When `availableMemoryGb` is not
 * given it is detected with `availableMemoryGb()`, which, unlike the seed, respects cgroup limits.
 */
import { InvalidArgumentError } from "../errors.ts";
import { detectAvailableMemory, type MemoryProbeSources } from "./systemMemory.ts";

/** Options every planner takes. */
export interface PlannerCommonOptions {
  /** Memory the step may use, in GB (1e9 bytes). Default: detected (cgroup-aware). */
  availableMemoryGb?: number;
  /** Called with a one-line explanation of the result (the seed logs it). */
  log?: (message: string) => void;
  /** Where memory detection reads from (tests use fake cgroup / meminfo files). */
  memorySources?: MemoryProbeSources;
}

/** The memory a plan was made for, and where that number came from. */
export interface PlanMemory {
  /** GB (1e9 bytes) the formulas used. */
  gb: number;
  /** "given" (availableMemoryGb), "cgroup" (the process's cgroup limit) or "system" (MemAvailable). */
  source: "given" | "cgroup" | "system";
  /** When detected: the machine's available bytes and the cgroup limit (null: none). */
  systemAvailableBytes?: number;
  cgroupLimitBytes?: number | null;
  cgroupLimitFile?: string | null;
}

/**
 * A planner's answer with the quantities that led to it, in the order the formula computes them,
 * so `crispyx plan` can show its working. `chunkSize` is what the plain planner returns.
 */
export interface ChunkPlanExplanation {
  planner: "cells" | "genes" | "wilcoxon" | "nb-glm" | "pca";
  /** What one chunk counts: cells (row blocks) or genes (column blocks). */
  unit: "cells" | "genes";
  chunkSize: number;
  memory: PlanMemory;
  /** Intermediate quantities (bytes, GB or counts as the label says). */
  steps: { label: string; value: number | string }[];
  /** The seed's log line for this result. */
  message: string;
}

export interface PcaChunkPlanExplanation extends ChunkPlanExplanation {
  method: PcaMethod;
}

export interface OptimalChunkSizeOptions extends PlannerCommonOptions {
  /** Overhead multiplier (default 8). */
  safetyFactor?: number;
  /** Default 512. */
  minChunk?: number;
  /** Default 4096. */
  maxChunk?: number;
}

export interface GeneChunkSizeOptions extends PlannerCommonOptions {
  /** Number of perturbation groups (output arrays grow with it). */
  nGroups?: number | null;
  /** Default 8. */
  safetyFactor?: number;
  /** Share of the memory to use (default 0.5). */
  memoryFraction?: number;
  /** Default 32. */
  minChunk?: number;
  /** Default 512. */
  maxChunk?: number;
}

export interface WilcoxonChunkSizeOptions extends PlannerCommonOptions {
  /** Default 32. */
  minChunk?: number;
  /** Default 4096. */
  maxChunk?: number;
}

export interface NbGlmChunkSizeOptions extends PlannerCommonOptions {
  nGroups?: number | null;
  /** A hard cap in GB: the smaller of it and the available memory is used. */
  memoryLimitGb?: number | null;
  /** Default 8. */
  safetyFactor?: number;
  /** Default 0.5. */
  memoryFraction?: number;
  /** Default 32. */
  minChunk?: number;
  /** Default 256. */
  maxChunk?: number;
}

export type PcaMethod = "sparse_cov" | "incremental";

export interface PcaChunkSizeOptions extends PlannerCommonOptions {
  /** Principal components (default 50). */
  nComps?: number;
  /** "auto" (default) picks sparse_cov when the gene covariance fits in 30% of the usable memory. */
  method?: "auto" | PcaMethod;
  /** Default 0.5. */
  memoryFraction?: number;
  /** Default 256. */
  minChunk?: number;
  /** Default 4096. */
  maxChunk?: number;
}

export interface PcaChunkPlan {
  chunkSize: number;
  method: PcaMethod;
}

// ---- argument checks (the seed has none: it divides by zero or plans from nonsense) ---------------

function count(name: string, v: number, { positive = false } = {}): number {
  if (!Number.isInteger(v) || v < 0 || (positive && v === 0)) {
    throw new InvalidArgumentError(`${name} must be a ${positive ? "positive" : "non-negative"} integer, got ${v}`);
  }
  return v;
}

function real(name: string, v: number, { positive = false } = {}): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (positive && v === 0)) {
    throw new InvalidArgumentError(
      `${name} must be a ${positive ? "positive" : "non-negative"} finite number, got ${v}`,
    );
  }
  return v;
}

function planMemory(opts: PlannerCommonOptions): PlanMemory {
  if (opts.availableMemoryGb !== undefined && opts.availableMemoryGb !== null) {
    return { gb: real("availableMemoryGb", opts.availableMemoryGb), source: "given" };
  }
  const d = detectAvailableMemory(opts.memorySources);
  return {
    gb: d.availableBytes / 1e9,
    source: d.source,
    systemAvailableBytes: d.systemAvailableBytes,
    cgroupLimitBytes: d.cgroupLimitBytes,
    cgroupLimitFile: d.cgroupLimitFile,
  };
}

function bounds(minChunk: number, maxChunk: number): void {
  count("minChunk", minChunk, { positive: true });
  count("maxChunk", maxChunk, { positive: true });
}

/** Python's max()/min() of two numbers: the first argument wins ties and NaN comparisons. */
const pyMax = (a: number, b: number): number => (b > a ? b : a);
const pyMin = (a: number, b: number): number => (b < a ? b : a);

/**
 * Python's `f"{x:.{digits}f}"`: the exact binary value rounded half to even (JavaScript's toFixed
 * rounds exact ties up: 0.25 → "0.3" where Python writes "0.2").
 */
export function pyFixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const exact = Math.abs(x).toFixed(100); // exact for every value a planner sees (≥ 2^-40)
  const [int, frac] = exact.split(".") as [string, string];
  const rest = frac.slice(digits);
  let n = BigInt(int + frac.slice(0, digits));
  const tie = rest[0] === "5" && /^0*$/.test(rest.slice(1));
  if (rest[0]! > "5" || (rest[0] === "5" && !tie) || (tie && n % 2n === 1n)) n += 1n;
  const text = n.toString().padStart(digits + 1, "0");
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  return digits === 0 ? sign + text : `${sign}${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

const gb1 = (x: number): string => pyFixed(x, 1);

function finish(
  e: Omit<ChunkPlanExplanation, "message">,
  message: string,
  log?: (message: string) => void,
): ChunkPlanExplanation {
  log?.(message);
  return { ...e, message };
}

/**
 * Cells per block for row-wise streaming passes (QC, normalisation, t-test), with its working.
 * `clamp(trunc(available·1e9 / (nVars · 8 · safetyFactor)), minChunk, maxChunk)`.
 */
export function explainOptimalChunkSize(
  nObs: number,
  nVars: number,
  opts: OptimalChunkSizeOptions = {},
): ChunkPlanExplanation {
  count("nObs", nObs);
  count("nVars", nVars, { positive: true });
  const { safetyFactor = 8.0, minChunk = 512, maxChunk = 4096 } = opts;
  real("safetyFactor", safetyFactor, { positive: true });
  bounds(minChunk, maxChunk);
  const memory = planMemory(opts);
  const mem = memory.gb;
  const bytesPerChunk = nVars * 8 * safetyFactor;
  const fromMemory = Math.trunc((mem * 1e9) / bytesPerChunk);
  const chunk = pyMax(minChunk, pyMin(maxChunk, fromMemory));
  return finish(
    {
      planner: "cells",
      unit: "cells",
      chunkSize: chunk,
      memory,
      steps: [
        { label: "bytes per cell (nVars × 8 × safety factor)", value: bytesPerChunk },
        { label: "cells that fit in memory", value: fromMemory },
        { label: "clamped to [minChunk, maxChunk]", value: `[${minChunk}, ${maxChunk}]` },
      ],
    },
    `Calculated chunk size: ${chunk} (dataset: ${nObs} cells × ${nVars} genes, available memory: ${gb1(mem)}GB)`,
    opts.log,
  );
}

/**
 * Cells per block for row-wise streaming passes (QC, normalisation, t-test): as many rows as fit in
 * the memory at 8 bytes per value with an 8× safety factor, clamped to [512, 4096] (the seed's rule).
 *
 * @example calculateOptimalChunkSize(100000, 20000, { availableMemoryGb: 32 }) // 4096 (seed: same)
 */
export function calculateOptimalChunkSize(nObs: number, nVars: number, opts: OptimalChunkSizeOptions = {}): number {
  return explainOptimalChunkSize(nObs, nVars, opts).chunkSize;
}

/** {@link calculateOptimalGeneChunkSize} with its working. */
export function explainOptimalGeneChunkSize(
  nObs: number,
  nVars: number,
  opts: GeneChunkSizeOptions = {},
): ChunkPlanExplanation {
  count("nObs", nObs);
  count("nVars", nVars);
  const nGroups = opts.nGroups ?? null;
  if (nGroups !== null) count("nGroups", nGroups);
  const { safetyFactor = 8.0, memoryFraction = 0.5, minChunk = 32, maxChunk = 512 } = opts;
  real("safetyFactor", safetyFactor, { positive: true });
  real("memoryFraction", memoryFraction, { positive: true });
  bounds(minChunk, maxChunk);
  const memory = planMemory(opts);
  const mem = memory.gb;
  const steps: ChunkPlanExplanation["steps"] = [];

  const usableBytes = mem * memoryFraction * 1e9;
  const basePerGene = nObs * 8;
  const groupPerGene = nGroups ? nGroups * 8 * 8 : 0;
  const totalPerGene = (basePerGene + groupPerGene) * safetyFactor;
  const fromMemory = totalPerGene > 0 ? Math.trunc(usableBytes / totalPerGene) : maxChunk;
  steps.push(
    { label: "usable bytes (memory × memoryFraction)", value: usableBytes },
    { label: "bytes per gene ((nObs × 8 + nGroups × 64) × safety factor)", value: totalPerGene },
    { label: "genes that fit in usable memory", value: fromMemory },
  );

  let effectiveMax = maxChunk;
  if (nGroups !== null) {
    if (nGroups > 10000) effectiveMax = pyMin(effectiveMax, 128);
    else if (nGroups > 5000) effectiveMax = pyMin(effectiveMax, 256);
    else if (nGroups > 2000) effectiveMax = pyMin(effectiveMax, 384);
    if (effectiveMax !== maxChunk) steps.push({ label: "cap for many groups", value: effectiveMax });
  }
  // Fixed caps for many cells apply only on small machines; big ones trust the memory formula.
  if (mem < 32.0) {
    const before = effectiveMax;
    if (nObs > 1_000_000) effectiveMax = pyMin(effectiveMax, 32);
    else if (nObs > 500_000) effectiveMax = pyMin(effectiveMax, 64);
    else if (nObs > 300_000) effectiveMax = pyMin(effectiveMax, 128);
    if (effectiveMax !== before) steps.push({ label: "cap for many cells on a < 32 GB machine", value: effectiveMax });
  }
  // Per-block transient memory (dense f32 + control f64 + perturbed f32 ≈ 12 bytes per cell and gene)
  // stays within 5% of memory, which avoids allocator fragmentation over many blocks.
  const perBlockBytesPerGene = nObs * 12;
  const perBlockBudget = mem * 0.05 * 1e9;
  if (perBlockBytesPerGene > 0 && perBlockBytesPerGene * effectiveMax > perBlockBudget) {
    const cellCap = pyMax(minChunk, Math.trunc(perBlockBudget / perBlockBytesPerGene));
    effectiveMax = pyMin(effectiveMax, cellCap);
    steps.push({ label: "cap so one block (nObs × 12 bytes per gene) stays within 5% of memory", value: cellCap });
  }
  const chunk = pyMax(minChunk, pyMin(effectiveMax, fromMemory));
  steps.push({ label: "clamped to [minChunk, cap]", value: `[${minChunk}, ${effectiveMax}]` });
  return finish(
    { planner: "genes", unit: "genes", chunkSize: chunk, memory, steps },
    `Calculated gene chunk size: ${chunk} (dataset: ${nObs} cells × ${nVars} genes, groups: ${nGroups || "unknown"}, available memory: ${gb1(mem)}GB)`,
    opts.log,
  );
}

/**
 * Genes per block for column-wise passes, accounting for the number of groups (output arrays), with
 * the seed's caps: ≤128/256/384 genes above 10000/5000/2000 groups; on machines with < 32 GB, ≤32/64/128
 * genes above 1M/500k/300k cells; and a per-block transient budget of 5% of memory (nObs · 12 bytes/gene).
 *
 * @example calculateOptimalGeneChunkSize(4000000, 38000, { nGroups: 18000, availableMemoryGb: 128 }) // 128
 */
export function calculateOptimalGeneChunkSize(nObs: number, nVars: number, opts: GeneChunkSizeOptions = {}): number {
  return explainOptimalGeneChunkSize(nObs, nVars, opts).chunkSize;
}

/** {@link calculateWilcoxonChunkSize} with its working. */
export function explainWilcoxonChunkSize(
  nObs: number,
  nVars: number,
  opts: WilcoxonChunkSizeOptions = {},
): ChunkPlanExplanation {
  count("nObs", nObs, { positive: true });
  count("nVars", nVars);
  const { minChunk = 32, maxChunk = 4096 } = opts;
  bounds(minChunk, maxChunk);
  const memory = planMemory(opts);
  const mem = memory.gb;
  const perBlockBudget = mem * 0.15 * 1e9;
  const perBlockBytesPerGene = nObs * 12;
  const cellCap = pyMax(minChunk, Math.trunc(perBlockBudget / perBlockBytesPerGene));
  const chunk = pyMax(minChunk, pyMin(cellCap, maxChunk));
  return finish(
    {
      planner: "wilcoxon",
      unit: "genes",
      chunkSize: chunk,
      memory,
      steps: [
        { label: "block budget (15% of memory, bytes)", value: perBlockBudget },
        { label: "bytes per gene (nObs × 12)", value: perBlockBytesPerGene },
        { label: "genes within the block budget", value: cellCap },
        { label: "clamped to [minChunk, maxChunk]", value: `[${minChunk}, ${maxChunk}]` },
      ],
    },
    `Calculated Wilcoxon chunk size: ${chunk} (dataset: ${nObs} cells × ${nVars} genes, available memory: ${gb1(mem)}GB)`,
    opts.log,
  );
}

/**
 * Genes per block for the Wilcoxon test. No group cap (results go to disk as they are made); one block's
 * transient memory, nObs · 12 bytes per gene, stays within 15% of memory.
 *
 * @example calculateWilcoxonChunkSize(1161864, 33165, { availableMemoryGb: 128 }) // 1377 (the seed's docstring says 1378; its code gives 1377)
 */
export function calculateWilcoxonChunkSize(nObs: number, nVars: number, opts: WilcoxonChunkSizeOptions = {}): number {
  return explainWilcoxonChunkSize(nObs, nVars, opts).chunkSize;
}

/** {@link calculateNbGlmChunkSize} with its working. */
export function explainNbGlmChunkSize(
  nObs: number,
  nVars: number,
  opts: NbGlmChunkSizeOptions = {},
): ChunkPlanExplanation {
  count("nObs", nObs);
  count("nVars", nVars);
  const nGroups = opts.nGroups ?? null;
  if (nGroups !== null) count("nGroups", nGroups);
  const { safetyFactor = 8.0, memoryFraction = 0.5, minChunk = 32, maxChunk = 256 } = opts;
  real("safetyFactor", safetyFactor, { positive: true });
  real("memoryFraction", memoryFraction, { positive: true });
  bounds(minChunk, maxChunk);
  const memory = planMemory(opts);
  let mem = memory.gb;
  const steps: ChunkPlanExplanation["steps"] = [];
  if (opts.memoryLimitGb !== undefined && opts.memoryLimitGb !== null) {
    mem = pyMin(mem, real("memoryLimitGb", opts.memoryLimitGb));
    steps.push({ label: "memory after the memory limit (GB)", value: mem });
  }
  const usableBytes = mem * memoryFraction * 1e9;
  const basePerGene = nObs * 8 * 6;
  const groupPerGene = nGroups ? nGroups * 8 * 8 : 0;
  const totalPerGene = (basePerGene + groupPerGene) * safetyFactor;
  const fromMemory = totalPerGene > 0 ? Math.trunc(usableBytes / totalPerGene) : maxChunk;
  const chunk = pyMax(minChunk, pyMin(maxChunk, fromMemory));
  steps.push(
    { label: "usable bytes (memory × memoryFraction)", value: usableBytes },
    { label: "bytes per gene ((nObs × 48 + nGroups × 64) × safety factor)", value: totalPerGene },
    { label: "genes that fit in usable memory", value: fromMemory },
    { label: "clamped to [minChunk, maxChunk]", value: `[${minChunk}, ${maxChunk}]` },
  );
  return finish(
    { planner: "nb-glm", unit: "genes", chunkSize: chunk, memory, steps },
    `Calculated NB-GLM chunk size: ${chunk} (dataset: ${nObs} cells × ${nVars} genes, groups: ${nGroups || "unknown"}, available memory: ${gb1(mem)}GB)`,
    opts.log,
  );
}

/**
 * Genes per block for the NB-GLM fit: 48 bytes per cell and gene (counts, design, working arrays) plus
 * 64 bytes per group and gene of outputs, times the safety factor, within `memoryFraction` of memory
 * (capped by `memoryLimitGb`).
 *
 * @example calculateNbGlmChunkSize(1200000, 36000, { nGroups: 500, availableMemoryGb: 128 }) // 138
 */
export function calculateNbGlmChunkSize(nObs: number, nVars: number, opts: NbGlmChunkSizeOptions = {}): number {
  return explainNbGlmChunkSize(nObs, nVars, opts).chunkSize;
}

/** {@link calculatePcaChunkSize} with its working. */
export function explainPcaChunkSize(
  nObs: number,
  nVars: number,
  opts: PcaChunkSizeOptions = {},
): PcaChunkPlanExplanation {
  count("nObs", nObs);
  count("nVars", nVars, { positive: true });
  const { nComps = 50, method = "auto", memoryFraction = 0.5, minChunk = 256, maxChunk = 4096 } = opts;
  count("nComps", nComps);
  real("memoryFraction", memoryFraction, { positive: true });
  bounds(minChunk, maxChunk);
  if (method !== "auto" && method !== "sparse_cov" && method !== "incremental") {
    throw new InvalidArgumentError(`PCA method must be auto, sparse_cov or incremental, got '${method}'`);
  }
  const memory = planMemory(opts);
  const mem = memory.gb;
  const usableGb = mem * memoryFraction;
  const covGb = (nVars * nVars * 8) / 1e9;
  const selected: PcaMethod = method === "auto" ? (covGb < usableGb * 0.3 ? "sparse_cov" : "incremental") : method;
  let reservedGb: number;
  if (selected === "sparse_cov") {
    reservedGb = covGb + (nVars * 8) / 1e9;
  } else {
    const ipcaGb = (2 * nComps * nVars * 8) / 1e9;
    reservedGb = (nVars * 8) / 1e9 + ipcaGb;
  }
  const remainingGb = pyMax(0.1, usableGb - reservedGb);
  const bytesPerRow = nVars * 8;
  const fromMemory = Math.trunc((remainingGb * 0.5 * 1e9) / bytesPerRow);
  const chunk = pyMax(minChunk, pyMin(maxChunk, fromMemory));
  const e = finish(
    {
      planner: "pca",
      unit: "cells",
      chunkSize: chunk,
      memory,
      steps: [
        { label: "usable GB (memory × memoryFraction)", value: usableGb },
        { label: "gene covariance GB (nVars² × 8)", value: covGb },
        {
          label: method === "auto" ? "method (sparse_cov when covariance < 30% of usable)" : "method (given)",
          value: selected,
        },
        { label: "GB reserved by the method's fixed arrays", value: reservedGb },
        { label: "GB left (at least 0.1)", value: remainingGb },
        { label: "cells in half of what is left", value: fromMemory },
        { label: "clamped to [minChunk, maxChunk]", value: `[${minChunk}, ${maxChunk}]` },
      ],
    },
    `PCA chunk size: ${chunk}, method: ${selected} (dataset: ${nObs} cells × ${nVars} genes, cov matrix: ${pyFixed(covGb, 2)} GB, available: ${gb1(mem)} GB)`,
    opts.log,
  );
  return { ...e, method: selected };
}

/**
 * Cells per block for streaming PCA, and the method: "sparse_cov" (accumulate the genes × genes
 * covariance; chosen by "auto" when it fits in 30% of the usable memory) or "incremental" (IPCA).
 * The block gets half of what the method's fixed arrays leave (at least 0.1 GB).
 *
 * @example calculatePcaChunkSize(100000, 50000, { availableMemoryGb: 32 }) // { chunkSize: 4096, method: "incremental" }
 */
export function calculatePcaChunkSize(nObs: number, nVars: number, opts: PcaChunkSizeOptions = {}): PcaChunkPlan {
  const { chunkSize, method } = explainPcaChunkSize(nObs, nVars, opts);
  return { chunkSize, method };
}
