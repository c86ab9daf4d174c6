/**
 * Dense arrays written straight into a finished .h5ad, after HDF5 has closed it — the method of
 * ./directSparseWriter.ts for any contiguous dataset: HDF5 creates a small placeholder of the right type
 * and rank, the bytes go after HDF5's allocated space, and the placeholder's dataspace and layout (and the
 * superblock's end-of-file address) are patched to point at them. Used for the large layers and record
 * arrays of DE results, which would otherwise be copied into the WebAssembly heap and through HDF5.
 *
 *   const d = DirectArrays.open(tmp);                        // HDF5 has closed tmp
 *   const id = d.add("/layers/pvals", [G, n], 8);            // reserve G·n·8 bytes
 *   d.write(id, 0, bytes);                                   // any number of writes at byte offsets
 *   d.finish();                                              // sync, patch, sync
 */
import { closeSync, fdatasyncSync, fstatSync, fsyncSync, openSync, writeSync } from "node:fs";
import { endOfAllocation, pointContiguousDataset } from "../h5/links.ts";
import { CrispyxError } from "../../errors.ts";

interface Region { path: string; shape: number[]; pos: number; bytes: number }

export class DirectArrays {
  private readonly regions: Region[] = [];
  private closed = false;

  private constructor(private readonly file: string, private readonly fd: number, private end: number) {}

  static open(file: string): DirectArrays {
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

  /** Write `data` at byte `offset` of region `id`. */
  write(id: number, offset: number, data: Uint8Array): void {
    const r = this.regions[id]!;
    if (offset < 0 || offset + data.byteLength > r.bytes) throw new CrispyxError(`${this.file}: write of ${data.byteLength} bytes at ${offset} is outside ${r.path} (${r.bytes} bytes)`);
    let done = 0;
    while (done < data.byteLength) done += writeSync(this.fd, data, done, Math.min(data.byteLength - done, 1 << 30), r.pos + offset + done);
  }

  /** Make the written bytes durable, then point every placeholder at its region. */
  finish(): void {
    try {
      // The file must reach the end of the last region (a region never written would otherwise be a hole past EOF).
      const last = this.regions.at(-1);
      if (last && fstatSync(this.fd).size < last.pos + last.bytes) this.write(this.regions.length - 1, last.bytes - 1, new Uint8Array(1));
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
