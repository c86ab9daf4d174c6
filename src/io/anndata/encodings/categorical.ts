/** pandas.Categorical: the "categorical" encoding (codes + categories + ordered flag). */
import type { H5File } from "../../h5/file.ts";
import { FileFormatError } from "../../../errors.ts";
import type { Categorical } from "../model.ts";
import { readArray, writeArray } from "./arrays.ts";

export function readCategorical(file: H5File, path: string): Categorical {
  const codes = file.read(`${path}/codes`);
  if (!(codes instanceof Int8Array || codes instanceof Int16Array || codes instanceof Int32Array || codes instanceof BigInt64Array)) {
    throw new FileFormatError(`${file.path}: ${path}/codes must hold signed integers`, { file: file.path });
  }
  const ordered = file.attr(path, "ordered");
  return { type: "categorical", codes, categories: readArray(file, `${path}/categories`), ordered: Boolean(ordered) };
}

export function writeCategorical(file: H5File, path: string, c: Categorical): void {
  file.createGroup(path);
  file.setAttr(path, "encoding-type", "categorical");
  file.setAttr(path, "encoding-version", "0.2.0");
  file.setAttr(path, "ordered", c.ordered);
  writeArray(file, `${path}/categories`, c.categories);
  writeArray(file, `${path}/codes`, { type: "array", dtype: codeDtype(c.codes), shape: [c.codes.length], data: c.codes });
}

function codeDtype(codes: Categorical["codes"]) {
  if (codes instanceof Int8Array) return "int8" as const;
  if (codes instanceof Int16Array) return "int16" as const;
  if (codes instanceof Int32Array) return "int32" as const;
  return "int64" as const;
}

/** The values of a categorical as strings (null where missing). */
export function categoricalValues(c: Categorical): (string | null)[] {
  const cats = Array.from(c.categories.data as ArrayLike<unknown>, String);
  return Array.from(c.codes as ArrayLike<number | bigint>, (k) => (Number(k) < 0 ? null : cats[Number(k)]!));
}
