/** pandas.Categorical: the "categorical" encoding (codes + categories + ordered flag). */
import type { ReadStore, WriteStore } from "../../store.ts";
import { FileFormatError } from "../../../errors.ts";
import type { Categorical } from "../model.ts";
import { createEncodedGroup } from "../registry.ts";
import { readArray, writeArray } from "./arrays.ts";

/** Where a categorical's parts are stored: a group (anndata ≥ 0.8) or anndata 0.7's codes dataset. */
export function categoricalParts(
  file: ReadStore,
  path: string,
): { codes: string; categories: string; orderedOn: string } {
  if (file.isDataset(path)) {
    // anndata 0.7: the codes are the column itself; `categories` references a dataset in the table's
    // `__categories` group, which carries the `ordered` attribute.
    const categories = file.referencedPath(path, "categories");
    if (categories === null || !file.isDataset(categories)) {
      throw new FileFormatError(`categorical column ${path} refers to categories that are not a dataset`, {
        file: file.path,
      });
    }
    return { codes: path, categories, orderedOn: categories };
  }
  return { codes: `${path}/codes`, categories: `${path}/categories`, orderedOn: path };
}

export function readCategorical(file: ReadStore, path: string): Categorical {
  const parts = categoricalParts(file, path);
  const codes = file.read(parts.codes);
  if (
    !(
      codes instanceof Int8Array ||
      codes instanceof Int16Array ||
      codes instanceof Int32Array ||
      codes instanceof BigInt64Array
    )
  ) {
    throw new FileFormatError(`${parts.codes} must hold signed integers (categorical codes)`, { file: file.path });
  }
  const ordered = file.attr(parts.orderedOn, "ordered");
  return { type: "categorical", codes, categories: readArray(file, parts.categories), ordered: Boolean(ordered) };
}

export function writeCategorical(file: WriteStore, path: string, c: Categorical): void {
  createEncodedGroup(file, path, "categorical");
  file.setAttr(path, "ordered", c.ordered);
  writeArray(file, `${path}/categories`, c.categories);
  writeArray(file, `${path}/codes`, {
    type: "array",
    dtype: codeDtype(c.codes),
    shape: [c.codes.length],
    data: c.codes,
  });
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
