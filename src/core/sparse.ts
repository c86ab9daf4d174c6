/** In-memory conversions between the block layouts crispyx hands out (CSR, CSC, dense row-major). */
import type { NdArray, SparseMatrix } from "../io/anndata/model.ts";
import { typedArrayDtype } from "../io/anndata/model.ts";
import { TYPED_ARRAY_OF, type NumericDtype, type TypedArray } from "../io/dtypes.ts";

export type BlockLayout = "csr" | "csc" | "dense";
export type Block = SparseMatrix | NdArray;

/** Read an index array value as a number (indptr may be int64 on disk). */
export function num(a: TypedArray, i: number): number {
  return Number(a[i]!);
}

function newLike(a: TypedArray, n: number): TypedArray {
  return new TYPED_ARRAY_OF[typedArrayDtype(a) as NumericDtype](n);
}

/** Transpose the compression axis: CSR → CSC or CSC → CSR, same matrix. */
export function switchCompression(m: SparseMatrix): SparseMatrix {
  const [rows, cols] = m.shape;
  const major = m.type === "csr" ? rows : cols;
  const minor = m.type === "csr" ? cols : rows;
  const nnz = m.data.length;
  const counts = new Float64Array(minor + 1);
  for (let k = 0; k < nnz; k++) counts[num(m.indices, k) + 1]!++;
  for (let j = 0; j < minor; j++) counts[j + 1]! += counts[j]!;
  const indptr =
    minor + 1 < 2 ** 31 && nnz < 2 ** 31 ? Int32Array.from(counts) : BigInt64Array.from(counts, (x) => BigInt(x));
  const next = Float64Array.from(counts);
  const indices = new Int32Array(nnz);
  const data = newLike(m.data, nnz);
  for (let i = 0; i < major; i++) {
    for (let k = num(m.indptr, i), e = num(m.indptr, i + 1); k < e; k++) {
      const j = num(m.indices, k);
      const dst = next[j]!++;
      indices[dst] = i;
      (data as unknown as number[])[dst] = (m.data as unknown as number[])[k]!;
    }
  }
  return { type: m.type === "csr" ? "csc" : "csr", shape: m.shape, data, indices, indptr };
}

/** Expand a sparse block into a dense row-major array of the same element type. */
export function sparseToDense(m: SparseMatrix): NdArray {
  const [rows, cols] = m.shape;
  const out = newLike(m.data, rows * cols) as unknown as number[];
  const vals = m.data as unknown as number[];
  const major = m.type === "csr" ? rows : cols;
  for (let i = 0; i < major; i++) {
    for (let k = num(m.indptr, i), e = num(m.indptr, i + 1); k < e; k++) {
      const j = num(m.indices, k);
      const at = m.type === "csr" ? i * cols + j : j * cols + i;
      out[at] = vals[k]!;
    }
  }
  return { type: "array", dtype: typedArrayDtype(m.data), shape: [rows, cols], data: out as unknown as TypedArray };
}

/** Compress a dense row-major 2-D array into CSR (zeros dropped). */
export function denseToCsr(a: NdArray): SparseMatrix {
  const [rows, cols] = a.shape as [number, number];
  const vals = a.data as unknown as ArrayLike<number | bigint>;
  let nnz = 0;
  for (let k = 0; k < vals.length; k++) if (Number(vals[k]) !== 0) nnz++;
  const data = newLike(a.data as TypedArray, nnz) as unknown as (number | bigint)[];
  const indices = new Int32Array(nnz);
  const indptr = nnz < 2 ** 31 ? new Int32Array(rows + 1) : new BigInt64Array(rows + 1);
  let p = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const v = vals[i * cols + j]!;
      if (Number(v) !== 0) {
        data[p] = v;
        indices[p++] = j;
      }
    }
    (indptr as unknown as (number | bigint)[])[i + 1] = indptr instanceof BigInt64Array ? BigInt(p) : p;
  }
  return { type: "csr", shape: [rows, cols], data: data as unknown as TypedArray, indices, indptr };
}

/** Convert a block to the requested layout. */
export function toLayout(b: Block, layout: BlockLayout): Block {
  if (b.type === "array")
    return layout === "dense" ? b : layout === "csr" ? denseToCsr(b) : switchCompression(denseToCsr(b));
  if (layout === "dense") return sparseToDense(b);
  return b.type === layout ? b : switchCompression(b);
}
