/**
 * Worker side of BackgroundMatrixWriter (./backgroundWriter.ts): owns the output file, so HDF5 writes
 * (and the final fsync) run on their own thread while the main thread reads and computes.
 */
import { parentPort } from "node:worker_threads";
import { closeSync, fdatasyncSync, openSync } from "node:fs";
import { openStore, openWriteStore } from "../openStore.ts";
import type { WriteStore } from "../store.ts";
import {
  SparseMatrixWriter,
  startAnnData,
  carryOver,
  type CarryOverOptions,
  type SparseWriterOptions,
} from "./matrixWriter.ts";
import type { TypedArray } from "../h5/types.ts";

export type Command =
  | { op: "open"; path: string; carryFrom?: string; carry?: CarryOverOptions; xPath: string; x: SparseWriterOptions }
  | { op: "append"; indptr: TypedArray | Float64Array; indices: TypedArray; data: TypedArray }
  | { op: "finish" }
  | { op: "close" };

let file: WriteStore | undefined;
let writer: SparseMatrixWriter | undefined;
/** A second descriptor on the output, to push written data to disk as we go. */
let syncFd: number | undefined;
let unsynced = 0;
/**
 * Flush to disk every this many bytes: the final fsync (which makes the output durable before it is
 * renamed into place) then has little left to do, and the disk works while the main thread computes.
 */
const SYNC_EVERY = 256 << 20;

function handle(cmd: Command): unknown {
  switch (cmd.op) {
    case "open": {
      file = openWriteStore(cmd.path, "w");
      startAnnData(file);
      if (cmd.carryFrom) {
        const src = openStore(cmd.carryFrom, "r");
        try {
          carryOver(src, file, cmd.carry ?? {});
        } finally {
          src.close();
        }
      }
      writer = SparseMatrixWriter.create(file, cmd.xPath, cmd.x);
      syncFd = openSync(cmd.path, "r+");
      return null;
    }
    case "append":
      writer!.appendParts(cmd.indptr, cmd.indices, cmd.data);
      unsynced += cmd.indices.byteLength + cmd.data.byteLength;
      if (unsynced >= SYNC_EVERY && syncFd !== undefined) {
        fdatasyncSync(syncFd);
        unsynced = 0;
      }
      return null;
    case "finish": {
      const r = writer!.finish();
      file!.close();
      file = undefined;
      closeSyncFd();
      return r;
    }
    case "close":
      closeSyncFd();
      file?.close();
      file = undefined;
      return null;
  }
}

function closeSyncFd(): void {
  if (syncFd !== undefined) closeSync(syncFd);
  syncFd = undefined;
}

parentPort!.on("message", (cmd: Command) => {
  try {
    parentPort!.postMessage({ ok: true, result: handle(cmd) });
  } catch (err) {
    const e = err as Error & { file?: string; hint?: string };
    parentPort!.postMessage({ ok: false, error: { name: e.name, message: e.message, file: e.file, hint: e.hint } });
  }
});
