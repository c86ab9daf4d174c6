/**
 * External-memory reordering of the stored elements of a matrix, the engine behind CSR<->CSC conversion
 * and sorting cells: every element gets a destination major line (an output row for CSR, column for CSC)
 * and a minor index, and the output must list the elements by destination line, keeping their arrival
 * order inside a line.
 *
 * Why runs and not bands: re-reading the input once per band of output columns costs
 * (input size / budget) full passes, which grows quadratically with the file. Here the input is read
 * ONCE; elements are buffered up to the budget, counting-sorted by destination (stable) and, when more
 * than one buffer-full is needed, spilled as a "run" to one temporary file. Because the input is read in
 * order, concatenating the runs' pieces of a destination line in run order keeps the arrival order, so
 * the "merge" is a sequential walk over every run in step (no heap). I/O: input read once, temporary
 * data written and read once (only when it does not fit the budget), output written once.
 *
 * Memory: about (16 + 2 × bytes per value) per buffered element + 4 bytes per destination line; the
 * buffer size follows the memory budget, so peak memory does not depend on the number of non-zeros.
 */
import { closeSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { CrispyxError } from "../errors.ts";
import { throwIfAborted } from "../core/streaming.ts";
import type { TypedArray, TypedArrayConstructor } from "../io/h5/types.ts";

/** Where the sorted elements go: called with consecutive pieces, in destination order. */
export interface ScatterSink {
  /** `minor[0..n)` / `values[0..n)` are the next n elements of the output. */
  elements(minor: Int32Array, values: TypedArray, n: number): void;
  /** Destination lines [start, start + ends.length) end at these cumulative element counts. */
  lineEnds(start: number, ends: Float64Array, n: number): void;
}

export interface ScatterPlan {
  /** Number of destination lines (output rows for CSR, columns for CSC). */
  nDest: number;
  /** Element type of the stored values. */
  values: TypedArrayConstructor;
  /** Working memory for the buffer, in bytes. */
  memoryBudget: number;
  /** Where to spill runs (a path that must not exist; removed afterwards). */
  spillPath: string;
  /** Upper bound on the number of elements (the buffer is never larger). */
  maxElements?: number;
  /** Force the buffer size (tests use tiny buffers to exercise spilling). */
  bufferElements?: number;
  /**
   * "lines": producers add whole runs of elements sharing one destination (`markLine`), e.g. a cell's
   * row when permuting cells; they are moved as blocks instead of sorted element by element.
   */
  mode?: "elements" | "lines";
  signal?: AbortSignal;
  /** Called after each flushed run / merged window. */
  onProgress?: (phase: "merge", done: number, total: number) => void;
}

interface Run {
  /** In-memory run (the only one) or file offsets of its three regions. */
  counts?: Uint32Array;
  minor?: Int32Array;
  values?: TypedArray;
  countsPos: number;
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
function narrowType(values: TypedArray, n: number): Uint8ArrayConstructor | Uint16ArrayConstructor | null {
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
function widenInPlace(dst: TypedArray, narrow: Uint8Array | Uint16Array, n: number, base: number): void {
  const d = dst as unknown as number[];
  for (let k = 0; k < n; k++) d[k] = narrow[k]! + base;
}

const MIN_CAPACITY = 1 << 16;

/** Bytes per buffered element: destination + minor + value, then their sorted copies. */
function bytesPerElement(valueBytes: number, nDest: number, lines: boolean): number {
  // destination, minor, value, their sorted copies, and a second destination array for radix passes
  // (or the line ends in lines mode).
  return 4 + 4 + valueBytes + 4 + valueBytes + (lines || nDest > 4096 ? 4 : 0);
}

/** How many elements one buffer holds for this budget (never below 64 Ki). */
export function bufferCapacity(memoryBudget: number, nDest: number, valueBytes: number, lines = false): number {
  const usable = memoryBudget - 4 * nDest;
  return Math.max(MIN_CAPACITY, Math.floor(usable / bytesPerElement(valueBytes, nDest, lines)));
}

/**
 * Collects elements (arrival order), then `finish(sink)` writes them out in destination order.
 * Producers write straight into `dest`/`minor`/`values` at `n`, calling `makeRoom(k)` first.
 */
export class ExternalScatter {
  readonly capacity: number;
  dest: Uint32Array;
  minor: Int32Array;
  values: TypedArray;
  n = 0;
  private sortedMinor: Int32Array;
  private sortedValues: TypedArray;
  /** Destinations between radix passes (only when there are many destination lines). */
  private tmpDest?: Uint32Array;
  /** Lines mode: `dest[l]` is line l's destination and `lineEnd[l]` its end in the buffer. */
  private lineEnd?: Uint32Array;
  private nLines = 0;
  private lineStartN = 0;
  private counts: Uint32Array;
  private runs: Run[] = [];
  private fd: number | null = null;
  private filePos = 0;
  private spilled = 0;
  total = 0;

  constructor(private readonly plan: ScatterPlan) {
    const vb = plan.values.BYTES_PER_ELEMENT;
    this.capacity = plan.bufferElements ?? Math.max(1, Math.min(bufferCapacity(plan.memoryBudget, plan.nDest, vb, plan.mode === "lines"), plan.maxElements ?? Infinity));
    if (plan.nDest >= 2 ** 32) throw new CrispyxError(`cannot reorder into ${plan.nDest} lines (limit 2^32)`);
    this.dest = new Uint32Array(this.capacity);
    this.minor = new Int32Array(this.capacity);
    this.values = new plan.values(this.capacity);
    this.sortedMinor = new Int32Array(this.capacity);
    this.sortedValues = new plan.values(this.capacity);
    this.counts = new Uint32Array(plan.nDest);
    if (plan.mode === "lines") this.lineEnd = new Uint32Array(this.capacity);
  }

  /** Free room is at least min(k, capacity) after this (spilling the buffer if needed). */
  /** Lines mode: elements [end of the previous line, n) go to destination `d`. */
  markLine(d: number): void {
    if (this.n === this.lineStartN) return;
    this.dest[this.nLines] = d;
    this.lineEnd![this.nLines++] = this.n;
    this.lineStartN = this.n;
  }

  makeRoom(k: number): number {
    if (this.capacity - this.n < Math.min(k, this.capacity)) this.spill();
    return this.capacity - this.n;
  }

  /**
   * Stable sort of the buffer by destination, leaving the result in sorted* and per-line counts in
   * `counts`. Few lines: one counting-sort pass. Many lines (over 4096): LSD radix passes of at most
   * 2^11 buckets, because scattering into tens of thousands of places at once thrashes the caches and
   * TLB (measured: 2 radix passes beat 1 direct pass for 10 000 genes).
   */
  private sortBuffer(): void {
    if (this.lineEnd) return this.sortLines();
    const n = this.n;
    const { counts, dest } = this;
    counts.fill(0);
    for (let k = 0; k < n; k++) counts[dest[k]!]!++;
    const bits = Math.max(1, Math.ceil(Math.log2(Math.max(2, this.plan.nDest))));
    const passes = bits <= 12 ? 1 : Math.ceil(bits / 11);
    if (passes === 1) {
      scatterPass(dest, this.minor, this.values, null, this.sortedMinor, this.sortedValues, n, 0, 0xffffffff, Uint32Array.from(counts));
      return;
    }
    this.tmpDest ??= new Uint32Array(this.capacity);
    const width = Math.ceil(bits / passes);
    const mask = (1 << width) - 1;
    // A = (dest, minor, values), B = (tmpDest, sortedMinor, sortedValues); passes alternate A→B→A….
    let src = { d: dest, m: this.minor, v: this.values };
    let dst = { d: this.tmpDest, m: this.sortedMinor, v: this.sortedValues };
    for (let p = 0; p < passes; p++) {
      const shift = p * width;
      const hist = new Uint32Array(mask + 1);
      const sd = src.d;
      for (let k = 0; k < n; k++) hist[(sd[k]! >>> shift) & mask]!++;
      scatterPass(sd, src.m, src.v, p === passes - 1 ? null : dst.d, dst.m, dst.v, n, shift, mask, hist);
      [src, dst] = [dst, src];
    }
    // The result is in `src`; make it the sorted* arrays (the others are free scratch now).
    if (src.m !== this.sortedMinor) {
      [this.minor, this.sortedMinor] = [this.sortedMinor, this.minor];
      [this.values, this.sortedValues] = [this.sortedValues, this.values];
      [this.dest, this.tmpDest] = [this.tmpDest, this.dest];
    }
  }

  /** Lines mode: a stable counting sort of whole lines by destination, moved as blocks. */
  private sortLines(): void {
    if (this.n !== this.lineStartN) throw new CrispyxError("internal error: elements added without markLine");
    const { counts, dest, minor, values, sortedMinor, sortedValues } = this;
    const ends = this.lineEnd!;
    const nLines = this.nLines;
    counts.fill(0);
    let start = 0;
    for (let l = 0; l < nLines; l++) {
      counts[dest[l]!]! += ends[l]! - start;
      start = ends[l]!;
    }
    let acc = 0;
    for (let j = 0; j < counts.length; j++) {
      const c = counts[j]!;
      counts[j] = acc;
      acc += c;
    }
    start = 0;
    for (let l = 0; l < nLines; l++) {
      const d = dest[l]!, e = ends[l]!;
      copyRange(minor, values, start, e - start, sortedMinor, sortedValues, counts[d]!);
      counts[d]! += e - start;
      start = e;
    }
    let prev = 0;
    for (let j = 0; j < counts.length; j++) {
      const e = counts[j]!;
      counts[j] = e - prev;
      prev = e;
    }
    this.nLines = 0;
    this.lineStartN = 0;
  }

  private writeAll(a: TypedArray, count: number): number {
    const pos = this.filePos;
    const bytes = new Uint8Array(a.buffer, a.byteOffset, count * a.BYTES_PER_ELEMENT);
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd!, bytes, off, Math.min(bytes.length - off, 1 << 28), pos + off);
    this.filePos += bytes.length;
    return pos;
  }

  /** Sort the buffer and append it to the spill file as a run. */
  private spill(): void {
    throwIfAborted(this.plan.signal);
    if (this.n === 0) return;
    this.sortBuffer();
    if (this.fd === null) this.fd = openSync(this.plan.spillPath, "wx+");
    const n = this.n;
    const countsPos = this.writeAll(this.counts, this.counts.length);
    // Compact runs cut the temporary I/O (the slow part on a real disk) by about 60% for count data:
    // minor indices as uint16 offsets when the run spans < 65536 of them, values as uint8/uint16 when
    // they all are such integers. The unsorted buffers are free here and hold the encoded copies.
    let lo = Infinity, hi = -Infinity;
    const sm = this.sortedMinor;
    for (let k = 0; k < n; k++) {
      const x = sm[k]!;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    let minorBase: number | undefined;
    let minorPos: number;
    if (n > 0 && hi - lo < 65536) {
      minorBase = lo;
      const enc = new Uint16Array(this.minor.buffer as ArrayBuffer, 0, n);
      for (let k = 0; k < n; k++) enc[k] = sm[k]! - lo;
      minorPos = this.writeAll(enc, n);
    } else {
      minorPos = this.writeAll(sm, n);
    }
    const narrow = narrowType(this.sortedValues, n) ?? undefined;
    let valuesPos: number;
    if (narrow) {
      const enc = new narrow(this.values.buffer as ArrayBuffer, 0, n);
      const sv = this.sortedValues as unknown as number[];
      for (let k = 0; k < n; k++) enc[k] = sv[k]!;
      valuesPos = this.writeAll(enc, n);
    } else {
      valuesPos = this.writeAll(this.sortedValues, n);
    }
    this.runs.push({ countsPos, minorPos, valuesPos, size: n, minorBase, narrow });
    this.spilled++;
    this.total += this.n;
    this.n = 0;
  }

  /** Number of runs spilled to disk so far (0 when everything fitted in memory). */
  get spilledRuns(): number {
    return this.spilled;
  }

  /** Elements added so far. */
  get count(): number {
    return this.total + this.n;
  }

  /** Write every element in destination order to `sink`, then release the spill file. */
  finish(sink: ScatterSink): void {
    try {
      if (this.runs.length === 0) {
        this.sortBuffer();
        this.runs.push({ counts: this.counts, minor: this.sortedMinor, values: this.sortedValues, countsPos: 0, minorPos: 0, valuesPos: 0, size: this.n });
        this.total += this.n;
        this.n = 0;
        this.merge(sink, this.minor, this.values);
      } else {
        this.spill();
        // The unsorted buffers are free now: they become the output buffer and the runs' read buffers.
        this.merge(sink, this.sortedMinor, this.sortedValues);
      }
    } finally {
      this.close();
    }
  }

  /** Remove the spill file (also on error). */
  close(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
      rmSync(this.plan.spillPath, { force: true });
    }
  }

  private merge(sink: ScatterSink, outMinor: Int32Array, outValues: TypedArray): void {
    const runs = this.runs;
    const R = runs.length;
    const nDest = this.plan.nDest;
    const inMemory = runs[0]!.counts !== undefined;
    // Read buffers for spilled runs share the (now unused) unsorted arrays: one slice per run.
    // (Tiny buffers, only ever chosen by tests, get their own small read buffers.)
    const slice = Math.floor(this.capacity / Math.max(1, R));
    const own = slice < 256;
    const bufFor = (r: number): [Int32Array, TypedArray] => own
      ? [new Int32Array(256), new this.plan.values(256)]
      : [this.minor.subarray(r * slice, (r + 1) * slice), this.values.subarray(r * slice, (r + 1) * slice)];
    const cursors = runs.map((run, r) => (inMemory ? new RunCursor(null, run, null, null) : new RunCursor(this.fd, run, ...bufFor(r))));
    // Window of destination lines whose per-run counts are read at once (they live in `dest`).
    const W = Math.max(1, Math.min(nDest, 1 << 16, slice));
    const countsWin = W * R <= this.dest.length ? this.dest.subarray(0, W * R) : new Uint32Array(W * R);
    const ends = new Float64Array(W);
    const outCap = outMinor.length;
    let outN = 0;
    let cum = 0;
    const flush = () => {
      if (outN > 0) sink.elements(outMinor, outValues, outN);
      outN = 0;
    };
    for (let j0 = 0; j0 < nDest; j0 += W) {
      throwIfAborted(this.plan.signal);
      const w = Math.min(W, nDest - j0);
      for (let r = 0; r < R; r++) {
        const run = runs[r]!;
        const dst = countsWin.subarray(r * W, r * W + w);
        if (run.counts) dst.set(run.counts.subarray(j0, j0 + w));
        else readExact(this.fd!, dst, run.countsPos + j0 * 4);
      }
      for (let jj = 0; jj < w; jj++) {
        for (let r = 0; r < R; r++) {
          let c = countsWin[r * W + jj]!;
          if (c === 0) continue;
          cum += c;
          const cur = cursors[r]!;
          while (c > 0) {
            if (outN === outCap) flush();
            const take = Math.min(c, outCap - outN);
            cur.copyTo(take, outMinor, outValues, outN);
            outN += take;
            c -= take;
          }
        }
        ends[jj] = cum;
      }
      sink.lineEnds(j0, ends, w);
      this.plan.onProgress?.("merge", j0 + w, nDest);
    }
    flush();
  }
}

/** One stable counting-sort pass by the digit (d >>> shift) & mask; `hist` holds the digit counts. */
function scatterPass(
  d: Uint32Array, m: Int32Array, v: TypedArray, outD: Uint32Array | null, outM: Int32Array, outV: TypedArray,
  n: number, shift: number, mask: number, hist: Uint32Array,
): void {
  let acc = 0;
  for (let b = 0; b < hist.length; b++) {
    const c = hist[b]!;
    hist[b] = acc;
    acc += c;
  }
  const vi = v as unknown as number[];
  const vo = outV as unknown as number[];
  if (outD) {
    for (let k = 0; k < n; k++) {
      const key = d[k]!;
      const p = hist[(key >>> shift) & mask]!++;
      outD[p] = key;
      outM[p] = m[k]!;
      vo[p] = vi[k]!;
    }
  } else {
    for (let k = 0; k < n; k++) {
      const p = hist[(d[k]! >>> shift) & mask]!++;
      outM[p] = m[k]!;
      vo[p] = vi[k]!;
    }
  }
}

function readExact(fd: number, dst: TypedArray, pos: number): void {
  const bytes = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength);
  let off = 0;
  while (off < bytes.length) {
    const got = readSync(fd, bytes, off, bytes.length - off, pos + off);
    if (got <= 0) throw new CrispyxError("internal error: temporary run file ended early");
    off += got;
  }
}

/** Sequential reader over one run's minor indices and values. */
class RunCursor {
  private pos = 0; // elements consumed from the run
  private bufStart = 0; // run element index of buf[0]
  private bufLen = 0;

  constructor(
    private readonly fd: number | null,
    private readonly run: Run,
    private readonly bufMinor: Int32Array | null,
    private readonly bufValues: TypedArray | null,
  ) {}

  copyTo(n: number, minor: Int32Array, values: TypedArray, at: number): void {
    const run = this.run;
    if (run.minor) {
      copyRange(run.minor, run.values!, this.pos, n, minor, values, at);
      this.pos += n;
      return;
    }
    while (n > 0) {
      if (this.pos >= this.bufStart + this.bufLen) this.refill();
      const off = this.pos - this.bufStart;
      const take = Math.min(n, this.bufLen - off);
      copyRange(this.bufMinor!, this.bufValues!, off, take, minor, values, at);
      this.pos += take;
      at += take;
      n -= take;
    }
  }

  private refill(): void {
    const run = this.run;
    const len = Math.min(this.bufMinor!.length, run.size - this.pos);
    if (len <= 0) throw new CrispyxError("internal error: read past the end of a run");
    const minor = this.bufMinor!.subarray(0, len);
    if (run.minorBase === undefined) {
      readExact(this.fd!, minor, run.minorPos + this.pos * 4);
    } else {
      // Read the uint16 offsets into the upper half of the int32 buffer, then widen forward in place.
      const enc = new Uint16Array(minor.buffer as ArrayBuffer, minor.byteOffset + 2 * len, len);
      readExact(this.fd!, enc, run.minorPos + this.pos * 2);
      widenInPlace(minor, enc, len, run.minorBase);
    }
    const values = this.bufValues!.subarray(0, len);
    if (!run.narrow) {
      readExact(this.fd!, values, run.valuesPos + this.pos * values.BYTES_PER_ELEMENT);
    } else {
      const nb = run.narrow.BYTES_PER_ELEMENT;
      const enc = new run.narrow(values.buffer as ArrayBuffer, values.byteOffset + (values.BYTES_PER_ELEMENT - nb) * len, len);
      readExact(this.fd!, enc, run.valuesPos + this.pos * nb);
      widenInPlace(values, enc, len, 0);
    }
    this.bufStart = this.pos;
    this.bufLen = len;
  }
}

function copyRange(srcMinor: Int32Array, srcValues: TypedArray, from: number, n: number, minor: Int32Array, values: TypedArray, at: number): void {
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
