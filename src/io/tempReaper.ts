/**
 * Temporary files removed however the process ends. A small detached shell waits on a pipe from this
 * process; the pipe closes when the process ends, however it ends — an exit, SIGINT/SIGTERM/SIGHUP left to
 * their default action, SIGKILL, the kernel's OOM killer — and the shell then removes the files named with
 * this process's identity (./tempFiles.ts) in the folders it was told about. Nothing else is touched: an
 * input or output never carries that name.
 *
 * Why a second process rather than a signal handler: a JavaScript handler runs only when the main thread
 * returns to the event loop, and operators hold it for whole passes over X (measured: `convert` took a
 * SIGTERM 6 s late and then exited 0 — Node's signal handle does not keep the loop alive, so a signal still
 * queued when the work ends is dropped). With the default action the process ends at once, with the status
 * shells report as 128 + signal number (130 for Ctrl-C, 143 for SIGTERM), worker threads and all.
 *
 * Started by the CLI (src/cli/exitGuards.ts), not by the library: an API caller's process keeps its own
 * signals, and a killed caller's temporary files are removed by the next write of that output or clean().
 * Where there is no /bin/sh (Windows) it does nothing, with the same fallback.
 *
 * Cost: one `sh` process per CLI run (~1 ms to start, ~1 MB), one pipe write per new output folder.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import type { Writable } from "node:stream";
import { onOwnTemporaryFolder, ownTemporaryPrefix } from "./tempFiles.ts";

/**
 * Reads folder names (one per line) until end of input, then removes `<folder>/<prefix>*` in each. Ignores
 * the signals a terminal or a job scheduler sends to the whole group: it must outlive the process it serves.
 */
const SCRIPT = `trap '' INT TERM HUP
dirs=''
while IFS= read -r d; do dirs="$dirs$d
"; done
IFS='
'
set -f
for d in $dirs; do set +f; rm -f -- "$d/$1"*; set -f; done`;

let started = false;

/** Start the reaper for this process (once; later calls do nothing). */
export function startTemporaryFileReaper(): void {
  if (started || process.platform === "win32" || !existsSync("/bin/sh")) return;
  started = true;
  let stdin: Writable | null = null;
  try {
    const child = spawn("/bin/sh", ["-c", SCRIPT, "crispyx-reaper", ownTemporaryPrefix()], {
      stdio: ["pipe", "ignore", "ignore"],
      detached: true, // its own session: Ctrl-C and a terminal hang-up reach the process group, not it
    });
    child.on("error", () => undefined); // could not start: the next run or `crispyx clean` removes leftovers
    child.unref();
    stdin = child.stdin;
    stdin?.on("error", () => undefined); // the reaper gone early (killed): same fallback
    (stdin as unknown as { unref?: () => void } | null)?.unref?.(); // the pipe must not keep this process alive
  } catch {
    return;
  }
  // A pipe write of a line is complete when write() returns (well under the pipe's atomic size).
  onOwnTemporaryFolder((dir) => {
    if (!dir.includes("\n")) stdin?.write(`${dir}\n`);
  });
}
