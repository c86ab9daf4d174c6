/**
 * Reads chunked datasets whose filter pipeline HDF5-in-WebAssembly cannot run safely — LZF, alone or
 * with shuffle, deflate and fletcher32 (see ./filters.ts for why) — from the file's bytes: the chunk
 * index (a version-1 B-tree, what h5py and anndata write with the default library-version bounds), each
 * chunk's filters undone in reverse order (those its filter mask says were skipped are skipped), and the
 * selection assembled from the decoded chunks. Variable-length strings are resolved through the global
 * heap. Anything else — other chunk indexes, layout versions, filters — makes `open` return null, and the
 * caller picks another route or says what it cannot read.
 *
 * Formats: HDF5 File Format Specification 3.0 (layout message IV.A.2.i, filter pipeline IV.A.2.l,
 * version-1 B-trees III.A.1, global heap III.E, variable-length data IV.A.2.d).
 */
import { inflateSync } from "node:zlib";
import { objectMessages, pread, readUInt } from "./links.ts";
import { lzfDecompress } from "./lzf.ts";
import { decodeUtf8, Utf8Error } from "./utf8.ts";

const MSG_DATATYPE = 0x0003;
const MSG_LAYOUT = 0x0008;
const MSG_FILTERS = 0x000b;
const MSG_EXTERNAL_FILES = 0x0007;

export const FILTER_DEFLATE = 1;
export const FILTER_SHUFFLE = 2;
export const FILTER_FLETCHER32 = 3;
export const FILTER_LZF = 32000;
/** Filters this module undoes itself. */
export const OWN_FILTERS = new Set([FILTER_DEFLATE, FILTER_SHUFFLE, FILTER_FLETCHER32, FILTER_LZF]);

interface PipelineFilter {
  id: number;
  cd: number[];
}

interface Chunk {
  addr: number;
  size: number;
  mask: number;
}

/** Decoded chunks kept per dataset: a streamed read that ends inside a chunk starts there next time. */
const CHUNK_CACHE = 4;

export class FilteredChunks {
  /** Bytes of one element as stored (16 for a variable-length string: length, heap address, index). */
  readonly elemSize: number;
  /** Datatype class (3 fixed string, 9 variable length, 0/1 numbers, 6 compound, …) and its bit field. */
  readonly typeClass: number;
  readonly typeBits: number;
  private readonly chunkBytes: number;
  private readonly grid: number[];
  private readonly cache = new Map<number, Uint8Array>();
  private readonly heaps = new Map<number, Map<number, Buffer>>();
  /** A compound's fields, when every one is a little-endian number or a string; else null. */
  private readonly fields: Field[] | null;

  private constructor(
    private readonly fd: number,
    private readonly base: number,
    private readonly O: number,
    private readonly L: number,
    readonly shape: number[],
    readonly chunk: number[],
    private readonly filters: PipelineFilter[],
    private readonly chunks: Map<number, Chunk>,
    datatype: Buffer,
  ) {
    this.typeClass = datatype[0]! & 0x0f;
    this.typeBits = datatype[1]! | (datatype[2]! << 8) | (datatype[3]! << 16);
    this.elemSize = this.typeClass === 9 ? 4 + O + 4 : datatype.readUInt32LE(4);
    this.chunkBytes = chunk.reduce((a, b) => a * b, 1) * this.elemSize;
    this.grid = shape.map((s, d) => Math.ceil(s / chunk[d]!));
    this.fields = this.typeClass === 6 ? compoundFields(datatype) : null;
  }

