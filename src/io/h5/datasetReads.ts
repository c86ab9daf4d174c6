/**
 * Dataset reads of an H5File (./file.ts): numeric hyperslabs, whole datasets decoded, and the choice of
 * route for each read — our LZF reader (./filteredChunks.ts), straight from disk (./rawStorage.ts), or
 * HDF5 through the file's scratch buffer. The H5File methods of the same names call these.
 *
 * Cost model: `read` of uncompressed whole rows of a read-only file is one copy from disk into the
 * caller's array; LZF chunks are decoded here; otherwise one HDF5 read into the scratch buffer and one
 * copy out. Each dataset's filter route and raw layout are worked out once and kept on the H5File.
 */
import { openSync } from "node:fs";
import { FileFormatError, CrispyxError } from "../../errors.ts";
import { rawLayout, readRawElements, type RawLayout } from "./rawStorage.ts";
import { FilteredChunks } from "./filteredChunks.ts";
import { filterRoute, type FilterInfo } from "./filters.ts";
import { ioSettings, noteDirectUse } from "../directIO.ts";
import { Module, normalize } from "./wasm.ts";
import { openForWriting } from "./openFiles.ts";
import type { H5File } from "./file.ts";
import {
  BYTES_OF,
  TYPED_ARRAY_OF,
  dtypeOfArray,
  isNumericDtype,
  type AttrValue,
  type DatasetInfo,
  type NumericDtype,
  type TypedArray,
} from "../dtypes.ts";

/**
 * Read a numeric (or boolean, as uint8 0/1) hyperslab: `start`/`count` per dimension; omitted = whole
 * dataset. `out` may be given to avoid allocating (it must have exactly the selection's length and the
 * dataset's element type).
 */
