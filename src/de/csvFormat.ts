/**
 * The DE tidy table's bytes (see ./csvOutput.ts): kept apart from the thread handling so that the CSV
 * worker threads' bundle holds only this.
 *
 * Rows are assembled as bytes (no per-row strings: a large screen has 10⁷ rows), one group at a time.
 * Several threads can share one file: each formats whole groups, taken in order from a shared counter,
 * and appends them when the previous group has been written (a shared "turn"), so the file is the same
 * as one thread writes.
 */
import { closeSync, openSync } from "node:fs";
import { writeFully } from "../core/fileBytes.ts";
import { formatSignificant, writeSignificant } from "./formatNumber.ts";
import type { DeTables } from "./output.ts";
import { csvHeader } from "./methods/columns.ts";

/** The header of Scanpy's columns (./methods/columns.ts); a method's extra columns follow them (csvHeader). */
export const CSV_HEADER = csvHeader();

/** Copy a few bytes (a byte loop beats Buffer.copy's call overhead at the sizes of CSV fields). */
function putBytes(out: Uint8Array, pos: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) out[pos + i] = bytes[i]!;
  return pos + bytes.length;
}

/** CSV text of a field: quoted when it holds a comma, quote or line break. */
function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Formats the rows of one group at a time into a reused buffer. */
class GroupFormatter {
  private readonly geneBytes: Buffer[];
  private readonly ctrlBytes: Buffer[];
  /** The method's extra columns' arrays ([group × gene]), written after pct_control. */
  private readonly extras: Float64Array[];
  /** Bytes of a row beyond the group's name: gene, fraction of the control and the rest (numbers, commas). */
  private readonly rowMax: number;
  private buf = Buffer.allocUnsafe(1 << 20);

  constructor(private readonly t: DeTables) {
    // Per-gene bytes that repeat in every group: the gene name and the control's fraction.
    this.extras = (t.extraColumns ?? []).map((c) => t.extra![c.key]!);
    // With extra columns the control's fraction is not the row's end: the line break follows the extras.
    const end = this.extras.length ? "" : "\n";
    this.geneBytes = t.genes.map((g) => Buffer.from(`,${csvField(g)},`));
    this.ctrlBytes = Array.from({ length: t.genes.length }, (_, j) =>
      Buffer.from(`,${formatSignificant(t.pts[j]!)}${end}`),
    );
    let longest = 0;
    for (let j = 0; j < t.genes.length; j++)
      longest = Math.max(longest, this.geneBytes[j]!.length + this.ctrlBytes[j]!.length);
    this.rowMax = longest + (4 + this.extras.length) * 16 + 4 + 32 + 1; // the numbers and their commas, a group's fraction, a line break
  }

  /** Group g's rows (genes in rank order), as a view of the buffer valid until the next call. */
  format(g: number): Uint8Array {
    const { t } = this;
    const n = t.genes.length;
    const name = Buffer.from(csvField(t.groups[g]!));
    const o = t.orders.subarray(g * n, (g + 1) * n);
    // A group's fractions are k / n_cells: format each k once.
    const size = t.sizes[g + 1]!;
    const ptsBytes: (Buffer | undefined)[] = new Array(size + 1);
    const need = n * (name.length + this.rowMax);
    if (this.buf.length < need) this.buf = Buffer.allocUnsafe(need);
    const buf = this.buf;
    // `pos` stays a local of this function (no closure writes to it): it is updated ~10 times per row.
    let pos = 0;
    for (let r = 0; r < n; r++) {
      const j = o[r]!;
      const at = g * n + j;
      const pg = t.pts[(g + 1) * n + j]!;
      const k = Math.round(pg * size);
      let pgBytes = ptsBytes[k];
      if (pgBytes === undefined) ptsBytes[k] = pgBytes = Buffer.from(formatSignificant(pg));
      pos = putBytes(buf, pos, name);
      pos = putBytes(buf, pos, this.geneBytes[j]!);
      pos = writeSignificant(t.scores[at]!, buf, pos);
      buf[pos++] = 44;
      pos = writeSignificant(t.pvals[at]!, buf, pos);
      buf[pos++] = 44;
      pos = writeSignificant(t.pvalsAdj[at]!, buf, pos);
      buf[pos++] = 44;
      pos = writeSignificant(t.logfoldchanges[at]!, buf, pos);
      buf[pos++] = 44;
      pos = putBytes(buf, pos, pgBytes);
      pos = putBytes(buf, pos, this.ctrlBytes[j]!);
      if (this.extras.length) pos = this.putExtras(buf, pos, at);
    }
    return buf.subarray(0, pos);
  }

  /** The extra columns of one row (`at`: its group × gene index), then the line break. */
  private putExtras(buf: Buffer, pos: number, at: number): number {
    for (const e of this.extras) {
      buf[pos++] = 44;
      pos = writeSignificant(e[at]!, buf, pos);
    }
    buf[pos++] = 10;
    return pos;
  }
}

/** The CSV's bytes into the file at `tmp`, on this thread (see ./csvOutput.ts writeDeCsv). */
export function writeDeCsvTo(tmp: string, t: DeTables): void {
  const fd = openSync(tmp, "w");
  try {
    appendDeCsvRows(fd, t, writeFully(fd, Buffer.from(csvHeader(t.extraColumns), "latin1"), 0));
  } finally {
    closeSync(fd);
  }
}

/** Append the rows of every group of `t` at offset `at` of the open CSV `fd` (no header); returns the offset after them. */
export function appendDeCsvRows(fd: number, t: DeTables, at: number): number {
  const f = new GroupFormatter(t);
  for (let g = 0; g < t.groups.length; g++) at = writeFully(fd, f.format(g), at);
  return at;
}

/**
 * State shared by the threads writing one CSV: `next` (the next group to take), `turn` (the group whose
 * bytes go next; −1 once a thread has failed) and `offset` (where they go).
 */
export interface SharedCsvState {
  next: Int32Array;
  turn: Int32Array;
  offset: Float64Array;
}

export function sharedCsvState(headerBytes: number): SharedCsvState {
  const offset = new Float64Array(new SharedArrayBuffer(8));
  offset[0] = headerBytes;
  return { next: new Int32Array(new SharedArrayBuffer(4)), turn: new Int32Array(new SharedArrayBuffer(4)), offset };
}

/** One worker thread's share of a CSV (the header is already written to `fd`). */
export function writeDeCsvShare(fd: number, t: DeTables, s: SharedCsvState): void {
  const f = new GroupFormatter(t);
  try {
    for (;;) {
      const g = Atomics.add(s.next, 0, 1);
      if (g >= t.groups.length) return;
      const bytes = f.format(g);
      for (;;) {
        const turn = Atomics.load(s.turn, 0);
        if (turn === g) break;
        if (turn < 0) return; // another thread failed: the whole CSV is abandoned
        Atomics.wait(s.turn, 0, turn);
      }
      s.offset[0] = writeFully(fd, bytes, s.offset[0]!);
      Atomics.store(s.turn, 0, g + 1);
      Atomics.notify(s.turn, 0);
    }
  } catch (err) {
    Atomics.store(s.turn, 0, -1);
    Atomics.notify(s.turn, 0);
    throw err;
  }
}