  /** The reader for `datasetPath`, or null when its layout or filters are not ones this module knows. Throws on a malformed index. */
  static open(fd: number, file: string, datasetPath: string, shape: number[]): FilteredChunks | null {
    const { O, L, base, messages } = objectMessages(fd, file, datasetPath);
    if (messages.some((m) => m.type === MSG_EXTERNAL_FILES)) return null;
    const dt = messages.find((m) => m.type === MSG_DATATYPE);
    const layout = messages.find((m) => m.type === MSG_LAYOUT);
    const pipe = messages.find((m) => m.type === MSG_FILTERS);
    if (!dt || !layout || !pipe) return null;
    const b = layout.body;
    // Version-3 chunked layout: version, class 2, dimensionality (rank + 1), B-tree address, chunk dims.
    if (b[0] !== 3 || b[1] !== 2 || b[2] !== shape.length + 1 || shape.length < 1) return null;
    const chunk: number[] = [];
    for (let i = 0; i < shape.length; i++) chunk.push(b.readUInt32LE(3 + O + 4 * i));
    if (chunk.some((c) => c < 1)) return null;
    const filters = parsePipeline(pipe.body);
    if (!filters || filters.length > 32 || filters.some((f) => !OWN_FILTERS.has(f.id))) return null;
    const cls = dt.body[0]! & 0x0f;
    // Numbers, fixed and variable-length strings, compounds without variable-length members.
    if (cls === 9 && (dt.body[1]! & 0x0f) !== 1) return null; // a vlen sequence, not a string
    if (![0, 1, 3, 6, 8, 9].includes(cls)) return null;
    const chunks = new Map<number, Chunk>();
    const grid = shape.map((s, d) => Math.ceil(s / chunk[d]!));
    const btree = readUInt(b, 3, O);
    if (btree >= 0) walk(fd, base, O, btree, shape.length + 1, chunk, grid, chunks, 0);
    return new FilteredChunks(fd, base, O, L, shape, chunk, filters, chunks, dt.body);
  }

  /** The stored bytes of the hyperslab `start`+`count` (row-major, `elemSize` bytes an element) into `out`. */
  readBytes(start: number[], count: number[], out: Uint8Array): void {
    const rank = this.shape.length;
    const E = this.elemSize;
    if (count.some((c) => c === 0)) return;
    const lo = start.map((s, d) => Math.floor(s / this.chunk[d]!));
    const hi = start.map((s, d) => Math.floor((s + count[d]! - 1) / this.chunk[d]!));
    const c = lo.slice();
    for (;;) {
      const bytes = this.decoded(c);
      // Intersection of this chunk with the selection, copied one run along the last dimension at a time.
      const from = c.map((ci, d) => Math.max(start[d]!, ci * this.chunk[d]!));
      const to = c.map((ci, d) => Math.min(start[d]! + count[d]!, (ci + 1) * this.chunk[d]!));
      const idx = from.slice();
      const run = (to[rank - 1]! - from[rank - 1]!) * E;
      for (;;) {
        let src = 0;
        let dst = 0;
        for (let d = 0; d < rank; d++) {
          src = src * this.chunk[d]! + (idx[d]! - c[d]! * this.chunk[d]!);
          dst = dst * count[d]! + (idx[d]! - start[d]!);
        }
        if (bytes) out.set(bytes.subarray(src * E, src * E + run), dst * E);
        else out.fill(0, dst * E, dst * E + run); // never written: HDF5's default fill value, zero
        let d = rank - 2;
        while (d >= 0 && ++idx[d]! >= to[d]!) idx[d] = from[d--]!;
        if (d < 0) break;
      }
      let d = rank - 1;
      while (d >= 0 && ++c[d]! > hi[d]!) c[d] = lo[d--]!;
      if (d < 0) break;
    }
  }

  /** Strings [start, start+count) of a 1-D string dataset (fixed or variable length). */
  readStrings(start: number, count: number): string[] {
    const buf = this.rows(start, count);
    const out = new Array<string>(count);
    for (let i = 0; i < count; i++) {
      try {
        out[i] = this.stringAt(buf, i * this.elemSize, this.typeClass, this.typeBits, this.elemSize);
      } catch (err) {
        throw err instanceof Utf8Error ? new Utf8Error(err.problem, start + i) : err;
      }
    }
    return out;
  }

