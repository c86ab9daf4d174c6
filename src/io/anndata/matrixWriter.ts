/**
 * Streaming writers for a matrix element of an .h5ad file (X, a layer, an obsm entry): the matrix is
 * appended block by block, so memory is bounded by one block whatever the size of the output.
 *
 * Sparse (CSR appends row blocks, CSC appends column blocks):
 *
 *   const w = SparseMatrixWriter.create(file, "/X", { format: "csr", shape: [nObs, nVars], dtype: "float32",
 *                                                     nnz: knownNnz });   // or maxNnz: an upper bound
 *   for (const block of blocks) w.append(block);   // SparseMatrix of the same format, any number of rows
 *   w.finish();                                     // checks every row was written; returns { nnz }
 *
 * Dense (row blocks into a 2-D dataset):
 *
 *   const d = DenseMatrixWriter.create(file, "/obsm/X_pca", { shape: [nObs, 50], dtype: "float32" });
 *   d.append(rowMajorValues);  d.finish();
 *
 * Everything else of the output (root attributes, obs/var/uns/obsm/…) comes from `startAnnData` and
 * `carryOver` in ./carryOver.ts (re-exported here).
 *
 * Layout choices (measured with bench/operators.ts): data and indices are chunked 1-D datasets without
 * compression — gzip in WebAssembly made writing several times slower for a ~2× smaller file; pass
 * `gzip` to trade speed for size. Index arrays are int32 (as scipy writes) unless the matrix can hold
 * more than 2^31 - 1 stored elements, then indptr and indices are both int64 (scipy requires them to
 * share a dtype).
 */
import type { WriteStore } from "../store.ts";
import { TYPED_ARRAY_OF, dtypeOfArray, type NumericDtype, type TypedArray } from "../h5/types.ts";
import { CrispyxError, InvalidArgumentError } from "../../errors.ts";
import type { SparseMatrix } from "./model.ts";
import { stampEncoding } from "./registry.ts";

/** Elements per HDF5 chunk of data/indices (1 MiB of float32). */
export const SPARSE_CHUNK_ELEMENTS = 1 << 18;
/** Bytes per HDF5 chunk of a dense matrix (rows are never split across chunks). */
const DENSE_CHUNK_BYTES = 1 << 20;
const INT32_MAX = 0x7fffffff;

export interface SparseWriterOptions {
  format?: "csr" | "csc";
  shape: [number, number];
  /** Element type of `data`. Default float32. Appended blocks are converted when they differ. */
  dtype?: NumericDtype;
  /** The exact number of stored elements, when known: datasets are created at full size. */
  nnz?: number;
  /** An upper bound on the number of stored elements (decides int32 vs int64 indices). */
  maxNnz?: number;
  /** Force the index dtype instead of choosing by size. */
  indexDtype?: "int32" | "int64";
  /** gzip level 1–9 for data and indices (default: none, fastest). */
  gzip?: number;
  /** Elements per chunk of data/indices. */
  chunkElements?: number;
}

/** The index type a sparse writer uses: as asked, else int64 only when the elements may exceed int32. */
export function sparseIndexDtype(opts: SparseWriterOptions): "int32" | "int64" {
  const bound = opts.nnz ?? opts.maxNnz ?? opts.shape[0] * opts.shape[1];
  return opts.indexDtype ?? (bound > INT32_MAX ? "int64" : "int32");
}

/** Write the anndata attributes of a csr_matrix/csc_matrix group. */
export function setSparseAttrs(file: WriteStore, path: string, format: "csr" | "csc", shape: [number, number]): void {
  stampEncoding(file, path, format === "csr" ? "csr_matrix" : "csc_matrix");
  file.setAttr(path, "shape", BigInt64Array.from(shape, BigInt));
}

/** Convert a typed array to another element type (no copy when it already is). */
export function castArray(a: TypedArray, dtype: NumericDtype): TypedArray {
  if (dtypeOfArray(a) === dtype) return a;
  const Out = TYPED_ARRAY_OF[dtype];
  const out = new Out(a.length);
  const big = dtype === "int64" || dtype === "uint64";
  const src = a as unknown as ArrayLike<number | bigint>;
  const dst = out as unknown as (number | bigint)[];
  if (big) for (let i = 0; i < a.length; i++) dst[i] = BigInt(src[i]!);
  else for (let i = 0; i < a.length; i++) dst[i] = Number(src[i]!);
  return out;
}

