/**
 * Worker thread that writes the DE CSV (./csvOutput.ts writeDeCsvInBackground) from tables shared with the
 * main thread, while the main thread writes the .h5ad.
 */
import { parentPort, workerData } from "node:worker_threads";
import { writeDeCsvTo } from "./csvFormat.ts";
import type { DeTables } from "./output.ts";

const { tmp, t, orders } = workerData as { tmp: string; t: DeTables; orders: Int32Array[] };
try {
  writeDeCsvTo(tmp, t, orders);
  parentPort!.postMessage({ ok: true });
} catch (err) {
  parentPort!.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
}