  /**
   * Every record of a 1-D compound dataset, one array per field in stored order (numbers; bigints for
   * 64-bit integers; strings, fixed or variable length). Fields of other types throw.
   */
  readCompound(): { names: string[]; columns: unknown[][] } {
    if (!this.fields) throw new Error("its record fields are of types crispyx reads only through HDF5");
    const n = this.shape[0]!;
    const buf = this.rows(0, n);
    const columns = this.fields.map((f) => {
      const col = new Array<unknown>(n);
      for (let i = 0; i < n; i++) {
        const at = i * this.elemSize + f.offset;
        if (f.cls === 0) {
          const signed = (f.bits & 0x08) !== 0;
          if (f.size === 8) col[i] = signed ? buf.readBigInt64LE(at) : buf.readBigUInt64LE(at);
          else col[i] = signed ? buf.readIntLE(at, f.size) : buf.readUIntLE(at, f.size);
        } else if (f.cls === 1) col[i] = f.size === 4 ? buf.readFloatLE(at) : buf.readDoubleLE(at);
        else col[i] = this.stringAt(buf, at, f.cls, f.bits, f.size);
      }
      return col;
    });
    return { names: this.fields.map((f) => f.name), columns };
  }

  private rows(start: number, count: number): Buffer {
    const raw = new Uint8Array(count * this.elemSize);
    this.readBytes([start], [count], raw);
    return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  }

  /** The string stored at `at`: a variable-length one through the global heap, or fixed-length bytes. */
  private stringAt(buf: Buffer, at: number, cls: number, bits: number, size: number): string {
    // ASCII and UTF-8 strings both decode as UTF-8, strictly (./utf8.ts).
    if (cls === 9) {
      const len = buf.readUInt32LE(at);
      return len === 0
        ? ""
        : decodeUtf8(
            this.heapObject(readUInt(buf, at + 4, this.O), buf.readUInt32LE(at + 4 + this.O)).subarray(0, len),
          );
    }
    const nul = buf.subarray(at, at + size).indexOf(0);
    const s = decodeUtf8(buf.subarray(at, nul >= 0 ? at + nul : at + size));
    return (bits & 0x0f) === 2 ? s.replace(/ +$/, "") : s; // space-padded
  }

  /** Chunk `c`'s bytes with its filters undone, or null when it was never written. */
  private decoded(c: number[]): Uint8Array | null {
    let key = 0;
    for (let d = 0; d < c.length; d++) key = key * this.grid[d]! + c[d]!;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const ch = this.chunks.get(key);
    if (!ch) return null;
    let buf: Uint8Array = pread({ fd: this.fd }, this.base + ch.addr, ch.size);
    if (buf.length !== ch.size) throw new Error(`the file ends inside a chunk at byte ${this.base + ch.addr}`);
    for (let i = this.filters.length - 1; i >= 0; i--) {
      if (ch.mask & (1 << i)) continue; // this filter was skipped when the chunk was written
      buf = undo(this.filters[i]!, buf, this.chunkBytes);
    }
    if (buf.length !== this.chunkBytes)
      throw new Error(`a chunk decodes to ${buf.length} bytes, expected ${this.chunkBytes}`);
    if (this.cache.size >= CHUNK_CACHE) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, buf);
    return buf;
  }

  /** Object `index` of the global heap collection at `addr`. */
  private heapObject(addr: number, index: number): Buffer {
    let heap = this.heaps.get(addr);
    if (!heap) {
      heap = new Map();
      const head = pread({ fd: this.fd }, this.base + addr, 8 + this.L);
      if (head.toString("latin1", 0, 4) !== "GCOL" || head[4] !== 1)
        throw new Error(`no global heap collection at byte ${this.base + addr}`);
      const size = readUInt(head, 8, this.L);
      const body = pread({ fd: this.fd }, this.base + addr, size);
      for (let at = 8 + this.L; at + 8 + this.L <= size; ) {
        const idx = body.readUInt16LE(at);
        if (idx === 0) break; // free space: the rest of the collection
        const n = readUInt(body, at + 8, this.L);
        heap.set(idx, body.subarray(at + 8 + this.L, at + 8 + this.L + n));
        at += 8 + this.L + Math.ceil(n / 8) * 8;
      }
      if (this.heaps.size >= 64) this.heaps.delete(this.heaps.keys().next().value!);
      this.heaps.set(addr, heap);
    }
    const obj = heap.get(index);
    if (!obj) throw new Error(`global heap object ${index} missing at byte ${this.base + addr}`);
    return obj;
  }
}

