/** Plain JavaScript values → AnnData elements, so callers can write `{ n_pcs: 50, params: {...} }` to uns. */
import { InvalidArgumentError } from "../../errors.ts";
import type { TypedArray } from "../h5/types.ts";
import type { Element } from "./model.ts";
import { bools, ndarray, scalar, strings, typedArrayDtype } from "./model.ts";

export type PlainValue =
  | Element
  | string
  | number
  | bigint
  | boolean
  | TypedArray
  | string[]
  | number[]
  | boolean[]
  | number[][]
  | { [key: string]: PlainValue };

const ELEMENT_TYPES = new Set([
  "array",
  "csr",
  "csc",
  "categorical",
  "nullable-integer",
  "nullable-boolean",
  "nullable-string",
  "scalar",
  "dataframe",
  "dict",
]);

function isElement(v: unknown): v is Element {
  return (
    typeof v === "object" &&
    v !== null &&
    !Array.isArray(v) &&
    !ArrayBuffer.isView(v) &&
    ELEMENT_TYPES.has((v as { type?: string }).type ?? "")
  );
}

/**
 * Convert a value: numbers become int64 when integral (as Python ints do) else float64, strings become
 * string scalars, arrays become 1-D (or 2-D for arrays of equal-length number arrays) arrays, objects
 * become dicts. Elements pass through unchanged.
 */
export function toElement(value: PlainValue, where = "value"): Element {
  if (isElement(value)) return value;
  if (
    typeof value === "string" ||
    typeof value === "number" ||
    typeof value === "bigint" ||
    typeof value === "boolean"
  ) {
    return scalar(value);
  }
  if (ArrayBuffer.isView(value))
    return ndarray(value as TypedArray, [value.length], typedArrayDtype(value as TypedArray));
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === "string")) return strings(value as string[]);
    if (value.every((v) => typeof v === "boolean")) return bools(value as boolean[]);
    if (value.every((v) => typeof v === "number")) {
      const nums = value as number[];
      return nums.every(Number.isInteger)
        ? ndarray(BigInt64Array.from(nums, BigInt))
        : ndarray(Float64Array.from(nums));
    }
    if (value.every((v) => Array.isArray(v) && v.every((x) => typeof x === "number"))) {
      const rows = value as number[][];
      const cols = rows[0]?.length ?? 0;
      if (rows.some((r) => r.length !== cols))
        throw new InvalidArgumentError(`${where}: rows of a 2-D array differ in length`);
      const flat = rows.flat();
      const data = flat.every(Number.isInteger) ? BigInt64Array.from(flat, BigInt) : Float64Array.from(flat);
      return ndarray(data, [rows.length, cols]);
    }
    throw new InvalidArgumentError(`${where}: arrays must hold only strings, only numbers or only booleans`);
  }
  if (typeof value === "object" && value !== null) {
    const items: Record<string, Element> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k.includes("/"))
        throw new InvalidArgumentError(`${where}: key '${k}' contains '/', which HDF5 does not allow in names`);
      items[k] = toElement(v as PlainValue, `${where}.${k}`);
    }
    return { type: "dict", items };
  }
  throw new InvalidArgumentError(`${where}: cannot store ${value === null ? "null" : typeof value} in an .h5ad file`);
}
