/**
 * The zarr backend of the reading half of the store interface (../store.ts): a zarr v2 or v3 directory
 * store as anndata writes it, read synchronously, as the HDF5 backend is.
 *
 * Metadata comes from the consolidated metadata when the store has it (v2 `.zmetadata`, v3 inline in the
 * root zarr.json: what zarr-python opens by default, and what anndata ≥ 0.10 writes), else from each
 * node's own files; group members are the consolidated keys or the directory's entries that are zarr
 * nodes, in name order (as HDF5 lists them). Attributes are JSON, decoded as ./metadata.ts's attrFromJson.
 *
 * Cost model: opening reads one or two JSON files; each node's metadata is parsed once and kept; reads
 * decode each chunk they touch once (./chunks.ts keeps a small LRU of decoded chunks).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { CrispyxError, FileFormatError } from "../../errors.ts";
import {
  BYTES_OF,
  TYPED_ARRAY_OF,
  dtypeOfArray,
  type AttrValue,
  type DatasetInfo,
  type NumericDtype,
  type ObjectKind,
  type TypedArray,
} from "../dtypes.ts";
import type { CompoundMember, ReadStore, StoreCapabilities } from "../store.ts";
import { kindOfEncoding } from "../anndata/registry.ts";
import { ChunkReader, copyHyperslab } from "./chunks.ts";
import { decodeFixedStrings } from "./codecs.ts";
import {
  attrFromJson,
  itemSize,
  parseV2Array,
  parseV2Group,
  parseV3,
  storeDtype,
  type ArrayMeta,
  type NodeMeta,
  type StructField,
} from "./metadata.ts";

function numberAt(view: DataView, at: number, dtype: NumericDtype, little: boolean): number | bigint {
  switch (dtype) {
    case "int8":
      return view.getInt8(at);
    case "uint8":
      return view.getUint8(at);
    case "int16":
      return view.getInt16(at, little);
    case "uint16":
      return view.getUint16(at, little);
    case "int32":
      return view.getInt32(at, little);
    case "uint32":
      return view.getUint32(at, little);
    case "int64":
      return view.getBigInt64(at, little);
    case "uint64":
      return view.getBigUint64(at, little);
    case "float32":
      return view.getFloat32(at, little);
    case "float64":
      return view.getFloat64(at, little);
  }
}

const HINT =
  "the store may be damaged or written by a tool crispyx does not know; anndata can convert it: ad.read_zarr(path).write_h5ad('out.h5ad')";

/** "/obs/_index/" → "obs/_index"; the root is "". */
function key(path: string): string {
  return path
    .split("/")
    .filter((s) => s && s !== ".")
    .join("/");
}

function shown(k: string): string {
  return "/" + k;
}

export class ZarrStore implements ReadStore {
  readonly mode = "r" as const;
  readonly format = "zarr" as const;
  readonly capabilities: StoreCapabilities = { hardLinks: false, directIO: false, writable: false };
  readonly zarrFormat: 2 | 3;
  private readonly nodes = new Map<string, NodeMeta | null>();
  /** v3: node key → its zarr.json; v2: "key/.zarray" etc. → JSON. Null when the store has none. */
  private readonly consolidated: Map<string, unknown> | null;
  private readonly chunks: ChunkReader;
  private closed = false;

  private constructor(
    readonly path: string,
    zarrFormat: 2 | 3,
    consolidated: Map<string, unknown> | null,
    rootV3: unknown,
  ) {
    this.zarrFormat = zarrFormat;
    this.consolidated = consolidated;
    this.chunks = new ChunkReader(path);
    if (rootV3 !== undefined)
      this.nodes.set(
        "",
        this.parse("", () => parseV3(rootV3)),
      );
  }

  static open(path: string): ZarrStore {
    const v3 = join(path, "zarr.json");
    if (existsSync(v3)) {
      const root = readJson(path, v3, "");
      const cm = (root as { consolidated_metadata?: { metadata?: unknown } } | null)?.consolidated_metadata?.metadata;
      const consolidated = cm && typeof cm === "object" ? new Map(Object.entries(cm)) : null;
      const store = new ZarrStore(path, 3, consolidated, root);
      if (store.kind("/") !== "group")
        throw new FileFormatError(`the zarr store's root is an array, not an AnnData group`, {
          file: path,
          hint: HINT,
        });
      return store;
    }
    if (!existsSync(join(path, ".zgroup"))) {
      throw new FileFormatError(`not a zarr store (no zarr.json or .zgroup at its root)`, {
        file: path,
        hint: HINT,
      });
    }
    let consolidated: Map<string, unknown> | null = null;
    const zm = join(path, ".zmetadata");
    if (existsSync(zm)) {
      const j = readJson(path, zm, "");
      const m = (j as { metadata?: unknown } | null)?.metadata;
      if (!m || typeof m !== "object")
        throw new FileFormatError(`damaged zarr metadata: .zmetadata has no "metadata" object`, {
          file: path,
          hint: HINT,
        });
      consolidated = new Map(Object.entries(m));
    }
    return new ZarrStore(path, 2, consolidated, undefined);
  }