interface Field {
  name: string;
  offset: number;
  cls: number;
  bits: number;
  size: number;
}

/**
 * The fields of a compound datatype message (versions 1–3) whose members are little-endian integers or
 * floats, fixed-length strings or variable-length strings; null when any is something else.
 */
function compoundFields(t: Buffer): Field[] | null {
  const version = t[0]! >> 4;
  const n = t[1]! | (t[2]! << 8);
  const size = t.readUInt32LE(4);
  const offsetBytes = size < 256 ? 1 : size < 65536 ? 2 : size < 2 ** 24 ? 3 : 4;
  const out: Field[] = [];
  let at = 8;
  for (let i = 0; i < n; i++) {
    const end = t.indexOf(0, at);
    if (end < 0) return null;
    const name = t.toString("utf8", at, end);
    at = version === 3 ? end + 1 : at + Math.ceil((end - at + 1) / 8) * 8;
    const offset = version === 3 ? t.readUIntLE(at, offsetBytes) : t.readUInt32LE(at);
    at += version === 3 ? offsetBytes : 4;
    if (version === 1) at += 28; // dimensionality, reserved, permutation, reserved, four dimension sizes
    const cls = t[at]! & 0x0f;
    const bits = t[at + 1]! | (t[at + 2]! << 8) | (t[at + 3]! << 16);
    const msize = t.readUInt32LE(at + 4);
    if (cls === 0 && (bits & 1) === 0 && [1, 2, 4, 8].includes(msize)) at += 12;
    else if (cls === 1 && (bits & 1) === 0 && (msize === 4 || msize === 8)) at += 20;
    else if (cls === 3) at += 8;
    else if (cls === 9 && (bits & 0x0f) === 1 && (t[at + 8]! & 0x0f) === 0 && t.readUInt32LE(at + 12) === 1)
      at += 8 + 12; // a string of 1-byte characters
    else return null;
    out.push({ name, offset, cls, bits, size: cls === 9 ? 0 : msize });
  }
  return out;
}

/** Filter pipeline message, versions 1 and 2; null for another version. */
function parsePipeline(b: Buffer): PipelineFilter[] | null {
  const version = b[0]!;
  const n = b[1]!;
  if (version !== 1 && version !== 2) return null;
  let at = version === 1 ? 8 : 2;
  const out: PipelineFilter[] = [];
  for (let i = 0; i < n; i++) {
    const id = b.readUInt16LE(at);
    at += 2;
    let nameLen = 0;
    if (version === 1 || id >= 256) {
      nameLen = b.readUInt16LE(at);
      at += 2;
    }
    at += 2; // flags
    const ncd = b.readUInt16LE(at);
    at += 2;
    at += version === 1 ? Math.ceil(nameLen / 8) * 8 : nameLen;
    const cd: number[] = [];
    for (let k = 0; k < ncd; k++) cd.push(b.readUInt32LE(at + 4 * k));
    at += 4 * ncd;
    if (version === 1 && ncd % 2 === 1) at += 4;
    out.push({ id, cd });
  }
  return out;
}

