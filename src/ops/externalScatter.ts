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
 * order, concatenating the runs' pieces of a destination line in run order keeps the arrival order.
 * I/O: input read once, temporary data written and read once (only when it does not fit the budget),
 * output written once.
 *
 * A run is three regions: its minor indices and values (sorted by destination) and a "line stream"
 * saying which destination lines it touches and with how many elements — sparse, ~1 byte per touched
 * line plus a few bytes per gap (see LineStreamWriter), not 4 bytes for every line: with millions of
 * destination lines (a cell-major output) and ~100 runs, dense per-run counts were 4 × lines × runs
 * bytes and the merge visited every (line, run) pair, a cost that grows as cells × nnz / budget.
 * The merge walks the destination lines in windows whose elements fit the output buffer (known from
 * `lineTotals`, the elements per line over all runs); for each window, each run's touched lines are
 * decoded and its elements copied, run after run, to their lines' places in the window (run order =
 * arrival order inside a line). Work: O(nnz + touched (line, run) pairs + windows × runs), with
 * touched pairs ≤ nnz; every run is still read sequentially.
 *
 * Memory: about (16 + 2 × bytes per value) per buffered element + 4 bytes per destination line (8 in
 * lines mode or with at most 65 536 lines); the buffer size follows the memory budget, so peak memory
 * does not depend on the number of non-zeros.
 *
 * Parts: this file (buffering, spilling, the merge); ./scatterSort.ts (the buffer's in-memory sorts);
 * ./scatterRuns.ts (what a spilled run is, its cursor and its line stream).
 */
import { closeSync, openSync, rmSync, writeSync } from "node:fs";
import { CrispyxError } from "../errors.ts";
import { throwIfAborted } from "../core/streaming.ts";
import type { TypedArray, TypedArrayConstructor } from "../io/dtypes.ts";
import { copyRange, LineStreamReader, LineStreamWriter, narrowType, type Run, RunCursor } from "./scatterRuns.ts";
import { blockScatter, scatterPass, sortBuckets } from "./scatterSort.ts";

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
  /** Called after each block of merged destination lines. */
  onProgress?: (phase: "merge", done: number, total: number) => void;
}

/** What the merge did (tests check it does not scale with lines × runs). */
export interface ScatterStats {
  /** Bytes of line streams spilled (sparse per-run line counts). */
  lineStreamBytes: number;
  /** (line, run) pieces copied by the merge: at most one per touched pair, never lines × runs. */
  mergePieces: number;
  /** Windows of destination lines the merge went through. */
  mergeWindows: number;
  /** Buffers sorted most significant digit first, moving blocks (long ascending runs of lines). */
  blockSorts: number;
}

const MIN_CAPACITY = 1 << 16;

/** Destination lines up to this many are sorted in one counting pass (with per-run counts per line). */
const ONE_PASS_LINES = 4096;

/** Up to this many destination lines (genes, say), per-run counts per line are kept in an array. */
const COUNTED_LINES = 1 << 16;

/** Bytes per buffered element: destination + minor + value, then their sorted copies. */
function bytesPerElement(valueBytes: number, nDest: number, lines: boolean): number {
  // destination, minor, value, their sorted copies, and a second destination array for radix passes
  // (it receives the sorted destinations) or the line ends in lines mode.
  return 4 + 4 + valueBytes + 4 + valueBytes + (lines || nDest > ONE_PASS_LINES ? 4 : 0);
}

/** Bytes per destination line: the totals over all runs, plus per-run counts (lines mode, few lines). */
function bytesPerLine(nDest: number, lines: boolean): number {
  return lines || nDest <= COUNTED_LINES ? 8 : 4;
}

/** How many elements one buffer holds for this budget (never below 64 Ki). */
export function bufferCapacity(memoryBudget: number, nDest: number, valueBytes: number, lines = false): number {
  const usable = memoryBudget - bytesPerLine(nDest, lines) * nDest;
  return Math.max(MIN_CAPACITY, Math.floor(usable / bytesPerElement(valueBytes, nDest, lines)));
}

/** Lines whose ends are reported at once, and the most lines per merge window. */
const WINDOW_LINES = 1 << 16;

/**
 * Most elements per merge window: the pieces land at scattered places inside the window, so it is kept
 * cache-sized (with several windows per output-buffer flush).
 */
const MERGE_WINDOW = 1 << 16;