export class SparseMatrixWriter {
  readonly format: "csr" | "csc";
  readonly shape: [number, number];
  readonly dtype: NumericDtype;
  readonly indexDtype: "int32" | "int64";
  /** Rows (CSR) or columns (CSC) written so far. */
  private majorDone = 0;
  private nnzDone = 0;
  private finished = false;

  private constructor(
    private readonly file: WriteStore,
    readonly path: string,
    opts: SparseWriterOptions,
    private readonly fixedNnz: number | undefined,
  ) {
    this.format = opts.format ?? "csr";
    this.shape = opts.shape;
    this.dtype = opts.dtype ?? "float32";
    this.indexDtype = sparseIndexDtype(opts);
  }

  /** Create the group and its datasets at `path` (which must not exist). */
  static create(file: WriteStore, path: string, opts: SparseWriterOptions): SparseMatrixWriter {
    const [rows, cols] = opts.shape;
    if (![rows, cols].every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new InvalidArgumentError(`cannot write ${path}: bad shape [${opts.shape.join(", ")}]`);
    }
    const w = new SparseMatrixWriter(file, path, opts, opts.nnz);
    const major = w.majorSize;
    const hint = opts.nnz ?? opts.maxNnz ?? SPARSE_CHUNK_ELEMENTS;
    const chunk = Math.max(1, Math.min(opts.chunkElements ?? SPARSE_CHUNK_ELEMENTS, hint));
    const gzip = opts.gzip ? { gzip: opts.gzip } : {};
    file.createGroup(path);
    setSparseAttrs(file, path, w.format, opts.shape);
    const size = opts.nnz ?? 0;
    file.createDataset(`${path}/data`, { dtype: w.dtype, shape: [size], maxshape: [null], chunks: [chunk], ...gzip });
    file.createDataset(`${path}/indices`, {
      dtype: w.indexDtype,
      shape: [size],
      maxshape: [null],
      chunks: [chunk],
      ...gzip,
    });
    file.createDataset(`${path}/indptr`, {
      dtype: w.indexDtype,
      shape: [major + 1],
      chunks: [Math.max(1, Math.min(SPARSE_CHUNK_ELEMENTS, major + 1))],
    });
    // indptr[0] = 0 (a chunked dataset created without data has no defined fill otherwise).
    file.write(`${path}/indptr`, [0], [1], w.indexDtype === "int64" ? new BigInt64Array(1) : new Int32Array(1));
    return w;
  }

  /** Rows for CSR, columns for CSC. */
  get majorSize(): number {
    return this.format === "csr" ? this.shape[0] : this.shape[1];
  }

  get minorSize(): number {
    return this.format === "csr" ? this.shape[1] : this.shape[0];
  }

  get rowsWritten(): number {
    return this.majorDone;
  }

  get nnzWritten(): number {
    return this.nnzDone;
  }

  /** Append the next rows (CSR) or columns (CSC). `block.indptr` is relative to the block. */
  append(block: SparseMatrix): void {
    if (block.type !== this.format) {
      throw new CrispyxError(`${this.path}: cannot append a ${block.type} block to a ${this.format} matrix`);
    }
    const [br, bc] = block.shape;
    const minor = this.format === "csr" ? bc : br;
    if (minor !== this.minorSize) {
      throw new CrispyxError(
        `${this.path}: appended block has shape [${br}, ${bc}], expected ${this.minorSize} ${this.format === "csr" ? "columns" : "rows"}`,
      );
    }
    this.appendParts(block.indptr, block.indices, block.data);
  }

  /**
   * Append `indptr.length - 1` rows (CSR) / columns (CSC) given as raw arrays; indptr may start at any
   * offset (only differences matter), indices/data hold exactly the block's elements.
   */
  appendParts(indptr: TypedArray | Float64Array, indices: TypedArray, data: TypedArray): void {
    if (this.finished) throw new CrispyxError(`${this.path}: writer already finished`);
    const m = indptr.length - 1;
    if (m < 0) return;
    const p0 = Number(indptr[0]!);
    const k = Number(indptr[m]!) - p0;
    if (indices.length !== k || data.length !== k) {
      throw new CrispyxError(
        `${this.path}: block indptr spans ${k} elements but has ${indices.length} indices and ${data.length} values`,
      );
    }
    if (this.majorDone + m > this.majorSize) {
      throw new CrispyxError(
        `${this.path}: more than ${this.majorSize} ${this.format === "csr" ? "rows" : "columns"} appended`,
      );
    }
    const at = this.nnzDone;
    if (k > 0) {
      if (this.fixedNnz === undefined) {
        this.file.resize(`${this.path}/data`, [at + k]);
        this.file.resize(`${this.path}/indices`, [at + k]);
      } else if (at + k > this.fixedNnz) {
        throw new CrispyxError(`${this.path}: more than the declared ${this.fixedNnz} stored elements appended`);
      }
      this.file.write(`${this.path}/data`, [at], [k], castArray(data, this.dtype));
      this.file.write(`${this.path}/indices`, [at], [k], castArray(indices, this.indexDtype));
    }
    if (m > 0) {
      // indptr entries majorDone+1 … majorDone+m, shifted by what was written before.
      const ptr = this.indexDtype === "int64" ? new BigInt64Array(m) : new Int32Array(m);
      const shift = at - p0;
      if (ptr instanceof Int32Array) for (let i = 0; i < m; i++) ptr[i] = Number(indptr[i + 1]!) + shift;
      else for (let i = 0; i < m; i++) ptr[i] = BigInt(Number(indptr[i + 1]!) + shift);
      this.file.write(`${this.path}/indptr`, [this.majorDone + 1], [m], ptr);
    }
    this.majorDone += m;
    this.nnzDone += k;
  }

