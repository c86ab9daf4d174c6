/**
 * The one place a path becomes a store: a zarr directory (v2 or v3) opens with the zarr backend
 * (./zarr/), anything else as HDF5 (./h5/file.ts). Callers outside src/io open inputs with `openStore`
 * (any backend) and outputs with `openWriteStore` (.h5ad: HDF5 only), and never name a backend class.
 *
 * Cost model: one stat (and one or two more for a directory) before the backend's own open.
 */
import { InvalidArgumentError } from "../errors.ts";
import { H5File } from "./h5/file.ts";
import type { OpenMode, ReadStore, StoreCapabilities, WriteStore } from "./store.ts";
import { isZarrStore, openZarrStore } from "./zarr/index.ts";

/**
 * Open `path` for reading (or, for HDF5, "r+" to edit it in place). A zarr directory is read-only:
 * asking it for "r+" or "w" is an InvalidArgumentError.
 */
export function openStore(path: string, mode: OpenMode = "r"): ReadStore {
  if (isZarrStore(path)) {
    if (mode !== "r") throw zarrNotWritable(path);
    return openZarrStore(path);
  }
  return H5File.open(path, mode);
}

/** Open `path` to write it: an HDF5 file, created ("w") or edited ("r+"). A zarr path is an InvalidArgumentError. */
export function openWriteStore(path: string, mode: Exclude<OpenMode, "r">): WriteStore {
  if (isZarrStore(path)) throw zarrNotWritable(path);
  return H5File.open(path, mode);
}

/** A store that can give an existing object a second name without copying (HDF5 hard links). */
export interface HardLinkingStore extends WriteStore {
  hardLink(target: string, name: string): void;
}

/** The store, narrowed to one with hard links when `capabilities.hardLinks` says it has them. */
export function withHardLinks(store: WriteStore): HardLinkingStore | null {
  return store.capabilities.hardLinks && "hardLink" in store ? (store as HardLinkingStore) : null;
}

function zarrNotWritable(path: string): InvalidArgumentError {
  return new InvalidArgumentError("zarr stores are read-only in crispyx", {
    file: path,
    hint: "write the result to an .h5ad file (for example -o out.h5ad); a zarr store can be the input",
  });
}

export type { OpenMode, ReadStore, StoreCapabilities, WriteStore };
