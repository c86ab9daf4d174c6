/** Dense arrays and scalars: the "array", "string-array", "numeric-scalar" and "string" encodings. */
import type { ReadStore, WriteStore } from "../../store.ts";
import type { H5Dtype } from "../../h5/types.ts";
import { FileFormatError } from "../../../errors.ts";
import type { ArrayDtype, NdArray, Scalar } from "../model.ts";
import { stampEncoding } from "../registry.ts";

export function toArrayDtype(file: ReadStore, path: string, d: H5Dtype): ArrayDtype {
  if (d === "string" || d.startsWith("fixed-string:")) return "string";
  if (d === "other") {
    throw new FileFormatError(`${path} has an HDF5 data type crispyx cannot read (compound, enum or reference)`, {
      file: file.path,
    });
  }
  return d as ArrayDtype;
}

export function readArray(file: ReadStore, path: string): NdArray {
  const info = file.info(path);
  const dtype = toArrayDtype(file, path, info.dtype);
  const data = dtype === "string" ? file.readStrings(path) : file.read(path);
  return { type: "array", dtype, shape: info.shape, data };
}

export function readScalar(file: ReadStore, path: string): Scalar {
  const info = file.info(path);
  const dtype = toArrayDtype(file, path, info.dtype);
  if (dtype === "string") return { type: "scalar", dtype, value: file.readStrings(path)[0]! };
  const v = file.read(path)[0]!;
  return { type: "scalar", dtype, value: dtype === "bool" ? v !== 0 : v };
}

export function writeArray(file: WriteStore, path: string, a: NdArray): void {
  const n = a.shape.reduce((x, y) => x * y, 1);
  if (a.data.length !== n) {
    throw new FileFormatError(`cannot write ${path}: ${a.data.length} values for shape [${a.shape.join(", ")}]`);
  }
  file.createDataset(path, { dtype: a.dtype, shape: a.shape, data: a.data });
  stampEncoding(file, path, a.dtype === "string" ? "string-array" : "array");
}

export function writeScalar(file: WriteStore, path: string, s: Scalar): void {
  if (s.dtype === "string") {
    file.createDataset(path, { dtype: "string", shape: [], data: [String(s.value)] });
    stampEncoding(file, path, "string");
  } else {
    const v = s.value;
    const data = s.dtype === "bool" ? [Boolean(v)] : scalarArray(s.dtype, v as number | bigint);
    file.createDataset(path, { dtype: s.dtype, shape: [], data });
    stampEncoding(file, path, "numeric-scalar");
  }
}

function scalarArray(dtype: ArrayDtype, v: number | bigint) {
  switch (dtype) {
    case "int64":
      return BigInt64Array.of(BigInt(v));
    case "uint64":
      return BigUint64Array.of(BigInt(v));
    case "int32":
      return Int32Array.of(Number(v));
    case "uint32":
      return Uint32Array.of(Number(v));
    case "int16":
      return Int16Array.of(Number(v));
    case "uint16":
      return Uint16Array.of(Number(v));
    case "int8":
      return Int8Array.of(Number(v));
    case "uint8":
      return Uint8Array.of(Number(v));
    case "float32":
      return Float32Array.of(Number(v));
    default:
      return Float64Array.of(Number(v));
  }
}
