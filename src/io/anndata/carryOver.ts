/**
 * Carry-over: write everything of an output .h5ad except X from its input, optionally restricted to
 * selected cells and genes. Operators (normalize, subset, convert, sort…) write X themselves with the
 * streaming writers of ./matrixWriter.ts and call this for the rest:
 *
 *   const out = openWriteStore(tmp, "w");
 *   startAnnData(out);                                      // root attributes, empty uns/obsm/… groups
 *   carryOver(src, out, { cells, genes, removeUnusedCategories: true });
 *   SparseMatrixWriter.create(out, "/X", …) …
 *
 * Memory: tables are handled one column at a time (the selected index is held in memory, as pandas
 * would); matrices (obsm, layers, obsp, raw/X…) are streamed in blocks within the memory budget and keep
 * their storage format (dense stays dense, CSR stays CSR, CSC stays CSC).
 */
import type { ReadStore, WriteStore } from "../store.ts";
import { TYPED_ARRAY_OF, type NumericDtype, type TypedArray, type TypedArrayConstructor } from "../h5/types.ts";
import { CrispyxError } from "../../errors.ts";
import { DEFAULT_MEMORY_BUDGET, rowsForBudget } from "../../core/streaming.ts";
import { num } from "../../core/sparse.ts";
import type { ArrayPool } from "../../core/arrayPool.ts";
import type { Categorical, Column, NdArray, SparseMatrix } from "./model.ts";
import { createEncodedGroup, isMatrixElement, readElem, stampEncoding, writeElem } from "./registry.ts";
import { columnOrder, columnPath, indexName, readColumn, writeDataFrame } from "./encodings/dataframe.ts";
import {
  consumedCategoryKeys,
  isLegacyMapping,
  isLegacyTable,
  readLegacyDataFrame,
  readLegacyMapping,
} from "./encodings/legacyDataframe.ts";
import { writeArray } from "./encodings/arrays.ts";
import { describeMatrix, MatrixReader } from "./matrixReader.ts";
import { DenseMatrixWriter, SparseMatrixWriter } from "./matrixWriter.ts";
import type { DataFrame } from "./model.ts";

export type CarryKey = "obs" | "var" | "uns" | "obsm" | "varm" | "obsp" | "varp" | "layers" | "raw";

/**
 * What an operator that rewrites X keeps: everything else, as Scanpy's in-place functions do (layers
 * such as 'counts' and raw included — X-sized, but streamed, and users rely on them).
 */
export const DEFAULT_CARRY: CarryKey[] = ["obs", "var", "uns", "obsm", "varm", "obsp", "varp", "layers", "raw"];

export interface CarryOverOptions {
  /** Selected cells (row positions, strictly increasing); omitted = all cells. */
  cells?: Int32Array;
  /** Selected genes (strictly increasing); omitted = all genes. */
  genes?: Int32Array;
  /** Elements to carry (default DEFAULT_CARRY). */
  include?: CarryKey[];
  /** Tables written instead of the input's (already restricted to the selection). */
  obs?: DataFrame;
  var?: DataFrame;
  /** Drop categories that no selected cell uses from obs columns (pandas remove_unused_categories). */
  removeUnusedCategories?: boolean;
  memoryBudget?: number;
}

const MAPPINGS = ["uns", "obsm", "varm", "obsp", "varp", "layers"] as const;

function emptyDict(f: WriteStore, path: string): void {
  createEncodedGroup(f, path, "dict");
}

/** Root attributes of an AnnData file and its (empty) uns/obsm/varm/obsp/varp/layers groups. */
export function startAnnData(dst: WriteStore): void {
  stampEncoding(dst, "/", "anndata");
  for (const key of MAPPINGS) if (!dst.exists(`/${key}`)) emptyDict(dst, `/${key}`);
}

// ---- selections -----------------------------------------------------------------------------------

/** Positions where a boolean mask is true. */
export function maskToIndices(mask: ArrayLike<boolean | number>): Int32Array {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) n++;
  const out = new Int32Array(n);
  for (let i = 0, k = 0; i < mask.length; i++) if (mask[i]) out[k++] = i;
  return out;
}

