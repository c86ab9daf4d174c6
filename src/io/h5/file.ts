/**
 * The one place crispyx talks to h5wasm (the HDF5 C library compiled to WebAssembly, reading the real
 * file on disk). Everything above this layer sees plain paths, typed arrays and strings.
 *
 * Why the low-level Module API for bulk reads: h5wasm's `Dataset.slice` mallocs, copies and re-wraps on
 * every call; reading through one reusable WebAssembly buffer is 5–10× faster for streamed blocks.
 */
import h5wasm from "h5wasm/node";
import { closeSync, fsyncSync, openSync, realpathSync } from "node:fs";
import { FileFormatError, CrispyxError } from "../../errors.ts";
import { preflightHdf5 } from "./preflight.ts";
import { rawLayout, readRawElements, type RawLayout } from "./rawStorage.ts";
import { FilteredChunks } from "./filteredChunks.ts";
import { filterRoute, type FilterInfo } from "./filters.ts";
import { BOOL_PLACEHOLDER, finishBooleans, type BooleanTarget } from "./booleans.ts";
import { unfinishedReason } from "./links.ts";
import {
  BYTES_OF, TYPED_ARRAY_OF, dtypeOfArray, isNumericDtype,
  type AttrValue, type CreateDatasetOptions, type DatasetInfo, type H5Dtype, type NumericDtype,
  type ObjectKind, type TypedArray,
} from "./types.ts";

const Module = await h5wasm.ready;
// Turn HDF5's printed error stacks into thrown JS errors, which we translate into readable ones.
Module.activate_throwing_error_handler();

const H5T = { INTEGER: 0, FLOAT: 1, STRING: 3, COMPOUND: 6, REFERENCE: 7, ENUM: 8, ARRAY: 10 } as const;
const textEncoder = new TextEncoder();
/** Dimensions larger than this are HDF5's H5S_UNLIMITED. */
const UNLIMITED_THRESHOLD = 2 ** 53;

export type OpenMode = "r" | "r+" | "w";

/** One field of a compound dataset. */
export interface CompoundMember {
  name: string;
  offset: number;
  size: number;
  /** For an array-typed member (numpy sub-array field, e.g. anndata 0.6 obsm 'X_pca' (50,)): the element type. */
  dtype: H5Dtype;
  /** Shape of an array-typed member's value in each record; absent for scalar members. */
  arrayShape?: number[];
}

/** Files this process has open, so byte-level link edits never race the HDF5 library's caches. */
const openFiles = new Map<string, number>();
/** Of those, the ones open for writing: HDF5's caches may hold bytes the file does not have yet. */
const openForWriting = new Map<string, number>();

/** Add `delta` to the open count of `key`, forgetting it at zero. */
function countOpen(registry: Map<string, number>, key: string, delta: number): void {
  const n = (registry.get(key) ?? 0) + delta;
  if (n > 0) registry.set(key, n);
  else registry.delete(key);
}

