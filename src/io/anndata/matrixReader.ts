/**
 * Block reads of an on-disk matrix (X, a layer, raw/X) without loading the whole of it: row ranges,
 * column ranges and index lists, served as CSR, CSC or dense.
 *
 * Cost model: rows of CSR and columns of CSC read exactly their own bytes. The other direction (columns
 * of CSR, rows of CSC) must look at every stored element once per call; for many blocks use the
 * streaming iterators in src/ops, which serve many blocks per pass.
 */
import type { ReadStore } from "../store.ts";
import type { NumericDtype, TypedArray } from "../h5/types.ts";
import { TYPED_ARRAY_OF, isNumericDtype } from "../h5/types.ts";
import { FileFormatError, InvalidArgumentError } from "../../errors.ts";
import type { NdArray, SparseMatrix } from "./model.ts";
import { typedArrayDtype } from "./model.ts";
import { encodingOf, matrixFormat } from "./registry.ts";
import { sparseShape } from "./encodings/sparse.ts";
import { toLayout, type Block, type BlockLayout, num } from "../../core/sparse.ts";
import type { ArrayPool } from "../../core/arrayPool.ts";
import {
  checkIndicesBlock,
  checkIndptrBlock,
  checkValues,
  DuplicateMarks,
  type SparseContext,
  type ValueCheck,
} from "./sparseInvariants.ts";

export type StorageFormat = "csr" | "csc" | "dense";

export interface MatrixInfo {
  format: StorageFormat;
  shape: [number, number];
  dtype: NumericDtype | "bool";
  /** Stored elements (rows × cols for dense). */
  nnz: number;
}

/** Rows/columns read at once when scanning the expensive direction. */
const SCAN_BLOCK_ELEMENTS = 4 << 20;

export class MatrixReader {
  readonly info: MatrixInfo;

  constructor(
    readonly file: ReadStore,
    readonly path: string,
  ) {
    this.info = describeMatrix(file, path);
  }

  get format(): StorageFormat {
    return this.info.format;
  }
  get shape(): [number, number] {
    return this.info.shape;
  }

