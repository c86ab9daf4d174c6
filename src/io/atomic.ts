/**
 * "Nothing lost, ever": outputs are written under a temporary name beside the final one and renamed
 * into place only when complete. A crash or kill leaves at most a hidden `.crispyx-tmp-*` file, never a
 * half-written file under the final name; an error removes the temporary file.
 *
 * "Nothing left behind": temporary names carry their owner (machine, pid, process start: ./tempFiles.ts),
 * so every write first removes what killed runs left for the same output — never a live run's file — and
 * `clean(dir)` removes the rest. The library installs no signal handlers (the caller's process owns its
 * signals); the CLI removes its temporary files however it ends (../cli/exitGuards.ts, ./tempReaper.ts). A write that fails because the disk is full or the folder read-only says
 * so in one line (./writeErrors.ts); with `expectedBytes` it is refused before it starts.
 *
 * Cost model: per write, one readdir of the output's folder (stale scan), one statfs when the size is
 * known, and two fsyncs at commit.
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { ownedTemporaryPath, removeStaleFor } from "./tempFiles.ts";
import { ensureFreeSpace, explainWriteError } from "./writeErrors.ts";

export { clean, type CleanOptions, type CleanResult, type TempFileInfo } from "./tempFiles.ts";

export interface AtomicWriteOptions {
  /**
   * The output's expected size in bytes, when known before writing (an operator's estimate from its
   * input): the write is refused at once when the device cannot hold it.
   */
  expectedBytes?: number;
}

/** A temporary path beside `finalPath`, named for this process (see ./tempFiles.ts). */
export function temporaryPathFor(finalPath: string): string {
  return ownedTemporaryPath(finalPath);
}

/** Before writing `finalPath`: remove what dead runs left for it, and refuse when it cannot fit. */
function prepareWrite(finalPath: string, opts: AtomicWriteOptions): void {
  removeStaleFor(finalPath);
  if (opts.expectedBytes !== undefined) ensureFreeSpace(finalPath, opts.expectedBytes);
}

function fsyncPath(path: string, flags: string): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Move a finished file into place durably (fsync the file, rename, fsync the directory). */
export function commitFile(tmpPath: string, finalPath: string): void {
  fsyncPath(tmpPath, "r+");
  renameSync(tmpPath, finalPath);
  try {
    fsyncPath(dirname(resolve(finalPath)), "r");
  } catch {
    // Some filesystems do not allow fsync on directories; the rename itself is still atomic.
  }
}

/** After a failed write: the error in the user's words (./writeErrors.ts), the temporary file removed. */
function abandon(err: unknown, finalPath: string, tmp: string, opts: AtomicWriteOptions): unknown {
  const explained = explainWriteError(err, finalPath, tmp, opts.expectedBytes);
  rmSync(tmp, { force: true });
  return explained;
}

/**
 * Run `write(tmpPath)` and move the result to `finalPath` when it returns. The temporary file is
 * removed if `write` throws. Works for sync and async writers.
 */
export async function writeAtomically<T>(
  finalPath: string,
  write: (tmpPath: string) => T | Promise<T>,
  opts: AtomicWriteOptions = {},
): Promise<T> {
  prepareWrite(finalPath, opts);
  const tmp = temporaryPathFor(finalPath);
  try {
    const result = await write(tmp);
    if (!existsSync(tmp)) throw new Error(`internal error: ${tmp} was not written`);
    commitFile(tmp, finalPath);
    return result;
  } catch (err) {
    throw abandon(err, finalPath, tmp, opts);
  }
}

/** The synchronous twin of writeAtomically, for small writes. */
export function writeAtomicallySync<T>(
  finalPath: string,
  write: (tmpPath: string) => T,
  opts: AtomicWriteOptions = {},
): T {
  prepareWrite(finalPath, opts);
  const tmp = temporaryPathFor(finalPath);
  try {
    const result = write(tmp);
    commitFile(tmp, finalPath);
    return result;
  } catch (err) {
    throw abandon(err, finalPath, tmp, opts);
  }
}

/**
 * A temporary file beside `near` for intermediate data (e.g. a current-layout copy of a pre-0.7 input):
 * `use` gets its path, and the file is removed afterwards, whether `use` succeeds or throws (and, like any
 * temporary file, when the CLI is killed: see the header).
 */
export async function withScratchFile<T>(near: string, use: (path: string) => Promise<T>): Promise<T> {
  removeStaleFor(near);
  const tmp = temporaryPathFor(near);
  try {
    return await use(tmp);
  } catch (err) {
    throw explainWriteError(err, near, tmp);
  } finally {
    rmSync(tmp, { force: true });
  }
}
