/** pandas.DataFrame: the "dataframe" encoding (an index dataset, one element per column, column order). */
import type { ReadStore, WriteStore } from "../../store.ts";
import { FileFormatError } from "../../../errors.ts";
import type { Column, DataFrame } from "../model.ts";
import { lengthOf } from "../model.ts";
import { createEncodedGroup, readElem, writeElem } from "../registry.ts";
import { writeArray } from "./arrays.ts";
import { isLegacyTable, legacyFieldNames, legacyTableLength, readLegacyDataFrame } from "./legacyDataframe.ts";

/** Column names in the order the file records (the `column-order` attribute). */
export function columnOrder(file: ReadStore, path: string): string[] {
  if (isLegacyTable(file, path)) return legacyFieldNames(file, path).slice(1);
  const order = file.attr(path, "column-order");
  if (order === undefined) return [];
  if (typeof order === "string") return [order];
  // anndata writes an empty list as an empty float64 array, so anything non-string is empty.
  return Array.isArray(order) ? order.map(String) : [];
}

/** The name of the dataset holding the index (attribute `_index`). */
export function indexName(file: ReadStore, path: string): string {
  if (isLegacyTable(file, path)) return legacyFieldNames(file, path)[0] ?? "index";
  const name = file.attr(path, "_index");
  if (typeof name !== "string") {
    throw new FileFormatError(`dataframe ${path} has no '_index' attribute`, { file: file.path });
  }
  return name;
}

/** Number of rows, from the index's shape (no data read). */
export function tableLength(file: ReadStore, path: string): number {
  if (isLegacyTable(file, path)) return legacyTableLength(file, path);
  return file.info(`${path}/${indexName(file, path)}`).shape[0]!;
}

export function readIndex(file: ReadStore, path: string): string[] {
  if (isLegacyTable(file, path)) return readLegacyDataFrame(file, path).index;
  const name = indexName(file, path);
  const p = `${path}/${name}`;
  if (!file.isDataset(p)) {
    throw new FileFormatError(`dataframe ${path} names '${name}' as its index but has no such dataset`, {
      file: file.path,
    });
  }
  const info = file.info(p);
  if (info.dtype === "string" || info.dtype.startsWith("fixed-string:")) return file.readStrings(p);
  return Array.from(file.read(p) as ArrayLike<number | bigint>, String);
}

export function readColumn(file: ReadStore, path: string, name: string): Column {
  if (isLegacyTable(file, path)) {
    const col = readLegacyDataFrame(file, path).columns[name];
    if (!col) throw new FileFormatError(`table ${path} has no column '${name}'`, { file: file.path });
    return col;
  }
  const col = readElem(file, `${path}/${name}`);
  if (col.type !== "array" && col.type !== "categorical" && !col.type.startsWith("nullable-")) {
    throw new FileFormatError(`column ${path}/${name} is a ${col.type}, not a column`, { file: file.path });
  }
  return col as Column;
}

export function readDataFrame(file: ReadStore, path: string): DataFrame {
  if (isLegacyTable(file, path)) return readLegacyDataFrame(file, path);
  const index = readIndex(file, path);
  const order = columnOrder(file, path);
  const columns: Record<string, Column> = {};
  for (const name of order) columns[name] = readColumn(file, path, name);
  return { type: "dataframe", indexName: indexName(file, path), index, columnOrder: order, columns };
}

/**
 * Where column `name` of the table at `path` is written. A name with '/' is a nested path, as h5py and
 * anndata 0.8 write it (group 'grp', dataset 'sub' for 'grp/sub'; anndata reads it back as `group[name]`):
 * the groups on the way are created. A name HDF5 would read as another path (empty components, '.', '..')
 * is refused in one line.
 */
export function columnPath(file: WriteStore, path: string, name: string): string {
  if (!name.includes("/")) return `${path}/${name}`;
  const parts = name.split("/");
  if (parts.some((p) => p === "" || p === "." || p === "..")) {
    throw new FileFormatError(
      `cannot write ${path}: column name '${name}' is not a path HDF5 can hold (empty, '.' or '..' parts)`,
      {
        file: file.path,
        hint: "rename the column",
      },
    );
  }
  file.ensureGroup(`${path}/${parts.slice(0, -1).join("/")}`);
  return `${path}/${name}`;
}

export function writeDataFrame(file: WriteStore, path: string, df: DataFrame): void {
  for (const name of df.columnOrder) {
    const col = df.columns[name];
    if (!col) throw new FileFormatError(`cannot write ${path}: column '${name}' is in columnOrder but missing`);
    if (lengthOf(col) !== df.index.length) {
      throw new FileFormatError(
        `cannot write ${path}: column '${name}' has ${lengthOf(col)} values for ${df.index.length} rows`,
      );
    }
  }
  if (df.columnOrder.includes(df.indexName)) {
    throw new FileFormatError(`cannot write ${path}: a column is named like the index ('${df.indexName}')`);
  }
  createEncodedGroup(file, path, "dataframe");
  file.setAttr(path, "_index", df.indexName);
  file.setAttr(path, "column-order", df.columnOrder.length ? df.columnOrder : new Float64Array(0));
  writeArray(file, `${path}/${df.indexName}`, {
    type: "array",
    dtype: "string",
    shape: [df.index.length],
    data: df.index,
  });
  for (const name of df.columnOrder) writeElem(file, columnPath(file, path, name), df.columns[name]!);
}