function realKey(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** True while any H5File in this process has `path` open. */
export function isFileOpen(path: string): boolean {
  return (openFiles.get(realKey(path)) ?? 0) > 0;
}

/** Pull the innermost, most specific line out of an HDF5 error stack. */
function hdf5Reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = [...text.matchAll(/#\d+: .*? in [\w]+\(\): (.*)$/gm)].map((m) => m[1]!.trim());
  return lines.at(-1) ?? text.split("\n")[0]!;
}

function mapDtype(meta: { type: number; size: number; signed: boolean; vlen: boolean; enum_type?: { members: Record<string, number>; type: number } }): H5Dtype {
  switch (meta.type) {
    case H5T.INTEGER: {
      const bits = meta.size * 8;
      return `${meta.signed ? "int" : "uint"}${bits}` as NumericDtype;
    }
    case H5T.FLOAT:
      if (meta.size === 4) return "float32";
      if (meta.size === 8) return "float64";
      return "other";
    case H5T.STRING:
      return meta.vlen ? "string" : `fixed-string:${meta.size}`;
    case H5T.ENUM: {
      const m = meta.enum_type?.members ?? {};
      const names = Object.keys(m);
      if (names.length === 2 && m["FALSE"] === 0 && m["TRUE"] === 1) return "bool";
      return "other";
    }
    default:
      return "other";
  }
}

/** h5wasm's dtype string for a dtype we write. Booleans are written as int8 (see ./booleans.ts). */
function h5wasmDtype(d: H5Dtype): string {
  if (d === "string") return "S";
  if (d === "bool") return "<b";
  if (d.startsWith("fixed-string:")) return `S${d.slice("fixed-string:".length)}`;
  const map: Record<NumericDtype, string> = {
    int8: "<b", uint8: "<B", int16: "<h", uint16: "<H", int32: "<i", uint32: "<I",
    int64: "<q", uint64: "<Q", float32: "<f", float64: "<d",
  };
  if (isNumericDtype(d)) return map[d];
  throw new CrispyxError(`cannot write HDF5 data of type ${d}`);
}

function normalize(path: string): string {
  const p = ("/" + path).replace(/\/+/g, "/");
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}

/**
 * An open HDF5 file. Synchronous, like h5py. Dispose with `close()` or `using`.
 * Paths are absolute inside the file ("/obs/_index"); relative ones are taken from the root.
 */
export class H5File implements Disposable {
  readonly path: string;
  readonly mode: OpenMode;
  private fileId: bigint;
  private scratchPtr = 0;
  private scratchBytes = 0;
  private closed = false;
  /**
   * Datasets and attributes written as int8 that become h5py booleans when the file is closed (./booleans.ts),
   * keyed by object header address and attribute name; and the headers holding placeholders, cleared then.
   */
  private readonly pendingBooleans = new Map<string, BooleanTarget>();
  private readonly placeholderHeaders = new Set<number>();
  /** Names of boolean attributes ever pended: other names skip the address lookup in unpendBoolean. */
  private readonly booleanNames = new Set<string>();
  private placeholders = 0;
  /** The first HDF5 failure while writing: HDF5 may then leave the file unfinished, which close() reports. */
  private firstFailure: string | undefined;
  /** Read-only files: our own descriptor and each dataset's raw layout, for direct reads (./rawStorage.ts). */
  private rawFd = -1;
  private readonly rawLayouts = new Map<string, RawLayout | null>();
  /** Each dataset's compression route (./filters.ts), checked before HDF5 reads it; our LZF reader where chosen. */
  private readonly filterRoutes = new Map<string, FilteredChunks | null>();
  /**
   * Objects this handle created, with the attributes it has put on them since: setAttr then knows
   * whether an attribute exists without asking HDF5 (a lookup cost ~0.2 ms, a tenth of writing a small
   * column of a data frame with its two encoding attributes). Cleared by anything that adds a name.
   */
  private readonly created = new Map<string, Set<string>>();

  private constructor(path: string, mode: OpenMode, fileId: bigint, private readonly key: string) {
    this.path = path;
    this.mode = mode;
    this.fileId = fileId;
  }

  /**
   * Open an existing file ("r", "r+") or create/overwrite one ("w").
   * Bad input (missing, directory, not HDF5, truncated) gives a FileFormatError naming the file.
   */
  static open(path: string, mode: OpenMode = "r"): H5File {
    if (mode !== "w") preflightHdf5(path);
    const flags = mode === "r" ? Module.H5F_ACC_RDONLY : mode === "r+" ? Module.H5F_ACC_RDWR : Module.H5F_ACC_TRUNC;
    let id: bigint;
    try {
      // Library-version bounds (earliest, latest) as h5py uses, so files get the classic layout anndata
      // files have (v0 superblock, v1 object headers, symbol-table groups), which our byte-level link and
      // boolean edits understand. HDF5 2.0's own default would write v2 headers and new-style groups.
      id = Module.open(path, flags, false, Module.H5F_LIBVER_EARLIEST, Module.H5F_LIBVER_LATEST);
    } catch (err) {
      throw new FileFormatError(`${path}: cannot open as HDF5: ${hdf5Reason(err)}`, { file: path, cause: err });
    }
    if (id < 0n) throw new FileFormatError(`${path}: cannot open as HDF5`, { file: path });
    // The file's real path: the key of the open-file registries.
    const key = realKey(path);
    countOpen(openFiles, key, 1);
    if (mode !== "r") countOpen(openForWriting, key, 1);
    return new H5File(path, mode, id, key);
  }

  private fail(what: string, err: unknown): never {
    if (err instanceof CrispyxError) throw err;
    if (this.mode !== "r") this.firstFailure ??= `${what}: ${hdf5Reason(err)}`;
    throw new FileFormatError(`${this.path}: ${what}: ${hdf5Reason(err)}`, { file: this.path, cause: err });
  }

  private check(): void {
    if (this.closed) throw new CrispyxError(`${this.path}: file is already closed`, { file: this.path });
  }

  // ---- structure ------------------------------------------------------------------------------

  /** What is at `path`, or null when nothing is. */
  kind(path: string): ObjectKind | null {
    this.check();
    const p = normalize(path);
    if (p !== "/" && !this.exists(p)) return null;
    const t = Module.get_type(this.fileId, p);
    if (t === Module.H5G_GROUP) return "group";
    if (t === Module.H5G_DATASET) return "dataset";
    return "other";
  }

  /** True when a link exists at `path` (every parent must exist too). */
  exists(path: string): boolean {
    this.check();
    const parts = normalize(path).split("/").filter(Boolean);
    let cur = "";
    for (const part of parts) {
      const parent = cur || "/";
      if (Module.get_type(this.fileId, parent) !== Module.H5G_GROUP) return false;
      if (!Module.get_names(this.fileId, parent, false).includes(part)) return false;
      cur += "/" + part;
    }
    return true;
  }

  isGroup(path: string): boolean {
    return this.kind(path) === "group";
  }

  isDataset(path: string): boolean {
    return this.kind(path) === "dataset";
  }

  /** Names of a group's members, in the file's (alphabetical) order. */
  keys(path: string): string[] {
    this.check();
    const p = normalize(path);
    if (!this.isGroup(p)) throw new FileFormatError(`${this.path}: ${p} is not a group`, { file: this.path });
    try {
      return Module.get_names(this.fileId, p, false);
    } catch (err) {
      this.fail(`cannot list ${p}`, err);
    }
  }

  createGroup(path: string): void {
    this.check();
    try {
      Module.create_group(this.fileId, normalize(path), false);
      this.created.set(normalize(path), new Set());
    } catch (err) {
      this.fail(`cannot create group ${path}`, err);
    }
  }

  /** Create every missing group along `path`. */
  ensureGroup(path: string): void {
    let cur = "";
    for (const part of normalize(path).split("/").filter(Boolean)) {
      cur += "/" + part;
      if (!this.exists(cur)) this.createGroup(cur);
    }
  }

  /** A second name for an existing object (HDF5 hard link). */
  hardLink(target: string, name: string): void {
    this.check();
    try {
      Module.create_hard_link(this.fileId, normalize(target), normalize(name));
      this.created.clear(); // the object now has two names: look its attributes up again
    } catch (err) {
      this.fail(`cannot link ${name} to ${target}`, err);
    }
  }

  // ---- attributes -----------------------------------------------------------------------------

  attrNames(path: string): string[] {
    this.check();
    try {
      // Placeholders reserving room for booleans (./booleans.ts) are not attributes of the data.
      return Module.get_attribute_names(this.fileId, normalize(path)).filter((n: string) => !n.startsWith(BOOL_PLACEHOLDER));
    } catch (err) {
      this.fail(`cannot list attributes of ${path}`, err);
    }
  }

  hasAttr(path: string, name: string): boolean {
    return this.attrNames(path).includes(name);
  }

  /** Decoded attribute value, or undefined when absent. Scalars come back as JS scalars. */
  attr(path: string, name: string): AttrValue | undefined {
    this.check();
    const p = normalize(path);
    if (!this.hasAttr(p, name)) return undefined;
    try {
      const obj = p === "/" ? new h5wasm.Group(this.fileId, "/") : new h5wasm.Dataset(this.fileId, p);
      const a = obj.attrs[name]!;
      const meta = a.metadata as unknown as Parameters<typeof mapDtype>[0] & { shape: number[] | null };
      const dtype = mapDtype(meta);
      const value = a.value;
      const scalar = !meta.shape || meta.shape.length === 0;
      return decodeValue(value, dtype, scalar);
    } catch (err) {
      this.fail(`cannot read attribute ${name} of ${p}`, err);
    }
  }

  /**
   * The path of the object a scalar object-reference attribute points at, or null when the attribute is
   * absent or not an object reference (anndata 0.7 pointed categorical codes at their categories this way).
   */
  referencedPath(path: string, name: string): string | null {
    this.check();
    const p = normalize(path);
    if (!this.hasAttr(p, name)) return null;
    try {
      const a = new h5wasm.Dataset(this.fileId, p).attrs[name]!;
      if ((a.metadata as { type: number }).type !== H5T.REFERENCE) return null;
      const v = a.value as unknown;
      const ref = (Array.isArray(v) ? v[0] : v) as { ref_data?: Uint8Array } | undefined;
      if (!ref?.ref_data) return null;
      const target = Module.get_referenced_name(this.fileId, ref.ref_data, true) as string;
      return target ? normalize(target) : null;
    } catch (err) {
      this.fail(`cannot follow the reference in attribute ${name} of ${p}`, err);
    }
  }

  /** All attributes of an object. */
  attrs(path: string): Record<string, AttrValue> {
    const out: Record<string, AttrValue> = {};
    for (const n of this.attrNames(path)) out[n] = this.attr(path, n)!;
    return out;
  }

  /**
   * Write (or replace) an attribute. Strings are written as h5py does: variable-length UTF-8.
   * A string[] becomes a 1-D array attribute; numbers default to float64 unless `dtype` says otherwise.
   */
  setAttr(path: string, name: string, value: AttrValue, dtype?: NumericDtype | "bool"): void {
    this.check();
    const p = normalize(path);
    try {
      const known = this.created.get(p);
      if (known ? known.has(name) : this.hasAttr(p, name)) Module.delete_attribute(this.fileId, p, name);
      const obj = new h5wasm.Group(this.fileId, p);
      if (typeof value === "string") {
        obj.create_attribute(name, value, [], "S");
      } else if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
        obj.create_attribute(name, value as string[], [value.length], "S");
      } else if (typeof value === "boolean" || dtype === "bool" || (Array.isArray(value) && value.every((v) => typeof v === "boolean"))) {
        const arr = ArrayBuffer.isView(value) || Array.isArray(value)
          ? Int8Array.from(value as ArrayLike<unknown>, (v) => (v ? 1 : 0))
          : Int8Array.of(value ? 1 : 0);
        obj.create_attribute(name, arr, typeof value === "boolean" ? [] : [arr.length], "<b");
        this.pendBoolean(p, name);
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
      this.unpendBoolean(p, name);
      known?.add(name);
    } catch (err) {
      this.fail(`cannot write attribute ${name} of ${p}`, err);
    }
  }

  deleteAttr(path: string, name: string): void {
    this.check();
    if (this.hasAttr(path, name)) Module.delete_attribute(this.fileId, normalize(path), name);
    this.created.get(normalize(path))?.delete(name);
    this.unpendBoolean(normalize(path), name);
  }

  /** The object header address of `p` (what an HDF5 object reference holds). */
  private headerAddress(p: string): number {
    return Number(Buffer.from(Module.create_object_reference(this.fileId, p)).readBigUInt64LE(0));
  }

  /**
   * Note that `p` (its datatype, or its attribute `attribute`) is int8 standing for booleans, and put a
   * placeholder attribute beside it reserving the header room the enum type needs (./booleans.ts).
   */
  private pendBoolean(p: string, attribute?: string): void {
    const header = this.headerAddress(p);
    const key = `${header}/${attribute ?? ""}`;
    if (this.pendingBooleans.has(key)) return; // replaced: its placeholder is still there
    const placeholder = `${BOOL_PLACEHOLDER}${this.placeholders++}`;
    new h5wasm.Group(this.fileId, p).create_attribute(placeholder, Int8Array.of(0), [], "<b");
    this.created.get(p)?.add(placeholder);
    this.pendingBooleans.set(key, attribute === undefined ? { header } : { header, attribute });
    if (attribute !== undefined) this.booleanNames.add(attribute);
    this.placeholderHeaders.add(header);
  }

  /** Attribute `name` of `p` no longer holds booleans (replaced or deleted). */
  private unpendBoolean(p: string, name: string): void {
    if (this.booleanNames.has(name)) this.pendingBooleans.delete(`${this.headerAddress(p)}/${name}`);
  }

  // ---- datasets -------------------------------------------------------------------------------

  info(path: string): DatasetInfo {
    this.check();
    const p = normalize(path);
    if (!this.isDataset(p)) throw new FileFormatError(`${this.path}: ${p} is not a dataset`, { file: this.path });
    try {
      const meta = Module.get_dataset_metadata(this.fileId, p) as unknown as Parameters<typeof mapDtype>[0] & {
        shape: number[] | null; maxshape: number[] | null; chunks: number[] | null; total_size: number;
      };
      const shape = (meta.shape ?? []).map(Number);
      return {
        shape,
        dtype: mapDtype(meta),
        chunks: meta.chunks ? meta.chunks.map(Number) : null,
        maxshape: (meta.maxshape ?? shape).map((d) => (Number(d) >= UNLIMITED_THRESHOLD ? null : Number(d))),
        size: shape.reduce((a, b) => a * b, 1),
      };
    } catch (err) {
      this.fail(`cannot read metadata of ${p}`, err);
    }
  }

  private scratch(bytes: number): number {
    if (bytes > this.scratchBytes) {
      if (this.scratchPtr) Module._free(this.scratchPtr);
      this.scratchBytes = Math.max(bytes, 1 << 20);
      this.scratchPtr = Module._malloc(this.scratchBytes);
      if (!this.scratchPtr) {
        this.scratchBytes = 0;
        throw new CrispyxError(`${this.path}: out of WebAssembly memory allocating ${bytes} bytes; lower the chunk size or memory budget`);
      }
    }
    return this.scratchPtr;
  }

  /**
   * Read a numeric (or boolean, as uint8 0/1) hyperslab: `start`/`count` per dimension; omitted = whole
   * dataset. `out` may be given to avoid allocating (it must have exactly the selection's length and the
   * dataset's element type).
   */
  read(path: string, start?: number[], count?: number[], out?: TypedArray): TypedArray {
    this.check();
    const p = normalize(path);
    const info = this.info(p);
    const dtype: NumericDtype | null = info.dtype === "bool" ? "uint8" : isNumericDtype(info.dtype) ? info.dtype : null;
    if (!dtype) {
      throw new FileFormatError(`${this.path}: ${p} holds ${info.dtype} values, not numbers`, { file: this.path });
    }
    const rank = info.shape.length;
    const s = start ?? new Array(rank).fill(0);
    const c = count ?? info.shape.map((d, i) => d - s[i]!);
    for (let i = 0; i < rank; i++) {
      if (s[i]! < 0 || c[i]! < 0 || s[i]! + c[i]! > info.shape[i]!) {
        throw new CrispyxError(
          `${this.path}: read of ${p} [${s.join(",")}]+[${c.join(",")}] is outside its shape [${info.shape.join(",")}]`,
          { file: this.path },
        );
      }
    }
    const n = rank === 0 ? 1 : c.reduce((a, b) => a * b, 1);
    const Ctor = TYPED_ARRAY_OF[dtype];
    const result = out ?? new Ctor(n);
    if (result.length !== n || dtypeOfArray(result) !== dtype) {
      throw new CrispyxError(`read of ${p}: output buffer must be ${dtype}[${n}]`);
    }
    if (n === 0) return result;
    const bytes = n * BYTES_OF[dtype];
    const own = this.filtered(p, info);
    if (own) {
      this.readOwn(p, () => own.readBytes(s, c, new Uint8Array(result.buffer, result.byteOffset, bytes)));
      return result;
    }
    // Whole rows of uncompressed data: straight from the file, one copy.
    if (rank === 1 || (rank === 2 && s[1] === 0 && c[1] === info.shape[1])) {
      const lay = this.directLayout(p, info);
      if (lay) {
        const rowElems = rank === 2 ? info.shape[1]! : 1;
        try {
          if (readRawElements(this.rawFd, lay, s[0]! * rowElems, n, new Uint8Array(result.buffer, result.byteOffset, bytes))) return result;
        } catch (err) {
          throw new FileFormatError(`${this.path}: cannot read ${p}: ${(err as Error).message}`, { file: this.path, cause: err });
        }
      }
    }
    const ptr = this.scratch(bytes);
    try {
      Module.get_dataset_data(
        this.fileId, p,
        rank === 0 ? null : c.map(BigInt), rank === 0 ? null : s.map(BigInt), rank === 0 ? null : c.map(() => 1n),
        BigInt(ptr),
      );
    } catch (err) {
      this.fail(`cannot read ${p}`, err);
    }
    new Uint8Array(result.buffer, result.byteOffset, bytes).set(Module.HEAPU8.subarray(ptr, ptr + bytes));
    return result;
  }

  /**
   * Check `p`'s filter pipeline before HDF5 reads it (./filters.ts): returns our reader when its chunks
   * are LZF, null when HDF5 reads it; throws naming the filter when nothing here can. `ownAllowed`
   * false (raw compound records, which our reader does not lay out as HDF5 does): HDF5 with the LZF
   * plugin, or the error.
   */
  private filtered(p: string, info: DatasetInfo, ownAllowed = true): FilteredChunks | null {
    const key = ownAllowed ? p : `${p}\0hdf5`;
    if (this.filterRoutes.has(key)) return this.filterRoutes.get(key)!;
    let filters: FilterInfo[];
    let meta: { size: number; vlen: boolean; compound_type?: { members: { vlen: boolean }[] } };
    try {
      filters = (info.chunks ? Module.get_dataset_filters(this.fileId, p) : []) as unknown as FilterInfo[];
      meta = Module.get_dataset_metadata(this.fileId, p) as unknown as typeof meta;
    } catch (err) {
      this.fail(`cannot read the filters of ${p}`, err);
    }
    let own: FilteredChunks | null = null;
    const variable = meta.vlen || (meta.compound_type?.members ?? []).some((m) => m.vlen);
    const route = filterRoute(filters.map((f) => ({ id: Number(f.id), name: String(f.name ?? ""), cd_values: Array.from(f.cd_values ?? [], Number) })), {
      file: this.path,
      dataset: p,
      chunkBytes: variable || !info.chunks ? null : info.chunks.reduce((a, b) => a * b, 1) * Number(meta.size),
      ownReader: () => {
        if (!ownAllowed) return false;
        try {
          if (this.mode !== "r") Module.flush(this.fileId); // our reader reads the file's bytes
          if (this.rawFd < 0) this.rawFd = openSync(this.path, "r");
          own = FilteredChunks.open(this.rawFd, this.path, p, info.shape);
        } catch {
          own = null; // a header or index we do not parse: another route, or the error
        }
        return own !== null;
      },
    }, (dir) => {
      if (!Module.get_plugin_search_paths().includes(dir)) Module.insert_plugin_search_path(dir, 0);
    });
    const result = route === "own" ? own : null;
    this.filterRoutes.set(key, result);
    return result;
  }

  /** Run a read of our filter reader, turning its failures (corrupt or truncated chunks) into one line. */
  private readOwn<T>(p: string, read: () => T): T {
    try {
      return read();
    } catch (err) {
      throw new FileFormatError(`${this.path}: cannot read ${p}: ${(err as Error).message}`, { file: this.path, cause: err });
    }
  }

  /** Whether `path` is read by our filter reader (LZF) rather than HDF5; for tests and diagnostics. */
  readsWithOwnFilters(path: string): boolean {
    this.check();
    const p = normalize(path);
    return this.filtered(p, this.info(p)) !== null;
  }

  /** Whether whole-row reads of `path` bypass HDF5 (uncompressed data in a read-only file); for tests and diagnostics. */
  readsDirectly(path: string): boolean {
    this.check();
    const p = normalize(path);
    return this.directLayout(p, this.info(p)) !== null;
  }

  /**
   * Where the numeric dataset `p` is stored, when it can be read without HDF5: only in a file opened
   * read-only, and not while this process also has it open for writing (HDF5's caches are not on disk
   * yet). The layout is parsed once and kept.
   */
  private directLayout(p: string, info: DatasetInfo): RawLayout | null {
    if (this.mode !== "r" || openForWriting.has(this.key) || !isNumericDtype(info.dtype)) return null; // booleans: not numeric
    let lay = this.rawLayouts.get(p);
    if (lay === undefined) {
      if (this.rawFd < 0) this.rawFd = openSync(this.path, "r");
      lay = rawLayout(this.rawFd, this.path, p, { shape: info.shape, elemSize: BYTES_OF[info.dtype], chunks: info.chunks });
      this.rawLayouts.set(p, lay);
    }
    return lay;
  }

  /** Read strings (variable- or fixed-length) from a 1-D or scalar string dataset. */
  readStrings(path: string, start = 0, count?: number): string[] {
    this.check();
    const p = normalize(path);
    const info = this.info(p);
    if (info.dtype !== "string" && !info.dtype.startsWith("fixed-string:")) {
      throw new FileFormatError(`${this.path}: ${p} holds ${info.dtype} values, not strings`, { file: this.path });
    }
    const own = this.filtered(p, info);
    if (own) {
      const n = count ?? info.shape[0]! - start;
      return this.readOwn(p, () => own.readStrings(start, n));
    }
    try {
      const ds = new h5wasm.Dataset(this.fileId, p);
      if (info.shape.length === 0) return [String(ds.value)];
      const n = count ?? info.shape[0]! - start;
      if (n === 0) return [];
      const v = ds.slice([[start, start + n]]) as string[];
      return v.map(String);
    } catch (err) {
      this.fail(`cannot read strings from ${p}`, err);
    }
  }

  /**
   * Write `values` into elements start … start+values.length-1 of an existing 1-D variable-length UTF-8
   * string dataset, so a long string column (an obs index of millions of cells) can be written in
   * slices instead of all at once (h5wasm only writes whole string datasets).
   */
  writeStrings(path: string, start: number, values: string[]): void {
    this.check();
    const p = normalize(path);
    const info = this.info(p);
    if (info.dtype !== "string" || info.shape.length !== 1) {
      throw new CrispyxError(`writeStrings to ${p}: not a 1-D variable-length string dataset`, { file: this.path });
    }
    const n = values.length;
    if (start < 0 || start + n > info.shape[0]!) {
      throw new CrispyxError(`writeStrings to ${p}: [${start}, ${start + n}) is outside its ${info.shape[0]} elements`, { file: this.path });
    }
    if (n === 0) return;
    // Memory layout HDF5 expects for vlen strings: one char* per element (wasm32: 4 bytes), each
    // pointing at a NUL-terminated UTF-8 string; all placed in the scratch buffer.
    const encoded = values.map((v) => Buffer.from(`${v}\0`, "utf8"));
    const textBytes = encoded.reduce((a, b) => a + b.length, 0);
    const ptr = this.scratch(4 * n + textBytes);
    const pointers = new Uint32Array(n);
    let at = ptr + 4 * n;
    for (let i = 0; i < n; i++) {
      Module.HEAPU8.set(encoded[i]!, at);
      pointers[i] = at;
      at += encoded[i]!.length;
    }
    Module.HEAPU8.set(new Uint8Array(pointers.buffer), ptr);
    try {
      Module.set_dataset_data(this.fileId, p, [BigInt(n)], [BigInt(start)], [1n], BigInt(ptr));
    } catch (err) {
      this.fail(`cannot write strings to ${p}`, err);
    }
  }

  /** Read any dataset whole, decoded: numbers as typed arrays, strings as string[], booleans as boolean[]. */
  readValue(path: string): AttrValue {
    const info = this.info(path);
    if (info.dtype === "string" || info.dtype.startsWith("fixed-string:")) {
      const s = this.readStrings(path);
      return info.shape.length === 0 ? s[0]! : s;
    }
    if (info.dtype === "other") {
      throw new FileFormatError(`${this.path}: ${normalize(path)} has a data type crispyx cannot read`, { file: this.path });
    }
    const a = this.read(path);
    if (info.dtype === "bool") {
      const b = Array.from(a as Uint8Array, (x) => x !== 0);
      return info.shape.length === 0 ? b[0]! : b;
    }
    if (info.shape.length === 0) return a[0]!;
    return a;
  }

  /**
   * Create a dataset. Booleans are stored as int8 and turned into h5py's boolean enum when the file is
   * closed (h5wasm cannot create enum types; see ./booleans.ts); until then they read back as int8.
   */
  createDataset(path: string, opts: CreateDatasetOptions): void {
    this.check();
    const p = normalize(path);
    const { dtype, shape } = opts;
    const n = shape.reduce((a, b) => a * b, 1);
    let chunks = opts.chunks ?? null;
    let data: TypedArray | string[];
    let createShape = shape;
    if (opts.data !== undefined) {
      if (opts.data.length !== n) {
        throw new CrispyxError(`createDataset ${p}: ${opts.data.length} values for shape [${shape.join(",")}]`);
      }
      data = dtype === "bool"
        ? Int8Array.from(opts.data as ArrayLike<unknown>, (v) => (v ? 1 : 0))
        : (opts.data as TypedArray | string[]);
    } else if (dtype === "string") {
      data = new Array<string>(n).fill("");
    } else {
      // h5wasm wants initial data; to avoid allocating a whole large dataset just to create it, create
      // it empty (chunked, so it can grow) and resize it to its shape.
      const d = dtype === "bool" ? "int8" : (dtype as NumericDtype);
      if (n * BYTES_OF[d] > 1 << 20 || chunks) {
        chunks ??= shape.map((s, i) => (i === 0 ? Math.max(1, Math.min(s, Math.floor((1 << 20) / Math.max(1, n / Math.max(1, s))))) : s));
        createShape = shape.map((s, i) => (i === 0 ? 0 : s));
      }
      data = new TYPED_ARRAY_OF[d](createShape.reduce((a, b) => a * b, 1));
    }
    try {
      const root = new h5wasm.Group(this.fileId, "/");
      root.create_dataset({
        name: p,
        data: data as never,
        shape: createShape,
        dtype: h5wasmDtype(dtype),
        maxshape: opts.maxshape ?? (createShape === shape ? null : shape),
        chunks,
        ...(opts.gzip ? { compression: "gzip" as const, compression_opts: opts.gzip } : {}),
      });
      if (createShape !== shape) Module.resize_dataset(this.fileId, p, shape.map(BigInt));
    } catch (err) {
      this.fail(`cannot create dataset ${p}`, err);
    }
    this.created.set(p, new Set());
    this.filterRoutes.delete(p);
    if (dtype === "bool") this.pendBoolean(p);
  }

  /** Write `data` into a hyperslab of an existing numeric dataset. */
  write(path: string, start: number[], count: number[], data: TypedArray): void {
    this.check();
    const p = normalize(path);
    const n = count.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new CrispyxError(`write to ${p}: ${data.length} values for [${count.join(",")}]`);
    if (n === 0) return;
    const bytes = data.byteLength;
    const ptr = this.scratch(bytes);
    Module.HEAPU8.set(new Uint8Array(data.buffer, data.byteOffset, bytes), ptr);
    try {
      // The memory type comes from the dataset's own type, so `data` must already be of that type.
      Module.set_dataset_data(this.fileId, p, count.map(BigInt), start.map(BigInt), count.map(() => 1n), BigInt(ptr));
    } catch (err) {
      this.fail(`cannot write ${p}`, err);
    }
  }

  // ---- compound (numpy structured) datasets: anndata's "rec-array" encoding ------------------------

  /** Members of a 1-D compound dataset (name, byte offset, numeric or fixed-string type) and the record size. */
  compoundInfo(path: string): { length: number; recordSize: number; members: CompoundMember[] } {
    this.check();
    const p = normalize(path);
    if (!this.isDataset(p)) throw new FileFormatError(`${this.path}: ${p} is not a dataset`, { file: this.path });
    const meta = Module.get_dataset_metadata(this.fileId, p) as unknown as {
      type: number; size: number; shape: number[] | null;
      compound_type?: { members: (Parameters<typeof mapDtype>[0] & { name: string; offset: number; littleEndian?: boolean; array_type?: Parameters<typeof mapDtype>[0] & { shape: number[] } })[] };
    };
    if (meta.type !== H5T.COMPOUND || !meta.compound_type) {
      throw new FileFormatError(`${this.path}: ${p} is not a compound dataset`, { file: this.path });
    }
    const shape = (meta.shape ?? []).map(Number);
    if (shape.length !== 1) throw new FileFormatError(`${this.path}: ${p} is a ${shape.length}-d compound dataset, expected 1-d`, { file: this.path });
    const members: CompoundMember[] = meta.compound_type.members.map((m) => (m.type === H5T.ARRAY && m.array_type
      ? { name: m.name, offset: Number(m.offset), size: Number(m.size), dtype: mapDtype(m.array_type), arrayShape: m.array_type.shape.map(Number) }
      : { name: m.name, offset: Number(m.offset), size: Number(m.size), dtype: mapDtype(m) }));
    return { length: shape[0]!, recordSize: Number(meta.size), members };
  }

  /**
   * Create a 1-D compound dataset of `length` packed records (members in order, numbers little-endian,
   * fixed-length byte strings). Created empty and resized, so nothing of its size is allocated here;
   * fill it with writeRecords.
   */
  createCompound(path: string, members: { name: string; dtype: NumericDtype | `fixed-string:${number}` | "string" }[], length: number, chunkRecords?: number | "contiguous"): void {
    this.check();
    const p = normalize(path);
    if (members.some((m) => m.dtype === "string")) return this.createCompoundWithStrings(p, members, length, chunkRecords);
    // Fixed strings are tagged ASCII ("A<n>"): anndata's rec-array reader decodes UTF-8-tagged fields a
    // second time and fails, while ASCII-tagged ones read as numpy unicode fields.
    const dtype = members.map((m) => [m.name, m.dtype.startsWith("fixed-string:") ? `A${m.dtype.slice("fixed-string:".length)}` : h5wasmDtype(m.dtype)]);
    // "contiguous": zero-filled records written at creation (for small placeholders, see ../anndata/directArrays.ts).
    const n = chunkRecords === "contiguous" ? length : 0;
    const empty = new Map(members.map((m) => [m.name, m.dtype.startsWith("fixed-string:") ? new Array<string>(n).fill("") : new TYPED_ARRAY_OF[m.dtype as NumericDtype](n)]));
    try {
      if (chunkRecords === "contiguous") {
        new h5wasm.Group(this.fileId, "/").create_dataset({ name: p, data: empty as never, shape: [length], dtype: dtype as never });
      } else {
        const chunk = Math.max(1, Math.min(Math.max(1, length), chunkRecords ?? 4096));
        new h5wasm.Group(this.fileId, "/").create_dataset({ name: p, data: empty as never, shape: [0], maxshape: [length], chunks: [chunk], dtype: dtype as never });
        Module.resize_dataset(this.fileId, p, [BigInt(length)]);
      }
    } catch (err) {
      this.fail(`cannot create compound dataset ${p}`, err);
    }
    this.created.set(p, new Set());
  }

  /**
   * A compound dataset with variable-length UTF-8 string members, as h5py writes numpy's object fields
   * (and anndata's record arrays). h5wasm's high-level API refuses them, but its type builder handles a
   * variable-length string member (a 4-byte char* in the WebAssembly heap), so the dataset is created
   * from that description directly; records are written with writeRecordsWithStrings.
   */
  private createCompoundWithStrings(p: string, members: { name: string; dtype: NumericDtype | `fixed-string:${number}` | "string" }[], length: number, chunkRecords?: number | "contiguous"): void {
    let offset = 0;
    const described = members.map((m) => {
      let meta: { type: number; size: number; signed: boolean; vlen: boolean; cset?: number };
      if (m.dtype === "string") meta = { type: H5T.STRING, size: 4, signed: false, vlen: true, cset: 1 };
      else if (m.dtype.startsWith("fixed-string:")) meta = { type: H5T.STRING, size: Number(m.dtype.slice("fixed-string:".length)), signed: false, vlen: false, cset: 0 };
      else meta = { type: m.dtype.startsWith("float") ? H5T.FLOAT : H5T.INTEGER, size: BYTES_OF[m.dtype as NumericDtype], signed: !m.dtype.startsWith("uint"), vlen: false };
      const member = { ...meta, littleEndian: true, name: m.name, offset };
      offset += meta.size;
      return member;
    });
    const contiguous = chunkRecords === "contiguous";
    const chunk = Math.max(1, Math.min(Math.max(1, length), contiguous ? 1 : chunkRecords ?? 4096));
    const metadata = {
      type: H5T.COMPOUND, size: offset, signed: false, vlen: false, littleEndian: true,
      compound_type: { members: described, nmembers: described.length },
      shape: [BigInt(contiguous ? length : 0)], maxshape: [BigInt(length)], chunks: contiguous ? null : [BigInt(chunk)],
      compression: 0, compression_opts: [], track_order: false,
    };
    // Zero-filled records (null string pointers read back as empty strings) for a contiguous dataset.
    const ptr = this.scratch(Math.max(1, contiguous ? offset * length : 1));
    Module.HEAPU8.fill(0, ptr, ptr + (contiguous ? offset * length : 1));
    try {
      Module.create_dataset(this.fileId, p, BigInt(ptr), metadata as never);
      if (!contiguous) Module.resize_dataset(this.fileId, p, [BigInt(length)]);
    } catch (err) {
      this.fail(`cannot create compound dataset ${p}`, err);
    }
    this.created.set(p, new Set());
  }

  /**
   * Write records [start, start+count) of a compound dataset whose variable-length string members are at
   * `strings[k].offset` of each packed record: `bytes` holds the other members; the strings are placed in
   * the WebAssembly heap and their pointers written into the records for HDF5 to copy.
   */
  writeRecordsWithStrings(path: string, start: number, count: number, bytes: Uint8Array, recordSize: number, strings: { offset: number; values: string[] }[]): void {
    this.check();
    const p = normalize(path);
    if (count === 0) return;
    const encoded = strings.map((s) => s.values.slice(0, count).map((v) => textEncoder.encode(v)));
    let heapBytes = 0;
    for (const col of encoded) for (const b of col) heapBytes += b.length + 1;
    const heap = Module._malloc(Math.max(1, heapBytes));
    if (!heap) throw new CrispyxError(`${this.path}: out of WebAssembly memory writing ${p}`);
    try {
      const records = bytes.slice(0, count * recordSize);
      const view = new DataView(records.buffer);
      let at = heap;
      encoded.forEach((col, k) => {
        col.forEach((b, i) => {
          Module.HEAPU8.set(b, at);
          Module.HEAPU8[at + b.length] = 0;
          view.setUint32(i * recordSize + strings[k]!.offset, at, true);
          at += b.length + 1;
        });
      });
      this.writeRecords(p, start, count, records);
    } finally {
      Module._free(heap);
    }
  }

  /** Write packed records [start, start+count) of a compound dataset from their raw bytes. */
  writeRecords(path: string, start: number, count: number, bytes: Uint8Array): void {
    this.check();
    const p = normalize(path);
    if (count === 0) return;
    const ptr = this.scratch(bytes.byteLength);
    Module.HEAPU8.set(bytes, ptr);
    try {
      Module.set_dataset_data(this.fileId, p, [BigInt(count)], [BigInt(start)], [1n], BigInt(ptr));
    } catch (err) {
      this.fail(`cannot write ${p}`, err);
    }
  }

  /**
   * A whole 1-D compound dataset decoded, one array per member (numbers as numbers or bigints, strings —
   * fixed or variable length — as strings). For small uns record arrays; big ones use readRecords.
   */
  readCompound(path: string): { members: CompoundMember[]; columns: unknown[][] } {
    const { members, length } = this.compoundInfo(path);
    const own = this.filtered(normalize(path), this.info(path));
    if (own) {
      const { names, columns } = this.readOwn(normalize(path), () => own.readCompound());
      if (names.join("\0") !== members.map((m) => m.name).join("\0")) {
        throw new FileFormatError(`${this.path}: cannot read ${path}: its fields are not the ones HDF5 lists`, { file: this.path });
      }
      return { members, columns };
    }
    let rows: unknown[][];
    try {
      rows = length === 0 ? [] : (new h5wasm.Dataset(this.fileId, normalize(path)).value as unknown as unknown[][]);
    } catch (err) {
      this.fail(`cannot read compound dataset ${path}`, err);
    }
    const columns = members.map((_, k) => rows.map((r) => r[k]));
    return { members, columns };
  }

  /** Raw bytes of records [start, start+count) of a compound dataset, in the file's packed layout. */
  readRecords(path: string, start: number, count: number, recordSize: number): Uint8Array {
    this.check();
    const p = normalize(path);
    const out = new Uint8Array(count * recordSize);
    if (count === 0) return out;
    this.filtered(p, this.info(p), false);
    const ptr = this.scratch(out.byteLength);
    try {
      Module.get_dataset_data(this.fileId, p, [BigInt(count)], [BigInt(start)], [1n], BigInt(ptr));
    } catch (err) {
      this.fail(`cannot read ${p}`, err);
    }
    out.set(Module.HEAPU8.subarray(ptr, ptr + out.byteLength));
    return out;
  }

  resize(path: string, shape: number[]): void {
    this.check();
    try {
      Module.resize_dataset(this.fileId, normalize(path), shape.map(BigInt));
    } catch (err) {
      this.fail(`cannot resize ${path}`, err);
    }
  }

  flush(): void {
    this.check();
    Module.flush(this.fileId);
  }

  close(): void {
    if (this.closed) return;
    if (this.scratchPtr) Module._free(this.scratchPtr);
    this.scratchPtr = 0;
    this.scratchBytes = 0;
    if (this.rawFd >= 0) closeSync(this.rawFd);
    this.rawFd = -1;
    this.closed = true;
    countOpen(openFiles, this.key, -1);
    if (this.mode !== "r") countOpen(openForWriting, this.key, -1);
    try {
      Module.close_file(this.fileId);
    } catch (err) {
      throw new FileFormatError(`${this.path}: cannot close: ${hdf5Reason(err)}`, { file: this.path, cause: err });
    }
    if (this.firstFailure !== undefined) {
      // An HDF5 error may have left objects open inside the library, which then never finishes the file.
      const why = unfinishedReason(this.path);
      if (why) throw new FileFormatError(`${this.path}: HDF5 did not finish writing the file (${why}) after an earlier error: ${this.firstFailure}`, { file: this.path });
    }
    if (this.placeholderHeaders.size) {
      const targets = [...this.pendingBooleans.values()];
      const headers = [...this.placeholderHeaders];
      this.pendingBooleans.clear();
      this.placeholderHeaders.clear();
      finishBooleans(this.path, targets, headers, this.firstFailure);
    }
    if (this.mode !== "r") syncToDisk(this.path);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function decodeValue(value: unknown, dtype: H5Dtype, scalar: boolean): AttrValue {
  if (dtype === "bool") {
    const arr = Array.from(value as ArrayLike<number>, (x) => Number(x) !== 0);
    return scalar ? (arr[0] ?? Boolean(value)) : arr;
  }
  if (scalar) {
    if (typeof value === "bigint") {
      return Number.isSafeInteger(Number(value)) ? Number(value) : value;
    }
    if (ArrayBuffer.isView(value)) {
      const v = (value as unknown as ArrayLike<number | bigint>)[0]!;
      return typeof v === "bigint" && Number.isSafeInteger(Number(v)) ? Number(v) : v;
    }
    return value as string | number;
  }
  if (Array.isArray(value)) return value.map(String);
  return value as TypedArray;
}

/** Make sure what was written reaches the disk before anyone renames or relies on it. */
export function syncToDisk(path: string): void {
  const fd = openSync(path, "r+");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
