/**
 * The h5wasm module (the HDF5 C library compiled to WebAssembly), loaded once per process, and the small
 * helpers every part of the HDF5 backend shares: HDF5 type classes, path normalisation and the
 * translation of HDF5's error stacks into one readable line.
 *
 * Cost model: loading the module is a one-time ~0.2 s top-level await; everything here is constant time.
 */
import h5wasm from "h5wasm/node";

export { h5wasm };

/** The module's type, named through the package entry (its own file is not exported, which declaration emit needs). */
export type H5Module = Awaited<typeof h5wasm.ready>;

export const Module: H5Module = await h5wasm.ready;
// Turn HDF5's printed error stacks into thrown JS errors, which we translate into readable ones.
Module.activate_throwing_error_handler();

/** HDF5 datatype classes (H5T_class_t) as h5wasm reports them. */
export const H5T = { INTEGER: 0, FLOAT: 1, STRING: 3, COMPOUND: 6, REFERENCE: 7, ENUM: 8, ARRAY: 10 } as const;

/** Dimensions larger than this are HDF5's H5S_UNLIMITED. */
export const UNLIMITED_THRESHOLD = 2 ** 53;

// hdf5Reason lives in ../nativeErrors.ts (no h5wasm import) so the CLI's error reporter can use it without loading HDF5.
export { hdf5Reason, NATIVE_ABORT } from "../nativeErrors.ts";

/** An absolute path inside the file: one leading slash, no doubled or trailing ones. */
export function normalize(path: string): string {
  const p = ("/" + path).replace(/\/+/g, "/");
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}
