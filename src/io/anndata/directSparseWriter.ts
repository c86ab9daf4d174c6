/**
 * A sparse X written straight into the output file, bypassing HDF5 for the bulk: the arrays' bytes go to
 * the file with one positioned write per block, instead of being copied into the WebAssembly heap, through
 * HDF5 and out again (the write half of the cost measured in bench/operators.ts).
 *
 * How the file stays a normal HDF5/anndata file (the mechanics are ./directArrays.ts):
 *   1. while HDF5 has the file open, `createDirectPlaceholders` makes the X group with its attributes and
 *      three one-element contiguous datasets (indptr, data, indices); HDF5 then closes the file;
 *   2. `DirectSparseWriter.open` reserves three regions after the end of HDF5's allocated space and the
 *      blocks are written there (the number of stored elements must be known up front);
 *   3. `finish` syncs the data, then points each placeholder at its region.
 *
 *   const f = openWriteStore(tmp, "w"); startAnnData(f); carryOver(src, f, …);
 *   createDirectPlaceholders(f, "/X", spec); f.close();
 *   const w = DirectSparseWriter.open(tmp, "/X", spec);
 *   for (…) w.appendParts(indptr, indices, data);
 *   w.finish();
 */
import { endianness } from "node:os";
import type { ReadStore, WriteStore } from "../store.ts";
import { DirectArrays } from "./directArrays.ts";
import { ioSettings } from "../directIO.ts";
import { BYTES_OF, TYPED_ARRAY_OF, type NumericDtype, type TypedArray } from "../dtypes.ts";
import { CrispyxError } from "../../errors.ts";
import { castArray, setSparseAttrs, sparseIndexDtype, type SparseWriterOptions } from "./matrixWriter.ts";
import { describeMatrix, MatrixReader } from "./matrixReader.ts";
import type { SparseMatrix } from "./model.ts";
import { ArrayPool } from "../../core/arrayPool.ts";
import { throwIfAborted } from "../../core/streaming.ts";

/** Resolved layout of a directly written matrix. */
interface DirectSpec {
  format: "csr" | "csc";
  shape: [number, number];
  dtype: NumericDtype;
  indexDtype: "int32" | "int64";
  /** indptr's type: indices' by default; int64 with int32 indices is what the seed writes for sorted files. */
  indptrDtype: "int32" | "int64";
  nnz: number;
}

/** Writer options, plus an indptr type of its own (see DirectSpec). */
export type DirectSparseOptions = SparseWriterOptions & { indptrDtype?: "int32" | "int64" };

/**
 * Whether `opts` can be written directly: direct I/O on (../directIO.ts), the stored-element count known, no
 * compression, a little-endian host. Every direct sparse write (operators' X, sort/convert, standardize's copy)
 * is decided here.
 */
export function canWriteDirect(opts: SparseWriterOptions): boolean {
  return ioSettings.directIO && opts.nnz !== undefined && opts.nnz > 0 && !opts.gzip && endianness() === "LE";
}

function resolve(opts: DirectSparseOptions): DirectSpec {
  if (!canWriteDirect(opts))
    throw new CrispyxError("direct sparse writes need a known, non-zero nnz and no compression");
  const nnz = opts.nnz!;
  const indexDtype = sparseIndexDtype(opts);
  return {
    format: opts.format ?? "csr",
    shape: opts.shape,
    dtype: opts.dtype ?? "float32",
    indexDtype,
    indptrDtype: opts.indptrDtype ?? indexDtype,
    nnz,
  };
}

/** Step 1 (HDF5 open): the X group, its attributes and one-element placeholders for its three arrays. */
export function createDirectPlaceholders(file: WriteStore, path: string, opts: DirectSparseOptions): void {
  const s = resolve(opts);
  file.createGroup(path);
  setSparseAttrs(file, path, s.format, s.shape);
  file.createDataset(`${path}/indptr`, {
    dtype: s.indptrDtype,
    shape: [1],
    data: new TYPED_ARRAY_OF[s.indptrDtype](1),
  });
  file.createDataset(`${path}/data`, { dtype: s.dtype, shape: [1], data: new TYPED_ARRAY_OF[s.dtype](1) });
  file.createDataset(`${path}/indices`, { dtype: s.indexDtype, shape: [1], data: new TYPED_ARRAY_OF[s.indexDtype](1) });
}

