/**
 * Carry-over of matrices (obsm, layers, obsp, raw/X…): a matrix copied restricted to selected rows and
 * columns, keeping its storage format (dense stays dense, CSR stays CSR, CSC stays CSC) and dtype.
 *
 * Cost model: streamed in blocks along the stored axis within the memory budget (rowsForBudget), each
 * block read once and written once; the other axis is filtered through a remap (./sparseBlockFilter.ts).
 * Boolean matrices (rare, small masks) are copied in memory.
 */
import type { ReadStore, WriteStore } from "../store.ts";
import { TYPED_ARRAY_OF, type NumericDtype, type TypedArray } from "../h5/types.ts";
import { DEFAULT_MEMORY_BUDGET, rowsForBudget } from "../../core/streaming.ts";
import type { NdArray, SparseMatrix } from "./model.ts";
import { readElem, writeElem } from "./registry.ts";
import { describeMatrix, MatrixReader } from "./matrixReader.ts";
import { DenseMatrixWriter, SparseMatrixWriter } from "./matrixWriter.ts";
import { remapFor, selectionWindows, takeArray } from "./rowSelection.ts";
import { filterSparseBlock } from "./sparseBlockFilter.ts";

/**
 * Copy the matrix at `srcPath` to `dstPath`, restricted to rows `rows` and columns `cols` (each
 * optional), streaming within `memoryBudget`. Storage format and dtype are kept.
 */
export function copyMatrix(
  src: ReadStore,
  srcPath: string,
  dst: WriteStore,
  dstPath: string,
  rows: Int32Array | undefined,
  cols: Int32Array | undefined,
  memoryBudget = DEFAULT_MEMORY_BUDGET,
): void {
  const info = describeMatrix(src, srcPath);
  const [nr, nc] = info.shape;
  const outShape: [number, number] = [rows ? rows.length : nr, cols ? cols.length : nc];
  if (info.dtype === "bool") {
    // Boolean matrices are rare and small (masks); copy them in memory.
    const e = readElem(src, srcPath) as NdArray;
    let m = rows ? takeArray(e, rows) : e;
    if (cols) m = transposeTake(m, cols);
    writeElem(dst, dstPath, m);
    return;
  }
  const dtype = info.dtype as NumericDtype;
  const reader = new MatrixReader(src, srcPath);
  const bytes = TYPED_ARRAY_OF[dtype].BYTES_PER_ELEMENT;
  if (info.format === "dense") {
    const w = DenseMatrixWriter.create(dst, dstPath, { shape: outShape, dtype });
    const span = rowsForBudget(nc * bytes * 2, nr, { memoryBudget });
    const colList = cols ?? null;
    for (const { lo, hi, keep } of selectionWindows(rows ?? null, nr, span)) {
      const block = reader.rows(lo, hi, "dense") as NdArray;
      const picked = keep ?? Int32Array.from({ length: hi - lo }, (_, i) => i);
      const out = new TYPED_ARRAY_OF[dtype](picked.length * outShape[1]);
      const bd = block.data as TypedArray;
      for (let t = 0; t < picked.length; t++) {
        const base = picked[t]! * nc;
        if (!colList)
          (out as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(
            bd.subarray(base, base + nc) as ArrayLike<unknown>,
            t * nc,
          );
        else
          for (let j = 0; j < colList.length; j++)
            (out as unknown as unknown[])[t * colList.length + j] = (bd as unknown as unknown[])[base + colList[j]!];
      }
      w.appendRows(picked.length, out);
    }
    w.finish();
    return;
  }
  // Sparse: stream along the stored (major) axis, filter the other one through a remap.
  const csr = info.format === "csr";
  const majorSel = csr ? rows : cols;
  const minorSel = csr ? cols : rows;
  const nMajor = csr ? nr : nc;
  const minorMap = remapFor(minorSel, csr ? nc : nr);
  const newMinor = csr ? outShape[1] : outShape[0];
  const w = SparseMatrixWriter.create(dst, dstPath, { format: info.format, shape: outShape, dtype, maxNnz: info.nnz });
  const perMajor = (info.nnz / Math.max(1, nMajor)) * (bytes + 4) * 2 + 16;
  const span = rowsForBudget(perMajor, nMajor, { memoryBudget });
  for (const { lo, hi, keep } of selectionWindows(majorSel ?? null, nMajor, span)) {
    const block = (csr ? reader.rows(lo, hi) : reader.cols(lo, hi)) as SparseMatrix;
    w.append(filterSparseBlock(block, keep, minorMap, newMinor));
  }
  w.finish();
}

function transposeTake(m: NdArray, cols: Int32Array): NdArray {
  const [r, c] = m.shape as [number, number];
  const out = new (m.data.constructor as { new (n: number): TypedArray })(r * cols.length);
  for (let i = 0; i < r; i++)
    for (let j = 0; j < cols.length; j++)
      (out as unknown as unknown[])[i * cols.length + j] = (m.data as unknown as unknown[])[i * c + cols[j]!];
  return { ...m, shape: [r, cols.length], data: out };
}
