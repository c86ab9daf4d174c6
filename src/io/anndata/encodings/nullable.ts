/** pandas nullable arrays: "nullable-integer", "nullable-boolean", "nullable-string-array". */
import type { ReadStore, WriteStore } from "../../store.ts";
import { FileFormatError } from "../../../errors.ts";
import { categorical, type Categorical, type NullableArray } from "../model.ts";
import { writeSettings } from "../settings.ts";
import { createEncodedGroup, type EncodingType } from "../registry.ts";
import { naturalCompare } from "../naturalOrder.ts";
import { writeCategorical } from "./categorical.ts";
import { readArray, writeArray } from "./arrays.ts";

/** The encoding each nullable type is written as. */
const ENCODING: Record<NullableArray["type"], EncodingType> = {
  "nullable-integer": "nullable-integer",
  "nullable-boolean": "nullable-boolean",
  "nullable-string": "nullable-string-array",
};

export function readNullable(file: ReadStore, path: string, type: NullableArray["type"]): NullableArray {
  const values = readArray(file, `${path}/values`);
  const mask = file.read(`${path}/mask`);
  if (!(mask instanceof Uint8Array) || mask.length !== values.data.length) {
    throw new FileFormatError(`${path}/mask must be a boolean array as long as its values`, { file: file.path });
  }
  return { type, values, mask };
}

/**
 * Nullable strings as the categorical crispyx writes by default (settings.ts): the same values, missing ones
 * as code -1, categories in anndata's order (natsort, as its `strings_to_categoricals`).
 */
export function nullableStringsAsCategorical(a: NullableArray): Categorical {
  const values = Array.from(a.values.data as string[], (v, i) => (a.mask[i] ? null : v));
  const categories = [...new Set(values.filter((v): v is string => v !== null))].sort(naturalCompare);
  return categorical(values, { categories });
}

export function writeNullable(file: WriteStore, path: string, a: NullableArray): void {
  if (a.mask.length !== a.values.data.length) {
    throw new FileFormatError(`cannot write ${path}: mask and values differ in length`);
  }
  if (a.type === "nullable-string" && !writeSettings.writeNullableStrings) {
    writeCategorical(file, path, nullableStringsAsCategorical(a));
    return;
  }
  createEncodedGroup(file, path, ENCODING[a.type]);
  writeArray(file, `${path}/values`, a.values);
  writeArray(file, `${path}/mask`, { type: "array", dtype: "bool", shape: [a.mask.length], data: a.mask });
}
