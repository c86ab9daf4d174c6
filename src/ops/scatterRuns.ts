/**
 * The spill files of ./externalScatter.ts: what a run is (its three regions), how its values are narrowed
 * when they are small whole numbers, the sequential cursor the merge reads a run through, and the sparse
 * "line stream" encoding of which destination lines a run touches (~1 byte per touched line).
 *
 * Cost model: every read and write is sequential within a run; the line stream costs O(touched lines).
 */
import { readSync } from "node:fs";
import { CrispyxError } from "../errors.ts";
import type { TypedArray } from "../io/dtypes.ts";

/** A spilled run: file offsets of its three regions. */
export interface Run {
  /** Line stream: which destination lines the run touches and with how many elements (LineStreamWriter). */
  linesPos: number;
  linesLen: number;
  minorPos: number;
  valuesPos: number;
  size: number;
  /** Spilled minor indices as uint16 offsets from `minorBase` (else int32). */
  minorBase?: number;
  /** Spilled values narrowed to small unsigned integers (exact: every value was one). */
  narrow?: Uint8ArrayConstructor | Uint16ArrayConstructor;
}

/**
 * The smallest unsigned integer type that holds every value exactly (counts usually fit in a byte), or
 * null. Negative zero and NaN are kept as they are (no narrowing).
 */
export function narrowType(values: TypedArray, n: number): Uint8ArrayConstructor | Uint16ArrayConstructor | null {
  if (values.BYTES_PER_ELEMENT <= 1 || values instanceof BigInt64Array || values instanceof BigUint64Array) return null;
  const v = values as unknown as number[];
  let max = 0;
  for (let k = 0; k < n; k++) {
    const x = v[k]!;
    // Only integers in [0, 65535] survive the mask (NaN, fractions and negatives do not); -0 keeps its sign bit.
    if ((x & 0xffff) !== x || (x === 0 && 1 / x < 0)) return null;
    if (x > max) max = x;
  }
  if (values.BYTES_PER_ELEMENT > 1 && max < 256) return Uint8Array;
  if (values.BYTES_PER_ELEMENT > 2) return Uint16Array;
  return null;
}

/** Widen `n` narrow elements stored at the END of dst's memory into dst[0..n) (forward is safe). */
export function widenInPlace(dst: TypedArray, narrow: Uint8Array | Uint16Array, n: number, base: number): void {
  const d = dst as unknown as number[];
  for (let k = 0; k < n; k++) d[k] = narrow[k]! + base;
}

export function readExact(fd: number, dst: TypedArray, pos: number): void {
  const bytes = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength);
  let off = 0;
  while (off < bytes.length) {
    const got = readSync(fd, bytes, off, bytes.length - off, pos + off);
    if (got <= 0) throw new CrispyxError("internal error: temporary run file ended early");
    off += got;
  }
}

/** Sequential reader over one spilled run's minor indices and values. */
export class RunCursor {
  private pos = 0; // elements consumed from the run
  private bufStart = 0; // run element index of buf[0]
  private bufLen = 0;

  constructor(
    private readonly fd: number,
    private readonly run: Run,
    private readonly bufMinor: Int32Array,
    private readonly bufValues: TypedArray,
  ) {}

  /** Every element of the run was copied out. */
  get done(): boolean {
    return this.pos === this.run.size;
  }

  /**
   * Copy this run's pieces of lines [j0, j1) (as listed by `rd`) to their places `pos[line - j0]`,
   * advancing those; returns the number of pieces. Pieces inside the read buffer take the fast path.
   */
  copyPieces(
    rd: LineStreamReader,
    j0: number,
    j1: number,
    pos: Float64Array,
    minor: Int32Array,
    values: TypedArray,
  ): number {
    const bm = this.bufMinor;
    const bv = this.bufValues as unknown as number[];
    const dv = values as unknown as number[];
    let pieces = 0;
    while (rd.line < j1) {
      const w = rd.line - j0;
      const c = rd.count;
      const at = pos[w]!;
      pos[w] = at + c;
      const off = this.pos - this.bufStart;
      if (off + c <= this.bufLen && c < 32) {
        for (let k = 0; k < c; k++) {
          minor[at + k] = bm[off + k]!;
          dv[at + k] = bv[off + k]!;
        }
        this.pos += c;
      } else {
        this.copyTo(c, minor, values, at);
      }
      pieces++;
      rd.next();
    }
    return pieces;
  }

  copyTo(n: number, minor: Int32Array, values: TypedArray, at: number): void {
    while (n > 0) {
      if (this.pos >= this.bufStart + this.bufLen) this.refill();
      const off = this.pos - this.bufStart;
      const take = Math.min(n, this.bufLen - off);
      copyRange(this.bufMinor, this.bufValues, off, take, minor, values, at);
      this.pos += take;
      at += take;
      n -= take;
    }
  }