  private checkRange(axis: 0 | 1, start: number, end: number): void {
    const n = this.info.shape[axis];
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > n || start > end) {
      throw new InvalidArgumentError(
        `${this.file.path}: ${axis === 0 ? "row" : "column"} range ${start}:${end} is outside 0:${n} of ${this.path}`,
      );
    }
  }

  /**
   * When set, rows of CSR / columns of CSC are read into this pool's recycled buffers (../../core/arrayPool.ts);
   * the caller gives each block's data and indices back once done with them.
   */
  pool: ArrayPool | null = null;

  private indexType?: NumericDtype;

  /**
   * What the caller's computation needs of the values (./sparseInvariants.ts): "counts" (finite, ≥ 0) or
   * "finite"; every block read is checked, naming the cell and gene of the first bad value. Null: unchecked.
   */
  values: ValueCheck | null = null;

  /** Sparse structure checks as blocks stream by (indptr, indices, duplicates): see ./sparseInvariants.ts. */
  private sparseCtx?: SparseContext;
  private marks?: DuplicateMarks;
  /**
   * Majors [0, n) whose indices (and values, for the check named) were already checked by this reader: a
   * pass over X after the first (Wilcoxon's gene chunks, batched DE) reads the same bytes again, and
   * checking them again cost ~2 s of a 30 s Wilcoxon run (4 passes). indptr is checked on every read (it
   * drives the reads).
   */
  private indicesChecked = 0;
  /** Stored elements read so far (every read; a scan of the other direction reads all of them). */
  private elementsRead = 0;

  /** How many times the stored elements were read, in whole passes over the matrix (0.5: half of them once). */
  get passesRead(): number {
    return this.elementsRead / Math.max(1, this.info.nnz);
  }
  private valuesChecked = { kind: null as ValueCheck | null, upTo: 0 };

  /** The element type of a sparse matrix's stored indices (int32 or int64 in practice); asked once. */
  get indexDtype(): NumericDtype {
    if (!this.indexType) {
      const d = this.file.info(`${this.path}/indices`).dtype;
      this.indexType = isNumericDtype(d) ? d : "int32";
    }
    return this.indexType;
  }

  /** Rows [start, end) in the requested layout (default: the storage's own, dense stays dense). */
  rows(start: number, end: number, layout?: BlockLayout): Block {
    this.checkRange(0, start, end);
    const block = this.readMajorOrScan(0, start, end);
    return layout ? toLayout(block, layout) : block;
  }

  /** Columns [start, end). */
  cols(start: number, end: number, layout?: BlockLayout): Block {
    this.checkRange(1, start, end);
    const block = this.readMajorOrScan(1, start, end);
    return layout ? toLayout(block, layout) : block;
  }

  /** Rows at arbitrary positions, in the order given (repeats allowed). */
  takeRows(indices: ArrayLike<number>, layout: BlockLayout = "csr"): Block {
    const n = this.info.shape[0];
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k]!;
      if (!Number.isInteger(i) || i < 0 || i >= n)
        throw new InvalidArgumentError(`${this.file.path}: row index ${i} is outside 0:${n}`);
    }
    // Read each run of consecutive rows once, then stitch the rows together in the requested order.
    const order = Array.from(indices, (_, k) => k).sort((a, b) => indices[a]! - indices[b]!);
    const rowsOut: { idx: Int32Array; val: TypedArray }[] = new Array(indices.length);
    let k = 0;
    while (k < order.length) {
      let e = k + 1;
      while (e < order.length && indices[order[e]!]! - indices[order[e - 1]!]! <= 1) e++;
      const lo = indices[order[k]!]!;
      const hi = indices[order[e - 1]!]! + 1;
      const block = toLayout(this.rows(lo, hi), "csr") as SparseMatrix;
      for (let t = k; t < e; t++) {
        const r = indices[order[t]!]! - lo;
        const s = num(block.indptr, r),
          f = num(block.indptr, r + 1);
        rowsOut[order[t]!] = {
          idx: Int32Array.from(block.indices.subarray(s, f) as ArrayLike<number>),
          val: block.data.subarray(s, f),
        };
      }
      k = e;
    }
    const nnz = rowsOut.reduce((a, r) => a + r.idx.length, 0);
    const Data = TYPED_ARRAY_OF[this.info.dtype === "bool" ? "uint8" : this.info.dtype];
    const data = new Data(nnz);
    const idx = new Int32Array(nnz);
    const indptr = new Int32Array(indices.length + 1);
    let p = 0;
    rowsOut.forEach((r, i) => {
      idx.set(r.idx, p);
      (data as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(r.val as ArrayLike<unknown>, p);
      p += r.idx.length;
      indptr[i + 1] = p;
    });
    const csr: SparseMatrix = { type: "csr", shape: [indices.length, this.info.shape[1]], data, indices: idx, indptr };
    return toLayout(csr, layout);
  }

  /** The whole matrix in memory. */
  readAll(layout?: BlockLayout): Block {
    return this.rows(0, this.info.shape[0], layout);
  }

  private readMajorOrScan(axis: 0 | 1, start: number, end: number): Block {
    const { format, shape } = this.info;
    if (format === "dense") {
      if (axis === 0) return this.denseBlock([start, 0], [end - start, shape[1]]);
      return this.denseBlock([0, start], [shape[0], end - start]);
    }
    const majorAxis = format === "csr" ? 0 : 1;
    if (axis === majorAxis) return this.sparseMajor(start, end);
    return this.sparseMinorScan(start, end);
  }

  private denseBlock(start: number[], count: number[]): NdArray {
    const data = this.file.read(`${this.path}`, start, count);
    this.elementsRead += count[0]! * count[1]!;
    if (this.values) {
      const w = count[1]!;
      checkValues(data, this.values, {
        file: this.file.path,
        path: this.path,
        locate: { cellGene: (k) => [start[0]! + Math.floor(k / w), start[1]! + (k % w)] },
      });
    }
    return { type: "array", dtype: this.info.dtype === "bool" ? "bool" : typedArrayDtype(data), shape: count, data };
  }

  /** Rows of CSR or columns of CSC: one contiguous read each of indptr, indices and data. */
  private sparseMajor(start: number, end: number): SparseMatrix {
    const { format, shape } = this.info;
    const p = this.path;
    const ptr = this.file.read(`${p}/indptr`, [start], [end - start + 1]);
    // Checked before any offset from it is used: a damaged indptr never drives a read or a loop.
    const ctx = (this.sparseCtx ??= {
      file: this.file.path,
      path: p,
      format: format as "csr" | "csc",
      major: format === "csr" ? shape[0] : shape[1],
      minor: format === "csr" ? shape[1] : shape[0],
      nnz: this.info.nnz,
    });
    checkIndptrBlock(ptr as ArrayLike<number | bigint>, start, ctx);
    const lo = num(ptr, 0);
    const hi = num(ptr, end - start);
    this.elementsRead += hi - lo;
    const pool = this.pool;
    const indices = this.file.read(
      `${p}/indices`,
      [lo],
      [hi - lo],
      pool ? pool.take(TYPED_ARRAY_OF[this.indexDtype], hi - lo) : undefined,
    );
    const data = this.file.read(
      `${p}/data`,
      [lo],
      [hi - lo],
      pool ? pool.take(TYPED_ARRAY_OF[this.info.dtype === "bool" ? "uint8" : this.info.dtype], hi - lo) : undefined,
    );
    const indptr =
      hi - lo < 2 ** 31
        ? Int32Array.from(ptr as ArrayLike<number | bigint>, (x) => Number(x) - lo)
        : BigInt64Array.from(ptr as ArrayLike<number | bigint>, (x) => BigInt(x) - BigInt(lo));
    if (end > this.indicesChecked) {
      checkIndicesBlock(indices, indptr, start, (this.marks ??= new DuplicateMarks(ctx.minor)), ctx);
      if (start <= this.indicesChecked) this.indicesChecked = end;
    }
    const seen = this.valuesChecked;
    if (this.values && (seen.kind !== this.values || end > seen.upTo)) {
      const locate = {
        cellGene: (k: number): [number, number] => {
          let r = 0;
          while (r + 1 < indptr.length - 1 && num(indptr, r + 1) <= k) r++;
          const j = num(indices, k);
          return format === "csr" ? [start + r, j] : [j, start + r];
        },
      };
      checkValues(data, this.values, { file: this.file.path, path: p, locate });
      if (seen.kind !== this.values) {
        seen.kind = this.values;
        seen.upTo = start === 0 ? end : 0;
      } else if (start <= seen.upTo) seen.upTo = Math.max(seen.upTo, end);
    }
    const blockShape: [number, number] = format === "csr" ? [end - start, shape[1]] : [shape[0], end - start];
    return { type: format as "csr" | "csc", shape: blockShape, data, indices, indptr };
  }

  /** Columns of CSR or rows of CSC: scan every stored element once, keeping those in range. */
  private sparseMinorScan(start: number, end: number): SparseMatrix {
    const { format, shape } = this.info;
    const major = format === "csr" ? shape[0] : shape[1];
    const width = end - start;
    const keptIdx: number[] = [];
    const keptVal: (number | bigint)[] = [];
    const majorPtr = new Float64Array(major + 1);
    const step = Math.max(1, Math.floor(SCAN_BLOCK_ELEMENTS / Math.max(1, this.info.nnz / Math.max(1, major))));
    for (let m0 = 0; m0 < major; m0 += step) {
      const m1 = Math.min(major, m0 + step);
      const block = this.sparseMajor(m0, m1);
      for (let i = 0; i < m1 - m0; i++) {
        for (let k = num(block.indptr, i), e = num(block.indptr, i + 1); k < e; k++) {
          const j = num(block.indices, k);
          if (j >= start && j < end) {
            keptIdx.push(j - start);
            keptVal.push(block.data[k]!);
          }
        }
        majorPtr[m0 + i + 1] = keptIdx.length;
      }
    }
    const Data = TYPED_ARRAY_OF[this.info.dtype === "bool" ? "uint8" : this.info.dtype];
    const data = (Data as unknown as { from(a: unknown[]): TypedArray }).from(keptVal);
    const indptr = Int32Array.from(majorPtr);
    const m: SparseMatrix = {
      type: format as "csr" | "csc",
      shape: format === "csr" ? [shape[0], width] : [width, shape[1]],
      data,
      indices: Int32Array.from(keptIdx),
      indptr,
    };
    return m;
  }
}

