/**
 * Write a sparse matrix (CSR or CSC) whose stored elements are those of an input matrix, reordered by
 * the external-memory engine (./externalScatter.ts): conversion (transpose the compression axis) and
 * sorting cells (permute rows) are both this one operation with different destination rules.
 */
import type { WriteStore } from "../io/store.ts";
import type { MatrixReader } from "../io/anndata/matrixReader.ts";
import { TYPED_ARRAY_OF, type NumericDtype, type TypedArray } from "../io/dtypes.ts";
import { DEFAULT_MEMORY_BUDGET, type ProgressCallback } from "../core/streaming.ts";
import { ExternalScatter } from "./externalScatter.ts";
import { feedElements } from "./feedElements.ts";
import {
  DirectSparseWriter,
  canWriteDirect,
  createDirectPlaceholders,
  type DirectSparseOptions,
} from "../io/anndata/directSparseWriter.ts";
import { SparsePartsWriter } from "../io/anndata/sparseParts.ts";

export interface ReorderOptions {
  /** Output layout: "csr" (destination lines are rows) or "csc" (columns). */
  format: "csr" | "csc";
  /** Which stored coordinate becomes the destination line; see feedElements. */
  destFrom: "index" | "line";
  destMap?: Int32Array;
  /** "auto": int32 unless there are more than 2^31-1 elements (the seed's conversion rule); "int64": always. */
  indptrDtype?: "auto" | "int64";
  memoryBudget?: number;
  /** Stored lines read per input block (default: from the budget). */
  chunkSize?: number;
  /** Temporary file for spilled runs (removed afterwards). */
  spillPath: string;
  /**
   * The path of `dst` when the matrix is the last thing written to it: `dst` is then closed after its
   * placeholders are made and the elements are written straight into the file (no HDF5 copies).
   */
  directFile?: string;
  /** Force the sort buffer's size in elements (tests: exercise spilling on tiny files). */
  bufferElements?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

export interface ReorderStats {
  nnz: number;
  /** Runs spilled to the temporary file (0: everything was sorted in memory). */
  spilledRuns: number;
  /** Sequential passes over the input matrix (always 1). */
  inputPasses: number;
  bufferElements: number;
}

/** Largest single HDF5 write, so the WebAssembly scratch buffer stays small. */
const WRITE_PIECE = 4 << 20;

/** Budget shares: most for the sort buffer, a little for input blocks. */
const SCATTER_SHARE = 0.6;
const READ_SHARE = 0.05;

export function writeReorderedSparse(
  reader: MatrixReader,
  dst: WriteStore,
  at: string,
  opts: ReorderOptions,
): ReorderStats {
  const [nRows, nCols] = reader.shape;
  const budget = opts.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  const dtype: NumericDtype = reader.info.dtype === "bool" ? "uint8" : reader.info.dtype;
  const nDest = opts.format === "csr" ? nRows : nCols;
  const scatter = new ExternalScatter({
    nDest,
    values: TYPED_ARRAY_OF[dtype],
    memoryBudget: budget * SCATTER_SHARE,
    spillPath: opts.spillPath,
    maxElements: reader.info.nnz,
    mode: opts.destFrom === "line" ? "lines" : "elements",
    bufferElements: opts.bufferElements,
    signal: opts.signal,
  });
  try {
    feedElements(reader, scatter, {
      destFrom: opts.destFrom,
      destMap: opts.destMap,
      blockBytes: Math.max(1 << 20, Math.min(64 << 20, budget * READ_SHARE)),
      linesPerBlock: opts.chunkSize,
      signal: opts.signal,
      onProgress: opts.onProgress,
      phase: "reading",
    });
    const nnz = scatter.count;
    const wide = opts.indptrDtype === "int64" || nnz > 2 ** 31 - 1;
    if (opts.directFile && reader.info.dtype !== "bool") {
      // X is the output's last element: the rest is in place, so HDF5 closes the file and the sorted
      // elements go straight into it (../io/anndata/directSparseWriter.ts).
      const spec: DirectSparseOptions = {
        format: opts.format,
        shape: [nRows, nCols],
        dtype,
        nnz,
        indexDtype: "int32",
        indptrDtype: wide ? "int64" : "int32",
      };
      if (canWriteDirect(spec)) {
        createDirectPlaceholders(dst, at, spec);
        dst.close();
        const w = DirectSparseWriter.open(opts.directFile, at, spec);
        try {
          scatter.finish({
            elements(minor: Int32Array, values: TypedArray, n: number) {
              w.appendElements(minor, values, n);
              opts.onProgress?.({ phase: "writing", done: w.nnzWritten, total: nnz, unit: "non-zeros" });
            },
            lineEnds(start: number, ends: Float64Array, n: number) {
              w.appendLineEnds(start, ends, n);
            },
          });
          w.finish();
        } catch (err) {
          w.abort();
          throw err;
        }
        return { nnz, spilledRuns: scatter.spilledRuns, inputPasses: 1, bufferElements: scatter.capacity };
      }
    }
    // The seed's chunking for data/indices; contiguous when smaller than one chunk.
    const chunk = Math.min(262144, Math.max(8192, Math.floor(nnz / 16)));
    const out = SparsePartsWriter.create(dst, at, {
      format: opts.format,
      shape: [nRows, nCols],
      nnz,
      chunk: nnz >= chunk ? chunk : undefined,
      valueDtype: reader.info.dtype === "bool" ? "bool" : dtype,
      indexDtype: "int32",
      indptrDtype: wide ? "int64" : "int32",
    });
    let written = 0;
    scatter.finish({
      elements(minor: Int32Array, values: TypedArray, n: number) {
        for (let s = 0; s < n; s += WRITE_PIECE) {
          const m = Math.min(WRITE_PIECE, n - s);
          out.writeElements(written, minor.subarray(s, s + m), values.subarray(s, s + m));
          written += m;
        }
        opts.onProgress?.({ phase: "writing", done: written, total: nnz, unit: "non-zeros" });
      },
      lineEnds(start: number, ends: Float64Array, n: number) {
        out.writeLineEnds(
          start,
          wide ? BigInt64Array.from(ends.subarray(0, n), (x) => BigInt(x)) : Int32Array.from(ends.subarray(0, n)),
        );
      },
    });
    return { nnz, spilledRuns: scatter.spilledRuns, inputPasses: 1, bufferElements: scatter.capacity };
  } finally {
    scatter.close();
  }
}
