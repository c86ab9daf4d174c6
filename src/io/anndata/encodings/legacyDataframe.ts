/**
 * obs/var as anndata < 0.7 wrote them: one 1-D compound dataset, the first field holding the index, the
 * other fields the columns. Categorical columns were stored as integer codes, their categories in
 * `uns['<col>_categories']`; anndata 0.11 restores those when it reads such a file (compat `_clean_uns`),
 * and crispyx does the same so both read the same table. obsm/varm were one compound dataset too.
 */
import type { ReadStore } from "../../store.ts";
import { TYPED_ARRAY_OF, isNumericDtype, type TypedArray } from "../../h5/types.ts";
import { FileFormatError } from "../../../errors.ts";
import type { Categorical, Column, DataFrame, NdArray } from "../model.ts";
import { readElem } from "../registry.ts";
import { isCompoundDataset, readRecArray } from "./recarray.ts";

/** Whether the table at `path` is a pre-0.7 compound dataset rather than a dataframe group. */
export function isLegacyTable(file: ReadStore, path: string): boolean {
  return file.isDataset(path) && isCompoundDataset(file, path);
}

/** Field names of a legacy table: [index field, ...columns]. Reads no data. */
export function legacyFieldNames(file: ReadStore, path: string): string[] {
  return file.compoundInfo(path).members.map((m) => m.name);
}

export function legacyTableLength(file: ReadStore, path: string): number {
  return file.compoundInfo(path).length;
}

/** Read a legacy table whole (it has no per-column storage), restoring categoricals for /obs and /var. */
export function readLegacyDataFrame(file: ReadStore, path: string): DataFrame {
  const rec = readRecArray(file, path);
  const [first, ...rest] = rec.fields;
  const index = first
    ? Array.isArray(first.data)
      ? (first.data as string[])
      : Array.from(first.data as ArrayLike<number | bigint>, String)
    : [];
  const columns: Record<string, Column> = {};
  for (const f of rest)
    columns[f.name] = { type: "array", dtype: f.dtype, shape: [rec.length], data: f.data } as NdArray;
  const df: DataFrame = {
    type: "dataframe",
    indexName: first?.name ?? "index",
    index,
    columnOrder: rest.map((f) => f.name),
    columns,
  };
  restoreCategoricals(file, path, df);
  return df;
}

/** uns keys holding categories that anndata moves into obs/var (and then drops from uns). */
export function consumedCategoryKeys(file: ReadStore): Set<string> {
  const used = new Set<string>();
  if (!file.exists("/obs") || !isLegacyTable(file, "/obs")) return used;
  for (const p of ["/obs", "/var"]) {
    if (!file.exists(p) || !isLegacyTable(file, p)) continue;
    const rec = readRecArray(file, p);
    const df: DataFrame = {
      type: "dataframe",
      indexName: "",
      index: [],
      columnOrder: [],
      columns: Object.fromEntries(
        rec.fields
          .slice(1)
          .map((f) => [f.name, { type: "array", dtype: f.dtype, shape: [rec.length], data: f.data } as NdArray]),
      ),
    };
    for (const k of restoreCategoricals(file, p, df)) used.add(k);
  }
  return used;
}

const INT_DTYPES = new Set(["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]);

/**
 * Turn integer columns with a matching `uns['<col>_categories']` into categoricals, as anndata does: only
 * when /obs is a legacy table, and only if every code is below the number of categories (anndata's way of
 * guessing whether the categories belong to obs or var). Returns the uns keys used.
 */
function restoreCategoricals(file: ReadStore, path: string, df: DataFrame): string[] {
  if (
    (path !== "/obs" && path !== "/var") ||
    !isLegacyTable(file, "/obs") ||
    !file.exists("/uns") ||
    file.isDataset("/uns")
  )
    return [];
  const used: string[] = [];
  for (const key of file.keys("/uns")) {
    if (!key.endsWith("_categories")) continue;
    const col = df.columns[key.replaceAll("_categories", "")];
    if (!col || col.type !== "array" || !INT_DTYPES.has(col.dtype)) continue;
    const categories = categoriesOf(file, `/uns/${key}`);
    if (!categories) continue;
    const n = categories.shape[0]!;
    const codes = col.data as ArrayLike<number | bigint>;
    let fits = true;
    for (let i = 0; i < codes.length && fits; i++) fits = Number(codes[i]) < n && Number(codes[i]) >= -1;
    if (!fits) continue;
    const cat: Categorical = { type: "categorical", codes: asCodes(col), categories, ordered: false };
    df.columns[key.replaceAll("_categories", "")] = cat;
    used.push(key);
  }
  return used;
}

/** The categories stored at `path`: a 1-D array, or a single string/number (one category). */
function categoriesOf(file: ReadStore, path: string): NdArray | null {
  const e = readElem(file, path);
  if (e.type === "array" && e.shape.length === 1) return e;
  if (e.type === "scalar") {
    return typeof e.value === "string"
      ? { type: "array", dtype: "string", shape: [1], data: [e.value] }
      : { type: "array", dtype: "float64", shape: [1], data: Float64Array.of(Number(e.value)) };
  }
  return null;
}

function asCodes(col: NdArray): Categorical["codes"] {
  const d = col.data;
  if (d instanceof Int8Array || d instanceof Int16Array || d instanceof Int32Array || d instanceof BigInt64Array)
    return d;
  if (d instanceof BigUint64Array) return BigInt64Array.from(d, (v) => BigInt.asIntN(64, v));
  return Int32Array.from(d as ArrayLike<number>);
}

// ---- obsm/varm as anndata < 0.7 wrote them ---------------------------------------------------------

/** Whether obsm/varm (or raw.varm) at `path` is one compound dataset, one field per entry (anndata < 0.7). */
export function isLegacyMapping(file: ReadStore, path: string): boolean {
  return file.exists(path) && file.isDataset(path) && isCompoundDataset(file, path);
}

export function legacyMappingKeys(file: ReadStore, path: string): string[] {
  return file.compoundInfo(path).members.map((m) => m.name);
}

/**
 * Every field of a legacy obsm/varm dataset as an array of shape [rows, ...field shape] (anndata's
 * `convert_to_dict` of the record array): sub-array fields like 'X_pca' (50,) become matrices.
 */
export function readLegacyMapping(file: ReadStore, path: string): Record<string, NdArray> {
  const { members, columns } = file.readCompound(path);
  const n = file.compoundInfo(path).length;
  const out: Record<string, NdArray> = {};
  members.forEach((m, k) => {
    const inner = m.arrayShape ?? [];
    const shape = [n, ...inner];
    const flat = inner.length ? columns[k]!.flatMap((v) => (v as unknown[]).flat(Infinity)) : columns[k]!;
    if (m.dtype === "string" || m.dtype.startsWith("fixed-string:")) {
      out[m.name] = { type: "array", dtype: "string", shape, data: flat.map((v) => String(v).replace(/\0+$/, "")) };
      return;
    }
    if (!isNumericDtype(m.dtype)) {
      throw new FileFormatError(`field '${m.name}' of ${path} has a type crispyx cannot read`, { file: file.path });
    }
    const Ctor = TYPED_ARRAY_OF[m.dtype];
    const data =
      m.dtype === "int64" || m.dtype === "uint64"
        ? (Ctor as BigInt64ArrayConstructor).from(flat, (v) => BigInt(v as number | bigint))
        : (Ctor as Float64ArrayConstructor).from(flat, Number);
    out[m.name] = { type: "array", dtype: m.dtype, shape, data: data as TypedArray };
  });
  return out;
}
