/**
 * Reading a zarr array's chunks: where a chunk is (its own file, or a range of a v3 shard found through
 * the shard's index), decoding it (./codecs.ts) into little-endian C-order element bytes or strings, and
 * copying the part a hyperslab needs. Chunks missing from the store read as the fill value, as zarr does.
 *
 * Cost model: a read decodes each chunk it touches once; decoded chunks are kept in a small LRU (at most
 * CACHE_BYTES, at least the last one), so the streaming readers' row blocks, which walk through a chunk
 * in several calls, decode it once. A shard's index is read once (16 bytes per inner chunk) and kept.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { join } from "node:path";
import { byteSwap, decodeBytes, decodeFixedStrings, decodeVlenUtf8 } from "./codecs.ts";
import type { ArrayMeta, ZarrElement } from "./metadata.ts";

/** Decoded chunks kept per store. */
const CACHE_BYTES = 64 << 20;

export type ChunkData = Uint8Array | string[];

/** A failure to read one chunk; the store adds the store and array to the message. */
export class ChunkProblem extends Error {}

export class ChunkReader {
  private readonly cache = new Map<string, { data: ChunkData; bytes: number }>();
  private cachedBytes = 0;
  private readonly shardIndexes = new Map<string, BigUint64Array | null>();

  constructor(private readonly root: string) {}

  clear(): void {
    this.cache.clear();
    this.shardIndexes.clear();
    this.cachedBytes = 0;
  }

  /** The decoding unit of an array: its chunks, or a shard's inner chunks. */
  static unitShape(meta: ArrayMeta): number[] {
    return meta.layout.kind === "sharded" ? meta.layout.innerShape : meta.chunkShape;
  }