function bytesOf(a: TypedArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export class DirectSparseWriter {
  private majorDone = 0;
  private nnzDone = 0;
  private closed = false;

  private constructor(
    private readonly path: string,
    private readonly spec: DirectSpec,
    private readonly arrays: DirectArrays,
    private readonly ids: { ptr: number; data: number; indices: number },
  ) {}

  /** Step 2 (HDF5 closed): reserve the three regions after HDF5's allocated space; indptr[0] = 0. */
  static open(file: string, path: string, opts: DirectSparseOptions): DirectSparseWriter {
    const spec = resolve(opts);
    const arrays = DirectArrays.open(file);
    try {
      const major = spec.format === "csr" ? spec.shape[0] : spec.shape[1];
      const ids = {
        ptr: arrays.add(`${path}/indptr`, [major + 1], BYTES_OF[spec.indptrDtype]),
        data: arrays.add(`${path}/data`, [spec.nnz], BYTES_OF[spec.dtype]),
        indices: arrays.add(`${path}/indices`, [spec.nnz], BYTES_OF[spec.indexDtype]),
      };
      arrays.write(ids.ptr, 0, bytesOf(new TYPED_ARRAY_OF[spec.indptrDtype](1)));
      return new DirectSparseWriter(path, spec, arrays, ids);
    } catch (err) {
      arrays.abort();
      throw err;
    }
  }

  get nnzWritten(): number {
    return this.nnzDone;
  }

  get majorSize(): number {
    return this.spec.format === "csr" ? this.spec.shape[0] : this.spec.shape[1];
  }

  /** Same contract as SparseMatrixWriter.appendParts. */
  appendParts(indptr: TypedArray | Float64Array, indices: TypedArray, data: TypedArray): void {
    for (const [id, offset, bytes] of this.place(indptr, indices, data)) this.arrays.write(id, offset, bytes);
  }

  /**
   * appendParts with the writes done on libuv's thread pool (DirectArrays.writeAsync), so the caller
   * computes the next block meanwhile; the arrays must stay untouched until the promise settles.
   */
  appendPartsAsync(indptr: TypedArray | Float64Array, indices: TypedArray, data: TypedArray): Promise<void> {
    const writes = this.place(indptr, indices, data).map(([id, offset, bytes]) =>
      this.arrays.writeAsync(id, offset, bytes),
    );
    return Promise.all(writes).then(() => undefined);
  }

  /** Blocks queued by `queue` whose writes have not finished. */
  private readonly inFlight: Promise<void>[] = [];

  /**
   * appendPartsAsync with at most two blocks in flight: returns once this block is queued and the one
   * before the previous is written, so memory stays bounded while the caller computes ahead. `release` is
   * called when this block's arrays are no longer needed.
   */
  async queue(
    indptr: TypedArray | Float64Array,
    indices: TypedArray,
    data: TypedArray,
    release?: () => void,
  ): Promise<void> {
    const pending = this.appendPartsAsync(indptr, indices, data).then(release);
    pending.catch(() => undefined); // surfaced by a later await, finishQueued() or abortQueued()
    this.inFlight.push(pending);
    while (this.inFlight.length >= 2) await this.inFlight.shift();
  }

  /** Wait for every queued block and the background sync, then finish. */
  async finishQueued(): Promise<{ nnz: number }> {
    await Promise.all(this.inFlight.splice(0));
    await this.arrays.settle();
    return this.finish();
  }

  /** Let queued writes end (ignoring their failures), then release the file. */
  async abortQueued(): Promise<void> {
    await Promise.allSettled([...this.inFlight.splice(0), this.arrays.settle()]);
    this.abort();
  }

  /**
   * The next `n` stored elements (indices and values), for producers that emit elements and line ends
   * separately (the external sort behind conversions and sorting, ../../ops/externalScatter.ts).
   */
  appendElements(minor: TypedArray, values: TypedArray, n: number): void {
    this.checkOpen();
    const at = this.nnzDone;
    if (at + n > this.spec.nnz)
      throw new CrispyxError(`${this.path}: more than the declared ${this.spec.nnz} stored elements appended`);
    this.arrays.write(
      this.ids.data,
      at * BYTES_OF[this.spec.dtype],
      bytesOf(castArray(values.subarray(0, n), this.spec.dtype)),
    );
    this.arrays.write(
      this.ids.indices,
      at * BYTES_OF[this.spec.indexDtype],
      bytesOf(castArray(minor.subarray(0, n), this.spec.indexDtype)),
    );
    this.nnzDone += n;
  }

  /** The next `n` lines' cumulative element counts (indptr entries), for the producers of appendElements. */
  appendLineEnds(start: number, ends: Float64Array, n: number): void {
    this.checkOpen();
    if (start !== this.majorDone)
      throw new CrispyxError(`${this.path}: line ends for lines from ${start}, expected ${this.majorDone}`);
    if (this.majorDone + n > this.majorSize)
      throw new CrispyxError(`${this.path}: more than ${this.majorSize} lines appended`);
    const ptr =
      this.spec.indptrDtype === "int64"
        ? BigInt64Array.from(ends.subarray(0, n), (x) => BigInt(x))
        : Int32Array.from(ends.subarray(0, n));
    this.arrays.write(this.ids.ptr, (this.majorDone + 1) * BYTES_OF[this.spec.indptrDtype], bytesOf(ptr));
    this.majorDone += n;
  }

  private checkOpen(): void {
    if (this.closed) throw new CrispyxError(`${this.arrays.file}: ${this.path}: writer already finished`);
  }

  /** Check a block and say where its bytes go ([region, byte offset, bytes]); advances the counts. */
  private place(
    indptr: TypedArray | Float64Array,
    indices: TypedArray,
    data: TypedArray,
  ): Array<[number, number, Uint8Array]> {
    this.checkOpen();
    const m = indptr.length - 1;
    if (m < 0) return [];
    const p0 = Number(indptr[0]!);
    const k = Number(indptr[m]!) - p0;
    if (indices.length !== k || data.length !== k) {
      throw new CrispyxError(
        `${this.path}: block indptr spans ${k} elements but has ${indices.length} indices and ${data.length} values`,
      );
    }
    if (this.majorDone + m > this.majorSize) {
      throw new CrispyxError(
        `${this.path}: more than ${this.majorSize} ${this.spec.format === "csr" ? "rows" : "columns"} appended`,
      );
    }
    const at = this.nnzDone;
    if (at + k > this.spec.nnz)
      throw new CrispyxError(`${this.path}: more than the declared ${this.spec.nnz} stored elements appended`);
    const out: Array<[number, number, Uint8Array]> = [];
    if (k > 0) {
      out.push([this.ids.data, at * BYTES_OF[this.spec.dtype], bytesOf(castArray(data, this.spec.dtype))]);
      out.push([
        this.ids.indices,
        at * BYTES_OF[this.spec.indexDtype],
        bytesOf(castArray(indices, this.spec.indexDtype)),
      ]);
    }
    if (m > 0) {
      const ptr = this.spec.indptrDtype === "int64" ? new BigInt64Array(m) : new Int32Array(m);
      const shift = at - p0;
      if (ptr instanceof Int32Array) for (let i = 0; i < m; i++) ptr[i] = Number(indptr[i + 1]!) + shift;
      else for (let i = 0; i < m; i++) ptr[i] = BigInt(Number(indptr[i + 1]!) + shift);
      out.push([this.ids.ptr, (this.majorDone + 1) * BYTES_OF[this.spec.indptrDtype], bytesOf(ptr)]);
    }
    this.majorDone += m;
    this.nnzDone += k;
    return out;
  }

  /** Step 3: check everything was written, sync it, then point the placeholders at it. */
  finish(): { nnz: number } {
    if (this.closed) return { nnz: this.nnzDone };
    try {
      if (this.majorDone !== this.majorSize) {
        throw new CrispyxError(
          `${this.path}: only ${this.majorDone} of ${this.majorSize} ${this.spec.format === "csr" ? "rows" : "columns"} were written`,
        );
      }
      if (this.nnzDone !== this.spec.nnz) {
        throw new CrispyxError(`${this.path}: ${this.nnzDone} stored elements written, ${this.spec.nnz} declared`);
      }
      this.closed = true;
      this.arrays.finish();
    } finally {
      this.abort();
    }
    return { nnz: this.nnzDone };
  }

  /** Release the file (the temporary output is removed by the caller). */
  abort(): void {
    this.closed = true;
    this.arrays.abort();
  }
}

/**
 * The writer options that copy the sparse matrix at `path` of `src` unchanged (same format, shape, value and
 * index types, contiguous storage) — or null when it cannot be copied directly as stored: not a csr/csc group,
 * chunked or compressed arrays (their layout is kept by copying through HDF5), no stored elements, boolean
 * values, or indptr and indices of different types (the writer gives both one type).
 */
export function directCopySpec(src: ReadStore, path: string): SparseWriterOptions | null {
  try {
    if (!src.isGroup(path)) return null;
    const info = describeMatrix(src, path);
    if (info.format === "dense" || info.nnz === 0 || info.dtype === "bool") return null;
    const ptr = src.info(`${path}/indptr`).dtype;
    const idx = src.info(`${path}/indices`).dtype;
    if (ptr !== idx || (idx !== "int32" && idx !== "int64")) return null;
    if (["data", "indices", "indptr"].some((k) => src.info(`${path}/${k}`).chunks !== null)) return null;
    const opts: SparseWriterOptions = {
      format: info.format,
      shape: info.shape,
      dtype: info.dtype,
      nnz: info.nnz,
      indexDtype: idx,
    };
    return canWriteDirect(opts) ? opts : null;
  } catch {
    return null;
  }
}

/**
 * Stream the sparse matrix at `srcPath` into a file prepared with createDirectPlaceholders(…, spec) and closed
 * by HDF5: blocks of about `blockBytes` read into recycled buffers and written on libuv's pool, two in flight.
 * `onBytes` reports the bytes copied so far.
 */
export async function copySparseDirect(
  src: ReadStore,
  srcPath: string,
  dstFile: string,
  dstPath: string,
  spec: SparseWriterOptions,
  opts: { blockBytes?: number; signal?: AbortSignal; onBytes?: (bytes: number) => void } = {},
): Promise<void> {
  const reader = new MatrixReader(src, srcPath);
  const w = DirectSparseWriter.open(dstFile, dstPath, spec);
  const pool = new ArrayPool();
  reader.pool = pool;
  try {
    const major = w.majorSize;
    const perMajor = Math.max(
      1,
      (spec.nnz! / Math.max(1, major)) * (BYTES_OF[spec.dtype ?? "float32"] + BYTES_OF[spec.indexDtype ?? "int32"]),
    );
    const step = Math.max(1, Math.floor((opts.blockBytes ?? 16 << 20) / perMajor));
    let bytes = 0;
    for (let m0 = 0; m0 < major; m0 += step) {
      throwIfAborted(opts.signal);
      const m1 = Math.min(major, m0 + step);
      const b = (spec.format === "csr" ? reader.rows(m0, m1) : reader.cols(m0, m1)) as SparseMatrix;
      bytes += b.data.byteLength + b.indices.byteLength;
      await w.queue(b.indptr, b.indices, b.data, () => pool.give(b.data, b.indices));
      opts.onBytes?.(bytes);
    }
    await w.finishQueued();
  } catch (err) {
    await w.abortQueued();
    throw err;
  } finally {
    reader.pool = null;
  }
}
