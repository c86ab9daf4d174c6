/**
 * The DE tidy table (CSV): one row per perturbation × gene, written to a temporary file and renamed when
 * complete — on a worker thread (./csvWorker.ts) while the main thread writes the .h5ad, or on the
 * caller's thread. The bytes: ./csvFormat.ts.
 */
import { closeSync, openSync, rmSync, writeSync } from "node:fs";
import type { Worker } from "node:worker_threads";
import { CrispyxError } from "../errors.ts";
import { writeAtomically } from "../io/atomic.ts";
import { startBundledWorker } from "../core/workerThreads.ts";
import { sharedCsvState, writeDeCsvTo } from "./csvFormat.ts";
import { csvHeader } from "./methods/columns.ts";
import type { DeTables } from "./output.ts";

/**
 * The tidy table: one row per perturbation × gene (genes in rank order within each perturbation):
 * perturbation, gene, score, pvalue, pvalue_adj, logfoldchange, pct_group, pct_control (./methods/columns.ts),
 * then the method's extra columns; numbers with 9
 * significant digits, Python's '.9g' spelling (the .h5ad keeps full precision). `h5ad`: the run's .h5ad
 * write — the CSV is put in place only once it has succeeded (keepPairConsistent).
 */
export async function writeDeCsv(path: string, t: DeTables, h5ad: Promise<unknown> = Promise.resolve()): Promise<void> {
  await keepPairConsistent(
    path,
    h5ad,
    writeAtomically(path, async (tmp) => {
      writeDeCsvTo(tmp, t);
      await h5ad;
    }),
  );
}

/**
 * The CSV and the .h5ad of one run belong together. The CSV is committed only after the .h5ad (its
 * writer awaits `h5ad` before returning, and a failed .h5ad removes the CSV's temporary file), and a CSV
 * that fails after its .h5ad was written removes any CSV of an earlier run from beside it: a rerun then
 * recomputes both (an existing result is reused only when both files are there).
 */
async function keepPairConsistent(path: string, h5ad: Promise<unknown>, csv: Promise<void>): Promise<void> {
  try {
    await csv;
  } catch (err) {
    if (
      await h5ad.then(
        () => true,
        () => false,
      )
    )
      rmSync(path, { force: true });
    throw err;
  }
}

/**
 * writeDeCsv on `threads` worker threads, so the CSV is formatted while this thread writes the .h5ad:
 * each formats whole groups and appends them in order (./csvFormat.ts; with two, the CSV's 8M rows
 * add ~2 s to the t-test instead of 4.4). Needs every array of `t` on SharedArrayBuffers (nothing is copied);
 * returns null when they are not. The atomic rename stays on this thread (signal cleanup of temporary
 * files lives here). `h5ad`: as for writeDeCsv.
 */
export function writeDeCsvInBackground(
  path: string,
  t: DeTables,
  threads = 2,
  h5ad: Promise<unknown> = Promise.resolve(),
): Promise<void> | null {
  const arrays = [t.scores, t.pvals, t.pvalsAdj, t.logfoldchanges, t.pts, t.orders, ...Object.values(t.extra ?? {})]; // the small ones are copied
  if (!arrays.every((a) => a.buffer instanceof SharedArrayBuffer)) return null;
  return keepPairConsistent(
    path,
    h5ad,
    writeAtomically(path, async (tmp) => {
      const fd = openSync(tmp, "w");
      const workers: Worker[] = [];
      try {
        const header = Buffer.from(csvHeader(t.extraColumns), "latin1");
        writeSync(fd, header, 0, header.length, 0);
        const state = sharedCsvState(header.length);
        const workerData = { fd, t: { ...t, skipped: [] }, state };
        const done = Array.from(
          { length: Math.max(1, Math.min(threads, t.groups.length)) },
          () =>
            new Promise<void>((resolve, reject) => {
              const worker = startBundledWorker(new URL("./csvWorker.ts", import.meta.url), { workerData });
              workers.push(worker);
              worker.once("message", (m: { ok: boolean; error?: string }) =>
                m.ok ? resolve() : reject(new CrispyxError(`writing the CSV failed: ${m.error}`)),
              );
              worker.once("error", reject);
              worker.once("exit", (code) => reject(new CrispyxError(`CSV writer stopped (exit code ${code})`)));
            }),
        );
        await Promise.all(done);
      } finally {
        // After a failure the others may wait for a turn that never comes: stop them all.
        await Promise.all(workers.map((w) => w.terminate()));
        closeSync(fd);
      }
      await h5ad;
    }),
  );
}
