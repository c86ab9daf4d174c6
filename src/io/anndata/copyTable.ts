/**
 * Carry-over of tables (obs, var, raw/var): a dataframe copied column by column, its index in slices, so
 * millions of cell names never sit in memory at once; restricted to selected rows, optionally dropping
 * unused categories (and noting what was kept, so uns colours can follow). Pre-0.7 compound tables are
 * read whole and written back in the current layout.
 *
 * Cost model: one column in memory at a time (restricted to the selection); the index in slices of
 * INDEX_SLICE strings, or whole when the output has at most that many rows.
 */
import type { ReadStore, WriteStore } from "../store.ts";
import type { Column } from "./model.ts";
import { createEncodedGroup, stampEncoding, writeElem } from "./registry.ts";
import { columnOrder, columnPath, indexName, readColumn, writeDataFrame } from "./encodings/dataframe.ts";
import { isLegacyTable, readLegacyDataFrame } from "./encodings/legacyDataframe.ts";
import { writeArray } from "./encodings/arrays.ts";
import { removeUnusedCategories, takeColumn, takeDataFrame, usedCategories } from "./rowSelection.ts";

/** Strings per slice when copying an index (a few MB of text). */
const INDEX_SLICE = 1 << 16;

/**
 * Copy a dataframe's index (string or numeric labels; written as strings, as anndata does) in slices,
 * so millions of cell names never sit in memory at once.
 */
function copyIndex(
  src: ReadStore,
  srcPath: string,
  dst: WriteStore,
  dstPath: string,
  sel: Int32Array | undefined,
): void {
  const n = src.info(srcPath).shape[0]!;
  const outN = sel ? sel.length : n;
  const stringy = src.info(srcPath).dtype === "string" || src.info(srcPath).dtype.startsWith("fixed-string:");
  const labels = (s: number, c: number): string[] =>
    stringy
      ? src.readStrings(srcPath, s, c)
      : Array.from(src.read(srcPath, [s], [c]) as ArrayLike<number | bigint>, String);
  if (outN <= INDEX_SLICE) {
    const all = sel
      ? (() => {
          const l = labels(0, n);
          return Array.from(sel, (i) => l[i]!);
        })()
      : labels(0, n);
    writeArray(dst, dstPath, { type: "array", dtype: "string", shape: [outN], data: all });
    return;
  }
  dst.createDataset(dstPath, { dtype: "string", shape: [0], maxshape: [null], chunks: [INDEX_SLICE], data: [] });
  dst.resize(dstPath, [outN]);
  stampEncoding(dst, dstPath, "string-array");
  if (!sel) {
    for (let s = 0; s < n; s += INDEX_SLICE) dst.writeStrings(dstPath, s, labels(s, Math.min(INDEX_SLICE, n - s)));
    return;
  }
  // Selected rows: read the window of source rows the next slice of the selection spans.
  for (let k = 0; k < outN; k += INDEX_SLICE) {
    const e = Math.min(outN, k + INDEX_SLICE);
    const lo = sel[k]!,
      hi = sel[e - 1]! + 1;
    const out: string[] = new Array(e - k);
    for (let w = lo; w < hi; w += INDEX_SLICE * 4) {
      const wEnd = Math.min(hi, w + INDEX_SLICE * 4);
      const window = labels(w, wEnd - w);
      for (let t = k; t < e; t++) if (sel[t]! >= w && sel[t]! < wEnd) out[t - k] = window[sel[t]! - w]!;
    }
    dst.writeStrings(dstPath, k, out);
  }
}

/**
 * Copy a dataframe column by column, written in the current encoding whatever layout it was read from
 * (anndata 0.7's categoricals point at their categories by object reference, which cannot be copied as stored).
 */
export function copyDataFrame(src: ReadStore, srcPath: string, dst: WriteStore, dstPath: string): void {
  copyTable(src, srcPath, dst, dstPath, undefined, false);
}

/**
 * Categories kept per categorical column when unused ones were dropped, keyed by the uns entry that holds
 * the column's colours (`<column>_colors`, Scanpy's convention), so the colours can follow (see copyUns).
 */
export type KeptCategories = Map<string, { nCategories: number; keep: Int32Array }>;

/** `removeUnusedCategories`, noting what was kept in `kept` when categories were dropped. */
function dropUnused(name: string, c: Column, kept?: KeptCategories): Column {
  if (c.type !== "categorical") return c;
  const out = removeUnusedCategories(c);
  if (kept && out !== c)
    kept.set(`${name}_colors`, { nCategories: c.categories.shape[0] ?? 0, keep: usedCategories(c) });
  return out;
}

/**
 * Copy the table at `srcPath` (restricted to rows `sel` when given; unused categories dropped when `drop`,
 * noted in `kept`) to `dstPath`, in the current encoding.
 */
export function copyTable(
  src: ReadStore,
  srcPath: string,
  dst: WriteStore,
  dstPath: string,
  sel: Int32Array | undefined,
  drop: boolean,
  kept?: KeptCategories,
): void {
  if (isLegacyTable(src, srcPath)) {
    // A pre-0.7 compound table is read whole anyway; it is written back in the current layout.
    const df = readLegacyDataFrame(src, srcPath);
    const sub = sel ? takeDataFrame(df, sel) : df;
    if (drop) for (const name of sub.columnOrder) sub.columns[name] = dropUnused(name, sub.columns[name]!, kept);
    writeDataFrame(dst, dstPath, sub);
    return;
  }
  const name = indexName(src, srcPath);
  const order = columnOrder(src, srcPath);
  createEncodedGroup(dst, dstPath, "dataframe");
  dst.setAttr(dstPath, "_index", name);
  dst.setAttr(dstPath, "column-order", order.length ? order : new Float64Array(0));
  copyIndex(src, `${srcPath}/${name}`, dst, `${dstPath}/${name}`, sel);
  for (const col of order) {
    let c = readColumn(src, srcPath, col);
    if (sel) c = takeColumn(c, sel);
    if (drop) c = dropUnused(col, c, kept);
    writeElem(dst, columnPath(dst, dstPath, col), c);
  }
}