  /** One decoded chunk (unit grid index `index`) of the array at `dir` (relative to the store root). */
  chunk(dir: string, meta: ArrayMeta, index: number[]): ChunkData {
    const key = `${dir}\0${index.join(",")}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key); // most recently used goes last
      this.cache.set(key, hit);
      return hit.data;
    }
    const unit = ChunkReader.unitShape(meta);
    const n = unit.reduce((a, b) => a * b, 1);
    const raw =
      meta.layout.kind === "sharded"
        ? this.innerChunkBytes(dir, meta, index)
        : this.chunkFile(dir, meta.chunkKey(index));
    const element = meta.layout.kind === "sharded" ? meta.layout.inner.element : meta.layout.element;
    let data: ChunkData;
    if (raw === null) {
      data = fillChunk(meta, n);
    } else {
      const codecs = meta.layout.kind === "sharded" ? meta.layout.inner.bytes : meta.layout.bytes;
      const bytes = decodeBytes(codecs, raw);
      data = elements(bytes, element, meta.itemSize, n);
    }
    const size = Array.isArray(data) ? n * 16 : data.byteLength;
    this.cache.set(key, { data, bytes: size });
    this.cachedBytes += size;
    for (const [k, v] of this.cache) {
      if (this.cachedBytes <= CACHE_BYTES || this.cache.size <= 1) break;
      this.cache.delete(k);
      this.cachedBytes -= v.bytes;
    }
    return data;
  }

  /** A chunk's file, or null when it was never written. */
  private chunkFile(dir: string, key: string): Uint8Array | null {
    try {
      return readFileSync(join(this.root, dir, key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  }

  /** An inner chunk's stored bytes, found through its shard's index; null when absent. */
  private innerChunkBytes(dir: string, meta: ArrayMeta, index: number[]): Uint8Array | null {
    if (meta.layout.kind !== "sharded") throw new ChunkProblem("not a sharded array");
    const { innerShape, indexBytes, indexAtEnd } = meta.layout;
    const per = meta.chunkShape.map((s, d) => s / innerShape[d]!);
    const shard = index.map((i, d) => Math.floor(i / per[d]!));
    let local = 0;
    for (let d = 0; d < index.length; d++) local = local * per[d]! + (index[d]! - shard[d]! * per[d]!);
    const file = join(this.root, dir, meta.chunkKey(shard));
    let fd: number;
    try {
      fd = openSync(file, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
    try {
      let idx = this.shardIndexes.get(file);
      if (idx === undefined) {
        const size = fstatSync(fd).size;
        if (size < indexBytes)
          throw new ChunkProblem(`shard ${meta.chunkKey(shard)} is ${size} bytes, shorter than its index`);
        const buf = new Uint8Array(indexBytes);
        readFully(fd, buf, indexAtEnd ? size - indexBytes : 0);
        // 16 bytes per inner chunk (offset, length; u64 little-endian), then a crc32c we do not check.
        idx = new BigUint64Array(buf.slice(0, (indexBytes >> 4) << 4).buffer);
        this.shardIndexes.set(file, idx);
      }
      if (idx === null) return null;
      const offset = idx[2 * local]!;
      const length = idx[2 * local + 1]!;
      if (offset === 0xffffffffffffffffn && length === 0xffffffffffffffffn) return null;
      const out = new Uint8Array(Number(length));
      readFully(fd, out, Number(offset));
      return out;
    } finally {
      closeSync(fd);
    }
  }
}

function readFully(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new ChunkProblem(`unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

/** Decoded bytes → the chunk's elements: little-endian bytes for fixed-size elements, strings otherwise. */
function elements(bytes: Uint8Array, element: ZarrElement, itemSize: number, n: number): ChunkData {
  if (element.kind === "vlen-string") return decodeVlenUtf8(bytes, n);
  if (bytes.length !== n * itemSize)
    throw new ChunkProblem(`chunk decoded to ${bytes.length} bytes, expected ${n * itemSize}`);
  if (element.kind === "fixed-bytes" || element.kind === "fixed-utf32") return decodeFixedStrings(bytes, element, n);
  if (element.kind === "numeric" && element.bigEndian && itemSize > 1) {
    const own = bytes.slice();
    byteSwap(own, itemSize);
    return own;
  }
  return bytes;
}

/** A chunk of the fill value (a never-written chunk). */
function fillChunk(meta: ArrayMeta, n: number): ChunkData {
  const e = meta.element;
  if (e.kind === "vlen-string" || e.kind === "fixed-bytes" || e.kind === "fixed-utf32")
    return new Array<string>(n).fill(String(meta.fill));
  const out = new Uint8Array(n * meta.itemSize);
  if (e.kind === "bool") return out.fill(meta.fill ? 1 : 0);
  if (e.kind !== "numeric") return out;
  const view = new DataView(out.buffer);
  const f = meta.fill;
  for (let k = 0; k < n; k++) {
    const at = k * meta.itemSize;
    switch (e.dtype) {
      case "float32":
        view.setFloat32(at, Number(f), true);
        break;
      case "float64":
        view.setFloat64(at, Number(f), true);
        break;
      case "int64":
        view.setBigInt64(at, BigInt(f as number | bigint), true);
        break;
      case "uint64":
        view.setBigUint64(at, BigInt(f as number | bigint), true);
        break;
      case "int32":
        view.setInt32(at, Number(f), true);
        break;
      case "uint32":
        view.setUint32(at, Number(f), true);
        break;
      case "int16":
        view.setInt16(at, Number(f), true);
        break;
      case "uint16":
        view.setUint16(at, Number(f), true);
        break;
      case "int8":
        view.setInt8(at, Number(f));
        break;
      case "uint8":
        view.setUint8(at, Number(f));
        break;
    }
  }
  return out;
}

/**
 * Copy the hyperslab [start, start+count) of an array into `out` (bytes of `itemSize`, or strings), chunk
 * by chunk. C-order chunks copy whole runs of the last dimension; F-order chunks element by element.
 */
export function copyHyperslab(
  meta: ArrayMeta,
  start: number[],
  count: number[],
  chunk: (index: number[]) => ChunkData,
  out: Uint8Array | string[],
): void {
  const rank = meta.shape.length;
  const unit = ChunkReader.unitShape(meta);
  if (rank === 0) {
    const c = chunk([]);
    if (Array.isArray(out)) out[0] = (c as string[])[0]!;
    else out.set((c as Uint8Array).subarray(0, meta.itemSize));
    return;
  }
  const size = meta.itemSize;
  const outStride = new Array<number>(rank);
  const unitStride = new Array<number>(rank);
  outStride[rank - 1] = 1;
  for (let d = rank - 2; d >= 0; d--) outStride[d] = outStride[d + 1]! * count[d + 1]!;
  if (meta.order === "C" || meta.layout.kind === "sharded") {
    unitStride[rank - 1] = 1;
    for (let d = rank - 2; d >= 0; d--) unitStride[d] = unitStride[d + 1]! * unit[d + 1]!;
  } else {
    unitStride[0] = 1;
    for (let d = 1; d < rank; d++) unitStride[d] = unitStride[d - 1]! * unit[d - 1]!;
  }
  const lo = start.map((s, d) => Math.floor(s / unit[d]!));
  const hi = start.map((s, d) => Math.floor((s + count[d]! - 1) / unit[d]!));
  const idx = lo.slice();
  for (;;) {
    const data = chunk(idx);
    const a = idx.map((i, d) => Math.max(start[d]!, i * unit[d]!));
    const b = idx.map((i, d) => Math.min(start[d]! + count[d]!, (i + 1) * unit[d]!));
    const runLen = b[rank - 1]! - a[rank - 1]!;
    const contiguous = unitStride[rank - 1] === 1;
    const x = a.slice();
    for (;;) {
      let src = 0;
      let dst = 0;
      for (let d = 0; d < rank; d++) {
        src += (x[d]! - idx[d]! * unit[d]!) * unitStride[d]!;
        dst += (x[d]! - start[d]!) * outStride[d]!;
      }
      if (Array.isArray(out)) {
        const s = data as string[];
        for (let k = 0; k < runLen; k++) out[dst + k] = s[src + k * unitStride[rank - 1]!]!;
      } else if (contiguous) {
        out.set((data as Uint8Array).subarray(src * size, (src + runLen) * size), dst * size);
      } else {
        const bytes = data as Uint8Array;
        const step = unitStride[rank - 1]! * size;
        for (let k = 0; k < runLen; k++)
          out.set(bytes.subarray(src * size + k * step, src * size + k * step + size), (dst + k) * size);
      }
      // Next run: advance the outer dimensions of the intersection.
      let d = rank - 2;
      while (d >= 0 && ++x[d]! >= b[d]!) {
        x[d] = a[d]!;
        d--;
      }
      if (d < 0) break;
    }
    let d = rank - 1;
    while (d >= 0 && ++idx[d]! > hi[d]!) {
      idx[d] = lo[d]!;
      d--;
    }
    if (d < 0) break;
  }
}
