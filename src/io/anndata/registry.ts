/**
 * The encoding registry, a table as anndata's `_io/specs/registry.py` is: reading is keyed by an element's
 * (encoding-type, encoding-version), writing by the in-memory element's type. The encodings/*.ts modules
 * contribute the readers and writers; this file holds the one table of encoding names and versions, and is
 * the only place that sets the `encoding-type`/`encoding-version` attributes (`stampEncoding`, as anndata's
 * `write_spec` decorator does), so a version string appears nowhere else.
 *
 * Read: every version anndata has written for a type is accepted (its history: anndata 0.7 wrote dataframe
 * 0.1.0, csr/csc_matrix 0.1.0 and raw 0.1.0, and categoricals as codes with an object reference, which
 * carry no attributes at all; 0.8 onwards writes the versions below). An unknown type, or an unknown
 * version of a known type, is one FileFormatError naming file, element, type and version.
 *
 * Other code asks the registry what is at a path (`elementKind`, `matrixFormat`, `isMatrixElement`)
 * rather than comparing encoding names itself.
 *
 * To add an encoding: its reader/writer in encodings/<name>.ts, its row in ENCODING_TABLE, and (for a new
 * in-memory type) the type in model.ts plus its row in WRITERS (the compiler insists on the latter).
 *
 * Cost model: table lookups are object reads; `encodingOf` reads two attributes of one object.
 */
import type { ReadStore, WriteStore } from "../store.ts";
import { FileFormatError } from "../../errors.ts";
import type { Dict, Element } from "./model.ts";
import { readArray, readScalar, writeArray, writeScalar } from "./encodings/arrays.ts";
import { readCategorical, writeCategorical } from "./encodings/categorical.ts";
import { readDataFrame, writeDataFrame } from "./encodings/dataframe.ts";
import { readNullable, writeNullable } from "./encodings/nullable.ts";
import { readSparse, writeSparse } from "./encodings/sparse.ts";
import { isCompoundDataset, readRecArray, writeRecArray } from "./encodings/recarray.ts";

/** What kind of element an encoding stores: what callers ask instead of comparing encoding names. */
export type ElementKind =
  | "dense"
  | "strings"
  | "scalar"
  | "csr"
  | "csc"
  | "categorical"
  | "nullable"
  | "dataframe"
  | "dict"
  | "rec-array"
  | "null"
  | "anndata"
  | "raw";

interface EncodingEntry {
  /** The version crispyx writes (the one current anndata writes). */
  writes: string;
  /** Every version anndata has written for this type; `read` reads them all. */
  reads: readonly string[];
  kind: ElementKind;
  /** The in-memory reader; none for the root and raw, which ./anndata.ts reads as a whole. */
  read?: (file: ReadStore, path: string) => Element;
}

/** The encodings crispyx reads and writes. Readers are function declarations or arrows: safe to list eagerly. */
export const ENCODING_TABLE = {
  array: { writes: "0.2.0", reads: ["0.2.0"], kind: "dense", read: readArray },
  "string-array": { writes: "0.2.0", reads: ["0.2.0"], kind: "strings", read: readArray },
  "numeric-scalar": { writes: "0.2.0", reads: ["0.2.0"], kind: "scalar", read: readScalar },
  string: { writes: "0.2.0", reads: ["0.2.0"], kind: "scalar", read: readScalar },
  csr_matrix: { writes: "0.1.0", reads: ["0.1.0"], kind: "csr", read: (f, p) => readSparse(f, p, "csr") },
  csc_matrix: { writes: "0.1.0", reads: ["0.1.0"], kind: "csc", read: (f, p) => readSparse(f, p, "csc") },
  categorical: { writes: "0.2.0", reads: ["0.2.0"], kind: "categorical", read: readCategorical },
  // 0.1.0: anndata 0.7 (its categorical columns are the attribute-less form, see encodingOf).
  dataframe: { writes: "0.2.0", reads: ["0.1.0", "0.2.0"], kind: "dataframe", read: readDataFrame },
  "nullable-integer": {
    writes: "0.1.0",
    reads: ["0.1.0"],
    kind: "nullable",
    read: (f, p) => readNullable(f, p, "nullable-integer"),
  },
  "nullable-boolean": {
    writes: "0.1.0",
    reads: ["0.1.0"],
    kind: "nullable",
    read: (f, p) => readNullable(f, p, "nullable-boolean"),
  },
  "nullable-string-array": {
    writes: "0.1.0",
    reads: ["0.1.0"],
    kind: "nullable",
    read: (f, p) => readNullable(f, p, "nullable-string"),
  },
  dict: { writes: "0.1.0", reads: ["0.1.0"], kind: "dict", read: readDict },
  "rec-array": { writes: "0.2.0", reads: ["0.2.0"], kind: "rec-array", read: readRecArray },
  null: { writes: "0.1.0", reads: ["0.1.0"], kind: "null", read: () => ({ type: "null" }) },
  anndata: { writes: "0.1.0", reads: ["0.1.0"], kind: "anndata" },
  raw: { writes: "0.1.0", reads: ["0.1.0"], kind: "raw" },
} as const satisfies Record<string, EncodingEntry>;

