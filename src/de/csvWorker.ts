/**
 * Worker thread writing its share of the DE CSV (./csvOutput.ts writeDeCsvInBackground) from tables
 * shared with the main thread, while the main thread writes the .h5ad.
 */
import { parentPort, workerData } from "node:worker_threads";
import { writeDeCsvShare, type SharedCsvState } from "./csvFormat.ts";
import type { DeTables } from "./output.ts";

const { fd, t, state } = workerData as { fd: number; t: DeTables; state: SharedCsvState };
try {
  writeDeCsvShare(fd, t, state);
  parentPort!.postMessage({ ok: true });
} catch (err) {
  parentPort!.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
}
