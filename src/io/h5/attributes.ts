/**
 * Attributes of HDF5 objects, as h5py reads and writes them: listing, decoding (scalars, arrays, strings,
 * booleans, anndata 0.7's object references) and writing. Booleans are written as int8 with a placeholder
 * attribute reserving header room, and turned into h5py's enum when the file closes (./booleans.ts);
 * the H5File keeps the list of pending ones.
 *
 * Cost model: each call is one or two h5wasm calls (~0.05–0.2 ms); setAttr skips the existence lookup
 * for objects this handle created (H5File.created).
 */
import { CrispyxError } from "../../errors.ts";
import { BOOL_PLACEHOLDER } from "./booleans.ts";
import { decodeValue, h5wasmDtype, mapDtype, type H5TypeMeta } from "./dtypeMap.ts";
import type { H5File } from "./file.ts";
import { H5T, Module, h5wasm, normalize } from "./wasm.ts";
import { decodeHeapStrings, type StringType } from "./strings.ts";
import { TYPED_ARRAY_OF, dtypeOfArray, type AttrValue, type NumericDtype } from "../dtypes.ts";

export function attrNames(f: H5File, path: string): string[] {
  f.check();
  try {
    // Placeholders reserving room for booleans (./booleans.ts) are not attributes of the data.
    return Module.get_attribute_names(f.fileId, normalize(path)).filter((n: string) => !n.startsWith(BOOL_PLACEHOLDER));
  } catch (err) {
    f.fail(`cannot list attributes of ${path}`, err);
  }
}

export function hasAttr(f: H5File, path: string, name: string): boolean {
  return f.attrNames(path).includes(name);
}

/** Decoded attribute value, or undefined when absent. Scalars come back as JS scalars. */
export function attr(f: H5File, path: string, name: string): AttrValue | undefined {
  f.check();
  const p = normalize(path);
  if (!f.hasAttr(p, name)) return undefined;
  try {
    const meta = Module.get_attribute_metadata(f.fileId, p, name) as unknown as H5TypeMeta & {
      shape: number[] | null;
      total_size: number;
    };
    const dtype = mapDtype(meta);
    const scalar = !meta.shape || meta.shape.length === 0;
    // Strings: read raw and decoded strictly (./strings.ts), so bytes that are not UTF-8 are refused, not replaced.
    if (meta.type === H5T.STRING && meta.shape) {
      const values = readStringAttr(f, p, name, meta, scalar);
      return scalar ? values[0]! : values;
    }
    const obj = p === "/" ? new h5wasm.Group(f.fileId, "/") : new h5wasm.Dataset(f.fileId, p);
    return decodeValue(obj.attrs[name]!.value, dtype, scalar);
  } catch (err) {
    f.fail(`cannot read attribute ${name} of ${p}`, err);
  }
}

/** A string attribute's values, strictly UTF-8 (the attribute named in the error otherwise). */
function readStringAttr(
  f: H5File,
  p: string,
  name: string,
  meta: H5TypeMeta & { total_size: number },
  scalar: boolean,
): string[] {
  const n = Number(meta.total_size);
  const type: StringType = { vlen: meta.vlen, size: meta.vlen ? 4 : Number(meta.size) };
  const ptr = f.scratch(Math.max(1, n * type.size));
  Module.get_attribute_data(f.fileId, p, name, BigInt(ptr));
  try {
    return decodeHeapStrings(f, `${p.slice(1) || "/"} attribute '${name}'`, ptr, n, type, scalar ? -1 : 0);
  } finally {
    if (type.vlen) Module.reclaim_vlen_memory(f.fileId, p, name, BigInt(ptr));
  }
}

/**
 * The path of the object a scalar object-reference attribute points at, or null when the attribute is
 * absent or not an object reference (anndata 0.7 pointed categorical codes at their categories this way).
 */
export function referencedPath(f: H5File, path: string, name: string): string | null {
  f.check();
  const p = normalize(path);
  if (!f.hasAttr(p, name)) return null;
  try {
    const a = new h5wasm.Dataset(f.fileId, p).attrs[name]!;
    if ((a.metadata as { type: number }).type !== H5T.REFERENCE) return null;
    const v = a.value as unknown;
    const ref = (Array.isArray(v) ? v[0] : v) as { ref_data?: Uint8Array } | undefined;
    if (!ref?.ref_data) return null;
    const target = Module.get_referenced_name(f.fileId, ref.ref_data, true) as string;
    return target ? normalize(target) : null;
  } catch (err) {
    f.fail(`cannot follow the reference in attribute ${name} of ${p}`, err);
  }
}