export type EncodingType = keyof typeof ENCODING_TABLE;

/** An element's encoding attributes as stored (not yet checked against the table). */
export interface EncodingSpec {
  type: string;
  version: string;
  /** Set for a layout recognised without attributes (anndata 0.7's categorical column). */
  implied?: true;
}

/** The encodings crispyx reads and writes, with the version it writes (public API). */
export const KNOWN_ENCODINGS: Record<string, string> = Object.fromEntries(
  Object.entries(ENCODING_TABLE).map(([type, e]) => [type, e.writes]),
);

/** How anndata 0.7 stored a categorical column: see `encodingOf`. */
export const LEGACY_CATEGORICAL: EncodingSpec = { type: "categorical", version: "0.1.0", implied: true };

function entryOf(type: string): EncodingEntry | undefined {
  return Object.hasOwn(ENCODING_TABLE, type) ? (ENCODING_TABLE as Record<string, EncodingEntry>)[type] : undefined;
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

/** Whether a stored (type, version) pair is one crispyx reads. */
export function isReadable(enc: EncodingSpec): boolean {
  const entry = entryOf(enc.type);
  return entry !== undefined && (enc.implied === true || entry.reads.includes(enc.version));
}

/** Every readable (type, version) pair, for error hints and tests. */
export function readableEncodings(): string[] {
  return Object.entries(ENCODING_TABLE).map(([type, e]) => `${type} ${e.reads.join("/")}`);
}

/** The one error for an element whose encoding crispyx does not read (unknown type, or unknown version). */
export function unknownEncoding(file: ReadStore, path: string, enc: EncodingSpec): FileFormatError {
  const entry = entryOf(enc.type);
  const version = enc.version === "" ? "no encoding-version" : `version '${enc.version}'`;
  if (entry) {
    return new FileFormatError(
      `element ${path} has encoding-type '${enc.type}' with ${version}, which crispyx cannot read`,
      {
        file: file.path,
        hint: `crispyx reads ${enc.type} version ${entry.reads.join(" or ")} (anndata writes ${entry.writes}); a newer version needs a newer crispyx`,
      },
    );
  }
  return new FileFormatError(
    `element ${path} has encoding-type '${enc.type}' (${version}), which crispyx cannot read`,
    { file: file.path, hint: `known encodings: ${readableEncodings().join(", ")}` },
  );
}

/** The element's kind from its encoding attributes (checked), or null when it has none. Throws for an unknown encoding. */
export function elementKind(file: ReadStore, path: string): ElementKind | null {
  const enc = encodingOf(file, path);
  if (enc === null) return null;
  if (!isReadable(enc)) throw unknownEncoding(file, path, enc);
  return entryOf(enc.type)!.kind;
}

/** The kind an encoding name stands for, without version checks (for descriptions such as `info`). */
export function kindOfEncoding(type: string): ElementKind | undefined {
  return entryOf(type)?.kind;
}

/**
 * How the matrix at `path` is stored, or null when it is not a matrix encoding. Elements without attributes
 * (anndata < 0.7) count too: a dataset is dense, a group tagged `h5sparse_format` csr/csc is sparse.
 * Shape and element type are not checked here (see `isMatrixElement`, describeMatrix).
 */
export function matrixFormat(file: ReadStore, path: string): "dense" | "csr" | "csc" | null {
  const kind = elementKind(file, path);
  const dataset = file.isDataset(path);
  if (kind === null) {
    if (dataset) return "dense";
    const fmt = file.isGroup(path) ? file.attr(path, "h5sparse_format") : undefined;
    return fmt === "csr" || fmt === "csc" ? fmt : null;
  }
  if (kind === "dense") return dataset ? "dense" : null;
  if (kind === "csr" || kind === "csc") return dataset ? null : kind;
  return null;
}

/** Whether `path` holds a matrix that is streamed rather than read whole: sparse, or a 2-D numeric dataset. */
export function isMatrixElement(file: ReadStore, path: string): boolean {
  const format = matrixFormat(file, path);
  if (format === "csr" || format === "csc") return true;
  if (format !== "dense") return false;
  const info = file.info(path);
  return (
    info.shape.length === 2 &&
    info.dtype !== "string" &&
    info.dtype !== "other" &&
    !info.dtype.startsWith("fixed-string")
  );
}

/** Set an element's `encoding-type` and `encoding-version` (the version crispyx writes): the only place they are set. */
export function stampEncoding(file: WriteStore, path: string, type: EncodingType): void {
  file.setAttr(path, "encoding-type", type);
  file.setAttr(path, "encoding-version", ENCODING_TABLE[type].writes);
}

/** Create a group and stamp it (an empty dict, the raw group, a data frame about to be filled…). */
export function createEncodedGroup(file: WriteStore, path: string, type: EncodingType): void {
  file.createGroup(path);
  stampEncoding(file, path, type);
}

/** Read any element below the AnnData root into memory. */
export function readElem(file: ReadStore, path: string): Element {
  const kind = file.kind(path);
  if (kind === null) throw new FileFormatError(`no element at ${path}`, { file: file.path });
  const enc = encodingOf(file, path);
  if (enc === null) return readLegacy(file, path, kind);
  const read = isReadable(enc) ? entryOf(enc.type)!.read : undefined;
  if (!read) throw unknownEncoding(file, path, enc);
  return read(file, path);
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
        `element ${path} (written without encoding attributes) has an HDF5 data type crispyx cannot read`,
        {
          file: file.path,
          hint: "only numbers, strings and 1-D compound (record) datasets are read; remove or convert this element with anndata",
        },
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
      throw new FileFormatError(`sparse-looking group ${path} has no encoding-type or h5sparse_format attribute`, {
        file: file.path,
      });
    }
    return readDict(file, path);
  }
  throw new FileFormatError(`${path} is neither a group nor a dataset`, { file: file.path });
}

