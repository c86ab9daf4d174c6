/**
 * Disk full and read-only folders, in the user's words. A failed write surfaces from HDF5 as its internals
 * ("file write failed: time = …", "unable to open file: name = '…/.crispyx-tmp-…', errno = 69, …, flags = 13")
 * or from Node as ENOSPC/EROFS; `explainWriteError` turns any of them into one of
 *
 *   no space left on the device holding OUTPUT (N GiB needed, M free)      (code NO_SPACE)
 *   cannot write in FOLDER: read-only                                      (code READ_ONLY)
 *
 * and `ensureFreeSpace` refuses a long write early when its size is known and the device cannot hold it.
 *
 * Tests stand in for a full disk with `setFreeSpaceProbe` (in-process) or CRISPYX_TEST_FREE_BYTES (a
 * child process): the bytes the device is said to have free.
 *
 * Cost model: one statfs (and, after a failure only, one probe file) per call.
 */
import { closeSync, openSync, rmSync, statfsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { CrispyxError } from "../errors.ts";

/** Emscripten's (WASI) errno numbers as HDF5 prints them for h5wasm's file I/O. */
const WASM_ERRNO: Record<number, string> = {
  51: "ENOSPC",
  69: "EROFS",
  2: "EACCES",
  63: "EPERM",
  19: "EDQUOT",
  22: "EFBIG",
};
const NO_SPACE = new Set(["ENOSPC", "EDQUOT", "EFBIG"]);
const READ_ONLY = new Set(["EROFS", "EACCES", "EPERM"]);

type FreeSpaceProbe = (dir: string) => number;
let probe: FreeSpaceProbe | null = null;

/** Replace the free-space measurement (tests: a device said to be almost full). Pass null to restore. */
export function setFreeSpaceProbe(p: FreeSpaceProbe | null): void {
  probe = p;
}

/** Bytes an unprivileged writer may still use on the device holding `dir`, or null when unknown. */
export function freeBytes(dir: string): number | null {
  if (probe) return probe(dir);
  const env = process.env.CRISPYX_TEST_FREE_BYTES;
  if (env !== undefined && env !== "") return Number(env);
  try {
    const s = statfsSync(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return null;
  }
}

export function formatSize(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}

/** `needed` is exact (an estimate made before writing) or, with `atLeast`, what was written when the disk filled. */
export function noSpaceError(
  output: string,
  needed: number | null,
  free: number | null,
  cause?: unknown,
  atLeast = false,
): CrispyxError {
  const what = [
    needed !== null ? `${atLeast ? "more than " : ""}${formatSize(needed)} needed` : null,
    free !== null ? `${formatSize(free)} free` : null,
  ]
    .filter(Boolean)
    .join(", ");
  return new CrispyxError(`no space left on the device holding ${output}${what ? ` (${what})` : ""}`, {
    file: output,
    code: "NO_SPACE",
    cause,
    hint: "free some space there, or write the output to another disk (-o); nothing was left behind",
  });
}

export function readOnlyError(folder: string, output: string, cause?: unknown): CrispyxError {
  return new CrispyxError(`cannot write in ${folder}: read-only`, {
    file: output,
    code: "READ_ONLY",
    cause,
    hint: "write the output to a folder you can write to (-o)",
  });
}

/**
 * Refuse early when the device holding `output` has less free space than `neededBytes` (an estimate of
 * the output's size). Unknown free space never refuses.
 */
export function ensureFreeSpace(output: string, neededBytes: number): void {
  const free = freeBytes(dirname(resolve(output)));
  if (free !== null && Number.isFinite(neededBytes) && neededBytes > free)
    throw noSpaceError(output, Math.ceil(neededBytes), free);
}

/** The system error name (ENOSPC, EROFS, …) anywhere in `err`, its causes or HDF5's printed errno. */
function errnoName(err: unknown): string | null {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && (NO_SPACE.has(code) || READ_ONLY.has(code))) return code;
    const text = e instanceof Error ? e.message : String(e);
    const m = /errno = (\d+)/.exec(text);
    if (m && WASM_ERRNO[Number(m[1])]) return WASM_ERRNO[Number(m[1])]!;
    if (/No space left on device/i.test(text)) return "ENOSPC";
    if (/Read-only file system/i.test(text)) return "EROFS";
  }
  return null;
}

/** HDF5's wording for a write that failed without saying why (the disk filled during a buffered write). */
function looksLikeFailedWrite(err: unknown): boolean {
  const text =
    err instanceof Error ? `${err.message} ${String((err as { cause?: unknown }).cause ?? "")}` : String(err);
  return /file write failed|write failed|unable to flush|cannot close|did not finish writing|unable to (open|create) file/i.test(
    text,
  );
}

/** Can a new file be made in `folder`? "EROFS"/"EACCES" when not, null when it can (or we cannot tell). */
function folderRefusesWrites(folder: string): string | null {
  const p = join(folder, `.crispyx-probe-${randomBytes(4).toString("hex")}`);
  try {
    closeSync(openSync(p, "wx"));
    rmSync(p, { force: true });
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    return READ_ONLY.has(code) ? code : null;
  }
}

/**
 * What to throw for `err`, raised while writing `output` through the temporary file `tmp` (whose size
 * tells how far the write got). Returns `err` itself when it is not about the disk.
 */
export function explainWriteError(err: unknown, output: string, tmp: string | null, neededBytes?: number): unknown {
  if (err instanceof CrispyxError && (err.code === "NO_SPACE" || err.code === "READ_ONLY")) return err;
  const folder = dirname(resolve(output));
  const name = errnoName(err);
  if (name === null && !looksLikeFailedWrite(err)) return err;
  if (name === null || READ_ONLY.has(name)) {
    const ro = folderRefusesWrites(folder);
    if (ro) return readOnlyError(folder, output, err);
    if (name !== null) return err; // permission on something else: the original words name it
  }
  const free = freeBytes(folder);
  let written = 0;
  try {
    if (tmp) written = statSync(tmp).size;
  } catch {
    // not created
  }
  // A write that failed with the device (nearly) full is a full disk even when HDF5 does not say why.
  if (name === null && !(free !== null && free < Math.max(written, 1) * 0.01 + (1 << 20))) return err;
  // The temporary file is removed after this: what it holds is free again.
  const freeAfter = free === null ? null : free + written;
  if (neededBytes !== undefined && freeAfter !== null && neededBytes > freeAfter)
    return noSpaceError(output, neededBytes, freeAfter, err);
  return noSpaceError(output, written > 0 ? written : null, freeAfter, err, true);
}

/**
 * A lower estimate of a sparse matrix's bytes on disk (values, int32 indices, int64 pointers), for
 * `ensureFreeSpace` before an operator writes X: X dominates an output, and a lower estimate never refuses
 * a write that would fit.
 */
export function sparseMatrixBytes(nnz: number, valueBytes: number, lines: number): number {
  return nnz * (valueBytes + 4) + (lines + 1) * 8;
}

/** Bytes per value of a stored dtype name. */
export function dtypeBytes(dtype: string): number {
  return /64/.test(dtype) ? 8 : /16/.test(dtype) ? 2 : /8|bool/.test(dtype) ? 1 : 4;
}