/** Bytes of the line-stream encoder's buffer (flushed to the spill file when full). */
const STREAM_BUFFER = 1 << 18;

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
  /** Destinations between radix passes, and the sorted destinations after the last one (many lines). */
  private tmpDest?: Uint32Array;
  /** Lines mode: `dest[l]` is line l's destination and `lineEnd[l]` its end in the buffer. */
  private lineEnd?: Uint32Array;
  private nLines = 0;
  private lineStartN = 0;
  /** Elements per destination line over everything sorted so far (all runs). */
  private lineTotals: Uint32Array;
  /** Per-run elements per line (one counting pass, or lines mode); null with radix passes. */
  private runCounts: Uint32Array | null;
  private runs: Run[] = [];
  private fd: number | null = null;
  private filePos = 0;
  private spilled = 0;
  private stream: Uint8Array | null = null;
  private readonly st: ScatterStats = { lineStreamBytes: 0, mergePieces: 0, mergeWindows: 0, blockSorts: 0 };
  total = 0;

  constructor(private readonly plan: ScatterPlan) {
    const vb = plan.values.BYTES_PER_ELEMENT;
    const lines = plan.mode === "lines";
    this.capacity =
      plan.bufferElements ??
      Math.max(1, Math.min(bufferCapacity(plan.memoryBudget, plan.nDest, vb, lines), plan.maxElements ?? Infinity));
    if (plan.nDest >= 2 ** 32) throw new CrispyxError(`cannot reorder into ${plan.nDest} lines (limit 2^32)`);
    this.dest = new Uint32Array(this.capacity);
    this.minor = new Int32Array(this.capacity);
    this.values = new plan.values(this.capacity);
    this.sortedMinor = new Int32Array(this.capacity);
    this.sortedValues = new plan.values(this.capacity);
    this.lineTotals = new Uint32Array(plan.nDest);
    this.runCounts = lines || plan.nDest <= COUNTED_LINES ? new Uint32Array(plan.nDest) : null;
    if (lines) this.lineEnd = new Uint32Array(this.capacity);
  }

  /** Lines mode: elements [end of the previous line, n) go to destination `d`. */
  markLine(d: number): void {
    if (this.n === this.lineStartN) return;
    this.dest[this.nLines] = d;
    this.lineEnd![this.nLines++] = this.n;
    this.lineStartN = this.n;
  }

  /** Free room is at least min(k, capacity) after this (spilling the buffer if needed). */
  makeRoom(k: number): number {
    if (this.capacity - this.n < Math.min(k, this.capacity)) this.spill();
    return this.capacity - this.n;
  }

  /**
   * Stable sort of the buffer by destination, leaving the result in sorted* and telling `w` how many
   * elements each destination line got (in line order). Few lines: one
   * counting-sort pass. Many lines (over 4096): LSD radix passes of at most 2^11 buckets, because
   * scattering into tens of thousands of places at once thrashes the caches and TLB (measured: 2 radix
   * passes beat 1 direct pass for 10 000 genes); no array per destination line is touched then.
   */
  private sortBuffer(w: LineStreamWriter): void {
    if (this.lineEnd) {
      this.sortLines();
      w.putCounts(this.runCounts!);
      return;
    }
    const n = this.n;
    const { dest } = this;
    const bits = Math.max(1, Math.ceil(Math.log2(Math.max(2, this.plan.nDest))));
    if (this.plan.nDest <= ONE_PASS_LINES) {
      const counts = this.runCounts!;
      counts.fill(0);
      for (let k = 0; k < n; k++) counts[dest[k]!]!++;
      scatterPass(
        dest,
        this.minor,
        this.values,
        null,
        this.sortedMinor,
        this.sortedValues,
        n,
        0,
        0xffffffff,
        Uint32Array.from(counts),
      );
      w.putCounts(counts);
      return;
    }
    this.tmpDest ??= new Uint32Array(this.capacity);
    // Runs of consecutive elements sharing the high digit ("blocks") decide the method. A CSC input
    // arrives as one ascending run of cells per gene, so blocks are long: sort most significant digit
    // first, A: by the high bits, moving blocks as such (a few sequential copies), then B: each high
    // bucket (small, so cache-resident) by the low bits. Short blocks (a CSR input, ~300 genes per cell):
    // LSD radix passes, element by element.
    // At most 2^11 low bits, and high buckets of ~64 Ki elements at most (~768 KB: they stay in L2).
    const H = Math.min(bits, Math.max(bits - 11, Math.ceil(Math.log2(Math.max(1, n) / 65536)), 1));
    const low = bits - H;
    // (Judged on a sample: the input's layout does not change along the buffer.)
    const sample = Math.min(n, 1 << 16);
    let blocks = 0;
    for (let k = 0, prev = -1; k < sample; k++) {
      const b = dest[k]! >>> low;
      if (b !== prev) {
        blocks++;
        prev = b;
      }
    }
    let resultInA = true;
    const msd = sample >= 8 * blocks;
    if (msd) {
      this.st.blockSorts++;
      const hist = new Uint32Array(2 ** H);
      for (let k = 0; k < n; k++) hist[dest[k]! >>> low]!++;
      const ends = blockScatter(
        dest,
        this.minor,
        this.values,
        this.tmpDest,
        this.sortedMinor,
        this.sortedValues,
        n,
        low,
        hist,
      );
      // A = (dest, minor, values) → B = (tmpDest, sortedMinor, sortedValues) → A.
      sortBuckets(this.tmpDest, this.sortedMinor, this.sortedValues, dest, this.minor, this.values, ends, low, w);
    } else {
      const counts = this.runCounts;
      if (counts) {
        counts.fill(0);
        for (let k = 0; k < n; k++) counts[dest[k]!]!++;
      }
      const passes = Math.ceil(bits / 11);
      const width = Math.ceil(bits / passes);
      const mask = (1 << width) - 1;
      // A = (dest, minor, values), B = (tmpDest, sortedMinor, sortedValues); passes alternate A→B→A….
      let src = { d: dest, m: this.minor, v: this.values };
      let dst = { d: this.tmpDest, m: this.sortedMinor, v: this.sortedValues };
      for (let p = 0; p < passes; p++) {
        const shift = p * width;
        const digits = new Uint32Array(mask + 1);
        const sd = src.d;
        for (let k = 0; k < n; k++) digits[(sd[k]! >>> shift) & mask]!++;
        // The last pass also writes the sorted destinations, unless per-line counts are kept.
        scatterPass(sd, src.m, src.v, p === passes - 1 && counts ? null : dst.d, dst.m, dst.v, n, shift, mask, digits);
        [src, dst] = [dst, src];
      }
      resultInA = src.m === this.minor;
    }
    // Make the result the sorted* arrays and tmpDest (the others are free scratch now).
    if (resultInA) {
      [this.minor, this.sortedMinor] = [this.sortedMinor, this.minor];
      [this.values, this.sortedValues] = [this.sortedValues, this.values];
      [this.dest, this.tmpDest] = [this.tmpDest, this.dest];
    }
    if (msd) return; // sortBuckets told `w` already
    if (this.runCounts) w.putCounts(this.runCounts);
    else w.putSorted(this.tmpDest!, n);
  }

  /** Lines mode: a stable counting sort of whole lines by destination, moved as blocks. */
  private sortLines(): void {
    if (this.n !== this.lineStartN) throw new CrispyxError("internal error: elements added without markLine");
    const { dest, minor, values, sortedMinor, sortedValues } = this;
    const counts = this.runCounts!;
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
      const d = dest[l]!,
        e = ends[l]!;
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
    if (this.fd === null) this.fd = openSync(this.plan.spillPath, "wx+");
    const n = this.n;
    const linesPos = this.filePos;
    this.stream ??= new Uint8Array(STREAM_BUFFER);
    const w = new LineStreamWriter(this.lineTotals, this.stream, (buf, len) => this.writeAll(buf, len));
    this.sortBuffer(w);
    const linesLen = w.end();
    this.st.lineStreamBytes += linesLen;
    // Compact runs cut the temporary I/O (the slow part on a real disk) by about 60% for count data:
    // minor indices as uint16 offsets when the run spans < 65536 of them, values as uint8/uint16 when
    // they all are such integers. The unsorted buffers are free here and hold the encoded copies.
    let lo = Infinity,
      hi = -Infinity;
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
    this.runs.push({ linesPos, linesLen, minorPos, valuesPos, size: n, minorBase, narrow });
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

  /** Line-stream bytes spilled and merge work done so far. */
  get stats(): ScatterStats {
    return { ...this.st };
  }

  /** Write every element in destination order to `sink`, then release the spill file. */
  finish(sink: ScatterSink): void {
    try {
      if (this.runs.length === 0) {
        this.finishInMemory(sink);
      } else {
        this.spill();
        this.stream = null;
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

  /** Everything fitted in one buffer: once sorted it is the output. */
  private finishInMemory(sink: ScatterSink): void {
    this.sortBuffer(new LineStreamWriter(this.lineTotals, null, null));
    const n = this.n;
    this.total += n;
    this.n = 0;
    if (n > 0) sink.elements(this.sortedMinor, this.sortedValues, n);
    const nDest = this.plan.nDest;
    const totals = this.lineTotals;
    const ends = new Float64Array(Math.min(WINDOW_LINES, Math.max(1, nDest)));
    let cum = 0;
    for (let j0 = 0; j0 < nDest; j0 += WINDOW_LINES) {
      throwIfAborted(this.plan.signal);
      const w = Math.min(WINDOW_LINES, nDest - j0);
      for (let jj = 0; jj < w; jj++) ends[jj] = cum += totals[j0 + jj]!;
      sink.lineEnds(j0, ends, w);
      this.plan.onProgress?.("merge", j0 + w, nDest);
    }
  }

  private merge(sink: ScatterSink, outMinor: Int32Array, outValues: TypedArray): void {
    const runs = this.runs;
    const R = runs.length;
    const nDest = this.plan.nDest;
    const fd = this.fd!;
    // Read buffers for spilled runs share the (now unused) unsorted arrays: one slice per run, and a
    // slice of `dest`'s bytes for its line stream. (Tiny buffers, only ever chosen by tests, get their
    // own small read buffers.)
    const slice = Math.floor(this.capacity / R);
    const own = slice < 256;
    const streamBytes = new Uint8Array(this.dest.buffer, this.dest.byteOffset, this.dest.byteLength);
    const streamSlice = Math.floor(streamBytes.length / R);
    const cursors = runs.map((run, r) =>
      own
        ? new RunCursor(fd, run, new Int32Array(256), new this.plan.values(256))
        : new RunCursor(
            fd,
            run,
            this.minor.subarray(r * slice, (r + 1) * slice),
            this.values.subarray(r * slice, (r + 1) * slice),
          ),
    );
    const readers = runs.map(
      (run, r) =>
        new LineStreamReader(
          fd,
          run,
          streamSlice < 4096 ? new Uint8Array(4096) : streamBytes.subarray(r * streamSlice, (r + 1) * streamSlice),
        ),
    );
    const totals = this.lineTotals;
    // pos: where each line of the window goes next; ends: line ends reported in blocks of lines.
    const pos = new Float64Array(Math.min(WINDOW_LINES, Math.max(1, nDest)));
    const ends = new Float64Array(pos.length);
    let endsStart = 0;
    let endsN = 0;
    const reportEnds = () => {
      if (endsN > 0) {
        sink.lineEnds(endsStart, ends, endsN);
        this.plan.onProgress?.("merge", endsStart + endsN, nDest);
      }
      endsStart += endsN;
      endsN = 0;
    };
    const outCap = outMinor.length;
    const st = this.st;
    let outN = 0;
    let cum = 0;
    const flush = () => {
      if (outN > 0) sink.elements(outMinor, outValues, outN);
      outN = 0;
    };
    let j0 = 0;
    while (j0 < nDest) {
      throwIfAborted(this.plan.signal);
      st.mergeWindows++;
      if (endsN === ends.length) reportEnds();
      if (totals[j0]! > outCap - outN) flush();
      if (totals[j0]! > outCap) {
        // One line larger than the output buffer: copy its pieces through the buffer, run by run.
        for (let r = 0; r < R; r++) {
          const rd = readers[r]!;
          if (rd.line !== j0) continue;
          let c = rd.count;
          st.mergePieces++;
          while (c > 0) {
            if (outN === outCap) flush();
            const take = Math.min(c, outCap - outN);
            cursors[r]!.copyTo(take, outMinor, outValues, outN);
            outN += take;
            c -= take;
          }
          rd.next();
        }
        ends[endsN++] = cum += totals[j0]!;
        j0++;
        continue;
      }
      // The window: as many lines as fit the free part of the output buffer (and stay cache-sized).
      const room = Math.max(totals[j0]!, Math.min(outCap - outN, MERGE_WINDOW));
      const jmax = Math.min(nDest, j0 + ends.length - endsN);
      let j1 = j0;
      let acc = 0;
      while (j1 < jmax) {
        const t = totals[j1]!;
        if (acc + t > room) break;
        pos[j1 - j0] = outN + acc;
        acc += t;
        ends[endsN + j1 - j0] = cum + acc;
        j1++;
      }
      // Run after run (arrival order inside a line), each touched line's piece to its place.
      for (let r = 0; r < R; r++)
        st.mergePieces += cursors[r]!.copyPieces(readers[r]!, j0, j1, pos, outMinor, outValues);
      outN += acc;
      cum += acc;
      endsN += j1 - j0;
      j0 = j1;
    }
    reportEnds();
    flush();
    for (let r = 0; r < R; r++) {
      if (readers[r]!.line !== Infinity || !cursors[r]!.done)
        throw new CrispyxError("internal error: a run was not fully merged");
    }
  }
}
