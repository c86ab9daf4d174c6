/**
 * The store interface: what crispyx needs from an on-disk container of groups, datasets and attributes.
 * The HDF5 backend (./h5/file.ts, h5wasm) implements it in full; the zarr backend (./zarr/) implements the
 * reading half. Everything outside src/io sees only these types, never a backend class, and opens files
 * through ./openStore.ts (openStore for inputs: any backend; openWriteStore for outputs: HDF5).
 *
 * To add a backend: implement ReadStore (and WriteStore if it writes) in ./<name>/, add its name to
 * StoreFormat, and add one branch to ./openStore.ts. Nothing else changes.
 *
 * Modelled on zarrita.js's storage types (a store is a small interface) and anndata's h5py/zarr symmetry:
 * paths are absolute inside the store ("/obs/_index"), reads are synchronous and return typed arrays or
 * strings, as h5py's do. Powers only one backend has (HDF5 hard links, direct byte-level reads) are
 * optional capabilities a caller tests for (`store.capabilities`), never assumed.
 *
 * Cost model: metadata calls (kind, keys, attr, info) are cheap and may be cached by the backend; `read`
 * of a hyperslab costs the bytes of the chunks it touches (decompressed once per call).
 */
import type {
  AttrValue,
  CreateDatasetOptions,
  DatasetInfo,
  H5Dtype,
  NumericDtype,
  ObjectKind,
  TypedArray,
} from "./dtypes.ts";

export type {
  AttrValue,
  CreateDatasetOptions,
  DatasetInfo,
  H5Dtype,
  NumericDtype,
  ObjectKind,
  TypedArray,
} from "./dtypes.ts";

export type OpenMode = "r" | "r+" | "w";

/** The on-disk formats crispyx reads. */
export type StoreFormat = "hdf5" | "zarr";

/** One field of a compound (numpy structured) dataset. */
export interface CompoundMember {
  name: string;
  offset: number;
  size: number;
  /** For an array-typed member (numpy sub-array field): the element type. */
  dtype: H5Dtype;
  /** Shape of an array-typed member's value in each record; absent for scalar members. */
  arrayShape?: number[];
}

/** The reading half: every backend has it. */
export interface ReadStore extends Disposable {
  /** The path the user gave (used in every error message). */
  readonly path: string;
  readonly mode: OpenMode;
  readonly format: StoreFormat;
  readonly capabilities: StoreCapabilities;

  kind(path: string): ObjectKind | null;
  exists(path: string): boolean;
  isGroup(path: string): boolean;
  isDataset(path: string): boolean;
  /** Names of a group's members, in the store's order (HDF5: name order; zarr: sorted names). */
  keys(path: string): string[];

  attrNames(path: string): string[];
  hasAttr(path: string, name: string): boolean;
  attr(path: string, name: string): AttrValue | undefined;
  attrs(path: string): Record<string, AttrValue>;
  /** The path an object-reference attribute points at (anndata 0.7 categoricals), or null. */
  referencedPath(path: string, name: string): string | null;

  info(path: string): DatasetInfo;
  /** A numeric hyperslab (booleans as uint8 0/1); `start`/`count` per dimension, omitted = everything. */
  read(path: string, start?: number[], count?: number[], out?: TypedArray): TypedArray;
  readStrings(path: string, start?: number, count?: number): string[];
  /**
   * Optional: true when every string of a 1-D string dataset is plain ASCII (certainly valid text), found
   * without building the strings; false means "read them to judge" (validation of millions of names).
   */
  stringsAreAscii?(path: string): boolean;
  /** A scalar or small dataset's whole value, decoded as an attribute would be. */
  readValue(path: string): AttrValue;

  compoundInfo(path: string): { length: number; recordSize: number; members: CompoundMember[] };
  readCompound(path: string): { members: CompoundMember[]; columns: unknown[][] };
  readRecords(path: string, start: number, count: number, recordSize: number): Uint8Array;

  close(): void;
}

/** The writing half: the HDF5 backend only (zarr is read-only for now). */
export interface WriteStore extends ReadStore {
  createGroup(path: string): void;
  ensureGroup(path: string): void;
  setAttr(path: string, name: string, value: AttrValue, dtype?: NumericDtype | "bool"): void;
  deleteAttr(path: string, name: string): void;
  createDataset(path: string, opts: CreateDatasetOptions): void;
  write(path: string, start: number[], count: number[], data: TypedArray): void;
  writeStrings(path: string, start: number, values: string[]): void;
  resize(path: string, shape: number[]): void;
  createCompound(
    path: string,
    members: { name: string; dtype: NumericDtype | `fixed-string:${number}` | "string" }[],
    length: number,
    chunkRecords?: number | "contiguous",
  ): void;
  writeRecords(path: string, start: number, count: number, bytes: Uint8Array): void;
  writeRecordsWithStrings(
    path: string,
    start: number,
    count: number,
    bytes: Uint8Array,
    recordSize: number,
    strings: { offset: number; values: string[] }[],
  ): void;
  flush(): void;
}

/** Powers only some backends have; test before use. */
export interface StoreCapabilities {
  /** HDF5 hard links: one dataset under two names without copying its bytes (reach it with openStore.ts withHardLinks). */
  hardLinks: boolean;
  /** Byte-level reads and writes of the container file (./h5/rawStorage.ts, links.ts, directArrays.ts). */
  directIO: boolean;
  /** Whether the store can be opened for writing at all. */
  writable: boolean;
}
