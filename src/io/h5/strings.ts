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
import { Module, normalize } from "./wasm.ts";
import { NOT_UTF8_HINT, strictUtf8, Utf8Error, utf8Problem } from "./utf8.ts";

/** A string type as h5wasm describes it: variable length (char* per element) or fixed `size` bytes. */
export interface StringType {
  vlen: boolean;
  size: number;
}

/**
 * Decode `n` strings HDF5 has read into the WebAssembly heap at `ptr` (char* pointers, or fixed-size
 * fields cut at the first NUL), strictly as UTF-8 (ASCII is a subset): bytes that are not UTF-8 throw a
 * FileFormatError naming `element`, the element's index (`first` + i; none when `first` < 0) and the byte,
 * instead of being replaced (h5wasm's own decoder substitutes them, and the changed text would be copied
 * into outputs).
 * One decode for all: the strings are joined with NULs (which a C string cannot hold) and split again.
 */
export function decodeHeapStrings(
  f: H5File,
  element: string,
  ptr: number,
  n: number,
  type: StringType,
  first = 0,
): string[] {
  const heap = Module.HEAPU8;
  const spans = new Uint32Array(2 * n);
  let total = 0;
  // Ends found and short strings copied by plain loops: indexOf and subarray cost a runtime call and an
  // object per string (2× the whole decode for 200,000 cell names, measured).
  if (type.vlen) {
    const pointers = new Uint32Array(heap.buffer, ptr, n);
    for (let i = 0; i < n; i++) {
      const s = pointers[i]!;
      const e = s === 0 ? 0 : cStringEnd(heap, s, heap.length); // a null pointer is an empty string, as h5py reads it
      spans[2 * i] = s;
      spans[2 * i + 1] = e;
      total += e - s;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const s = ptr + i * type.size;
      const e = cStringEnd(heap, s, s + type.size);
      spans[2 * i] = s;
      spans[2 * i + 1] = e;
      total += e - s;
    }
  }
  const joined = new Uint8Array(total + n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const s = spans[2 * i]!,
      e = spans[2 * i + 1]!;
    if (e - s > 64) {
      joined.set(heap.subarray(s, e), at);
      at += e - s;
    } else for (let k = s; k < e; k++) joined[at++] = heap[k]!;
    at++; // the NUL separator is already 0
  }
  let text: string;
  try {
    text = strictUtf8.decode(joined.subarray(0, Math.max(0, at - 1)));
  } catch {
    throw notUtf8(f, element, joined, n, first);
  }
  return n === 0 ? [] : text.split("\0");
}

/** Where the C string at `s` ends: its NUL, or `limit` (a fixed-size field without one, or the heap's end). */
function cStringEnd(heap: Uint8Array, s: number, limit: number): number {
  let e = s;
  while (e < limit && heap[e] !== 0) e++;
  return e;
}

/** The error for the first string of `joined` (NUL-separated) that is not UTF-8. */
function notUtf8(f: H5File, element: string, joined: Uint8Array, n: number, first: number): FileFormatError {
  let s = 0;
  for (let i = 0; i < n; i++) {
    const e = joined.indexOf(0, s);
    const why = utf8Problem(joined.subarray(s, e < 0 ? joined.length : e));
    if (why) {
      return new FileFormatError(`${element}${first < 0 ? "" : `[${first + i}]`} ${why}`, {
        file: f.path,
        hint: NOT_UTF8_HINT,
      });
    }
    s = (e < 0 ? joined.length : e) + 1;
  }
  return new FileFormatError(`${element} holds text that is not valid UTF-8`, { file: f.path, hint: NOT_UTF8_HINT });
}

/** Read strings (variable- or fixed-length) from a string dataset: `count` elements (rows) from `start`. */
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
    try {
      return own.readStrings(start, n);
    } catch (err) {
      if (err instanceof Utf8Error)
        throw new FileFormatError(`${p.slice(1)}[${err.index}] ${err.problem}`, { file: f.path, hint: NOT_UTF8_HINT });
      return f.readOwn(p, () => {
        throw err;
      });
    }
  }
  const rank = info.shape.length;
  const rows = rank === 0 ? 1 : (count ?? info.shape[0]! - start);
  const rowSize = info.shape.slice(1).reduce((a, b) => a * b, 1);
  if (rows * rowSize === 0) return [];
  return withHeapStrings(f, p, info, start, rows, (ptr, n, type) =>
    decodeHeapStrings(f, p.slice(1), ptr, n, type, start * rowSize),
  );
}