/** Undo one filter on a chunk's bytes. */
function undo(f: PipelineFilter, buf: Uint8Array, chunkBytes: number): Uint8Array {
  switch (f.id) {
    case FILTER_LZF: {
      // h5py records the chunk's size in client value 2; grow like its filter does if that is short.
      for (let size = Math.max(chunkBytes, f.cd[2] ?? 0, 1); ; size *= 2) {
        const out = new Uint8Array(size);
        const n = lzfDecompress(buf, out);
        if (n >= 0) return out.subarray(0, n);
        if (size > 4 * chunkBytes + buf.length * 64)
          throw new Error("corrupt LZF data (decodes to more than the chunk holds)");
      }
    }
    case FILTER_DEFLATE:
      return inflateSync(buf);
    case FILTER_FLETCHER32: {
      // A checksum of the chunk's other bytes, stored after them little-endian (HDF5 also accepts it
      // byte-swapped, as files from before 1.6.3 have it).
      if (buf.length < 4) throw new Error("chunk shorter than its fletcher32 checksum");
      const body = buf.subarray(0, buf.length - 4);
      const stored = Buffer.from(buf.buffer, buf.byteOffset + body.length, 4);
      const sum = fletcher32(body);
      if (stored.readUInt32LE(0) !== sum && stored.readUInt32BE(0) !== sum)
        throw new Error("a chunk fails its fletcher32 checksum (corrupt data)");
      return body;
    }
    case FILTER_SHUFFLE: {
      const es = f.cd[0] ?? 1;
      if (es <= 1) return buf;
      const n = Math.floor(buf.length / es);
      const out = new Uint8Array(buf.length);
      for (let j = 0; j < es; j++) {
        const from = j * n;
        for (let i = 0; i < n; i++) out[i * es + j] = buf[from + i]!;
      }
      out.set(buf.subarray(n * es), n * es); // leftover bytes are stored as they were
      return out;
    }
    default:
      throw new Error(`filter ${f.id} is not one this reader undoes`);
  }
}

/** HDF5's Fletcher-32 checksum (H5_checksum_fletcher32): 16-bit big-endian words, sums folded every 360 words. */
export function fletcher32(d: Uint8Array): number {
  let sum1 = 0;
  let sum2 = 0;
  let i = 0;
  for (let words = d.length >> 1; words > 0; ) {
    let t = Math.min(words, 360);
    words -= t;
    for (; t > 0; t--, i += 2) {
      sum1 += (d[i]! << 8) | d[i + 1]!;
      sum2 += sum1;
    }
    sum1 = (sum1 & 0xffff) + (sum1 >>> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >>> 16);
  }
  if (d.length & 1) {
    sum1 += d[i]! << 8;
    sum2 += sum1;
    sum1 = (sum1 & 0xffff) + (sum1 >>> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >>> 16);
  }
  sum1 = (sum1 & 0xffff) + (sum1 >>> 16);
  sum2 = (sum2 & 0xffff) + (sum2 >>> 16);
  return ((sum2 << 16) | sum1) >>> 0;
}

/** Record every chunk under the v1 B-tree node at `addr` by its linear index in the chunk grid. */
function walk(
  fd: number,
  base: number,
  O: number,
  addr: number,
  dims: number,
  chunk: number[],
  grid: number[],
  out: Map<number, Chunk>,
  depth: number,
): void {
  if (depth > 32) throw new Error("chunk B-tree too deep");
  const keySize = 8 + 8 * dims;
  const head = pread({ fd }, base + addr, 8 + 2 * O);
  if (head.toString("latin1", 0, 4) !== "TREE" || head[4] !== 1)
    throw new Error(`no chunk B-tree node at byte ${base + addr}`);
  const level = head[5]!;
  const used = head.readUInt16LE(6);
  const body = pread({ fd }, base + addr + 8 + 2 * O, used * (keySize + O) + keySize);
  for (let i = 0; i < used; i++) {
    const k = i * (keySize + O);
    const child = readUInt(body, k + keySize, O);
    if (level > 0) {
      walk(fd, base, O, child, dims, chunk, grid, out, depth + 1);
      continue;
    }
    let key = 0;
    for (let d = 0; d < dims - 1; d++) {
      const off = readUInt(body, k + 8 + 8 * d, 8);
      if (off % chunk[d]! !== 0 || off / chunk[d]! >= grid[d]!) throw new Error("chunk offset outside the dataset");
      key = key * grid[d]! + off / chunk[d]!;
    }
    out.set(key, { addr: child, size: body.readUInt32LE(k), mask: body.readUInt32LE(k + 4) });
  }
}
