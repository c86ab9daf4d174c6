/**
 * The encoding registry: one reader and one writer per AnnData `encoding-type`, as anndata has.
 * `readElem`/`writeElem` are the only entry points; everything else dispatches through them.
 */
import type { ReadStore, WriteStore } from "../store.ts";
import { FileFormatError } from "../../errors.ts";
import type { Dict, Element } from "./model.ts";
import { readArray, readScalar, writeArray, writeScalar } from "./encodings/arrays.ts";
import { readCategorical, writeCategorical } from "./encodings/categorical.ts";
import { readDataFrame, writeDataFrame } from "./encodings/dataframe.ts";
import { nullableTypeOf, readNullable, writeNullable } from "./encodings/nullable.ts";
import { readSparse, writeSparse } from "./encodings/sparse.ts";
import { isCompoundDataset, readRecArray, writeRecArray } from "./encodings/recarray.ts";

export interface EncodingSpec {
  type: string;
  version: string;
}

/**
 * The encoding attributes of an element, or null for files from anndata < 0.7 that have none. A column
 * anndata 0.7 wrote as a categorical (its codes, with an object reference to the categories in the
 * attribute `categories`) has no encoding attributes but is reported as `categorical` version "0.1.0".
 */
export function encodingOf(file: ReadStore, path: string): EncodingSpec | null {
  const type = file.attr(path, "encoding-type");
  if (type === undefined) {
    return file.isDataset(path) && file.referencedPath(path, "categories") !== null ? LEGACY_CATEGORICAL : null;
  }
  const version = file.attr(path, "encoding-version");
  return { type: String(type), version: version === undefined ? "" : String(version) };
}

/** How anndata 0.7 stored a categorical column: see `encodingOf`. */
export const LEGACY_CATEGORICAL: EncodingSpec = { type: "categorical", version: "0.1.0" };

/** The encodings crispyx reads and writes, with the version it writes. */
export const KNOWN_ENCODINGS: Record<string, string> = {
  "array": "0.2.0", "string-array": "0.2.0", "numeric-scalar": "0.2.0", "string": "0.2.0",
  "csr_matrix": "0.1.0", "csc_matrix": "0.1.0", "categorical": "0.2.0", "dataframe": "0.2.0",
  "nullable-integer": "0.1.0", "nullable-boolean": "0.1.0", "nullable-string-array": "0.1.0",
  "dict": "0.1.0", "raw": "0.1.0", "anndata": "0.1.0", "rec-array": "0.2.0", "null": "0.1.0",
};

export function unknownEncoding(file: ReadStore, path: string, enc: EncodingSpec): FileFormatError {
  return new FileFormatError(
    `${file.path}: element ${path} has encoding-type '${enc.type}' (version '${enc.version}'), which crispyx cannot read`,
    { file: file.path, hint: `known encodings: ${Object.keys(KNOWN_ENCODINGS).join(", ")}` },
  );
}

/** Read any element below the AnnData root into memory. */
export function readElem(file: ReadStore, path: string): Element {
  const kind = file.kind(path);
  if (kind === null) throw new FileFormatError(`${file.path}: no element at ${path}`, { file: file.path });
  const enc = encodingOf(file, path);
  if (enc === null) return readLegacy(file, path, kind);
  switch (enc.type) {
    case "array":
    case "string-array":
      return readArray(file, path);
    case "numeric-scalar":
    case "string":
      return readScalar(file, path);
    case "csr_matrix":
      return readSparse(file, path, "csr");
    case "csc_matrix":
      return readSparse(file, path, "csc");
    case "categorical":
      return readCategorical(file, path);
    case "dataframe":
      return readDataFrame(file, path);
    case "dict":
      return readDict(file, path);
    case "rec-array":
      return readRecArray(file, path);
    case "null":
      return { type: "null" };
  }
  const nullable = nullableTypeOf(enc.type);
  if (nullable) return readNullable(file, path, nullable);
  throw unknownEncoding(file, path, enc);
}

/**
 * Elements without encoding attributes (anndata < 0.7), read as anndata's `read_basic` does: compound
 * datasets are record arrays, a one-element byte-string array is a string, other datasets are arrays or
 * scalars; groups with data/indices/indptr are sparse matrices (`h5sparse_format` says which), other groups dicts.
 */
function readLegacy(file: ReadStore, path: string, kind: "group" | "dataset" | "other"): Element {
  if (kind === "dataset") {
    const info = file.info(path);
    if (info.dtype === "other") {
      if (isCompoundDataset(file, path)) return readRecArray(file, path);
      throw new FileFormatError(
        `${file.path}: element ${path} (written without encoding attributes) has an HDF5 data type crispyx cannot read`,
        { file: file.path, hint: "only numbers, strings and 1-D compound (record) datasets are read; remove or convert this element with anndata" },
      );
    }
    // anndata < 0.7 wrote strings as one-element byte-string arrays; anndata reads them back as a str.
    if (info.dtype.startsWith("fixed-string:") && info.shape.length === 1 && info.shape[0] === 1) {
      return { type: "scalar", dtype: "string", value: file.readStrings(path)[0]! };
    }
    return info.shape.length === 0 ? readScalar(file, path) : readArray(file, path);
  }
  if (kind === "group") {
    const keys = file.keys(path);
    if (keys.includes("data") && keys.includes("indices") && keys.includes("indptr")) {
      const fmt = file.attr(path, "h5sparse_format");
      if (fmt === "csr" || fmt === "csc") return readSparse(file, path, fmt);
      throw new FileFormatError(`${file.path}: sparse-looking group ${path} has no encoding-type or h5sparse_format attribute`, { file: file.path });
    }
    return readDict(file, path);
  }
  throw new FileFormatError(`${file.path}: ${path} is neither a group nor a dataset`, { file: file.path });
}

export function readDict(file: ReadStore, path: string): Dict {
  const items: Record<string, Element> = {};
  for (const key of file.keys(path)) items[key] = readElem(file, `${path}/${key}`);
  return { type: "dict", items };
}

export function writeDict(file: WriteStore, path: string, d: Dict): void {
  file.createGroup(path);
  file.setAttr(path, "encoding-type", "dict");
  file.setAttr(path, "encoding-version", "0.1.0");
  for (const [k, v] of Object.entries(d.items)) writeElem(file, `${path}/${k}`, v);
}

/** Write any element at `path` (which must not exist yet). */
export function writeElem(file: WriteStore, path: string, e: Element): void {
  switch (e.type) {
    case "array": return writeArray(file, path, e);
    case "scalar": return writeScalar(file, path, e);
    case "csr": case "csc": return writeSparse(file, path, e);
    case "categorical": return writeCategorical(file, path, e);
    case "nullable-integer": case "nullable-boolean": case "nullable-string": return writeNullable(file, path, e);
    case "dataframe": return writeDataFrame(file, path, e);
    case "dict": return writeDict(file, path, e);
    case "rec-array": return writeRecArray(file, path, e);
    // anndata < 0.12 cannot read the "null" encoding, so a None is left out of what crispyx writes
    // (an uns key whose value is None; it holds no data).
    case "null": return;
  }
}