/** What kind of matrix is stored at `path`, with its shape, element type and stored-element count. */
export function describeMatrix(file: ReadStore, path: string): MatrixInfo {
  if (!file.exists(path)) {
    throw new FileFormatError(`has no ${path} matrix`, { file: file.path });
  }
  const format = matrixFormat(file, path);
  if (format === null) {
    const t = encodingOf(file, path)?.type ?? "";
    throw new FileFormatError(`${path} has encoding-type '${t}', which is not a matrix crispyx can read`, {
      file: file.path,
      hint: "expected csr_matrix, csc_matrix or a dense array",
    });
  }
  if (format === "dense") {
    const info = file.info(path);
    if (info.shape.length !== 2)
      throw new FileFormatError(`${path} is ${info.shape.length}-dimensional, expected a matrix`, { file: file.path });
    if (info.dtype !== "bool" && !(info.dtype in TYPED_ARRAY_OF)) {
      throw new FileFormatError(`${path} holds ${info.dtype} values, expected numbers`, { file: file.path });
    }
    return {
      format: "dense",
      shape: info.shape as [number, number],
      dtype: info.dtype as NumericDtype,
      nnz: info.size,
    };
  }
  const shape = sparseShape(file, path);
  checkSparseParts(file, path, format, shape);
  const d = file.info(`${path}/data`);
  return { format, shape, dtype: d.dtype as NumericDtype, nnz: d.size };
}

