/**
 * Zarr metadata → one description of each node, whatever the format version: v2 (.zgroup/.zarray/.zattrs,
 * consolidated .zmetadata) and v3 (zarr.json, consolidated metadata inline in the root's). Only what
 * anndata and zarr-python write is accepted; anything else is a FileFormatError naming the store, the
 * element and the field, so a reader never guesses.
 *
 * Cost model: pure functions over parsed JSON, constant work per node (the store caches the results).
 */
import { BYTES_OF, type AttrValue, type H5Dtype, type NumericDtype } from "../dtypes.ts";
import { problem } from "./problem.ts";
import { codecChain, v2Compressor, type BytesCodec, type ChunkLayout } from "./codecs.ts";

/** What one element of an array is, as stored. */
export type ZarrElement =
  | { kind: "numeric"; dtype: NumericDtype; bigEndian: boolean }
  | { kind: "bool" }
  | { kind: "vlen-string" }
  /** numpy 'S<n>' (v2) / v3 null_terminated_bytes: n bytes, NUL-padded. */
  | { kind: "fixed-bytes"; size: number }
  /** numpy '<U<n>' (v2) / v3 fixed_length_utf32: n UTF-32 code points. */
  | { kind: "fixed-utf32"; chars: number; bigEndian: boolean }
  /** A numpy structured dtype (anndata's rec-array): packed fields, each a fixed-size element. */
  | { kind: "struct"; fields: StructField[]; size: number }
  /** Anything else: listed, but not read. */
  | { kind: "other"; description: string };

export interface StructField {
  name: string;
  offset: number;
  element: ZarrElement;
}

export type FillValue = number | bigint | boolean | string;

export interface ArrayMeta {
  zarrFormat: 2 | 3;
  shape: number[];
  element: ZarrElement;
  /** Bytes per element when fixed-size (numeric, bool, fixed strings); 0 for variable-length strings. */
  itemSize: number;
  /** The grid of stored chunks (v3 sharded: shards). */
  chunkShape: number[];
  order: "C" | "F";
  fill: FillValue;
  /** The key of a chunk (relative to the array's directory) from its grid index. */
  chunkKey: (index: number[]) => string;
  /** The bytes → bytes codecs of a stored chunk, in decoding order, and what turns the result into elements. */
  layout: ChunkLayout;
  attributes: Record<string, unknown>;
}

export interface GroupMeta {
  zarrFormat: 2 | 3;
  attributes: Record<string, unknown>;
}

export type NodeMeta = { type: "array"; meta: ArrayMeta } | { type: "group"; meta: GroupMeta };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function dims(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || v.some((d) => !Number.isSafeInteger(d) || (d as number) < 0))
    problem(`${what} is not a list of sizes: ${JSON.stringify(v)}`);
  return v as number[];
}

// ---- v2 ------------------------------------------------------------------------------------------

const V2_NUMERIC: Record<string, NumericDtype> = {
  i1: "int8",
  u1: "uint8",
  i2: "int16",
  u2: "uint16",
  i4: "int32",
  u4: "uint32",
  i8: "int64",
  u8: "uint64",
  f4: "float32",
  f8: "float64",
};

/** A numpy dtype string of a v2 .zarray ("<f4", "|b1", "|O", "|S10", "<U5"). */
export function v2Element(dtype: unknown, filters: unknown): ZarrElement {
  if (Array.isArray(dtype)) {
    // [[name, dtype], …] (a third entry, a sub-array shape, is not read).
    return structOf(
      dtype.map((f) =>
        Array.isArray(f) && f.length === 2 && typeof f[0] === "string"
          ? { name: f[0], element: v2Element(f[1], null) }
          : null,
      ),
    );
  }
  if (typeof dtype !== "string") problem(`dtype ${JSON.stringify(dtype)} is not a numpy dtype string`);
  const m = /^([<>|=])([a-zA-Z])(\d*)$/.exec(dtype);
  if (!m) problem(`dtype ${JSON.stringify(dtype)} is not a numpy dtype string`);
  const [, endian, letter, size] = m;
  const bigEndian = endian === ">";
  if (letter === "b" && size === "1") return { kind: "bool" };
  if (letter === "O") {
    const ids = Array.isArray(filters) ? filters.map((f) => (isRecord(f) ? f.id : undefined)) : [];
    if (ids.includes("vlen-utf8")) return { kind: "vlen-string" };
    return { kind: "other", description: `object dtype with filters ${JSON.stringify(ids)}` };
  }
  if (letter === "S") return { kind: "fixed-bytes", size: Number(size) };
  if (letter === "U") return { kind: "fixed-utf32", chars: Number(size), bigEndian };
  const numeric = V2_NUMERIC[`${letter}${size}`];
  if (numeric) return { kind: "numeric", dtype: numeric, bigEndian };
  return { kind: "other", description: `dtype ${dtype}` };
}

