/**
 * A sparse X writer whose HDF5 work runs on a worker thread: the operator's main thread reads and
 * computes block n+1 while block n is written. For large outputs this takes the write (page-cache copy
 * and the final fsync) off the critical path; for small ones the worker's start-up (~0.3 s, loading the
 * HDF5 library) is not worth it, hence `useBackgroundWriter`.
 *
 *   const w = await BackgroundMatrixWriter.open(tmp, { carryFrom: input, carry: { cells }, x: { shape, nnz } });
 *   for (…) await w.append(indptr, indices, data);   // arrays are transferred: do not reuse them
 *   const { nnz } = await w.finish();                  // closes (and fsyncs) the file
 *   …on error: await w.abort();
 *
 * At most `maxInFlight` blocks wait in the queue, so memory stays bounded.
 */
import type { Worker } from "node:worker_threads";
import { startWorker } from "../../core/workerThreads.ts";
import { CrispyxError, FileFormatError, InvalidArgumentError } from "../../errors.ts";
import type { TypedArray } from "../h5/types.ts";
import type { CarryOverOptions, SparseWriterOptions } from "./matrixWriter.ts";
import type { Command } from "./backgroundWriterThread.ts";

/** Outputs above this many bytes of X are written on a worker thread. */
export const BACKGROUND_WRITE_BYTES = 256 << 20;

export function useBackgroundWriter(xBytes: number, explicit?: boolean): boolean {
  return explicit ?? xBytes >= BACKGROUND_WRITE_BYTES;
}

interface Reply {
  ok: boolean;
  result?: unknown;
  error?: { name: string; message: string; file?: string; hint?: string };
}

function owned<T extends TypedArray | Float64Array>(a: T): T {
  // Only whole buffers can be transferred; copy views into larger buffers.
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : (a.slice() as T);
}

export class BackgroundMatrixWriter {
  private pending: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  private inFlight: Promise<unknown>[] = [];
  private failure?: Error;

  private constructor(
    private readonly worker: Worker,
    private readonly maxInFlight: number,
  ) {
    worker.on("message", (r: Reply) => {
      const p = this.pending.shift();
      if (!p) return;
      if (r.ok) p.resolve(r.result);
      else {
        const E =
          r.error!.name === "FileFormatError"
            ? FileFormatError
            : r.error!.name === "InvalidArgumentError"
              ? InvalidArgumentError
              : CrispyxError;
        p.reject(new E(r.error!.message, { file: r.error!.file, hint: r.error!.hint }));
      }
    });
    worker.on("error", (e) => this.failAll(e));
    // After the thread is gone, every command (queued or later) fails instead of waiting for an answer.
    worker.on("exit", (code) => this.failAll(new CrispyxError(`background writer stopped (exit code ${code})`)));
  }

  private failAll(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.splice(0)) p.reject(e);
  }

  private send(cmd: Command, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const p = new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
    this.worker.postMessage(cmd, transfer);
    return p;
  }

  /** Start the worker, create the file at `path` with carry-over, and the X group. */
  static async open(
    path: string,
    spec: {
      carryFrom?: string;
      carry?: CarryOverOptions;
      xPath?: string;
      x: SparseWriterOptions;
      maxInFlight?: number;
    },
  ): Promise<BackgroundMatrixWriter> {
    const worker = startWorker(new URL("./backgroundWriterThread.ts", import.meta.url)); // the .js twin when compiled
    const w = new BackgroundMatrixWriter(worker, spec.maxInFlight ?? 2);
    try {
      await w.send({
        op: "open",
        path,
        carryFrom: spec.carryFrom,
        carry: spec.carry,
        xPath: spec.xPath ?? "/X",
        x: spec.x,
      });
    } catch (err) {
      await worker.terminate();
      throw err;
    }
    return w;
  }

  /** Queue the next block; waits only while `maxInFlight` blocks are already queued. */
  async append(indptr: TypedArray | Float64Array, indices: TypedArray, data: TypedArray): Promise<void> {
    const cmd = { op: "append" as const, indptr: owned(indptr), indices: owned(indices), data: owned(data) };
    const buffers = [...new Set([cmd.indptr.buffer, cmd.indices.buffer, cmd.data.buffer])] as ArrayBuffer[];
    const p = this.send(cmd, buffers);
    p.catch(() => undefined); // surfaced by the next await below or by finish()
    this.inFlight.push(p);
    while (this.inFlight.length >= this.maxInFlight) await this.inFlight.shift();
  }

  /** Wait for every block, check the matrix is complete, close the file. */
  async finish(): Promise<{ nnz: number }> {
    await Promise.all(this.inFlight.splice(0));
    const r = (await this.send({ op: "finish" })) as { nnz: number };
    await this.worker.terminate();
    return r;
  }

  /** Stop at once (the caller removes the temporary file). */
  async abort(): Promise<void> {
    for (const p of this.inFlight.splice(0)) p.catch(() => undefined);
    try {
      await Promise.race([this.send({ op: "close" }), new Promise((r) => setTimeout(r, 2000))]);
    } catch {
      // The worker may already be broken; terminating is enough.
    }
    await this.worker.terminate();
  }
}