export function read(f: H5File, path: string, start?: number[], count?: number[], out?: TypedArray): TypedArray {
  f.check();
  const p = normalize(path);
  const info = f.info(p);
  const dtype: NumericDtype | null = info.dtype === "bool" ? "uint8" : isNumericDtype(info.dtype) ? info.dtype : null;
  if (!dtype) {
    throw new FileFormatError(`${p} holds ${info.dtype} values, not numbers`, { file: f.path });
  }
  const rank = info.shape.length;
  const s = start ?? new Array(rank).fill(0);
  const c = count ?? info.shape.map((d, i) => d - s[i]!);
  for (let i = 0; i < rank; i++) {
    if (s[i]! < 0 || c[i]! < 0 || s[i]! + c[i]! > info.shape[i]!) {
      throw new CrispyxError(
        `read of ${p} [${s.join(",")}]+[${c.join(",")}] is outside its shape [${info.shape.join(",")}]`,
        { file: f.path },
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
  const own = filtered(f, p, info);
  if (own) {
    readOwn(f, p, () => own.readBytes(s, c, new Uint8Array(result.buffer, result.byteOffset, bytes)));
    return result;
  }
  // Whole rows of uncompressed data: straight from the file, one copy.
  if (rank === 1 || (rank === 2 && s[1] === 0 && c[1] === info.shape[1])) {
    const lay = directLayout(f, p, info);
    if (lay) {
      const rowElems = rank === 2 ? info.shape[1]! : 1;
      try {
        if (
          readRawElements(f.rawFd, lay, s[0]! * rowElems, n, new Uint8Array(result.buffer, result.byteOffset, bytes))
        ) {
          noteDirectUse("reads");
          return result;
        }
      } catch (err) {
        throw new FileFormatError(`cannot read ${p}: ${(err as Error).message}`, { file: f.path, cause: err });
      }
    }
  }
  const ptr = f.scratch(bytes);
  try {
    Module.get_dataset_data(
      f.fileId,
      p,
      rank === 0 ? null : c.map(BigInt),
      rank === 0 ? null : s.map(BigInt),
      rank === 0 ? null : c.map(() => 1n),
      BigInt(ptr),
    );
  } catch (err) {
    f.fail(`cannot read ${p}`, err);
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
export function filtered(f: H5File, p: string, info: DatasetInfo, ownAllowed = true): FilteredChunks | null {
  const key = ownAllowed ? p : `${p}\0hdf5`;
  if (f.filterRoutes.has(key)) return f.filterRoutes.get(key)!;
  let filters: FilterInfo[];
  let meta: { size: number; vlen: boolean; compound_type?: { members: { vlen: boolean }[] } };
  try {
    filters = (info.chunks ? Module.get_dataset_filters(f.fileId, p) : []) as unknown as FilterInfo[];
    meta = Module.get_dataset_metadata(f.fileId, p) as unknown as typeof meta;
  } catch (err) {
    f.fail(`cannot read the filters of ${p}`, err);
  }
  let own: FilteredChunks | null = null;
  const variable = meta.vlen || (meta.compound_type?.members ?? []).some((m) => m.vlen);
  const route = filterRoute(
    filters.map((filter) => ({
      id: Number(filter.id),
      name: String(filter.name ?? ""),
      cd_values: Array.from(filter.cd_values ?? [], Number),
    })),
    {
      file: f.path,
      dataset: p,
      chunkBytes: variable || !info.chunks ? null : info.chunks.reduce((a, b) => a * b, 1) * Number(meta.size),
      ownReader: () => {
        if (!ownAllowed) return false;
        try {
          if (f.mode !== "r") Module.flush(f.fileId); // our reader reads the file's bytes
          if (f.rawFd < 0) f.rawFd = openSync(f.path, "r");
          own = FilteredChunks.open(f.rawFd, f.path, p, info.shape);
        } catch {
          own = null; // a header or index we do not parse: another route, or the error
        }
        return own !== null;
      },
    },
    (dir) => {
      if (!Module.get_plugin_search_paths().includes(dir)) Module.insert_plugin_search_path(dir, 0);
    },
  );
  const result = route === "own" ? own : null;
  f.filterRoutes.set(key, result);
  return result;
}

/** Run a read of our filter reader, turning its failures (corrupt or truncated chunks) into one line. */
export function readOwn<T>(f: H5File, p: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw new FileFormatError(`cannot read ${p}: ${(err as Error).message}`, { file: f.path, cause: err });
  }
}

/** Whether `path` is read by our filter reader (LZF) rather than HDF5; for tests and diagnostics. */
export function readsWithOwnFilters(f: H5File, path: string): boolean {
  f.check();
  const p = normalize(path);
  return filtered(f, p, f.info(p)) !== null;
}

/** Whether whole-row reads of `path` bypass HDF5 (uncompressed data in a read-only file); for tests and diagnostics. */
export function readsDirectly(f: H5File, path: string): boolean {
  f.check();
  const p = normalize(path);
  return directLayout(f, p, f.info(p)) !== null;
}

/**
 * Where the numeric dataset `p` is stored, when it can be read without HDF5: only in a file opened
 * read-only, and not while this process also has it open for writing (HDF5's caches are not on disk
 * yet). The layout is parsed once and kept.
 */
function directLayout(f: H5File, p: string, info: DatasetInfo): RawLayout | null {
  // Off by the switch (../directIO.ts); booleans: not numeric.
  if (!ioSettings.directIO || f.mode !== "r" || openForWriting.has(f.key) || !isNumericDtype(info.dtype)) return null;
  let lay = f.rawLayouts.get(p);
  if (lay === undefined) {
    if (f.rawFd < 0) f.rawFd = openSync(f.path, "r");
    lay = rawLayout(f.rawFd, f.path, p, {
      shape: info.shape,
      elemSize: BYTES_OF[info.dtype],
      chunks: info.chunks,
    });
    f.rawLayouts.set(p, lay);
  }
  return lay;
}

/** Read any dataset whole, decoded: numbers as typed arrays, strings as string[], booleans as boolean[]. */
export function readValue(f: H5File, path: string): AttrValue {
  const info = f.info(path);
  if (info.dtype === "string" || info.dtype.startsWith("fixed-string:")) {
    const s = f.readStrings(path);
    return info.shape.length === 0 ? s[0]! : s;
  }
  if (info.dtype === "other") {
    throw new FileFormatError(`${normalize(path)} has a data type crispyx cannot read`, { file: f.path });
  }
  const a = read(f, path);
  if (info.dtype === "bool") {
    const b = Array.from(a as Uint8Array, (x) => x !== 0);
    return info.shape.length === 0 ? b[0]! : b;
  }
  if (info.shape.length === 0) return a[0]!;
  return a;
}
