/**
 * Dataset writes of an H5File (./file.ts): creating numeric, boolean and string datasets (large ones
 * created empty and resized, so nothing dataset-sized is allocated), writing hyperslabs and resizing.
 * The H5File methods of the same names call these.
 *
 * Cost model: createDataset is a few h5wasm calls (plus the initial data when given); `write` is one copy
 * into the file's scratch buffer and one HDF5 write; resize one h5wasm call.
 */
import { CrispyxError } from "../../errors.ts";
import { Module, h5wasm, normalize } from "./wasm.ts";
import { h5wasmDtype } from "./dtypeMap.ts";
import { pendBoolean } from "./attributes.ts";
import type { H5File } from "./file.ts";
import { BYTES_OF, TYPED_ARRAY_OF, type CreateDatasetOptions, type NumericDtype, type TypedArray } from "../dtypes.ts";

/**
 * Create a dataset. Booleans are stored as int8 and turned into h5py's boolean enum when the file is
 * closed (h5wasm cannot create enum types; see ./booleans.ts); until then they read back as int8.
 */
export function createDataset(f: H5File, path: string, opts: CreateDatasetOptions): void {
  f.check();
  const p = normalize(path);
  const { dtype, shape } = opts;
  const n = shape.reduce((a, b) => a * b, 1);
  let chunks = opts.chunks ?? null;
  let data: TypedArray | string[];
  let createShape = shape;
  if (opts.data !== undefined) {
    if (opts.data.length !== n) {
      throw new CrispyxError(`createDataset ${p}: ${opts.data.length} values for shape [${shape.join(",")}]`);
    }
    data =
      dtype === "bool"
        ? Int8Array.from(opts.data as ArrayLike<unknown>, (v) => (v ? 1 : 0))
        : (opts.data as TypedArray | string[]);
  } else if (dtype === "string") {
    data = new Array<string>(n).fill("");
  } else {
    // h5wasm wants initial data; to avoid allocating a whole large dataset just to create it, create
    // it empty (chunked, so it can grow) and resize it to its shape.
    const d = dtype === "bool" ? "int8" : (dtype as NumericDtype);
    if (n * BYTES_OF[d] > 1 << 20 || chunks) {
      chunks ??= shape.map((s, i) =>
        i === 0 ? Math.max(1, Math.min(s, Math.floor((1 << 20) / Math.max(1, n / Math.max(1, s))))) : s,
      );
      createShape = shape.map((s, i) => (i === 0 ? 0 : s));
    }
    data = new TYPED_ARRAY_OF[d](createShape.reduce((a, b) => a * b, 1));
  }
  try {
    const root = new h5wasm.Group(f.fileId, "/");
    root.create_dataset({
      name: p,
      data: data as never,
      shape: createShape,
      dtype: h5wasmDtype(dtype),
      maxshape: opts.maxshape ?? (createShape === shape ? null : shape),
      chunks,
      ...(opts.gzip ? { compression: "gzip" as const, compression_opts: opts.gzip } : {}),
    });
    if (createShape !== shape) Module.resize_dataset(f.fileId, p, shape.map(BigInt));
  } catch (err) {
    f.fail(`cannot create dataset ${p}`, err);
  }
  f.created.set(p, new Set());
  f.filterRoutes.delete(p);
  if (dtype === "bool") pendBoolean(f, p);
}

/** Write `data` into a hyperslab of an existing numeric dataset. */
export function write(f: H5File, path: string, start: number[], count: number[], data: TypedArray): void {
  f.check();
  const p = normalize(path);
  const n = count.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new CrispyxError(`write to ${p}: ${data.length} values for [${count.join(",")}]`);
  if (n === 0) return;
  const bytes = data.byteLength;
  const ptr = f.scratch(bytes);
  Module.HEAPU8.set(new Uint8Array(data.buffer, data.byteOffset, bytes), ptr);
  try {
    // The memory type comes from the dataset's own type, so `data` must already be of that type.
    Module.set_dataset_data(
      f.fileId,
      p,
      count.map(BigInt),
      start.map(BigInt),
      count.map(() => 1n),
      BigInt(ptr),
    );
  } catch (err) {
    f.fail(`cannot write ${p}`, err);
  }
}

export function resize(f: H5File, path: string, shape: number[]): void {
  f.check();
  try {
    Module.resize_dataset(f.fileId, normalize(path), shape.map(BigInt));
  } catch (err) {
    f.fail(`cannot resize ${path}`, err);
  }
}
