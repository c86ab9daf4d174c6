/**
 * String datasets: reading variable- and fixed-length strings (through HDF5, or our LZF reader), and
 * writing a slice of a variable-length UTF-8 dataset, which h5wasm's high-level API cannot (it writes
 * whole string datasets only).
 *
 * Cost model: a read decodes the selected elements once; writeStrings lays out one pointer and one
 * NUL-terminated UTF-8 copy per value in the H5File's scratch buffer, then one HDF5 write.
 */
import { CrispyxError, FileFormatError } from "../../errors.ts";
import type { H5File } from "./file.ts";
import { Module, h5wasm, normalize } from "./wasm.ts";

/** Read strings (variable- or fixed-length) from a 1-D or scalar string dataset. */
export function readStrings(f: H5File, path: string, start = 0, count?: number): string[] {
  f.check();
  const p = normalize(path);
  const info = f.info(p);
  if (info.dtype !== "string" && !info.dtype.startsWith("fixed-string:")) {
    throw new FileFormatError(`${p} holds ${info.dtype} values, not strings`, { file: f.path });
  }
  const own = f.filtered(p, info);
  if (own) {
    const n = count ?? info.shape[0]! - start;
    return f.readOwn(p, () => own.readStrings(start, n));
  }
  try {
    const ds = new h5wasm.Dataset(f.fileId, p);
    if (info.shape.length === 0) return [String(ds.value)];
    const n = count ?? info.shape[0]! - start;
    if (n === 0) return [];
    const v = ds.slice([[start, start + n]]) as string[];
    return v.map(String);
  } catch (err) {
    f.fail(`cannot read strings from ${p}`, err);
  }
}

/**
 * Write `values` into elements start … start+values.length-1 of an existing 1-D variable-length UTF-8
 * string dataset, so a long string column (an obs index of millions of cells) can be written in
 * slices instead of all at once (h5wasm only writes whole string datasets).
 */
export function writeStrings(f: H5File, path: string, start: number, values: string[]): void {
  f.check();
  const p = normalize(path);
  const info = f.info(p);
  if (info.dtype !== "string" || info.shape.length !== 1) {
    throw new CrispyxError(`writeStrings to ${p}: not a 1-D variable-length string dataset`, { file: f.path });
  }
  const n = values.length;
  if (start < 0 || start + n > info.shape[0]!) {
    throw new CrispyxError(`writeStrings to ${p}: [${start}, ${start + n}) is outside its ${info.shape[0]} elements`, {
      file: f.path,
    });
  }
  if (n === 0) return;
  // Memory layout HDF5 expects for vlen strings: one char* per element (wasm32: 4 bytes), each
  // pointing at a NUL-terminated UTF-8 string; all placed in the scratch buffer.
  const encoded = values.map((v) => Buffer.from(`${v}\0`, "utf8"));
  const textBytes = encoded.reduce((a, b) => a + b.length, 0);
  const ptr = f.scratch(4 * n + textBytes);
  const pointers = new Uint32Array(n);
  let at = ptr + 4 * n;
  for (let i = 0; i < n; i++) {
    Module.HEAPU8.set(encoded[i]!, at);
    pointers[i] = at;
    at += encoded[i]!.length;
  }
  Module.HEAPU8.set(new Uint8Array(pointers.buffer), ptr);
  try {
    Module.set_dataset_data(f.fileId, p, [BigInt(n)], [BigInt(start)], [1n], BigInt(ptr));
  } catch (err) {
    f.fail(`cannot write strings to ${p}`, err);
  }
}