  /** Check that the whole matrix was written. */
  finish(): { nnz: number } {
    if (this.finished) return { nnz: this.nnzDone };
    if (this.majorDone !== this.majorSize) {
      throw new CrispyxError(
        `${this.path}: only ${this.majorDone} of ${this.majorSize} ${this.format === "csr" ? "rows" : "columns"} were written`,
      );
    }
    if (this.fixedNnz !== undefined && this.nnzDone !== this.fixedNnz) {
      throw new CrispyxError(`${this.path}: ${this.nnzDone} stored elements written, ${this.fixedNnz} declared`);
    }
    this.finished = true;
    return { nnz: this.nnzDone };
  }
}

export interface DenseWriterOptions {
  shape: [number, number];
  dtype?: NumericDtype;
  gzip?: number;
}

/** A 2-D dense matrix ("array" encoding) written in row blocks. */
export class DenseMatrixWriter {
  readonly shape: [number, number];
  readonly dtype: NumericDtype;
  private rowsDone = 0;

  private constructor(
    private readonly file: WriteStore,
    readonly path: string,
    opts: DenseWriterOptions,
  ) {
    this.shape = opts.shape;
    this.dtype = opts.dtype ?? "float32";
  }

  static create(file: WriteStore, path: string, opts: DenseWriterOptions): DenseMatrixWriter {
    const w = new DenseMatrixWriter(file, path, opts);
    const [rows, cols] = opts.shape;
    const rowBytes = Math.max(1, cols * TYPED_ARRAY_OF[w.dtype].BYTES_PER_ELEMENT);
    const chunkRows = Math.max(1, Math.min(rows, Math.floor(DENSE_CHUNK_BYTES / rowBytes)));
    if (rows === 0 || cols === 0) {
      // HDF5 chunks cannot be empty; an empty matrix is simply a contiguous empty dataset.
      file.createDataset(path, { dtype: w.dtype, shape: [rows, cols], data: new TYPED_ARRAY_OF[w.dtype](0) });
    } else {
      file.createDataset(path, {
        dtype: w.dtype,
        shape: [rows, cols],
        chunks: [chunkRows, cols],
        ...(opts.gzip ? { gzip: opts.gzip } : {}),
      });
    }
    stampEncoding(file, path, "array");
    return w;
  }

  get rowsWritten(): number {
    return this.rowsDone;
  }

  /** Append the next rows, row-major (length a multiple of the column count). */
  append(values: TypedArray): void {
    const cols = this.shape[1];
    const m = cols === 0 ? 0 : values.length / cols;
    if (!Number.isInteger(m))
      throw new CrispyxError(`${this.path}: ${values.length} values is not a whole number of ${cols}-column rows`);
    this.appendRows(m, values);
  }

  /** Append `m` rows (needed when the matrix has no columns). */
  appendRows(m: number, values: TypedArray): void {
    const cols = this.shape[1];
    if (this.rowsDone + m > this.shape[0])
      throw new CrispyxError(`${this.path}: more than ${this.shape[0]} rows appended`);
    if (m > 0 && cols > 0) this.file.write(this.path, [this.rowsDone, 0], [m, cols], castArray(values, this.dtype));
    this.rowsDone += m;
  }

  finish(): void {
    if (this.rowsDone !== this.shape[0]) {
      throw new CrispyxError(`${this.path}: only ${this.rowsDone} of ${this.shape[0]} rows were written`);
    }
  }
}

export { startAnnData, carryOver, type CarryOverOptions, type CarryKey } from "./carryOver.ts";
