/**
 * Copy groups and datasets between HDF5 files as they are stored, without decoding them into AnnData
 * elements: numeric datasets are streamed in blocks of rows (bounded memory whatever their size),
 * attributes and strings are copied as values. Used to carry obs/var/uns/layers/… into an operator's
 * output, to copy X itself when it must not change, and by in-place edits (./editByRewrite.ts) — hence
 * here in src/io, which must not import src/ops.
 */
import type { ReadStore, WriteStore } from "../store.ts";
import { BYTES_OF, isNumericDtype, type AttrValue, type NumericDtype } from "../dtypes.ts";
import { FileFormatError } from "../../errors.ts";
import { throwIfAborted } from "../../core/streaming.ts";
import { copyDataFrame, copyLegacyRootElement } from "./carryOver.ts";
import { encodingOf, kindOfEncoding, readElem, stampEncoding, writeElem } from "./registry.ts";
import { isCompoundDataset, readRecArray } from "./encodings/recarray.ts";
import { writeSettings } from "./settings.ts";

export interface CopyOptions {
  /** Bytes per block when streaming a numeric dataset. Default 16 MiB. */
  blockBytes?: number;
  signal?: AbortSignal;
  /** Called with bytes copied so far for large datasets. */
  onBytes?: (bytes: number) => void;
}

const DEFAULT_BLOCK = 16 << 20;
/** Strings per slice when copying a long string dataset. */
const STRING_SLICE = 1 << 16;

export function copyAttrs(src: ReadStore, dst: WriteStore, from: string, to: string): void {
  for (const [name, value] of Object.entries(src.attrs(from))) {
    // An empty list decodes as [] and has no element type; anndata writes empty lists as float64.
    const v: AttrValue = Array.isArray(value) && value.length === 0 ? new Float64Array(0) : value;
    dst.setAttr(to, name, v);
  }
}

/** Copy the object at `from` in `src` (group: recursively) to `to` in `dst` (which must not exist). */
export function copyElement(src: ReadStore, dst: WriteStore, from: string, to: string, opts: CopyOptions = {}): void {
  throwIfAborted(opts.signal);
  // A pre-0.7 file's root obs/var/obsm/varm/uns are written in the current layout (they cannot be copied as stored).
  if (from === to && from.lastIndexOf("/") === 0 && copyLegacyRootElement(src, dst, from.slice(1))) return;
  // Data frames and anndata 0.7's categoricals are re-encoded: the latter hold object references into `src`.
  // Not version-checked: what crispyx does not re-encode is copied as stored, whatever its encoding.
  const enc = encodingOf(src, from);
  const encKind = enc ? kindOfEncoding(enc.type) : undefined;
  if (encKind === "dataframe") return copyDataFrame(src, from, dst, to);
  if (encKind === "null") return; // None: not written (see writeElem)
  // Nullable strings are written as anndata 0.8 can read them unless asked otherwise (settings.ts).
  if (enc?.type === "nullable-string-array" && !writeSettings.writeNullableStrings)
    return writeElem(dst, to, readElem(src, from));
  if (encKind === "categorical" && src.isDataset(from)) return writeElem(dst, to, readElem(src, from));
  // Record arrays (Scanpy's rank_genes_groups tables) may hold variable-length strings, which h5wasm cannot
  // write inside a compound type: decoded and written with fixed-length fields (see recarray.ts).
  if (src.isDataset(from) && isCompoundDataset(src, from)) return writeElem(dst, to, readRecArray(src, from));
  const kind = src.kind(from);
  if (kind === "group") {
    dst.createGroup(to);
    copyAttrs(src, dst, from, to);
    for (const key of src.keys(from)) copyElement(src, dst, `${from}/${key}`, `${to}/${key}`, opts);
    return;
  }
  if (kind !== "dataset") throw new FileFormatError(`${from} is neither a group nor a dataset`, { file: src.path });
  copyDataset(src, dst, from, to, opts);
  copyAttrs(src, dst, from, to);
}

function copyDataset(src: ReadStore, dst: WriteStore, from: string, to: string, opts: CopyOptions): void {
  const info = src.info(from);
  const { shape, dtype } = info;
  if (dtype === "other") {
    throw new FileFormatError(`${from} has an HDF5 data type crispyx cannot copy (compound, enum or reference)`, {
      file: src.path,
    });
  }
  if (!isNumericDtype(dtype) && dtype !== "bool") {
    if (dtype === "string" && shape.length === 1 && shape[0]! > STRING_SLICE) {
      // Millions of cell names: copied in slices so they never sit in memory at once.
      dst.createDataset(to, { dtype, shape: [0], maxshape: [null], chunks: [STRING_SLICE], data: [] });
      dst.resize(to, shape);
      for (let s = 0; s < shape[0]!; s += STRING_SLICE) {
        throwIfAborted(opts.signal);
        dst.writeStrings(to, s, src.readStrings(from, s, Math.min(STRING_SLICE, shape[0]! - s)));
      }
      return;
    }
    // Short or fixed-length string datasets: copied whole.
    dst.createDataset(to, { dtype, shape, data: src.readStrings(from) });
    return;
  }
  const elemDtype: NumericDtype = dtype === "bool" ? "uint8" : dtype;
  const total = info.size * BYTES_OF[elemDtype];
  const blockBytes = opts.blockBytes ?? DEFAULT_BLOCK;
  if (shape.length === 0 || total <= blockBytes) {
    const data = src.read(from);
    dst.createDataset(to, {
      dtype,
      shape,
      data,
      ...(info.chunks && shape.length ? { chunks: info.chunks, maxshape: info.maxshape } : {}),
    });
    return;
  }
  const rowBytes = (info.size / Math.max(1, shape[0]!)) * BYTES_OF[elemDtype];
  const step = Math.max(1, Math.floor(blockBytes / Math.max(1, rowBytes)));
  dst.createDataset(to, { dtype, shape, ...(info.chunks ? { chunks: info.chunks, maxshape: info.maxshape } : {}) });
  const rest = shape.slice(1);
  let done = 0;
  for (let r0 = 0; r0 < shape[0]!; r0 += step) {
    throwIfAborted(opts.signal);
    const n = Math.min(step, shape[0]! - r0);
    const start = [r0, ...rest.map(() => 0)];
    const count = [n, ...rest];
    dst.write(to, start, count, src.read(from, start, count));
    done += n * rowBytes;
    opts.onBytes?.(done);
  }
}

/** Copy every root element except those named in `skip` (e.g. "X", "obs"). Root attributes too. */
export function copyRootExcept(src: ReadStore, dst: WriteStore, skip: Iterable<string>, opts: CopyOptions = {}): void {
  const skipped = new Set(skip);
  copyAttrs(src, dst, "/", "/");
  // Files of anndata < 0.8 have no root attributes; the copy is in the current layout, so it says so.
  if (encodingOf(src, "/") === null) stampEncoding(dst, "/", "anndata");
  for (const key of src.keys("/")) {
    if (skipped.has(key)) continue;
    // A pre-0.7 file's obs/var/obsm/uns/raw.* are written in the current layout.
    if (copyLegacyRootElement(src, dst, key)) continue;
    // Other "raw.*" root keys are staging leftovers of interrupted in-place edits (anndata ignores them too).
    if (key.startsWith("raw.")) continue;
    copyElement(src, dst, `/${key}`, `/${key}`, opts);
  }
}
