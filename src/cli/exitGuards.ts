/**
 * An error is an exit (issue 21 item 4). Whatever fails — the command itself, a worker thread, a background
 * writer, a timer — the process ends within moments with a non-zero status and leaves no temporary file:
 *
 *   - main() reports the command's error; bin/crispyx.js then calls process.exit with its status, which stops
 *     worker threads and timers that would otherwise keep the process alive;
 *   - an exception nothing caught (a timer's callback, a rejected promise nobody awaited) is reported the
 *     same way, as one line, and exits 1 at once (Node's default would print a trace);
 *   - on any non-zero exit this process's temporary files are removed before it ends (../io/tempFiles.ts);
 *   - SIGINT, SIGTERM and SIGHUP keep their default action: the process ends at once, whatever its threads are
 *     doing, with the status shells report as 130 / 143 / 129, and a detached helper removes its temporary
 *     files (../io/tempReaper.ts says why not a handler). The input is never touched: it is read only, or
 *     (in-place edits) replaced by an atomic rename.
 */
import { removeOwnTemporaryFiles } from "../io/tempFiles.ts";
import { startTemporaryFileReaper } from "../io/tempReaper.ts";

let installed = false;

/** Install the guards (once per process: main() may run several commands in one, as test/real/cliServer.ts does). */
export function installExitGuards(report: (err: unknown) => number): void {
  if (installed) return;
  installed = true;
  startTemporaryFileReaper();
  process.on("exit", (code) => {
    if (code !== 0) removeOwnTemporaryFiles();
  });
  process.on("uncaughtException", (err) => {
    let status = 1;
    try {
      status = report(err) || 1; // an error, even one the reporter would call harmless (EPIPE)
    } finally {
      process.exit(status);
    }
  });
}