/** All attributes of an object. */
export function attrs(f: H5File, path: string): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const n of f.attrNames(path)) out[n] = f.attr(path, n)!;
  return out;
}

/**
 * Write (or replace) an attribute. Strings are written as h5py does: variable-length UTF-8.
 * A string[] becomes a 1-D array attribute; numbers default to float64 unless `dtype` says otherwise.
 */
export function setAttr(f: H5File, path: string, name: string, value: AttrValue, dtype?: NumericDtype | "bool"): void {
  f.check();
  const p = normalize(path);
  try {
    const known = f.created.get(p);
    if (known ? known.has(name) : f.hasAttr(p, name)) Module.delete_attribute(f.fileId, p, name);
    const obj = new h5wasm.Group(f.fileId, p);
    if (typeof value === "string") {
      obj.create_attribute(name, value, [], "S");
    } else if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
      obj.create_attribute(name, value as string[], [value.length], "S");
    } else if (
      typeof value === "boolean" ||
      dtype === "bool" ||
      (Array.isArray(value) && value.every((v) => typeof v === "boolean"))
    ) {
      const arr =
        ArrayBuffer.isView(value) || Array.isArray(value)
          ? Int8Array.from(value as ArrayLike<unknown>, (v) => (v ? 1 : 0))
          : Int8Array.of(value ? 1 : 0);
      obj.create_attribute(name, arr, typeof value === "boolean" ? [] : [arr.length], "<b");
      pendBoolean(f, p, name);
      known?.add(name);
      return;
    } else if (typeof value === "number" || typeof value === "bigint") {
      const d = dtype ?? (typeof value === "bigint" ? "int64" : "float64");
      const arr = new TYPED_ARRAY_OF[d as NumericDtype](1);
      (arr as unknown as (number | bigint)[])[0] = d === "int64" || d === "uint64" ? BigInt(value) : Number(value);
      obj.create_attribute(name, arr, [], h5wasmDtype(d as NumericDtype));
    } else if (ArrayBuffer.isView(value)) {
      obj.create_attribute(name, value, [value.length], h5wasmDtype(dtypeOfArray(value)));
    } else {
      throw new CrispyxError(`cannot write attribute ${name}: unsupported value`);
    }
    unpendBoolean(f, p, name);
    known?.add(name);
  } catch (err) {
    f.fail(`cannot write attribute ${name} of ${p}`, err);
  }
}

export function deleteAttr(f: H5File, path: string, name: string): void {
  f.check();
  if (f.hasAttr(path, name)) Module.delete_attribute(f.fileId, normalize(path), name);
  f.created.get(normalize(path))?.delete(name);
  unpendBoolean(f, normalize(path), name);
}

/** The object header address of `p` (what an HDF5 object reference holds). */
export function headerAddress(f: H5File, p: string): number {
  return Number(Buffer.from(Module.create_object_reference(f.fileId, p)).readBigUInt64LE(0));
}

/**
 * Note that `p` (its datatype, or its attribute `attribute`) is int8 standing for booleans, and put a
 * placeholder attribute beside it reserving the header room the enum type needs (./booleans.ts).
 */
export function pendBoolean(f: H5File, p: string, attribute?: string): void {
  const header = headerAddress(f, p);
  const key = `${header}/${attribute ?? ""}`;
  if (f.pendingBooleans.has(key)) return; // replaced: its placeholder is still there
  const placeholder = `${BOOL_PLACEHOLDER}${f.placeholders++}`;
  new h5wasm.Group(f.fileId, p).create_attribute(placeholder, Int8Array.of(0), [], "<b");
  f.created.get(p)?.add(placeholder);
  f.pendingBooleans.set(key, attribute === undefined ? { header } : { header, attribute });
  if (attribute !== undefined) f.booleanNames.add(attribute);
  f.placeholderHeaders.add(header);
}

/** Attribute `name` of `p` no longer holds booleans (replaced or deleted). */
export function unpendBoolean(f: H5File, p: string, name: string): void {
  if (f.booleanNames.has(name)) f.pendingBooleans.delete(`${headerAddress(f, p)}/${name}`);
}