export function parseV2Array(zarray: unknown, zattrs: unknown): ArrayMeta {
  if (!isRecord(zarray)) problem(".zarray is not a JSON object");
  if (zarray.zarr_format !== 2) problem(`.zarray has zarr_format ${JSON.stringify(zarray.zarr_format)}, not 2`);
  const shape = dims(zarray.shape, ".zarray shape");
  const chunkShape = dims(zarray.chunks, ".zarray chunks");
  if (chunkShape.length !== shape.length || chunkShape.some((c, i) => c === 0 && shape[i]! > 0)) {
    problem(`.zarray chunks ${JSON.stringify(chunkShape)} do not fit shape ${JSON.stringify(shape)}`);
  }
  const order = zarray.order ?? "C";
  if (order !== "C" && order !== "F") problem(`.zarray order ${JSON.stringify(order)} is neither "C" nor "F"`);
  const element = v2Element(zarray.dtype, zarray.filters);
  const filters = Array.isArray(zarray.filters)
    ? zarray.filters
    : zarray.filters == null
      ? []
      : problem(".zarray filters is not a list");
  const other = filters.filter((f) => !(isRecord(f) && f.id === "vlen-utf8"));
  if (other.length) problem(`filter ${JSON.stringify(other[0])} is not supported (only vlen-utf8 is)`);
  const bytes: BytesCodec[] = zarray.compressor == null ? [] : [v2Compressor(zarray.compressor)];
  const sep = zarray.dimension_separator ?? ".";
  if (sep !== "." && sep !== "/") problem(`.zarray dimension_separator ${JSON.stringify(sep)} is neither "." nor "/"`);
  return {
    zarrFormat: 2,
    shape,
    element,
    itemSize: itemSize(element),
    chunkShape,
    order,
    fill: v2Fill(zarray.fill_value, element),
    chunkKey: (index) => (index.length === 0 ? "0" : index.join(sep)),
    layout: { kind: "plain", bytes, element },
    attributes: zattrs === undefined ? {} : isRecord(zattrs) ? zattrs : problem(".zattrs is not a JSON object"),
  };
}

export function parseV2Group(zgroup: unknown, zattrs: unknown): GroupMeta {
  if (!isRecord(zgroup) || zgroup.zarr_format !== 2) problem(".zgroup is not a zarr v2 group");
  return {
    zarrFormat: 2,
    attributes: zattrs === undefined ? {} : isRecord(zattrs) ? zattrs : problem(".zattrs is not a JSON object"),
  };
}

function v2Fill(v: unknown, element: ZarrElement): FillValue {
  if (element.kind === "vlen-string" || element.kind === "fixed-utf32") return typeof v === "string" ? v : "";
  if (element.kind === "fixed-bytes") {
    // numpy bytes are stored base64-encoded.
    return typeof v === "string" ? Buffer.from(v, "base64").toString("utf8").replace(/\0+$/, "") : "";
  }
  return numericFill(v, element);
}

// ---- v3 ------------------------------------------------------------------------------------------

const V3_NUMERIC = new Set<string>([
  "int8",
  "uint8",
  "int16",
  "uint16",
  "int32",
  "uint32",
  "int64",
  "uint64",
  "float32",
  "float64",
]);