  private refill(): void {
    const run = this.run;
    const len = Math.min(this.bufMinor.length, run.size - this.pos);
    if (len <= 0) throw new CrispyxError("internal error: read past the end of a run");
    const minor = this.bufMinor.subarray(0, len);
    if (run.minorBase === undefined) {
      readExact(this.fd, minor, run.minorPos + this.pos * 4);
    } else {
      // Read the uint16 offsets into the upper half of the int32 buffer, then widen forward in place.
      const enc = new Uint16Array(minor.buffer as ArrayBuffer, minor.byteOffset + 2 * len, len);
      readExact(this.fd, enc, run.minorPos + this.pos * 2);
      widenInPlace(minor, enc, len, run.minorBase);
    }
    const values = this.bufValues.subarray(0, len);
    if (!run.narrow) {
      readExact(this.fd, values, run.valuesPos + this.pos * values.BYTES_PER_ELEMENT);
    } else {
      const nb = run.narrow.BYTES_PER_ELEMENT;
      const enc = new run.narrow(
        values.buffer as ArrayBuffer,
        values.byteOffset + (values.BYTES_PER_ELEMENT - nb) * len,
        len,
      );
      readExact(this.fd, enc, run.valuesPos + this.pos * nb);
      widenInPlace(values, enc, len, 0);
    }
    this.bufStart = this.pos;
    this.bufLen = len;
  }
}

/**
 * Receives a sorted buffer's elements per destination line, in line order: adds them to the totals
 * and, when spilling, encodes the run's line stream. A touched line is one token: a byte 1..254 is the
 * count itself, 255 is followed by the count as a LEB128 varint; a line that does not follow the
 * previous touched line directly is preceded by 0 and the number of skipped lines (varint).
 */
export class LineStreamWriter {
  private p = 0;
  private prev = -1;
  private written = 0;

  constructor(
    private readonly totals: Uint32Array,
    private readonly buf: Uint8Array | null,
    private readonly out: ((buf: Uint8Array, n: number) => void) | null,
  ) {}

  /** Line `line` (after every line told before) has c > 0 elements. */
  put(line: number, c: number): void {
    this.totals[line]! += c;
    const buf = this.buf;
    if (!buf) return;
    let p = this.p;
    if (p > buf.length - 24) {
      this.out!(buf, p);
      this.written += p;
      p = 0;
    }
    if (line !== this.prev + 1) {
      buf[p++] = 0;
      p = putVarint(buf, p, line - this.prev - 1);
    }
    if (c < 255) buf[p++] = c;
    else {
      buf[p++] = 255;
      p = putVarint(buf, p, c);
    }
    this.prev = line;
    this.p = p;
  }

  /** Every line's count (zeros skipped). */
  putCounts(counts: Uint32Array): void {
    for (let j = 0; j < counts.length; j++) {
      const c = counts[j]!;
      if (c !== 0) this.put(j, c);
    }
  }

  /** The lines of sorted destinations d[from..to), grouped. */
  putSorted(d: Uint32Array, to: number, from = 0): void {
    let k = from;
    while (k < to) {
      const line = d[k]!;
      let e = k + 1;
      while (e < to && d[e] === line) e++;
      this.put(line, e - k);
      k = e;
    }
  }

  /** Flush; returns the stream's length in bytes. */
  end(): number {
    if (this.buf && this.p > 0) {
      this.out!(this.buf, this.p);
      this.written += this.p;
      this.p = 0;
    }
    return this.written;
  }
}

/** Append x (0 <= x < 2^32) as a LEB128 varint at buf[p]; returns the new end. */
function putVarint(buf: Uint8Array, p: number, x: number): number {
  while (x >= 128) {
    buf[p++] = (x & 127) | 128;
    x = Math.floor(x / 128);
  }
  buf[p++] = x;
  return p;
}

/**
 * Sequential decoder of one run's line stream (see LineStreamWriter): `line` and `count`
 * are the next touched line and its number of elements in the run; `line` is Infinity at the end.
 */
export class LineStreamReader {
  line = -1;
  count = 0;
  private p = 0;
  private len = 0;
  private filePos: number;
  private readonly end: number;

  constructor(
    private readonly fd: number,
    run: Run,
    private readonly buf: Uint8Array,
  ) {
    this.filePos = run.linesPos;
    this.end = run.linesPos + run.linesLen;
    this.next();
  }

  next(): void {
    if (this.p === this.len && !this.refill()) {
      this.line = Infinity;
      return;
    }
    let b = this.buf[this.p++]!;
    let line = this.line + 1;
    if (b === 0) {
      line += this.varint();
      b = this.byte();
    }
    this.count = b === 255 ? this.varint() : b;
    this.line = line;
  }

  private byte(): number {
    if (this.p === this.len && !this.refill())
      throw new CrispyxError("internal error: temporary line stream ended early");
    return this.buf[this.p++]!;
  }

  private varint(): number {
    let x = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      x += (b & 127) * scale;
      if (b < 128) return x;
      scale *= 128;
    }
  }

  private refill(): boolean {
    const len = Math.min(this.buf.length, this.end - this.filePos);
    if (len <= 0) return false;
    readExact(this.fd, this.buf.subarray(0, len), this.filePos);
    this.filePos += len;
    this.p = 0;
    this.len = len;
    return true;
  }
}

export function copyRange(
  srcMinor: Int32Array,
  srcValues: TypedArray,
  from: number,
  n: number,
  minor: Int32Array,
  values: TypedArray,
  at: number,
): void {
  if (n < 32) {
    // Short pieces (typical when many runs share a line): a loop beats set()'s call overhead.
    const sv = srcValues as unknown as number[];
    const dv = values as unknown as number[];
    for (let k = 0; k < n; k++) {
      minor[at + k] = srcMinor[from + k]!;
      dv[at + k] = sv[from + k]!;
    }
    return;
  }
  minor.set(srcMinor.subarray(from, from + n), at);
  (values as unknown as { set(a: TypedArray, o: number): void }).set(srcValues.subarray(from, from + n), at);
}
