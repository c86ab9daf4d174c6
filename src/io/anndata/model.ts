/**
 * The in-memory AnnData model: what crispyx hands to users once something has been read from a file,
 * and what it accepts for writing. Each element mirrors one AnnData on-disk encoding so that a read
 * followed by a write reproduces the file exactly (dtypes included).
 */
import type { NumericDtype, TypedArray } from "../dtypes.ts";

/** numpy-style element type of an array. Booleans are stored as Uint8Array (0/1) with dtype "bool". */
export type ArrayDtype = NumericDtype | "bool" | "string";

/** A dense n-d array, row-major ("array" and "string-array" encodings). */
export interface NdArray {
  type: "array";
  dtype: ArrayDtype;
  shape: number[];
  data: TypedArray | string[];
}

/** A compressed sparse matrix ("csr_matrix" / "csc_matrix"). */
export interface SparseMatrix {
  type: "csr" | "csc";
  shape: [number, number];
  data: TypedArray;
  indices: TypedArray;
  indptr: TypedArray;
}

/** pandas.Categorical: codes into categories, -1 for missing. */
export interface Categorical {
  type: "categorical";
  codes: Int8Array | Int16Array | Int32Array | BigInt64Array;
  categories: NdArray;
  ordered: boolean;
}

/** pandas nullable arrays (Int64, boolean, string): values plus a mask that is 1 where missing. */
export interface NullableArray {
  type: "nullable-integer" | "nullable-boolean" | "nullable-string";
  values: NdArray;
  mask: Uint8Array;
}

/** A 0-d value ("numeric-scalar" / "string"). */
export interface Scalar {
  type: "scalar";
  dtype: ArrayDtype;
  value: number | bigint | boolean | string;
}

export type Column = NdArray | Categorical | NullableArray;

/** pandas.DataFrame: a string index, and columns in `columnOrder`. */
export interface DataFrame {
  type: "dataframe";
  /** Name of the index dataset on disk (anndata uses "_index" unless the index had a name). */
  indexName: string;
  index: string[];
  columnOrder: string[];
  columns: Record<string, Column>;
}

/** A mapping of names to elements ("dict" encoding): uns, and the nested dicts inside it. */
export interface Dict {
  type: "dict";
  items: Record<string, Element>;
}

/** One field of a record array: numbers in a typed array, or strings. */
export interface RecArrayField {
  name: string;
  dtype: ArrayDtype;
  data: TypedArray | string[];
}

/** A numpy record (structured) array, anndata's "rec-array" encoding (Scanpy's rank_genes_groups tables). */
export interface RecArray {
  type: "rec-array";
  length: number;
  fields: RecArrayField[];
}

/** Python's None (anndata ≥ 0.12's "null" encoding, e.g. an uns entry set to None). */
export interface Null {
  type: "null";
}

export type Element =
  | NdArray
  | SparseMatrix
  | Categorical
  | NullableArray
  | Scalar
  | DataFrame
  | Dict
  | RecArray
  | Null;

export type Matrix = NdArray | SparseMatrix;

export interface Raw {
  X: Matrix;
  var: DataFrame;
  varm: Record<string, Element>;
}

/** A whole AnnData object in memory (for small data, tests and the demo). */
export interface AnnData {
  X: Matrix | null;
  obs: DataFrame;
  var: DataFrame;
  uns: Record<string, Element>;
  obsm: Record<string, Element>;
  varm: Record<string, Element>;
  obsp: Record<string, Element>;
  varp: Record<string, Element>;
  layers: Record<string, Element>;
  raw: Raw | null;
}

// ---- constructors that make the common cases short ----------------------------------------------

export function ndarray(data: TypedArray | string[], shape?: number[], dtype?: ArrayDtype): NdArray {
  const d = dtype ?? (Array.isArray(data) ? "string" : typedArrayDtype(data));
  return { type: "array", dtype: d, shape: shape ?? [data.length], data };
}

export function strings(values: string[]): NdArray {
  return { type: "array", dtype: "string", shape: [values.length], data: values };
}

export function bools(values: ArrayLike<boolean | number>): NdArray {
  return {
    type: "array",
    dtype: "bool",
    shape: [values.length],
    data: Uint8Array.from(values as ArrayLike<number>, (v) => (v ? 1 : 0)),
  };
}

export function categorical(
  values: (string | null)[],
  opts: { categories?: string[]; ordered?: boolean } = {},
): Categorical {
  const cats = opts.categories ?? [...new Set(values.filter((v): v is string => v !== null))].sort();
  const pos = new Map(cats.map((c, i) => [c, i]));
  const Codes = cats.length < 128 ? Int8Array : cats.length < 32768 ? Int16Array : Int32Array;
  const codes = new Codes(values.length);
  values.forEach((v, i) => {
    codes[i] = v === null ? -1 : (pos.get(v) ?? -1);
  });
  return { type: "categorical", codes, categories: strings(cats), ordered: opts.ordered ?? false };
}

export function dataframe(index: string[], columns: Record<string, Column> = {}, indexName = "_index"): DataFrame {
  return { type: "dataframe", indexName, index, columnOrder: Object.keys(columns), columns };
}

export function dict(items: Record<string, Element> = {}): Dict {
  return { type: "dict", items };
}

export function scalar(value: number | bigint | boolean | string, dtype?: ArrayDtype): Scalar {
  const d =
    dtype ??
    (typeof value === "string"
      ? "string"
      : typeof value === "boolean"
        ? "bool"
        : typeof value === "bigint" || Number.isInteger(value)
          ? "int64"
          : "float64");
  return { type: "scalar", dtype: d, value };
}

export function emptyAnnData(nObs: number, nVars: number): AnnData {
  const names = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}${i}`);
  return {
    X: null,
    obs: dataframe(names("cell", nObs)),
    var: dataframe(names("gene", nVars)),
    uns: {},
    obsm: {},
    varm: {},
    obsp: {},
    varp: {},
    layers: {},
    raw: null,
  };
}

export function typedArrayDtype(a: TypedArray): ArrayDtype {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Float64Array) return "float64";
  if (a instanceof Int8Array) return "int8";
  if (a instanceof Uint8Array) return "uint8";
  if (a instanceof Int16Array) return "int16";
  if (a instanceof Uint16Array) return "uint16";
  if (a instanceof Int32Array) return "int32";
  if (a instanceof Uint32Array) return "uint32";
  if (a instanceof BigInt64Array) return "int64";
  if (a instanceof BigUint64Array) return "uint64";
  throw new TypeError("unsupported typed array");
}

/** Length along the first axis of any element (rows of a matrix, entries of a column). */
export function lengthOf(e: Element): number {
  switch (e.type) {
    case "array":
      return e.shape[0] ?? 1;
    case "csr":
    case "csc":
      return e.shape[0];
    case "categorical":
      return e.codes.length;
    case "nullable-integer":
    case "nullable-boolean":
    case "nullable-string":
      return e.mask.length;
    case "dataframe":
      return e.index.length;
    case "scalar":
      return 1;
    case "dict":
      return Object.keys(e.items).length;
    case "rec-array":
      return e.length;
    case "null":
      return 0;
  }
}