function v3Element(dataType: unknown): ZarrElement {
  if (typeof dataType === "string") {
    if (dataType === "bool") return { kind: "bool" };
    if (dataType === "string") return { kind: "vlen-string" };
    // Endianness comes from the 'bytes' codec; fixed here, set by the codec chain.
    if (V3_NUMERIC.has(dataType)) return { kind: "numeric", dtype: dataType as NumericDtype, bigEndian: false };
    return { kind: "other", description: `data type ${dataType}` };
  }
  if (
    isRecord(dataType) &&
    dataType.name === "struct" &&
    isRecord(dataType.configuration) &&
    Array.isArray(dataType.configuration.fields)
  ) {
    return structOf(
      dataType.configuration.fields.map((f: unknown) =>
        isRecord(f) && typeof f.name === "string" ? { name: f.name, element: v3Element(f.data_type) } : null,
      ),
    );
  }
  if (isRecord(dataType) && isRecord(dataType.configuration)) {
    const n = dataType.configuration.length_bytes;
    if (typeof n === "number" && Number.isSafeInteger(n) && n > 0) {
      if (dataType.name === "null_terminated_bytes" || dataType.name === "fixed_length_bytes")
        return { kind: "fixed-bytes", size: n };
      if (dataType.name === "fixed_length_utf32" && n % 4 === 0)
        return { kind: "fixed-utf32", chars: n / 4, bigEndian: false };
    }
  }
  return { kind: "other", description: `data type ${JSON.stringify(dataType)}` };
}

export function parseV3(json: unknown): NodeMeta {
  if (!isRecord(json)) problem("zarr.json is not a JSON object");
  if (json.zarr_format !== 3) problem(`zarr.json has zarr_format ${JSON.stringify(json.zarr_format)}, not 3`);
  const attributes =
    json.attributes === undefined
      ? {}
      : isRecord(json.attributes)
        ? json.attributes
        : problem("zarr.json attributes is not a JSON object");
  if (json.node_type === "group") return { type: "group", meta: { zarrFormat: 3, attributes } };
  if (json.node_type !== "array")
    problem(`zarr.json node_type ${JSON.stringify(json.node_type)} is neither "group" nor "array"`);
  const shape = dims(json.shape, "zarr.json shape");
  const grid = json.chunk_grid;
  if (!isRecord(grid) || grid.name !== "regular" || !isRecord(grid.configuration))
    problem(`chunk_grid ${JSON.stringify(grid)} is not a regular grid`);
  const chunkShape = dims(grid.configuration.chunk_shape, "chunk_grid chunk_shape");
  if (chunkShape.length !== shape.length)
    problem(`chunk_shape ${JSON.stringify(chunkShape)} does not fit shape ${JSON.stringify(shape)}`);
  for (const t of Array.isArray(json.storage_transformers) ? json.storage_transformers : [])
    problem(`storage transformer ${JSON.stringify(t)} is not supported`);
  const element0 = v3Element(json.data_type);
  const { layout, element } = codecChain(json.codecs, element0, chunkShape);
  return {
    type: "array",
    meta: {
      zarrFormat: 3,
      shape,
      element,
      itemSize: itemSize(element),
      chunkShape,
      order: "C",
      fill: v3Fill(json.fill_value, element),
      chunkKey: v3ChunkKey(json.chunk_key_encoding),
      layout,
      attributes,
    },
  };
}

function v3ChunkKey(encoding: unknown): (index: number[]) => string {
  const name = isRecord(encoding) ? encoding.name : "default";
  const config = isRecord(encoding) && isRecord(encoding.configuration) ? encoding.configuration : {};
  if (name === "default") {
    const sep = config.separator ?? "/";
    if (sep !== "/" && sep !== ".")
      problem(`chunk_key_encoding separator ${JSON.stringify(sep)} is neither "/" nor "."`);
    return (index) => ["c", ...index].join(sep);
  }
  if (name === "v2") {
    const sep = config.separator ?? ".";
    if (sep !== "/" && sep !== ".")
      problem(`chunk_key_encoding separator ${JSON.stringify(sep)} is neither "/" nor "."`);
    return (index) => (index.length === 0 ? "0" : index.join(sep));
  }
  problem(`chunk_key_encoding ${JSON.stringify(name)} is not supported`);
}