/** old position → new position (-1 when dropped), for remapping sparse indices. */
export function remapFor(sel: Int32Array | undefined, n: number): Int32Array | null {
  if (!sel) return null;
  const map = new Int32Array(n).fill(-1);
  for (let k = 0; k < sel.length; k++) map[sel[k]!] = k;
  return map;
}

function takeTyped<T extends TypedArray>(a: T, sel: Int32Array): T {
  const out = new (a.constructor as { new (n: number): T })(sel.length);
  const src = a as unknown as (number | bigint)[];
  const dst = out as unknown as (number | bigint)[];
  for (let k = 0; k < sel.length; k++) dst[k] = src[sel[k]!]!;
  return out;
}

function takeArray(a: NdArray, sel: Int32Array): NdArray {
  const rowLen = a.shape.slice(1).reduce((x, y) => x * y, 1);
  if (Array.isArray(a.data)) {
    const src = a.data;
    const data: string[] = [];
    for (const i of sel) for (let j = 0; j < rowLen; j++) data.push(src[i * rowLen + j]!);
    return { ...a, shape: [sel.length, ...a.shape.slice(1)], data };
  }
  if (rowLen === 1) return { ...a, shape: [sel.length, ...a.shape.slice(1)], data: takeTyped(a.data, sel) };
  const out = new (a.data.constructor as { new (n: number): TypedArray })(sel.length * rowLen);
  for (let k = 0; k < sel.length; k++) {
    (out as unknown as { set(x: ArrayLike<unknown>, o: number): void }).set(
      a.data.subarray(sel[k]! * rowLen, (sel[k]! + 1) * rowLen) as ArrayLike<unknown>,
      k * rowLen,
    );
  }
  return { ...a, shape: [sel.length, ...a.shape.slice(1)], data: out };
}

/** Positions of the categories some code uses, in category order. */
function usedCategories(c: Categorical): Int32Array {
  const used = new Uint8Array(c.categories.shape[0] ?? 0);
  for (let i = 0; i < c.codes.length; i++) {
    const k = Number(c.codes[i]!);
    if (k >= 0) used[k] = 1;
  }
  return maskToIndices(used);
}

/** Keep only the categories some code uses, in their original order (pandas remove_unused_categories). */
export function removeUnusedCategories(c: Categorical): Categorical {
  const nCat = c.categories.shape[0] ?? 0;
  const keep = usedCategories(c);
  if (keep.length === nCat) return c;
  const newCode = new Int32Array(nCat).fill(-1);
  keep.forEach((k, i) => {
    newCode[k] = i;
  });
  const codes = new (c.codes.constructor as { new (n: number): Categorical["codes"] })(c.codes.length);
  for (let i = 0; i < c.codes.length; i++) {
    const k = Number(c.codes[i]!);
    const v = k >= 0 ? newCode[k]! : -1;
    (codes as unknown as (number | bigint)[])[i] = codes instanceof BigInt64Array ? BigInt(v) : v;
  }
  return { ...c, codes, categories: takeArray(c.categories, keep) };
}

/** The rows `sel` of one dataframe column. */
export function takeColumn(col: Column, sel: Int32Array): Column {
  if (col.type === "array") return takeArray(col, sel);
  if (col.type === "categorical") return { ...col, codes: takeTyped(col.codes, sel) };
  return { ...col, values: takeArray(col.values, sel), mask: takeTyped(col.mask, sel) };
}

/** The rows `sel` of a whole in-memory dataframe. */
export function takeDataFrame(df: DataFrame, sel: Int32Array, dropUnused = false): DataFrame {
  const columns: Record<string, Column> = {};
  for (const name of df.columnOrder) {
    let c = takeColumn(df.columns[name]!, sel);
    if (dropUnused && c.type === "categorical") c = removeUnusedCategories(c);
    columns[name] = c;
  }
  return { ...df, index: Array.from(sel, (i) => df.index[i]!), columns };
}

// ---- tables, one column at a time ----------------------------------------------------------------

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

