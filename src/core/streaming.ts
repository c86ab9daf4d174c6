/**
 * Options every streaming operation takes, so the CLI can drive any of them the same way: a memory
 * budget (or an explicit chunk size), a progress callback, and a cancellation signal.
 */
import { CrispyxError, InvalidArgumentError } from "../errors.ts";

export interface Progress {
  /** What is being done, e.g. "normalizing", "pass 1/2: counting". */
  phase: string;
  /** Units done so far and in all (cells, genes, non-zeros…). */
  done: number;
  total: number;
  unit: string;
}

export type ProgressCallback = (p: Progress) => void;

export interface StreamOptions {
  /** Peak working memory to aim for, in bytes. Default: DEFAULT_MEMORY_BUDGET. */
  memoryBudget?: number;
  /** Rows (or columns) per block; overrides what the memory budget would choose. */
  chunkSize?: number;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

export const DEFAULT_MEMORY_BUDGET = 512 * 1024 * 1024;

/** Parse "512M", "2G", "1.5GiB", "1000000" into bytes. */
export function parseByteSize(text: string): number {
  const m = /^\s*([\d.]+)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (!m) throw new InvalidArgumentError(`'${text}' is not a size (use e.g. 512M or 4G)`);
  const mult = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2]!.toLowerCase() as "" | "k"]!;
  const v = Number(m[1]) * mult;
  if (!Number.isFinite(v) || v <= 0) throw new InvalidArgumentError(`'${text}' is not a positive size`);
  return Math.floor(v);
}

/**
 * Rows per block so that a block of `bytesPerRow` stays within a share of the budget. Always ≥ 1 and
 * never more than `nRows`.
 */
export function rowsForBudget(bytesPerRow: number, nRows: number, opts: StreamOptions, share = 0.25): number {
  if (opts.chunkSize !== undefined) {
    if (!Number.isInteger(opts.chunkSize) || opts.chunkSize < 1) throw new InvalidArgumentError(`chunk size must be a positive integer, got ${opts.chunkSize}`);
    return Math.min(opts.chunkSize, Math.max(1, nRows));
  }
  const budget = (opts.memoryBudget ?? DEFAULT_MEMORY_BUDGET) * share;
  return Math.max(1, Math.min(Math.max(1, nRows), Math.floor(budget / Math.max(1, bytesPerRow))));
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new CrispyxError("operation was cancelled", { code: "ABORTED" });
}