function v3Fill(v: unknown, element: ZarrElement): FillValue {
  if (element.kind === "vlen-string" || element.kind === "fixed-utf32") return typeof v === "string" ? v : "";
  if (element.kind === "fixed-bytes")
    return typeof v === "string"
      ? v
      : Array.isArray(v)
        ? Buffer.from(v as number[])
            .toString("utf8")
            .replace(/\0+$/, "")
        : "";
  if (typeof v === "string" && /^0x[0-9a-fA-F]+$/.test(v) && element.kind === "numeric") {
    // A float's bit pattern (v3 spec), e.g. "0x7fc00000".
    const bits = BigInt(v);
    if (element.dtype === "float32") return new Float32Array(new Uint32Array([Number(bits)]).buffer)[0]!;
    if (element.dtype === "float64") return new Float64Array(new BigUint64Array([bits]).buffer)[0]!;
  }
  return numericFill(v, element);
}

/** Packed fields (numpy's layout of a structured dtype written without offsets); any unreadable field makes it "other". */
function structOf(fields: ({ name: string; element: ZarrElement } | null)[]): ZarrElement {
  const out: StructField[] = [];
  let offset = 0;
  for (const f of fields) {
    const size = f ? itemSize(f.element) : 0;
    if (!f || size === 0 || f.element.kind === "struct")
      return { kind: "other", description: "a structured dtype with fields crispyx does not read" };
    out.push({ name: f.name, offset, element: f.element });
    offset += size;
  }
  return { kind: "struct", fields: out, size: offset };
}

// ---- shared ---------------------------------------------------------------------------------------

function numericFill(v: unknown, element: ZarrElement): FillValue {
  if (element.kind === "bool") return v === true || v === 1;
  if (element.kind === "struct" || element.kind === "other") return 0; // missing records read as zero bytes
  if (v === null || v === undefined) return 0; // zarr-python: "no fill value" — missing chunks read as zeros here
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "number") {
    if (element.kind === "numeric" && (element.dtype === "int64" || element.dtype === "uint64"))
      return BigInt(Math.trunc(v));
    return v;
  }
  problem(`fill_value ${JSON.stringify(v)} is not a number`);
}

export function itemSize(e: ZarrElement): number {
  switch (e.kind) {
    case "numeric":
      return BYTES_OF[e.dtype];
    case "bool":
      return 1;
    case "fixed-bytes":
      return e.size;
    case "fixed-utf32":
      return 4 * e.chars;
    case "struct":
      return e.size;
    default:
      return 0;
  }
}

/** The store-interface dtype of an element (booleans read as uint8 0/1, as h5py's enum does here). */
export function storeDtype(e: ZarrElement): H5Dtype {
  switch (e.kind) {
    case "numeric":
      return e.dtype;
    case "bool":
      return "bool";
    case "vlen-string":
    case "fixed-utf32":
      return "string";
    case "fixed-bytes":
      return `fixed-string:${e.size}`;
    default:
      return "other";
  }
}

/**
 * A JSON attribute as the HDF5 backend would give the same attribute (h5py → numpy → JS): strings,
 * numbers and booleans as scalars; lists of strings as string[]; lists of booleans as boolean[]; lists
 * of numbers as Float64Array (BigInt64Array when an integer would lose precision); anything else
 * (objects, mixed lists) as its JSON text. null has no value (the attribute reads as absent).
 */
export function attrFromJson(v: unknown): AttrValue | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === "string")) return v as string[];
    if (v.every((x) => typeof x === "boolean")) return v as boolean[];
    if (v.every((x) => typeof x === "number")) {
      if (v.some((x) => Number.isInteger(x) && !Number.isSafeInteger(x)))
        return BigInt64Array.from(v as number[], (x) => BigInt(x));
      return Float64Array.from(v as number[]);
    }
  }
  return JSON.stringify(v);
}
