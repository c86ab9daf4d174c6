/**
 * "Nothing lost, ever": outputs are written under a temporary name beside the final one and renamed
 * into place only when complete. A crash or kill leaves at most a hidden `.crispyx-tmp-*` file, never a
 * half-written file under the final name; an error removes the temporary file.
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";

const active = new Set<string>();
let handlersInstalled = false;

/** Remove temporary files of runs stopped by Ctrl-C or `kill` (SIGKILL cannot be caught). */
function installSignalCleanup(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      for (const p of active) rmSync(p, { force: true });
      process.kill(process.pid, sig);
    });
  }
}

export function temporaryPathFor(finalPath: string): string {
  const abs = resolve(finalPath);
  return join(dirname(abs), `.crispyx-tmp-${randomBytes(4).toString("hex")}-${basename(abs)}`);
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

/**
 * Run `write(tmpPath)` and move the result to `finalPath` when it returns. The temporary file is
 * removed if `write` throws. Works for sync and async writers.
 */
export async function writeAtomically<T>(finalPath: string, write: (tmpPath: string) => T | Promise<T>): Promise<T> {
  installSignalCleanup();
  const tmp = temporaryPathFor(finalPath);
  active.add(tmp);
  try {
    const result = await write(tmp);
    if (!existsSync(tmp)) throw new Error(`internal error: ${tmp} was not written`);
    commitFile(tmp, finalPath);
    return result;
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  } finally {
    active.delete(tmp);
  }
}

/** The synchronous twin of writeAtomically, for small writes. */
export function writeAtomicallySync<T>(finalPath: string, write: (tmpPath: string) => T): T {
  installSignalCleanup();
  const tmp = temporaryPathFor(finalPath);
  active.add(tmp);
  try {
    const result = write(tmp);
    commitFile(tmp, finalPath);
    return result;
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  } finally {
    active.delete(tmp);
  }
}

/**
 * A temporary file beside `near` for intermediate data (e.g. a current-layout copy of a pre-0.7 input):
 * `use` gets its path, and the file is removed afterwards, whether `use` succeeds or throws (and on
 * Ctrl-C / kill like any temporary output).
 */
export async function withScratchFile<T>(near: string, use: (path: string) => Promise<T>): Promise<T> {
  installSignalCleanup();
  const tmp = temporaryPathFor(near);
  active.add(tmp);
  try {
    return await use(tmp);
  } finally {
    rmSync(tmp, { force: true });
    active.delete(tmp);
  }
}