/** 'csr', 'csc' or 'dense' for the matrix at `path` (the seed's get_matrix_storage_format). */
export function getMatrixStorageFormat(file: ReadStore, path = "/X"): StorageFormat {
  return describeMatrix(file, path).format;
}

/**
 * The structure of a sparse matrix that is known from its metadata alone: the three arrays exist and are
 * 1-D, indices and indptr hold integers, indices and data have one length, indptr one entry more than the
 * major axis (a CSR matrix labelled csc_matrix is caught here), and its first and last entries (two values).
 */
export function checkSparseParts(file: ReadStore, path: string, format: "csr" | "csc", shape: [number, number]): void {
  const fail = (why: string) =>
    new FileFormatError(`${why}`, {
      file: file.path,
      hint: "the sparse matrix is damaged or was written inconsistently",
    });
  const rel = path.replace(/^\//, "");
  for (const part of ["data", "indices", "indptr"]) {
    if (!file.isDataset(`${path}/${part}`)) throw fail(`sparse matrix ${rel} has no '${part}' dataset`);
  }
  const data = file.info(`${path}/data`),
    indices = file.info(`${path}/indices`),
    indptr = file.info(`${path}/indptr`);
  for (const [part, i] of [
    ["data", data],
    ["indices", indices],
    ["indptr", indptr],
  ] as const) {
    if (i.shape.length !== 1) throw fail(`${rel}/${part} is ${i.shape.length}-dimensional, expected 1-D`);
  }
  for (const [part, i] of [
    ["indices", indices],
    ["indptr", indptr],
  ] as const) {
    if (!/^u?int/.test(i.dtype)) throw fail(`${rel}/${part} holds ${i.dtype} values, expected integers`);
  }
  if (data.dtype !== "bool" && !(data.dtype in TYPED_ARRAY_OF))
    throw fail(`${rel}/data holds ${data.dtype} values, expected numbers`);
  if (indices.size !== data.size)
    throw fail(`${rel}/indices has ${indices.size} entries but ${rel}/data has ${data.size}`);
  const major = format === "csr" ? shape[0] : shape[1];
  if (indptr.size !== major + 1) {
    const other = format === "csr" ? shape[1] : shape[0];
    const guess =
      indptr.size === other + 1
        ? ` — it looks like a ${format === "csr" ? "CSC" : "CSR"} matrix labelled ${format}_matrix`
        : "";
    throw fail(
      `${rel}/indptr has ${indptr.size} entries, but a ${format.toUpperCase()} matrix of shape [${shape.join(", ")}] has ${major + 1}${guess}`,
    );
  }
  const first = Number(file.read(`${path}/indptr`, [0], [1])[0]!);
  const last = Number(file.read(`${path}/indptr`, [major], [1])[0]!);
  if (first !== 0) throw fail(`${rel}/indptr[0] is ${first}, not 0`);
  if (last !== data.size) throw fail(`${rel}/indptr ends at ${last}, but indices and data hold ${data.size} elements`);
}
