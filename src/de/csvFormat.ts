/**
 * The DE tidy table's bytes (see ./csvOutput.ts): kept apart from the thread handling so that the CSV
 * worker thread's bundle holds only this.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { formatSignificant, writeSignificant } from "./formatNumber.ts";
import type { DeTables } from "./output.ts";

/** Copy a few bytes (a byte loop beats Buffer.copy's call overhead at the sizes of CSV fields). */
function putBytes(out: Uint8Array, pos: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) out[pos + i] = bytes[i]!;
  return pos + bytes.length;
}

/** CSV text of a field: quoted when it holds a comma, quote or line break. */
function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The CSV's bytes into the file at `tmp` (see ./csvOutput.ts writeDeCsv). */
export function writeDeCsvTo(tmp: string, t: DeTables, orders: Int32Array[]): void {
  const n = t.genes.length;
  // Per-gene bytes that repeat in every group: the gene name and the control's fraction.
  const geneBytes = t.genes.map((g) => Buffer.from(`,${csvField(g)},`));
  const ctrlBytes = Array.from({ length: n }, (_, j) => Buffer.from(`,${formatSignificant(t.pts[j]!)}\n`));
  const BUF = 4 << 20;
  const ROW_MAX = 4 * 16 + 4; // four numbers and their commas, beyond the pre-encoded parts
  const fd = openSync(tmp, "w");
  const buf = Buffer.allocUnsafe(BUF);
  try {
    // `pos` stays a local of this function (no closure writes to it): it is updated ~10 times per row.
    let pos = buf.write("perturbation,gene,score,pvalue,pvalue_adj,logfoldchange,pct_group,pct_control\n", 0, "latin1");
    for (let g = 0; g < t.groups.length; g++) {
      const name = Buffer.from(csvField(t.groups[g]!));
      const o = orders[g]!;
      // A group's fractions are k / n_cells: format each k once.
      const size = t.sizes[g + 1]!;
      const ptsBytes: (Buffer | undefined)[] = new Array(size + 1);
      for (let r = 0; r < n; r++) {
        const j = o[r]!;
        const at = g * n + j;
        const pg = t.pts[(g + 1) * n + j]!;
        const k = Math.round(pg * size);
        let pgBytes = ptsBytes[k];
        if (pgBytes === undefined) ptsBytes[k] = pgBytes = Buffer.from(formatSignificant(pg));
        const gene = geneBytes[j]!, ctrl = ctrlBytes[j]!;
        if (pos + name.length + gene.length + ROW_MAX + pgBytes.length + ctrl.length > BUF) pos = flushBytes(fd, buf, pos);
        pos = putBytes(buf, pos, name);
        pos = putBytes(buf, pos, gene);
        pos = writeSignificant(t.scores[at]!, buf, pos);
        buf[pos++] = 44;
        pos = writeSignificant(t.pvals[at]!, buf, pos);
        buf[pos++] = 44;
        pos = writeSignificant(t.pvalsAdj[at]!, buf, pos);
        buf[pos++] = 44;
        pos = writeSignificant(t.logfoldchanges[at]!, buf, pos);
        buf[pos++] = 44;
        pos = putBytes(buf, pos, pgBytes);
        pos = putBytes(buf, pos, ctrl);
      }
    }
    flushBytes(fd, buf, pos);
  } finally {
    closeSync(fd);
  }
}

/** Write buf[0, pos) to fd; returns the new position, 0. */
function flushBytes(fd: number, buf: Uint8Array, pos: number): number {
  let done = 0;
  while (done < pos) done += writeSync(fd, buf, done, pos - done);
  return 0;
}
