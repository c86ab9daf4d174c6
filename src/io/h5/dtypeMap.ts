/**
 * Between HDF5's datatypes (as h5wasm describes them) and crispyx's numpy-style dtype names
 * (../dtypes.ts): what a dataset or attribute holds, the h5wasm type string to write one, and the
 * decoding of attribute values as h5py returns them.
 *
 * Cost model: constant time per call (decodeValue: linear in a boolean array's length).
 */
import { CrispyxError } from "../../errors.ts";
import { H5T } from "./wasm.ts";
import { isNumericDtype, type AttrValue, type H5Dtype, type NumericDtype, type TypedArray } from "../dtypes.ts";

/** What h5wasm reports about a datatype (dataset, attribute or compound member metadata). */
export interface H5TypeMeta {
  type: number;
  size: number;
  signed: boolean;
  vlen: boolean;
  enum_type?: { members: Record<string, number>; type: number };
}

export function mapDtype(meta: H5TypeMeta): H5Dtype {
  switch (meta.type) {
    case H5T.INTEGER: {
      const bits = meta.size * 8;
      return `${meta.signed ? "int" : "uint"}${bits}` as NumericDtype;
    }
    case H5T.FLOAT:
      if (meta.size === 4) return "float32";
      if (meta.size === 8) return "float64";
      return "other";
    case H5T.STRING:
      return meta.vlen ? "string" : `fixed-string:${meta.size}`;
    case H5T.ENUM: {
      const m = meta.enum_type?.members ?? {};
      const names = Object.keys(m);
      if (names.length === 2 && m["FALSE"] === 0 && m["TRUE"] === 1) return "bool";
      return "other";
    }
    default:
      return "other";
  }
}

/** h5wasm's dtype string for a dtype we write. Booleans are written as int8 (see ./booleans.ts). */
export function h5wasmDtype(d: H5Dtype): string {
  if (d === "string") return "S";
  if (d === "bool") return "<b";
  if (d.startsWith("fixed-string:")) return `S${d.slice("fixed-string:".length)}`;
  const map: Record<NumericDtype, string> = {
    int8: "<b",
    uint8: "<B",
    int16: "<h",
    uint16: "<H",
    int32: "<i",
    uint32: "<I",
    int64: "<q",
    uint64: "<Q",
    float32: "<f",
    float64: "<d",
  };
  if (isNumericDtype(d)) return map[d];
  throw new CrispyxError(`cannot write HDF5 data of type ${d}`);
}

/** An attribute value as h5py returns it: numpy scalars as JS scalars, string arrays as string[]. */
export function decodeValue(value: unknown, dtype: H5Dtype, scalar: boolean): AttrValue {
  if (dtype === "bool") {
    const arr = Array.from(value as ArrayLike<number>, (x) => Number(x) !== 0);
    return scalar ? (arr[0] ?? Boolean(value)) : arr;
  }
  if (scalar) {
    if (typeof value === "bigint") {
      return Number.isSafeInteger(Number(value)) ? Number(value) : value;
    }
    if (ArrayBuffer.isView(value)) {
      const v = (value as unknown as ArrayLike<number | bigint>)[0]!;
      return typeof v === "bigint" && Number.isSafeInteger(Number(v)) ? Number(v) : v;
    }
    return value as string | number;
  }
  if (Array.isArray(value)) return value.map(String);
  return value as TypedArray;
}