  private check(): void {
    if (this.closed) throw new CrispyxError(`store is already closed`, { file: this.path });
  }

  /** Run a metadata parser, turning its complaint into one FileFormatError naming store and element. */
  private parse<T>(k: string, f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (err instanceof CrispyxError) throw err;
      throw new FileFormatError(`damaged zarr metadata of ${shown(k)}: ${(err as Error).message}`, {
        file: this.path,
        hint: HINT,
        cause: err,
      });
    }
  }

  /** A metadata document: from the consolidated map, or its file; undefined when absent. */
  private doc(k: string, name: string): unknown {
    const rel = k ? `${k}/${name}` : name;
    if (this.consolidated && this.zarrFormat === 2) return this.consolidated.get(rel);
    const file = join(this.path, rel);
    return existsSync(file) ? readJson(this.path, file, k) : undefined;
  }

  private node(path: string): NodeMeta | null {
    this.check();
    const k = key(path);
    if (this.nodes.has(k)) return this.nodes.get(k)!;
    let meta: NodeMeta | null = null;
    if (this.zarrFormat === 3) {
      const json = this.consolidated ? this.consolidated.get(k) : this.doc(k, "zarr.json");
      if (json !== undefined) meta = this.parse(k, () => parseV3(json));
    } else {
      const zarray = this.doc(k, ".zarray");
      const zgroup = zarray === undefined ? this.doc(k, ".zgroup") : undefined;
      if (zarray !== undefined)
        meta = { type: "array", meta: this.parse(k, () => parseV2Array(zarray, this.doc(k, ".zattrs"))) };
      else if (zgroup !== undefined)
        meta = { type: "group", meta: this.parse(k, () => parseV2Group(zgroup, this.doc(k, ".zattrs"))) };
    }
    // anndata ≥ 0.12 writes `raw = None` into a zarr store as a root "raw" element of the null encoding (its
    // .h5ad writer writes nothing); crispyx takes /raw's presence as "has raw", so it is not shown.
    if (k === "raw" && kindOfEncoding(String(meta?.meta.attributes["encoding-type"])) === "null") meta = null;
    // A node exists only inside an existing group (as HDF5 paths do).
    if (meta && k) {
      const parent = k.includes("/") ? k.slice(0, k.lastIndexOf("/")) : "";
      if (this.node(parent)?.type !== "group") meta = null;
    }
    this.nodes.set(k, meta);
    return meta;
  }

  private array(path: string): ArrayMeta {
    const n = this.node(path);
    if (n?.type !== "array") throw new FileFormatError(`${shown(key(path))} is not a dataset`, { file: this.path });
    return n.meta;
  }

  // ---- structure ------------------------------------------------------------------------------

  kind(path: string): ObjectKind | null {
    const n = this.node(path);
    return n === null ? null : n.type === "group" ? "group" : "dataset";
  }

  exists(path: string): boolean {
    return this.node(path) !== null;
  }

  isGroup(path: string): boolean {
    return this.kind(path) === "group";
  }

  isDataset(path: string): boolean {
    return this.kind(path) === "dataset";
  }

  keys(path: string): string[] {
    const k = key(path);
    if (!this.isGroup(k)) throw new FileFormatError(`${shown(k)} is not a group`, { file: this.path });
    const names = new Set<string>();
    if (this.consolidated) {
      const prefix = k ? `${k}/` : "";
      for (const entry of this.consolidated.keys()) {
        if (!entry.startsWith(prefix)) continue;
        const name = entry.slice(prefix.length).split("/")[0]!;
        if (name && !name.startsWith(".")) names.add(name);
      }
    } else {
      for (const e of readdirSync(join(this.path, k), { withFileTypes: true })) {
        if (e.isDirectory() && !e.name.startsWith(".")) names.add(e.name);
      }
    }
    return [...names].filter((n) => this.exists(k ? `${k}/${n}` : n)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  // ---- attributes -----------------------------------------------------------------------------

  private rawAttrs(path: string): Record<string, unknown> {
    const n = this.node(path);
    if (!n) throw new FileFormatError(`${shown(key(path))} does not exist`, { file: this.path });
    return n.meta.attributes;
  }

  attrNames(path: string): string[] {
    const a = this.rawAttrs(path);
    return Object.keys(a).filter((n) => a[n] !== null);
  }

  hasAttr(path: string, name: string): boolean {
    return this.attrNames(path).includes(name);
  }

  attr(path: string, name: string): AttrValue | undefined {
    const a = this.rawAttrs(path);
    return Object.hasOwn(a, name) ? attrFromJson(a[name]) : undefined;
  }

  attrs(path: string): Record<string, AttrValue> {
    const out: Record<string, AttrValue> = {};
    for (const n of this.attrNames(path)) out[n] = this.attr(path, n)!;
    return out;
  }

  /** Zarr has no object references (anndata 0.7's categorical attribute is HDF5-only). */
  referencedPath(path: string, _name: string): string | null {
    this.rawAttrs(path);
    return null;
  }

  // ---- datasets -------------------------------------------------------------------------------

  info(path: string): DatasetInfo {
    const m = this.array(path);
    return {
      shape: m.shape.slice(),
      dtype: storeDtype(m.element),
      chunks: m.shape.length ? ChunkReader.unitShape(m).slice() : null,
      maxshape: m.shape.slice(),
      size: m.shape.reduce((a, b) => a * b, 1),
    };
  }

  /** Decode the chunks of `k` a read touches, naming store, array and chunk when one is damaged. */
  private copy(k: string, m: ArrayMeta, start: number[], count: number[], out: Uint8Array | string[]): void {
    let at: number[] = [];
    try {
      copyHyperslab(
        m,
        start,
        count,
        (index) => {
          at = index;
          return this.chunks.chunk(k, m, index);
        },
        out,
      );
    } catch (err) {
      if (err instanceof CrispyxError) throw err;
      throw new FileFormatError(`cannot read ${shown(k)} (chunk ${at.join(",") || "0"}): ${(err as Error).message}`, {
        file: this.path,
        hint: HINT,
        cause: err,
      });
    }
  }

  private selection(
    k: string,
    m: ArrayMeta,
    start?: number[],
    count?: number[],
  ): { s: number[]; c: number[]; n: number } {
    const rank = m.shape.length;
    const s = start ?? new Array<number>(rank).fill(0);
    const c = count ?? m.shape.map((d, i) => d - s[i]!);
    if (s.length !== rank || c.length !== rank) {
      throw new CrispyxError(
        `read of ${shown(k)} gives ${s.length} start and ${c.length} count values for ${rank} dimensions`,
        { file: this.path },
      );
    }
    for (let i = 0; i < rank; i++) {
      if (s[i]! < 0 || c[i]! < 0 || s[i]! + c[i]! > m.shape[i]!) {
        throw new CrispyxError(
          `read of ${shown(k)} [${s.join(",")}]+[${c.join(",")}] is outside its shape [${m.shape.join(",")}]`,
          { file: this.path },
        );
      }
    }
    return { s, c, n: rank === 0 ? 1 : c.reduce((a, b) => a * b, 1) };
  }

  read(path: string, start?: number[], count?: number[], out?: TypedArray): TypedArray {
    const k = key(path);
    const m = this.array(k);
    const e = m.element;
    const dtype: NumericDtype | null = e.kind === "bool" ? "uint8" : e.kind === "numeric" ? e.dtype : null;
    if (!dtype) {
      throw new FileFormatError(`${shown(k)} holds ${storeDtype(e)} values, not numbers`, {
        file: this.path,
      });
    }
    const { s, c, n } = this.selection(k, m, start, count);
    const result = out ?? new TYPED_ARRAY_OF[dtype](n);
    if (result.length !== n || dtypeOfArray(result) !== dtype) {
      throw new CrispyxError(`read of ${shown(k)}: output buffer must be ${dtype}[${n}]`);
    }
    if (n === 0) return result;
    this.copy(k, m, s, c, new Uint8Array(result.buffer, result.byteOffset, n * BYTES_OF[dtype]));
    return result;
  }

  readStrings(path: string, start = 0, count?: number): string[] {
    const k = key(path);
    const m = this.array(k);
    const e = m.element;
    if (e.kind !== "vlen-string" && e.kind !== "fixed-bytes" && e.kind !== "fixed-utf32") {
      throw new FileFormatError(`${shown(k)} holds ${storeDtype(e)} values, not strings`, {
        file: this.path,
      });
    }
    if (m.shape.length > 1)
      throw new FileFormatError(`${shown(k)} is a ${m.shape.length}-D string array; only 1-D ones are read`, {
        file: this.path,
      });
    if (m.shape.length === 0) {
      const out = [""];
      this.copy(k, m, [], [], out);
      return out;
    }
    const { s, c, n } = this.selection(k, m, [start], [count ?? m.shape[0]! - start]);
    const out = new Array<string>(n);
    if (n) this.copy(k, m, s, c, out);
    return out;
  }

  readValue(path: string): AttrValue {
    const info = this.info(path);
    if (info.dtype === "string" || info.dtype.startsWith("fixed-string:")) {
      const s = this.readStrings(path);
      return info.shape.length === 0 ? s[0]! : s;
    }
    if (info.dtype === "other") {
      throw new FileFormatError(`${shown(key(path))} has a data type crispyx cannot read`, {
        file: this.path,
        code: "UNSUPPORTED",
      });
    }
    const a = this.read(path);
    if (info.dtype === "bool") {
      const b = Array.from(a as Uint8Array, (x) => x !== 0);
      return info.shape.length === 0 ? b[0]! : b;
    }
    if (info.shape.length === 0) return a[0]!;
    return a;
  }

  // ---- record arrays (numpy structured dtypes: anndata's rec-array, Scanpy's rank_genes_groups) -------------

  private struct(path: string): { m: ArrayMeta; fields: StructField[]; size: number } {
    const m = this.array(path);
    if (m.element.kind !== "struct" || m.shape.length !== 1) {
      throw new FileFormatError(`${shown(key(path))} is not a 1-D record array`, { file: this.path });
    }
    return { m, fields: m.element.fields, size: m.element.size };
  }

  compoundInfo(path: string): { length: number; recordSize: number; members: CompoundMember[] } {
    const { m, fields, size } = this.struct(path);
    return {
      length: m.shape[0]!,
      recordSize: size,
      members: fields.map((f) => ({
        name: f.name,
        offset: f.offset,
        size: itemSize(f.element),
        dtype: storeDtype(f.element),
      })),
    };
  }

  /** The whole record array, one decoded column per field (UTF-32 'U' fields as strings: member dtype "string"). */
  readCompound(path: string): { members: CompoundMember[]; columns: unknown[][] } {
    const { members, length, recordSize } = this.compoundInfo(path);
    const { fields } = this.struct(path);
    const bytes = this.readRecords(path, 0, length, recordSize);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const columns = fields.map((f) => {
      const e = f.element;
      const size = itemSize(e);
      const col = new Array<unknown>(length);
      for (let r = 0; r < length; r++) {
        const at = r * recordSize + f.offset;
        if (e.kind === "fixed-bytes" || e.kind === "fixed-utf32")
          col[r] = decodeFixedStrings(bytes.subarray(at, at + size), e, 1)[0];
        else if (e.kind === "bool") col[r] = bytes[at]! !== 0;
        else if (e.kind === "numeric") col[r] = numberAt(view, at, e.dtype, !e.bigEndian);
      }
      return col;
    });
    return { members, columns };
  }

  /** Raw packed records [start, start+count), as stored (numbers in the field's byte order). */
  readRecords(path: string, start: number, count: number, recordSize: number): Uint8Array {
    const k = key(path);
    const { m, size } = this.struct(k);
    if (recordSize !== size)
      throw new CrispyxError(`${shown(k)} has ${size}-byte records, not ${recordSize}`, {
        file: this.path,
      });
    const { s, c, n } = this.selection(k, m, [start], [count]);
    const out = new Uint8Array(n * size);
    if (n) this.copy(k, m, s, c, out);
    return out;
  }

  close(): void {
    this.closed = true;
    this.chunks.clear();
    this.nodes.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function readJson(store: string, file: string, k: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new FileFormatError(`cannot read zarr metadata of ${shown(k)} (${file}): ${(err as Error).message}`, {
      file: store,
      cause: err,
    });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FileFormatError(
      `damaged zarr metadata of ${shown(k)}: ${file} is not valid JSON (${(err as Error).message})`,
      { file: store, hint: HINT, cause: err },
    );
  }
}

/** A directory holding zarr metadata at its root (.zgroup for v2, zarr.json for v3). */
export function isZarrDirectory(path: string): boolean {
  try {
    if (!statSync(path).isDirectory()) return false;
  } catch {
    return false;
  }
  return existsSync(join(path, ".zgroup")) || existsSync(join(path, "zarr.json"));
}
