/**
 * Read-only zarr (v2 and v3) directory stores, as anndata writes them. Placeholder until the backend lands:
 * `isZarrStore` recognises one, `openZarrStore` opens it as a ReadStore (../store.ts).
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { FileFormatError } from "../../errors.ts";
import type { ReadStore } from "../store.ts";

/** A directory holding zarr metadata at its root (.zgroup for v2, zarr.json for v3). */
export function isZarrStore(path: string): boolean {
  try {
    if (!statSync(path).isDirectory()) return false;
  } catch {
    return false;
  }
  return existsSync(join(path, ".zgroup")) || existsSync(join(path, "zarr.json"));
}

export function openZarrStore(path: string): ReadStore {
  throw new FileFormatError(`${path}: zarr stores cannot be read yet`, { file: path });
}