export function readDict(file: ReadStore, path: string): Dict {
  const items: Record<string, Element> = {};
  for (const key of file.keys(path)) items[key] = readElem(file, `${path}/${key}`);
  return { type: "dict", items };
}

export function writeDict(file: WriteStore, path: string, d: Dict): void {
  createEncodedGroup(file, path, "dict");
  for (const [k, v] of Object.entries(d.items)) writeElem(file, `${path}/${k}`, v);
}

/** A writer for in-memory elements of type K; it stamps the encoding it chose with `stampEncoding`. */
export type Writer<K extends Element["type"]> = (file: WriteStore, path: string, e: Element & { type: K }) => void;

/** A writer for every in-memory element type. */
export type WriterTable = { [K in Element["type"]]: Writer<K> };

/** One writer per in-memory element type: a new Element type without a row here does not compile. */
const WRITERS = {
  array: writeArray,
  scalar: writeScalar,
  csr: writeSparse,
  csc: writeSparse,
  categorical: writeCategorical,
  "nullable-integer": writeNullable,
  "nullable-boolean": writeNullable,
  "nullable-string": writeNullable,
  dataframe: writeDataFrame,
  dict: writeDict,
  "rec-array": writeRecArray,
  // anndata < 0.12 cannot read the "null" encoding, so a None is left out of what crispyx writes
  // (an uns key whose value is None; it holds no data).
  null: () => {},
} satisfies WriterTable;

/** Write any element at `path` (which must not exist yet). */
export function writeElem(file: WriteStore, path: string, e: Element): void {
  (WRITERS[e.type] as Writer<Element["type"]>)(file, path, e);
}
