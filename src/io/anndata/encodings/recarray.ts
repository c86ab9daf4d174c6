/**
 * numpy record arrays: anndata's "rec-array" encoding, a 1-D HDF5 compound dataset with one member per
 * field. Scanpy stores `uns['rank_genes_groups']` names/scores/pvals/... this way (one field per group).
 *
 * Writing: string fields are variable-length UTF-8, as anndata writes numpy's object fields (h5py's
 * `string_dtype()`), so any text survives and anndata reads them back as object fields. Writers that
 * need fixed-size records (DE's tables, written straight into the file) use fixed-length byte strings
 * (numpy `S<n>`, tagged ASCII: anndata reads those as unicode `U<n>` fields, ASCII only).
 * Records are packed and written in blocks, so a large table never needs one big buffer.
 */
import type { CompoundMember, ReadStore, WriteStore } from "../../store.ts";
import type { NumericDtype, TypedArray } from "../../h5/types.ts";
import { BYTES_OF, TYPED_ARRAY_OF, isNumericDtype } from "../../h5/types.ts";
import { FileFormatError, InvalidArgumentError } from "../../../errors.ts";
import type { ArrayDtype, RecArray, RecArrayField } from "../model.ts";
import { stampEncoding } from "../registry.ts";

/** A field's on-disk type: a number type, a fixed-length byte string of `n` bytes, or a variable-length string. */
export type RecFieldDtype = NumericDtype | `fixed-string:${number}` | "string";

/** Bytes of a variable-length string field in a packed record: a pointer into the WebAssembly heap. */
const STRING_POINTER_BYTES = 4;

export interface RecFieldSpec {
  name: string;
  dtype: RecFieldDtype;
}

const encoder = new TextEncoder();

function fieldBytes(d: RecFieldDtype): number {
  if (d === "string") return STRING_POINTER_BYTES;
  return d.startsWith("fixed-string:") ? Number(d.slice("fixed-string:".length)) : BYTES_OF[d as NumericDtype];
}

/** Whether `path` is a 1-D compound (numpy structured) dataset. */
export function isCompoundDataset(file: ReadStore, path: string): boolean {
  try {
    file.compoundInfo(path);
    return true;
  } catch {
    return false;
  }
}

/** Read a rec-array dataset into memory. */
export function readRecArray(file: ReadStore, path: string): RecArray {
  const { members, columns } = file.readCompound(path);
  const length = columns[0]?.length ?? file.compoundInfo(path).length;
  const fields: RecArrayField[] = members.map((m: CompoundMember, k) => {
    const values = columns[k]!;
    if (m.arrayShape) {
      throw new FileFormatError(
        `field '${m.name}' of ${path} holds an array per record (shape [${m.arrayShape.join(", ")}]), which crispyx reads only in legacy obsm/varm`,
        { file: file.path },
      );
    }
    if (m.dtype === "string" || m.dtype.startsWith("fixed-string:")) {
      // Fixed-length strings come back NUL-padded; numpy strips the padding.
      return { name: m.name, dtype: "string", data: values.map((v) => String(v).replace(/\0+$/, "")) };
    }
    if (m.dtype === "bool")
      return { name: m.name, dtype: "bool", data: Uint8Array.from(values as ArrayLike<number>, (v) => (v ? 1 : 0)) };
    if (!isNumericDtype(m.dtype)) {
      throw new FileFormatError(`field '${m.name}' of ${path} has a type crispyx cannot read`, { file: file.path });
    }
    const Ctor = TYPED_ARRAY_OF[m.dtype];
    const data =
      m.dtype === "int64" || m.dtype === "uint64"
        ? (Ctor as BigInt64ArrayConstructor).from(values as ArrayLike<unknown>, (v) => BigInt(v as number | bigint))
        : (Ctor as Float64ArrayConstructor).from(values as ArrayLike<number>, Number);
    return { name: m.name, dtype: m.dtype as ArrayDtype, data: data as TypedArray };
  });
  return { type: "rec-array", length, fields };
}

/** Field specs for in-memory fields: numbers keep their type, strings are variable-length. */
export function recFieldSpecs(fields: RecArrayField[]): RecFieldSpec[] {
  return fields.map((f) => {
    if (f.dtype === "string") return { name: f.name, dtype: "string" as const };
    if (f.dtype === "bool") return { name: f.name, dtype: "uint8" as const };
    return { name: f.name, dtype: f.dtype as NumericDtype };
  });
}

