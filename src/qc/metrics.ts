/**
 * The matrix passes of QC: per-cell metrics and per-gene detection counts, streamed over X in blocks
 * of rows so memory does not grow with the number of cells beyond a few numbers per cell.
 *
 * "Detected" follows the seed: a gene counts as detected in a cell when X stores an entry for it
 * (scipy's getnnz for sparse X, count_nonzero for dense X). The Scanpy metrics follow Scanpy's
 * calculate_qc_metrics: n_genes_by_counts counts values > 0, total_counts sums the row, pct_counts_mt is
 * 100 × counts in mitochondrial genes / total_counts (NaN for a cell without counts).
 */
import { InvalidArgumentError } from "../errors.ts";
import type { MatrixReader } from "../io/anndata/matrixReader.ts";
import type { SparseMatrix } from "../io/anndata/model.ts";
import { selectionWindows } from "../io/anndata/carryOver.ts";
import { num } from "../core/sparse.ts";
import { rowsForBudget, throwIfAborted, type StreamOptions } from "../core/streaming.ts";
import { iterMatrixChunks } from "../ops/chunks.ts";
import { yieldToEventLoop } from "../ops/operatorIO.ts";

export interface CellQcMetrics {
  /** Genes with a stored entry per cell (the seed's genes-per-cell, used by the min-genes filter). */
  detectedGenes: Int32Array;
  /** Scanpy's n_genes_by_counts: genes with a count > 0. */
  nGenesByCounts: Int32Array;
  /** Scanpy's total_counts. */
  totalCounts: Float64Array;
  /** Scanpy's pct_counts_mt (NaN when total_counts is 0). */
  pctCountsMt: Float64Array;
}

export interface MetricPassResult {
  cells: CellQcMetrics;
  /** Per gene: cells with a stored entry for it, among the cells with at least `minGenes` detected genes. */
  cellsPerGene: Float64Array;
}

/** Rows per block so a CSR block of X (plus its dense source, if X is dense) fits the budget share. */
export function qcChunkSize(x: MatrixReader, opts: StreamOptions): number {
  const [nObs, nVars] = x.shape;
  const bytes = x.info.dtype === "float64" || x.info.dtype === "int64" || x.info.dtype === "uint64" ? 8 : 4;
  const perRow = x.format === "dense" ? nVars * (bytes + 8) : (x.info.nnz / Math.max(1, nObs)) * (bytes + 4) * 2 + 16;
  return rowsForBudget(perRow, nObs, opts);
}

function badValue(file: string, cellNames: (i: number) => string, i: number, j: number, v: number): never {
  const what = Number.isNaN(v) ? "NaN" : v < 0 ? `a negative value (${v})` : `an infinite value (${v})`;
  throw new InvalidArgumentError(
    `X holds ${what} at cell ${i} ('${cellNames(i)}'), gene ${j}; QC needs non-negative counts`,
    {
      file,
      hint: "run QC on the raw counts (not on normalized, scaled or log-transformed values)",
    },
  );
}

/**
 * Pass 1: metrics for every cell, and per gene the cells detecting it among those that pass the
 * min-genes filter (a row's detected genes are known before its entries are read, so the cells the
 * first filter drops never enter the gene counts). Throws (naming the file, cell and gene) at the first
 * negative, NaN or infinite value, before anything is written.
 */
export async function computeQcMetrics(
  x: MatrixReader,
  isMt: Uint8Array,
  minGenes: number,
  file: string,
  cellName: (i: number) => string,
  opts: StreamOptions & { chunkSize: number },
): Promise<MetricPassResult> {
  const [nObs, nVars] = x.shape;
  const detectedGenes = new Int32Array(nObs);
  const nGenesByCounts = new Int32Array(nObs);
  const totalCounts = new Float64Array(nObs);
  const pctCountsMt = new Float64Array(nObs);
  const cellsPerGene = new Float64Array(nVars);
  for (const { start, block } of iterMatrixChunks(x, {
    axis: 0,
    chunkSize: opts.chunkSize,
    dense: false,
    layout: "csr",
    memoryBudget: opts.memoryBudget,
  })) {
    throwIfAborted(opts.signal);
    const b = block as SparseMatrix;
    const rows = b.shape[0];
    const data = b.data,
      indices = b.indices,
      indptr = b.indptr;
    for (let r = 0; r < rows; r++) {
      const lo = num(indptr, r),
        hi = num(indptr, r + 1);
      const i = start + r;
      let total = 0,
        mt = 0,
        positive = 0;
      const countGenes = hi - lo >= minGenes ? 1 : 0;
      for (let k = lo; k < hi; k++) {
        const v = Number(data[k]);
        const j = indices[k] as number;
        if (!(v >= 0) || v === Infinity) badValue(file, cellName, i, j, v);
        total += v;
        if (isMt[j]) mt += v;
        if (v > 0) positive++;
        cellsPerGene[j]! += countGenes;
      }
      detectedGenes[i] = hi - lo;
      nGenesByCounts[i] = positive;
      totalCounts[i] = total;
      pctCountsMt[i] = (100 * mt) / total; // 0/0 = NaN, as numpy gives Scanpy
    }
    opts.onProgress?.({ phase: "QC metrics", done: start + rows, total: nObs, unit: "cells" });
    await yieldToEventLoop();
  }
  return { cells: { detectedGenes, nGenesByCounts, totalCounts, pctCountsMt }, cellsPerGene };
}

/**
 * Pass 2: add `sign` × the detections of the cells in `removed` (sorted positions) to `cellsPerGene`.
 * Row-major storage reads only the windows holding those cells; CSC is read in bands.
 */
export async function adjustDetections(
  x: MatrixReader,
  removed: Int32Array,
  cellsPerGene: Float64Array,
  sign: 1 | -1,
  opts: StreamOptions & { chunkSize: number },
): Promise<void> {
  if (removed.length === 0) return;
  const nObs = x.shape[0];
  let done = 0;
  const subtract = (b: SparseMatrix, rowsInBlock: Iterable<number>) => {
    for (const r of rowsInBlock) {
      const lo = num(b.indptr, r),
        hi = num(b.indptr, r + 1);
      for (let k = lo; k < hi; k++) cellsPerGene[b.indices[k] as number]! += sign;
      done++;
    }
  };
  if (x.format !== "csc") {
    for (const { lo, hi, keep } of selectionWindows(removed, nObs, opts.chunkSize)) {
      throwIfAborted(opts.signal);
      subtract(x.rows(lo, hi, "csr") as SparseMatrix, keep ?? []);
      opts.onProgress?.({ phase: "gene counts", done, total: removed.length, unit: "cells" });
      await yieldToEventLoop();
    }
    return;
  }
  const isRemoved = new Uint8Array(nObs);
  for (const i of removed) isRemoved[i] = 1;
  for (const { start, end, block } of iterMatrixChunks(x, {
    axis: 0,
    chunkSize: opts.chunkSize,
    dense: false,
    layout: "csr",
    memoryBudget: opts.memoryBudget,
  })) {
    throwIfAborted(opts.signal);
    const rows: number[] = [];
    for (let i = start; i < end; i++) if (isRemoved[i]) rows.push(i - start);
    subtract(block as SparseMatrix, rows);
    opts.onProgress?.({ phase: "gene counts", done, total: removed.length, unit: "cells" });
    await yieldToEventLoop();
  }
}
