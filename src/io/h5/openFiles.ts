/**
 * Which HDF5 files this process has open (by real path), so byte-level edits of a file (../anndata/edit.ts,
 * ./links.ts) never race the HDF5 library's caches, and direct reads (./rawStorage.ts) skip a file whose
 * newest bytes may still sit in those caches; and the fsync that makes a written file durable.
 *
 * Cost model: one realpath per open/close/query; syncToDisk costs one fsync.
 */
import { closeSync, fsyncSync, openSync, realpathSync } from "node:fs";

/** Files this process has open, so byte-level link edits never race the HDF5 library's caches. */
export const openFiles = new Map<string, number>();
/** Of those, the ones open for writing: HDF5's caches may hold bytes the file does not have yet. */
export const openForWriting = new Map<string, number>();

/** Add `delta` to the open count of `key`, forgetting it at zero. */
export function countOpen(registry: Map<string, number>, key: string, delta: number): void {
  const n = (registry.get(key) ?? 0) + delta;
  if (n > 0) registry.set(key, n);
  else registry.delete(key);
}

/** The real path of `path` (symlinks resolved), the key of the registries; `path` itself when it does not exist yet. */
export function realKey(path: string): string {
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

/** Make sure what was written reaches the disk before anyone renames or relies on it. */
export function syncToDisk(path: string): void {
  const fd = openSync(path, "r+");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