/**
 * Rows start … start+rows-1 of a string dataset read by HDF5 into the scratch buffer, handed to `use` as
 * (pointer, element count, string type); variable-length strings are freed afterwards.
 */
function withHeapStrings<T>(
  f: H5File,
  p: string,
  info: { dtype: string; shape: number[] },
  start: number,
  rows: number,
  use: (ptr: number, n: number, type: StringType) => T,
): T {
  const type: StringType =
    info.dtype === "string" ? { vlen: true, size: 4 } : { vlen: false, size: Number(info.dtype.slice(13)) };
  const rank = info.shape.length;
  const n = rows * info.shape.slice(1).reduce((a, b) => a * b, 1);
  const c = rank === 0 ? null : [BigInt(rows), ...info.shape.slice(1).map(BigInt)];
  const ptr = f.scratch(n * type.size);
  try {
    Module.get_dataset_data(
      f.fileId,
      p,
      c,
      rank === 0 ? null : [BigInt(start), ...c!.slice(1).map(() => 0n)],
      rank === 0 ? null : c!.map(() => 1n),
      BigInt(ptr),
    );
  } catch (err) {
    f.fail(`cannot read strings from ${p}`, err);
  }
  try {
    return use(ptr, n, type);
  } finally {
    // HDF5 allocated each variable-length string: free them (the hyperslab's count, not the whole extent).
    if (type.vlen) {
      if (c) Module.reclaim_vlen_memory_count(f.fileId, p, "", BigInt(ptr), c);
      else Module.reclaim_vlen_memory(f.fileId, p, "", BigInt(ptr));
    }
  }
}

/** Rows per slice of stringsAreAscii: bounds the scratch buffer and HDF5's string copies. */
const ASCII_SLICE_ROWS = 1 << 18;

/**
 * Whether every string of a 1-D string dataset is plain ASCII (every byte below 0x80, so certainly valid
 * UTF-8 text), read in slices without building a JavaScript string: validation of millions of cell names
 * costs HDF5's read and one look at each byte. False when a string is not, or when the dataset is not
 * 1-D or goes through our own chunk reader: the caller then reads the strings to judge them.
 */
export function stringsAreAscii(f: H5File, path: string): boolean {
  f.check();
  const p = normalize(path);
  const info = f.info(p);
  if ((info.dtype !== "string" && !info.dtype.startsWith("fixed-string:")) || info.shape.length !== 1) return false;
  if (f.filtered(p, info)) return false;
  const total = info.shape[0]!;
  for (let start = 0; start < total; start += ASCII_SLICE_ROWS) {
    const rows = Math.min(ASCII_SLICE_ROWS, total - start);
    const ascii = withHeapStrings(f, p, info, start, rows, (ptr, n, type) => {
      const heap = Module.HEAPU8; // after the read: the heap may have grown
      const pointers = type.vlen ? new Uint32Array(heap.buffer, ptr, n) : null;
      for (let i = 0; i < n; i++) {
        let s: number, e: number;
        if (pointers) {
          s = pointers[i]!;
          if (s === 0) continue; // a null pointer is an empty string
          e = cStringEnd(heap, s, heap.length);
        } else {
          s = ptr + i * type.size;
          e = s + type.size;
        }
        for (let k = s; k < e; k++) if (heap[k]! >= 0x80) return false;
      }
      return true;
    });
    if (!ascii) return false;
  }
  return true;
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
  // One encode of all the values (NUL-separated: no surrogate pair forms across a boundary), one copy into
  // the heap; each pointer advances by its value's own byte length, so a value holding a NUL stays aligned.
  const texts = values.map(String); // as `${v}` did: join alone would write null and undefined as ""
  const encoded = Buffer.from(`${texts.join("\0")}\0`, "utf8");
  const ptr = f.scratch(4 * n + encoded.length);
  const pointers = new Uint32Array(n);
  let at = ptr + 4 * n;
  for (let i = 0; i < n; i++) {
    pointers[i] = at;
    at += Buffer.byteLength(texts[i]!, "utf8") + 1;
  }
  Module.HEAPU8.set(encoded, ptr + 4 * n);
  Module.HEAPU8.set(new Uint8Array(pointers.buffer), ptr);
  try {
    Module.set_dataset_data(f.fileId, p, [BigInt(n)], [BigInt(start)], [1n], BigInt(ptr));
  } catch (err) {
    f.fail(`cannot write strings to ${p}`, err);
  }
}
