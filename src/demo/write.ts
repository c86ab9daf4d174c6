/** Write a synthetic screen to an .h5ad file (CSR float32 counts), atomically. */
import { writeH5ad } from "../io/anndata/anndata.ts";
import type { SparseMatrix } from "../io/anndata/model.ts";
import { rowsForBudget, throwIfAborted, type StreamOptions } from "../core/streaming.ts";
import type { SyntheticScreen } from "./synthetic.ts";

/**
 * Generate the counts block by block (with progress) and write the file. The counts are assembled in
 * memory before writing (~8 bytes per stored count: 25 MB for the default demo).
 */
export function writeSyntheticScreen(path: string, screen: SyntheticScreen, opts: StreamOptions = {}): { nnz: number } {
  const { nObs, nVars } = screen;
  // A generated row is at most nVars entries of 8 bytes; blocks stay well within the budget.
  const rowsPerBlock = Math.min(rowsForBudget(nVars * 8, nObs, opts), 2048);
  const blocks: SparseMatrix[] = [];
  let nnz = 0;
  for (let start = 0; start < nObs; start += rowsPerBlock) {
    throwIfAborted(opts.signal);
    const end = Math.min(nObs, start + rowsPerBlock);
    const b = screen.rows(start, end);
    blocks.push(b);
    nnz += b.data.length;
    opts.onProgress?.({ phase: "generating counts", done: end, total: nObs, unit: "cells" });
  }
  const data = new Float32Array(nnz);
  const indices = new Int32Array(nnz);
  const Indptr = nnz > 0x7fffffff ? BigInt64Array : Int32Array;
  const indptr = new Indptr(nObs + 1);
  let row = 0;
  let at = 0;
  for (const b of blocks) {
    data.set(b.data as Float32Array, at);
    indices.set(b.indices as Int32Array, at);
    for (let i = 1; i <= b.shape[0]; i++) {
      const v = at + Number(b.indptr[i]);
      indptr[row + i] = (Indptr === BigInt64Array ? BigInt(v) : v) as never;
    }
    row += b.shape[0];
    at += b.data.length;
  }
  blocks.length = 0;
  writeH5ad(path, {
    X: { type: "csr", shape: [nObs, nVars], data, indices, indptr },
    obs: screen.obs,
    var: screen.var,
    uns: screen.uns,
    obsm: {}, varm: {}, obsp: {}, varp: {}, layers: {}, raw: null,
  });
  return { nnz };
}