/** Create an empty rec-array dataset of `length` records with the given fields (and its encoding attributes). */
export function createRecArray(
  file: WriteStore,
  path: string,
  specs: RecFieldSpec[],
  length: number,
  storage?: "contiguous",
): void {
  const names = new Set<string>();
  for (const s of specs) {
    if (names.has(s.name))
      throw new InvalidArgumentError(`cannot write record array ${path}: field '${s.name}' appears twice`);
    names.add(s.name);
  }
  file.createCompound(path, specs, length, storage);
  stampEncoding(file, path, "rec-array");
}

/**
 * Write records [start, start + count) of a rec-array created with `createRecArray`. `columns[k]` holds
 * field k's values for these records (typed array of the field's type, or strings).
 */
export function writeRecArrayRows(
  file: WriteStore,
  path: string,
  specs: RecFieldSpec[],
  start: number,
  count: number,
  columns: (ArrayLike<number | bigint> | string[])[],
  stringCache = new Map<string, Uint8Array>(),
): void {
  const sizes = specs.map((s) => fieldBytes(s.dtype));
  const recordSize = sizes.reduce((a, b) => a + b, 0);
  const bytes = new Uint8Array(count * recordSize);
  const view = new DataView(bytes.buffer);
  const strings: { offset: number; values: string[] }[] = [];
  let offset = 0;
  specs.forEach((spec, k) => {
    const col = columns[k]!;
    if (col.length !== count)
      throw new InvalidArgumentError(
        `cannot write record array ${path}: field '${spec.name}' has ${col.length} values for ${count} records`,
      );
    const d = spec.dtype;
    if (d === "string") {
      strings.push({ offset, values: col as string[] });
    } else if (d.startsWith("fixed-string:")) {
      const width = sizes[k]!;
      for (let i = 0; i < count; i++) {
        const s = (col as string[])[i]!;
        let enc = stringCache.get(s);
        if (!enc) {
          enc = encoder.encode(s);
          if (enc.length > width)
            throw new InvalidArgumentError(
              `cannot write record array ${path}: '${s}' is longer than field '${spec.name}' (${width} bytes)`,
            );
          stringCache.set(s, enc);
        }
        bytes.set(enc, i * recordSize + offset);
      }
    } else {
      writeNumbers(view, d as NumericDtype, col as ArrayLike<number | bigint>, count, recordSize, offset);
    }
    offset += sizes[k]!;
  });
  if (strings.length) file.writeRecordsWithStrings(path, start, count, bytes, recordSize, strings);
  else file.writeRecords(path, start, count, bytes);
}

function writeNumbers(
  view: DataView,
  d: NumericDtype,
  col: ArrayLike<number | bigint>,
  n: number,
  stride: number,
  off: number,
): void {
  const c = col as ArrayLike<number>;
  switch (d) {
    case "float64":
      for (let i = 0; i < n; i++) view.setFloat64(i * stride + off, c[i]!, true);
      return;
    case "float32":
      for (let i = 0; i < n; i++) view.setFloat32(i * stride + off, c[i]!, true);
      return;
    case "int8":
      for (let i = 0; i < n; i++) view.setInt8(i * stride + off, c[i]!);
      return;
    case "uint8":
      for (let i = 0; i < n; i++) view.setUint8(i * stride + off, c[i]!);
      return;
    case "int16":
      for (let i = 0; i < n; i++) view.setInt16(i * stride + off, c[i]!, true);
      return;
    case "uint16":
      for (let i = 0; i < n; i++) view.setUint16(i * stride + off, c[i]!, true);
      return;
    case "int32":
      for (let i = 0; i < n; i++) view.setInt32(i * stride + off, c[i]!, true);
      return;
    case "uint32":
      for (let i = 0; i < n; i++) view.setUint32(i * stride + off, c[i]!, true);
      return;
    case "int64":
      for (let i = 0; i < n; i++)
        view.setBigInt64(i * stride + off, BigInt((col as ArrayLike<number | bigint>)[i]!), true);
      return;
    case "uint64":
      for (let i = 0; i < n; i++)
        view.setBigUint64(i * stride + off, BigInt((col as ArrayLike<number | bigint>)[i]!), true);
      return;
  }
}

/** Write an in-memory record array (the registry's writer). */
export function writeRecArray(file: WriteStore, path: string, rec: RecArray): void {
  const specs = recFieldSpecs(rec.fields);
  createRecArray(file, path, specs, rec.length);
  const cache = new Map<string, Uint8Array>();
  const block = 65536;
  for (let s = 0; s < rec.length; s += block) {
    const e = Math.min(rec.length, s + block);
    const cols = rec.fields.map((f) =>
      Array.isArray(f.data)
        ? f.data.slice(s, e)
        : ((f.data as TypedArray).subarray(s, e) as ArrayLike<number | bigint>),
    );
    writeRecArrayRows(file, path, specs, s, e - s, cols, cache);
  }
}
