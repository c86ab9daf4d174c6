/**
 * The npm codecs of the zarr backend, fzstd (zstd) and lz4js (lz4 blocks), loaded on first use through
 * their CommonJS builds: the decoders are synchronous, so a dynamic import() cannot serve them, and a
 * static import made every command (an .h5ad's too) load and parse both at start-up.
 */
import { createRequire } from "node:module";

type Fzstd = typeof import("fzstd");
type Lz4 = typeof import("lz4js");

const load = createRequire(import.meta.url);
let fzstd: Fzstd | undefined;
let lz4: Lz4 | undefined;

/** fzstd's decompress: one zstd frame. */
export function zstdDecompress(src: Uint8Array): Uint8Array {
  return (fzstd ??= load("fzstd") as Fzstd).decompress(src);
}

/** lz4js's decompressBlock: one lz4 block into `dst`; returns the bytes written. */
export function lz4DecompressBlock(
  src: Uint8Array,
  dst: Uint8Array,
  sIndex: number,
  sLength: number,
  dIndex: number,
): number {
  return (lz4 ??= load("lz4js") as Lz4).decompressBlock(src, dst, sIndex, sLength, dIndex);
}
