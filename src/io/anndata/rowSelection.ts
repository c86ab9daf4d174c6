/**
 * Row selections held in memory: masks to positions, old → new position maps, the selected rows of
 * arrays, dataframe columns and whole dataframes (with pandas' remove_unused_categories), and the windows
 * a streamed copy reads a sorted selection in. Used by carry-over (./carryOver.ts) and the operators that
 * subset or reorder (subset, sort, qc).
 *
 * Cost model: each take is one pass over the selected rows, allocating the result (O(selected × row
 * length)); remapFor allocates one Int32Array of the axis length; selectionWindows allocates one small
 * position array per window.
 */
import type { TypedArray } from "../h5/types.ts";
import type { Categorical, Column, DataFrame, NdArray } from "./model.ts";

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

/** The elements `sel` of a typed array, in a new array of its type. */
function takeTyped<T extends TypedArray>(a: T, sel: Int32Array): T {
  const out = new (a.constructor as { new (n: number): T })(sel.length);
  const src = a as unknown as (number | bigint)[];
  const dst = out as unknown as (number | bigint)[];
  for (let k = 0; k < sel.length; k++) dst[k] = src[sel[k]!]!;
  return out;
}

/** The rows `sel` (along the first axis) of an in-memory array. */
export function takeArray(a: NdArray, sel: Int32Array): NdArray {
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
export function usedCategories(c: Categorical): Int32Array {
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
