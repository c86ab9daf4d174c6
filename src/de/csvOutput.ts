/**
 * The DE tidy table (CSV): one row per perturbation × gene, written to a temporary file and renamed when
 * complete — on a worker thread (./csvWorker.ts) while the main thread writes the .h5ad, or on the
 * caller's thread. The bytes: ./csvFormat.ts.
 */
import { CrispyxError } from "../errors.ts";
import { writeAtomically } from "../io/atomic.ts";
import { startBundledWorker } from "../core/workerThreads.ts";
import { writeDeCsvTo } from "./csvFormat.ts";
import type { DeTables } from "./output.ts";

/**
 * The tidy table: one row per perturbation × gene (genes in rank order within each perturbation):
 * perturbation, gene, score, pvalue, pvalue_adj, logfoldchange, pct_group, pct_control; numbers with 9
 * significant digits, Python's '.9g' spelling (the .h5ad keeps full precision). Rows are assembled as
 * bytes in one reused buffer (no per-row strings: a large screen has 10⁷ rows).
 */
export async function writeDeCsv(path: string, t: DeTables, orders: Int32Array[]): Promise<void> {
  await writeAtomically(path, (tmp) => writeDeCsvTo(tmp, t, orders));
}

/**
 * writeDeCsv on a worker thread, so the CSV is formatted while this thread writes the .h5ad. Needs every
 * array of `t` and `orders` on SharedArrayBuffers (nothing is copied); returns null when they are not.
 * The atomic rename stays on this thread (signal cleanup of temporary files lives here).
 */
export function writeDeCsvInBackground(path: string, t: DeTables, orders: Int32Array[]): Promise<void> | null {
  const arrays = [t.scores, t.pvals, t.pvalsAdj, t.logfoldchanges, t.pts, ...orders]; // the small ones are copied
  if (!arrays.every((a) => a.buffer instanceof SharedArrayBuffer)) return null;
  return writeAtomically(path, (tmp) => new Promise<void>((resolve, reject) => {
    const worker = startBundledWorker(new URL("./csvWorker.ts", import.meta.url), { workerData: { tmp, t: { ...t, skipped: [] }, orders } });
    worker.once("message", (m: { ok: boolean; error?: string }) => (m.ok ? resolve() : reject(new CrispyxError(`writing the CSV failed: ${m.error}`))));
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new CrispyxError(`CSV writer stopped (exit code ${code})`)));
  }));
}
