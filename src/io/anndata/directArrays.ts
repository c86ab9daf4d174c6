/**
 * Arrays written straight into a finished .h5ad, after HDF5 has closed it: HDF5 creates a small contiguous
 * placeholder of the right type and rank for each, the bytes go after HDF5's allocated space, and the
 * placeholders' dataspace and layout (and the superblock's end-of-file address) are then patched to point at
 * them (../h5/links.ts pointContiguousDataset). To HDF5, h5py and anndata the result is a plain contiguous
 * dataset; the bytes never pass through the WebAssembly heap. Used for X by the operators
 * (./directSparseWriter.ts) and for the large layers and record arrays of DE results.
 *
 *   const d = DirectArrays.open(tmp);                        // HDF5 has closed tmp
 *   const id = d.add("/layers/pvals", [G, n], 8);            // reserve G·n·8 bytes
 *   d.write(id, 0, bytes);                                   // or writeAsync; any number, at byte offsets
 *   await d.settle(); d.finish();                            // sync, patch, sync
 *
 * Everything happens on a temporary output (writeAtomically), so an interruption leaves nothing under the
 * final name; the placeholders' own few bytes stay behind unused, as h5py leaves deleted data.
 */
import { closeSync, fdatasync, fdatasyncSync, fstatSync, fsyncSync, openSync, write, writeSync } from "node:fs";
import { endOfAllocation, pointContiguousDataset } from "../h5/links.ts";
import { CrispyxError } from "../../errors.ts";
import { ioSettings, noteDirectUse } from "../directIO.ts";

interface Region {
  path: string;
  shape: number[];
  pos: number;
  bytes: number;
}

/** Push written data to disk every this many bytes of asynchronous writes, so the final sync has little left. */
const SYNC_EVERY = 256 << 20;

export class DirectArrays {
  private readonly regions: Region[] = [];
  private closed = false;
  /** The last queued asynchronous write (they run one after another). */
  private tail: Promise<void> = Promise.resolve();
  private unsynced = 0;
  private syncing: Promise<void> | null = null;

  private constructor(
    readonly file: string,
    private readonly fd: number,
    private end: number,
  ) {}

  static open(file: string): DirectArrays {
    // Callers decide with ioSettings.directIO (../directIO.ts); reaching here with it off is a bug.
    if (!ioSettings.directIO)
      throw new CrispyxError(`direct writes are switched off (CRISPYX_DIRECT_IO=0) but were asked for`, { file });
    noteDirectUse("arrays");
    const fd = openSync(file, "r+");
    try {
      return new DirectArrays(file, fd, Math.ceil(Math.max(endOfAllocation(fd, file), fstatSync(fd).size) / 8) * 8);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Reserve room for the dataset at `path` (a contiguous placeholder of the same rank); returns its id. */
  add(path: string, shape: number[], elemSize: number): number {
    const bytes = shape.reduce((a, b) => a * b, 1) * elemSize;
    this.regions.push({ path, shape, pos: this.end, bytes });
    this.end += Math.ceil(bytes / 8) * 8;
    return this.regions.length - 1;
  }

  private at(id: number, offset: number, length: number): number {
    if (this.closed) throw new CrispyxError(`${this.file}: direct writes already finished`);
    const r = this.regions[id]!;
    if (offset < 0 || offset + length > r.bytes)
      throw new CrispyxError(
        `${this.file}: write of ${length} bytes at ${offset} is outside ${r.path} (${r.bytes} bytes)`,
      );
    return r.pos + offset;
  }

  /** Write `data` at byte `offset` of region `id`, now. */
  write(id: number, offset: number, data: Uint8Array): void {
    const pos = this.at(id, offset, data.byteLength);
    let done = 0;
    while (done < data.byteLength)
      done += writeSync(this.fd, data, done, Math.min(data.byteLength - done, 1 << 30), pos + done);
  }

  /**
   * Write on libuv's thread pool, so the caller computes meanwhile; `data` must stay untouched until the
   * promise settles. Writes run one after another, in order (concurrent writes to one file contend in the
   * kernel: measured ~2× the system time), and every 256 MiB what was written is synced in the background.
   */
  writeAsync(id: number, offset: number, data: Uint8Array): Promise<void> {
    const pos = this.at(id, offset, data.byteLength);
    const done = (this.tail = this.tail.then(
      () =>
        new Promise<void>((resolve, reject) => {
          const step = (n: number) => {
            if (n >= data.byteLength) return resolve();
            write(this.fd, data, n, Math.min(data.byteLength - n, 1 << 30), pos + n, (err, k) =>
              err ? reject(err) : step(n + k),
            );
          };
          step(0);
        }),
    ));
    this.unsynced += data.byteLength;
    if (this.unsynced >= SYNC_EVERY && !this.syncing) {
      this.unsynced = 0;
      this.syncing = done.then(() => new Promise<void>((res, rej) => fdatasync(this.fd, (e) => (e ? rej(e) : res()))));
      this.syncing.then(
        () => (this.syncing = null),
        () => undefined,
      );
    }
    return done;
  }

  /** Wait for the queued writes and the background sync (before finish or abort). */
  async settle(): Promise<void> {
    await this.tail;
    await this.syncing;
  }

  /** Make the written bytes durable, then point every placeholder at its region. */
  finish(): void {
    try {
      // The file must reach the end of the last region (a region never written would otherwise be a hole past EOF).
      const last = this.regions.at(-1);
      if (last && fstatSync(this.fd).size < last.pos + last.bytes)
        this.write(this.regions.length - 1, last.bytes - 1, new Uint8Array(1));
      fdatasyncSync(this.fd);
      const end = last ? last.pos + last.bytes : this.end;
      for (const r of this.regions) pointContiguousDataset(this.fd, this.file, r.path, r.shape, r.pos, end);
      fsyncSync(this.fd);
    } finally {
      this.abort();
    }
  }

  abort(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}
