/** Element types of datasets and attributes (any store backend), in the vocabulary of numpy/h5py (what anndata writes). */
export type NumericDtype =
  | "int8"
  | "uint8"
  | "int16"
  | "uint16"
  | "int32"
  | "uint32"
  | "int64"
  | "uint64"
  | "float32"
  | "float64";

export type H5Dtype =
  | NumericDtype
  /** h5py's boolean: an 8-bit enum {FALSE: 0, TRUE: 1}. */
  | "bool"
  /** Variable-length string (h5py `str`), UTF-8 or ASCII. */
  | "string"
  /** Fixed-length byte string of `size` bytes (numpy `S<size>`). */
  | `fixed-string:${number}`
  /** Anything else (compound, other enums, references): readable only through `readRaw`. */
  | "other";

export type TypedArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

export type TypedArrayConstructor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

export const TYPED_ARRAY_OF: Record<NumericDtype, TypedArrayConstructor> = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float32: Float32Array,
  float64: Float64Array,
};

export const BYTES_OF: Record<NumericDtype, number> = {
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
  float32: 4,
  float64: 8,
};

/** The numpy-style name of a typed array's element type. */
export function dtypeOfArray(a: TypedArray): NumericDtype {
  for (const [name, ctor] of Object.entries(TYPED_ARRAY_OF)) {
    if (a instanceof ctor) return name as NumericDtype;
  }
  throw new TypeError(`unsupported array type ${a.constructor.name}`);
}

export function isNumericDtype(d: H5Dtype): d is NumericDtype {
  return d in BYTES_OF;
}

export interface DatasetInfo {
  /** [] for a scalar dataset. */
  shape: number[];
  dtype: H5Dtype;
  /** Chunk shape, or null when stored contiguously. */
  chunks: number[] | null;
  /** Maximum shape; null entries are unlimited. */
  maxshape: (number | null)[];
  /** Number of elements. */
  size: number;
}

/** A value of an attribute after decoding, as h5py would return it (numpy scalars become JS scalars). */
export type AttrValue = string | number | bigint | boolean | string[] | TypedArray | boolean[];

export type ObjectKind = "group" | "dataset" | "other";

export interface CreateDatasetOptions {
  dtype: H5Dtype;
  shape: number[];
  /** null entries make that dimension resizable. */
  maxshape?: (number | null)[];
  chunks?: number[];
  /** gzip level 1–9. Requires chunks. */
  gzip?: number;
  /** Initial contents; when absent the dataset is created empty (shape must then allow it). */
  data?: TypedArray | string[] | boolean[];
}