function copyTable(
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

// ---- matrices, streamed ----------------------------------------------------------------------------

/**
 * Keep the majors `keep` (positions inside the block; null = all) of a CSR/CSC block and renumber its
 * minor indices with `minorMap` (null = unchanged; -1 drops the element). Sorted indices stay sorted.
 */
export function filterSparseBlock(
  b: SparseMatrix,
  keep: Int32Array | null,
  minorMap: Int32Array | null,
  newMinor: number,
  pool?: ArrayPool,
): SparseMatrix {
  const nMajor = keep ? keep.length : b.type === "csr" ? b.shape[0] : b.shape[1];
  if (b.indptr instanceof Int32Array && b.indices instanceof Int32Array)
    return filterInt32Block(b, b.indptr, b.indices, keep, minorMap, newMinor, nMajor, pool);
  let nnz = 0;
  for (let t = 0; t < nMajor; t++) {
    const i = keep ? keep[t]! : t;
    const s = num(b.indptr, i),
      e = num(b.indptr, i + 1);
    if (!minorMap) nnz += e - s;
    else for (let k = s; k < e; k++) if (minorMap[num(b.indices, k)]! >= 0) nnz++;
  }
  const data = new (b.data.constructor as { new (n: number): TypedArray })(nnz);
  const indices = new Int32Array(nnz);
  const indptr = new Float64Array(nMajor + 1);
  const src = b.data as unknown as (number | bigint)[];
  const dst = data as unknown as (number | bigint)[];
  let p = 0;
  for (let t = 0; t < nMajor; t++) {
    const i = keep ? keep[t]! : t;
    for (let k = num(b.indptr, i), e = num(b.indptr, i + 1); k < e; k++) {
      const j = num(b.indices, k);
      const nj = minorMap ? minorMap[j]! : j;
      if (nj < 0) continue;
      indices[p] = nj;
      dst[p++] = src[k]!;
    }
    indptr[t + 1] = p;
  }
  const shape: [number, number] = b.type === "csr" ? [nMajor, newMinor] : [newMinor, nMajor];
  return {
    type: b.type,
    shape,
    data,
    indices,
    indptr: nnz < 2 ** 31 ? Int32Array.from(indptr) : BigInt64Array.from(indptr, BigInt),
  };
}

/**
 * filterSparseBlock for int32 indptr and indices (what the readers hand out below 2^31 stored elements):
 * the same result, with loops over known array types, about twice as fast on large blocks.
 */
function filterInt32Block(
  b: SparseMatrix,
  ptr: Int32Array,
  idx: Int32Array,
  keep: Int32Array | null,
  minorMap: Int32Array | null,
  newMinor: number,
  nMajor: number,
  pool?: ArrayPool,
): SparseMatrix {
  const shape: [number, number] = b.type === "csr" ? [nMajor, newMinor] : [newMinor, nMajor];
  const indptr = new Int32Array(nMajor + 1);
  const Data = b.data.constructor as TypedArrayConstructor;
  if (pool) {
    // Recycled buffers sized for every element of the kept majors, handed out as views of what was kept:
    // saves the counting pass and fresh (zero-filled, page-faulted) output arrays.
    let upper = 0;
    for (let t = 0; t < nMajor; t++) {
      const i = keep ? keep[t]! : t;
      upper += ptr[i + 1]! - ptr[i]!;
    }
    const data = pool.take(Data, upper);
    const indices = pool.take(Int32Array, upper + 1); // + 1: a dropped last element is written one past the kept ones
    const p = copyKeptInto(b, data, { ptr, idx, indices, indptr, keep, minorMap, nMajor });
    return { type: b.type, shape, data: data.subarray(0, p), indices: indices.subarray(0, p), indptr };
  }
  let nnz = 0;
  for (let t = 0; t < nMajor; t++) {
    const i = keep ? keep[t]! : t;
    const s = ptr[i]!,
      e = ptr[i + 1]!;
    if (!minorMap) nnz += e - s;
    else for (let k = s; k < e; k++) nnz += (minorMap[idx[k]!]! >>> 31) ^ 1; // +1 when kept, without a branch
  }
  const data = new Data(nnz);
  const indices = new Int32Array(nnz);
  copyKeptInto(b, data, { ptr, idx, indices, indptr, keep, minorMap, nMajor });
  return { type: b.type, shape, data, indices, indptr };
}

/** Where a block's kept elements come from and go: the arrays of filterInt32Block, for the copies below. */
interface KeptCopy {
  ptr: Int32Array;
  idx: Int32Array;
  indices: Int32Array;
  indptr: Int32Array;
  keep: Int32Array | null;
  minorMap: Int32Array | null;
  nMajor: number;
}

function copyKeptInto(b: SparseMatrix, data: TypedArray, c: KeptCopy): number {
  if (b.data instanceof Float32Array) copyKeptF32(b.data, data as Float32Array, c);
  else copyKept(b.data as unknown as (number | bigint)[], data as unknown as (number | bigint)[], c);
  return c.indptr[c.nMajor]!;
}

function copyKept<T extends ArrayLike<unknown> & { [k: number]: unknown }>(
  src: T,
  dst: T,
  { ptr, idx, indices, indptr, keep, minorMap, nMajor }: KeptCopy,
): void {
  let p = 0;
  for (let t = 0; t < nMajor; t++) {
    const i = keep ? keep[t]! : t;
    if (minorMap) {
      // Write every element and advance only past kept ones: no hard-to-predict branch (a dropped last
      // element is written one past the end, which typed arrays ignore).
      for (let k = ptr[i]!, e = ptr[i + 1]!; k < e; k++) {
        const nj = minorMap[idx[k]!]!;
        indices[p] = nj;
        dst[p] = src[k];
        p += (nj >>> 31) ^ 1;
      }
    } else {
      for (let k = ptr[i]!, e = ptr[i + 1]!; k < e; k++) {
        indices[p] = idx[k]!;
        dst[p++] = src[k];
      }
    }
    indptr[t + 1] = p;
  }
}

/**
 * copyKept for float32 values, as its own function: one generic function fed both Float32Arrays and
 * other arrays has polymorphic element access, measured 3× slower on the hot path.
 */
function copyKeptF32(
  src: Float32Array,
  dst: Float32Array,
  { ptr, idx, indices, indptr, keep, minorMap, nMajor }: KeptCopy,
): void {
  let p = 0;
  for (let t = 0; t < nMajor; t++) {
    const i = keep ? keep[t]! : t;
    const s0 = ptr[i]!,
      e = ptr[i + 1]!;
    if (minorMap) {
      for (let k = s0; k < e; k++) {
        const nj = minorMap[idx[k]!]!;
        indices[p] = nj;
        dst[p] = src[k]!;
        p += (nj >>> 31) ^ 1;
      }
    } else {
      indices.set(idx.subarray(s0, e), p);
      dst.set(src.subarray(s0, e), p);
      p += e - s0;
    }
    indptr[t + 1] = p;
  }
}

/** Runs of a sorted selection that fit in windows of at most `span` consecutive positions. */
export function* selectionWindows(
  sel: Int32Array | null,
  n: number,
  span: number,
): Generator<{ lo: number; hi: number; keep: Int32Array | null }> {
  if (!sel) {
    for (let lo = 0; lo < n; lo += span) yield { lo, hi: Math.min(n, lo + span), keep: null };
    return;
  }
  let k = 0;
  while (k < sel.length) {
    const lo = sel[k]!;
    let e = k;
    while (e < sel.length && sel[e]! < lo + span) e++;
    const keep = new Int32Array(e - k);
    for (let t = k; t < e; t++) keep[t - k] = sel[t]! - lo;
    yield { lo, hi: sel[e - 1]! + 1, keep };
    k = e;
  }
}

/**
 * Copy the matrix at `srcPath` to `dstPath`, restricted to rows `rows` and columns `cols` (each
 * optional), streaming within `memoryBudget`. Storage format and dtype are kept.
 */
export function copyMatrix(
  src: ReadStore,
  srcPath: string,
  dst: WriteStore,
  dstPath: string,
  rows: Int32Array | undefined,
  cols: Int32Array | undefined,
  memoryBudget = DEFAULT_MEMORY_BUDGET,
): void {
  const info = describeMatrix(src, srcPath);
  const [nr, nc] = info.shape;
  const outShape: [number, number] = [rows ? rows.length : nr, cols ? cols.length : nc];
  if (info.dtype === "bool") {
    // Boolean matrices are rare and small (masks); copy them in memory.
    const e = readElem(src, srcPath) as NdArray;
    let m = rows ? takeArray(e, rows) : e;
    if (cols) m = transposeTake(m, cols);
    writeElem(dst, dstPath, m);
    return;
  }
  const dtype = info.dtype as NumericDtype;
  const reader = new MatrixReader(src, srcPath);
  const bytes = TYPED_ARRAY_OF[dtype].BYTES_PER_ELEMENT;
  if (info.format === "dense") {
    const w = DenseMatrixWriter.create(dst, dstPath, { shape: outShape, dtype });
    const span = rowsForBudget(nc * bytes * 2, nr, { memoryBudget });
    const colList = cols ?? null;
    for (const { lo, hi, keep } of selectionWindows(rows ?? null, nr, span)) {
      const block = reader.rows(lo, hi, "dense") as NdArray;
      const picked = keep ?? Int32Array.from({ length: hi - lo }, (_, i) => i);
      const out = new TYPED_ARRAY_OF[dtype](picked.length * outShape[1]);
      const bd = block.data as TypedArray;
      for (let t = 0; t < picked.length; t++) {
        const base = picked[t]! * nc;
        if (!colList)
          (out as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(
            bd.subarray(base, base + nc) as ArrayLike<unknown>,
            t * nc,
          );
        else
          for (let j = 0; j < colList.length; j++)
            (out as unknown as unknown[])[t * colList.length + j] = (bd as unknown as unknown[])[base + colList[j]!];
      }
      w.appendRows(picked.length, out);
    }
    w.finish();
    return;
  }
  // Sparse: stream along the stored (major) axis, filter the other one through a remap.
  const csr = info.format === "csr";
  const majorSel = csr ? rows : cols;
  const minorSel = csr ? cols : rows;
  const nMajor = csr ? nr : nc;
  const minorMap = remapFor(minorSel, csr ? nc : nr);
  const newMinor = csr ? outShape[1] : outShape[0];
  const w = SparseMatrixWriter.create(dst, dstPath, { format: info.format, shape: outShape, dtype, maxNnz: info.nnz });
  const perMajor = (info.nnz / Math.max(1, nMajor)) * (bytes + 4) * 2 + 16;
  const span = rowsForBudget(perMajor, nMajor, { memoryBudget });
  for (const { lo, hi, keep } of selectionWindows(majorSel ?? null, nMajor, span)) {
    const block = (csr ? reader.rows(lo, hi) : reader.cols(lo, hi)) as SparseMatrix;
    w.append(filterSparseBlock(block, keep, minorMap, newMinor));
  }
  w.finish();
}

function transposeTake(m: NdArray, cols: Int32Array): NdArray {
  const [r, c] = m.shape as [number, number];
  const out = new (m.data.constructor as { new (n: number): TypedArray })(r * cols.length);
  for (let i = 0; i < r; i++)
    for (let j = 0; j < cols.length; j++)
      (out as unknown as unknown[])[i * cols.length + j] = (m.data as unknown as unknown[])[i * c + cols[j]!];
  return { ...m, shape: [r, cols.length], data: out };
}

/** Copy one element of obsm/varm/obsp/varp/layers, restricting its axes as the mapping says. */
function copyAligned(
  src: ReadStore,
  dst: WriteStore,
  path: string,
  rows: Int32Array | undefined,
  cols: Int32Array | undefined,
  budget: number,
): void {
  if (isMatrixElement(src, path)) return copyMatrix(src, path, dst, path, rows, cols, budget);
  const e = readElem(src, path);
  if (!rows) return writeElem(dst, path, e);
  if (e.type === "dataframe") return writeElem(dst, path, takeDataFrame(e, rows));
  if (e.type === "array") return writeElem(dst, path, takeArray(e, rows));
  throw new CrispyxError(`cannot subset ${path} (a ${e.type}) to the selected rows`, { file: src.path });
}

/** Write obs/var/uns/obsm/… of `dst` from `src` (see the module comment). `dst` must have been started. */
export function carryOver(src: ReadStore, dst: WriteStore, opts: CarryOverOptions = {}): void {
  const include = new Set(opts.include ?? DEFAULT_CARRY);
  const { cells, genes } = opts;
  const budget = opts.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  const has = (p: string) => src.exists(p);
  // As anndata's subset: unused categories leave obs and var, and their colours in uns follow.
  const kept: KeptCategories = new Map();
  const drop = opts.removeUnusedCategories ?? false;
  if (include.has("obs")) {
    if (opts.obs) writeElem(dst, "/obs", opts.obs);
    else copyTable(src, "/obs", dst, "/obs", cells, drop, kept);
  }
  if (include.has("var")) {
    if (opts.var) writeElem(dst, "/var", opts.var);
    else copyTable(src, "/var", dst, "/var", genes, drop && genes !== undefined, kept);
  }
  if (include.has("uns") && has("/uns"))
    copyUns(src, dst, { kept, cells, budget, adjacencyToObsp: include.has("obsp") });
  const axes: Record<
    Exclude<CarryKey, "obs" | "var" | "uns" | "raw">,
    [Int32Array | undefined, Int32Array | undefined]
  > = {
    obsm: [cells, undefined],
    varm: [genes, undefined],
    obsp: [cells, cells],
    varp: [genes, genes],
    layers: [cells, genes],
  };
  for (const [key, [r, c]] of Object.entries(axes)) {
    if (!include.has(key as CarryKey) || !has(`/${key}`)) continue;
    if (!dst.exists(`/${key}`)) emptyDict(dst, `/${key}`);
    if (isLegacyMapping(src, `/${key}`)) {
      writeLegacyMapping(src, `/${key}`, dst, `/${key}`, r);
      continue;
    }
    for (const k of src.keys(`/${key}`)) copyAligned(src, dst, `/${key}/${k}`, r, c, budget);
  }
  if (include.has("raw") && !has("/raw") && has("/raw.X")) {
    // anndata < 0.7 raw: root elements raw.X, raw.var, raw.varm, written back in the current layout.
    dst.createGroup("/raw");
    copyMatrix(src, "/raw.X", dst, "/raw/X", cells, undefined, budget);
    copyTable(src, "/raw.var", dst, "/raw/var", undefined, false);
    emptyDict(dst, "/raw/varm");
    if (isLegacyMapping(src, "/raw.varm")) writeLegacyMapping(src, "/raw.varm", dst, "/raw/varm");
  }
  if (include.has("raw") && has("/raw")) {
    dst.createGroup("/raw");
    copyMatrix(src, "/raw/X", dst, "/raw/X", cells, undefined, budget);
    copyTable(src, "/raw/var", dst, "/raw/var", undefined, false);
    if (has("/raw/varm")) {
      emptyDict(dst, "/raw/varm");
      for (const k of src.keys("/raw/varm")) writeElem(dst, `/raw/varm/${k}`, readElem(src, `/raw/varm/${k}`));
    }
  }
}

/**
 * For operators that copy root elements as stored (convert): in a pre-0.7 file (obs a compound dataset),
 * write `key` in the current layout instead — obs/var as dataframes, obsm/varm as dicts of arrays, uns
 * with its legacy elements encoded (and without the categories moved into obs/var), raw.X/raw.var/raw.varm
 * into /raw. Returns false when `key` is not such an element (copy it as stored).
 */
export function copyLegacyRootElement(src: ReadStore, dst: WriteStore, key: string): boolean {
  if (!isLegacyTable(src, "/obs")) return false;
  const p = `/${key}`;
  if ((key === "obs" || key === "var") && isLegacyTable(src, p)) {
    copyTable(src, p, dst, p, undefined, false);
  } else if ((key === "obsm" || key === "varm") && isLegacyMapping(src, p)) {
    emptyDict(dst, p);
    writeLegacyMapping(src, p, dst, p);
  } else if (key === "uns" && src.isGroup(p)) {
    emptyDict(dst, p);
    copyUns(src, dst, { adjacencyToObsp: true });
  } else if (key === "raw.X" || key === "raw.var" || key === "raw.varm") {
    if (!dst.exists("/raw")) dst.createGroup("/raw");
    const to = `/raw/${key.slice(4)}`;
    if (key === "raw.X") copyMatrix(src, p, dst, to, undefined, undefined);
    else if (key === "raw.var") copyTable(src, p, dst, to, undefined, false);
    else {
      emptyDict(dst, to);
      if (isLegacyMapping(src, p)) writeLegacyMapping(src, p, dst, to);
    }
  } else {
    return false;
  }
  return true;
}

interface UnsCopyOptions {
  /** Categories kept in obs/var: the matching `<column>_colors` arrays keep the same entries. */
  kept?: KeptCategories;
  /** Selected cells, for the cell × cell matrices moved to obsp. */
  cells?: Int32Array;
  budget?: number;
  /**
   * Move uns['neighbors']['distances'/'connectivities'] (cells × cells, where Scanpy < 1.5 kept them) to
   * obsp, as anndata does when it reads a file: a subset then restricts them like any obsp matrix.
   */
  adjacencyToObsp: boolean;
}

/** NEIGHBORS_ADJACENCY: the uns['neighbors'] entries anndata's reader moves to obsp (`_move_adj_mtx`). */
const NEIGHBORS_ADJACENCY = ["distances", "connectivities"];

/** uns's entries, without the pre-0.7 categories that now live in obs/var (dst's /uns must exist). */
function copyUns(src: ReadStore, dst: WriteStore, opts: UnsCopyOptions): void {
  const moved = consumedCategoryKeys(src);
  for (const k of src.keys("/uns")) {
    if (moved.has(k)) continue;
    const p = `/uns/${k}`;
    if (k === "neighbors" && opts.adjacencyToObsp && src.isGroup(p)) {
      copyNeighbors(src, dst, opts);
      continue;
    }
    let e = readElem(src, p);
    const kept = opts.kept?.get(k);
    // anndata subsets a colour list only when it has a colour for every original category.
    if (kept && e.type === "array" && e.shape.length === 1 && e.shape[0]! >= kept.nCategories)
      e = takeArray(e, kept.keep);
    writeElem(dst, p, e);
  }
}

function copyNeighbors(src: ReadStore, dst: WriteStore, opts: UnsCopyOptions): void {
  const from = "/uns/neighbors";
  // Its entries are copied one by one, as a dict's (the group is read as one: see readElem).
  createEncodedGroup(dst, from, "dict");
  for (const k of src.keys(from)) {
    const p = `${from}/${k}`;
    if (NEIGHBORS_ADJACENCY.includes(k) && isMatrixElement(src, p)) {
      if (!dst.exists("/obsp")) emptyDict(dst, "/obsp");
      if (!src.exists(`/obsp/${k}`) && !dst.exists(`/obsp/${k}`))
        copyMatrix(src, p, dst, `/obsp/${k}`, opts.cells, opts.cells, opts.budget);
      continue;
    }
    writeElem(dst, p, readElem(src, p));
  }
}

/**
 * An anndata < 0.7 obsm/varm (one compound dataset, small: a few columns per cell, one field per entry)
 * as one array per entry under `to` (which must exist), restricted to `rows` when given.
 */
function writeLegacyMapping(src: ReadStore, from: string, dst: WriteStore, to: string, rows?: Int32Array): void {
  for (const [k, a] of Object.entries(readLegacyMapping(src, from)))
    writeElem(dst, `${to}/${k}`, rows ? takeArray(a, rows) : a);
}
