/**
 * The member arrays of a stored sparse matrix (anndata's csr_matrix / csc_matrix group: data, indices,
 * indptr), for the operators that read or write them directly rather than in blocks of whole rows:
 * counting stored elements from indptr and indices alone, or writing elements as an external sort emits
 * them. This is the one place outside the encodings that knows the members' names; operators hold a
 * MatrixReader or a SparsePartsWriter and never build `${path}/indptr` themselves.
 *
 * Cost model: each read is one hyperslab read of the store (the bytes of the range asked for); each
 * write one hyperslab write. Nothing is cached.
 */
import type { ReadStore, WriteStore } from "../store.ts";
import { TYPED_ARRAY_OF, type NumericDtype, type TypedArray } from "../dtypes.ts";
import { setSparseAttrs } from "./matrixWriter.ts";

/** The paths of a sparse matrix group's three arrays. */
export function sparseMemberPaths(path: string): { data: string; indices: string; indptr: string } {
  return { data: `${path}/data`, indices: `${path}/indices`, indptr: `${path}/indptr` };
}

/** A stored sparse matrix: its store and group path (a MatrixReader is one). */
export interface StoredSparse {
  readonly file: ReadStore;
  readonly path: string;
}

/** indptr[start..end] (end included: end - start + 1 offsets), in the stored integer type. */
export function readIndptr(m: StoredSparse, start: number, end: number): TypedArray {
  return m.file.read(sparseMemberPaths(m.path).indptr, [start], [end - start + 1]);
}

/** indices[lo..hi), in the stored integer type; `out` (exactly hi - lo of that type) avoids an allocation. */
export function readIndices(m: StoredSparse, lo: number, hi: number, out?: TypedArray): TypedArray {
  return m.file.read(sparseMemberPaths(m.path).indices, [lo], [hi - lo], out);
}

export interface SparsePartsOptions {
  format: "csr" | "csc";
  shape: [number, number];
  /** Stored elements: the final length of data and indices. */
  nnz: number;
  /** Value type as stored ("bool": written as uint8 0/1, stored as h5py booleans). */
  valueDtype: NumericDtype | "bool";
  indexDtype: "int32" | "int64";
  indptrDtype: "int32" | "int64";
  /** Chunk length of data and indices; absent: contiguous. */
  chunk?: number;
}

/**
 * Writes a sparse matrix group whose elements arrive in storage order but whose indptr arrives as
 * absolute line ends, in blocks (the external sort of ../../ops/reorderMatrix.ts). The group, its
 * encoding attributes and indptr[0] = 0 are written at creation.
 */
export class SparsePartsWriter {
  private readonly paths: { data: string; indices: string; indptr: string };

  private constructor(
    private readonly file: WriteStore,
    path: string,
  ) {
    this.paths = sparseMemberPaths(path);
  }

  static create(file: WriteStore, path: string, opts: SparsePartsOptions): SparsePartsWriter {
    const w = new SparsePartsWriter(file, path);
    const { nnz } = opts;
    const major = opts.format === "csr" ? opts.shape[0] : opts.shape[1];
    file.createGroup(path);
    setSparseAttrs(file, path, opts.format, opts.shape);
    const chunked = opts.chunk !== undefined ? { chunks: [opts.chunk], maxshape: [nnz] } : {};
    // An empty array is created from (empty) data: h5wasm needs initial data for a zero-length dataset.
    const sized = (d: NumericDtype | "bool") =>
      nnz === 0 ? { data: new TYPED_ARRAY_OF[d === "bool" ? "uint8" : d](0) } : chunked;
    file.createDataset(w.paths.data, { dtype: opts.valueDtype, shape: [nnz], ...sized(opts.valueDtype) });
    file.createDataset(w.paths.indices, { dtype: opts.indexDtype, shape: [nnz], ...sized(opts.indexDtype) });
    file.createDataset(w.paths.indptr, { dtype: opts.indptrDtype, shape: [major + 1] });
    file.write(w.paths.indptr, [0], [1], opts.indptrDtype === "int64" ? new BigInt64Array(1) : new Int32Array(1));
    return w;
  }

  /** Elements [at, at + indices.length) of indices and data (already of the stored types). */
  writeElements(at: number, indices: TypedArray, values: TypedArray): void {
    this.file.write(this.paths.indices, [at], [indices.length], indices);
    this.file.write(this.paths.data, [at], [values.length], values);
  }

  /** indptr[start + 1 .. start + ends.length]: the absolute ends of lines start … (already of the stored type). */
  writeLineEnds(start: number, ends: TypedArray): void {
    this.file.write(this.paths.indptr, [start + 1], [ends.length], ends);
  }
}
