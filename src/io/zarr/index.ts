/**
 * Read-only zarr (v2 and v3) directory stores, as anndata writes them, behind the reading half of the
 * store interface (../store.ts): `isZarrStore` recognises one, `openZarrStore` opens it as a ReadStore.
 *
 * Why not zarrita.js: the store interface is synchronous (h5wasm is, and the streaming code calls
 * `read()` in tight loops), while zarrita.js — and numcodecs.js's WebAssembly codecs under it — are
 * async throughout. So the JSON metadata (.zgroup/.zarray/.zattrs/.zmetadata for v2; zarr.json with its
 * inline consolidated metadata for v3) is parsed here (./metadata.ts), and chunks are decoded
 * synchronously with well-kept codec libraries (./codecs.ts): fzstd (zstd: zarr v3's default), node:zlib
 * (gzip, zlib), lz4js (lz4 blocks), inside a small Blosc 1 frame reader (./blosc.ts: zarr-python 2's
 * default, Blosc lz4 + byte shuffle; no npm package decodes Blosc synchronously). v3 sharding
 * (`sharding_indexed`, what anndata 0.13 writes) is read through each shard's index (./chunks.ts).
 *
 * Files: ./zarrStore.ts (the ReadStore), ./metadata.ts, ./codecs.ts, ./blosc.ts, ./chunks.ts.
 * Cost model: see each file; opening reads one or two small JSON files.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ReadStore } from "../store.ts";
import { ZarrStore, isZarrDirectory } from "./zarrStore.ts";

export { ZarrStore } from "./zarrStore.ts";

/** A directory holding zarr metadata at its root (.zgroup for v2, zarr.json for v3). */
export function isZarrStore(path: string): boolean {
  return isZarrDirectory(path);
}

/** Open a zarr directory store for reading; a damaged or foreign store is a FileFormatError naming it. */
export function openZarrStore(path: string): ReadStore {
  return ZarrStore.open(path);
}

/** Bytes of every file in a zarr store (what `crispyx info` reports as the file size); one stat per file. */
export function zarrStoreBytes(path: string): number {
  let total = 0;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isDirectory()) total += zarrStoreBytes(p);
    else if (e.isFile()) total += statSync(p).size;
  }
  return total;
}
