/**
 * Write a synthetic screen to an .h5ad file, streaming: counts are generated and appended block by
 * block (CSR float32), so memory stays bounded whatever the number of cells. Atomic: the file
 * appears under its name only when complete.
 */
import { openWriteStore } from "../io/openStore.ts";
import type { WriteStore } from "../io/store.ts";
import { writeAtomically } from "../io/atomic.ts";
import { createEncodedGroup, stampEncoding, writeElem } from "../io/anndata/registry.ts";
import { MAPPING_KEYS } from "../io/anndata/anndata.ts";
import { SparseMatrixWriter } from "../io/anndata/matrixWriter.ts";
import { rowsForBudget, throwIfAborted, type StreamOptions } from "../core/streaming.ts";
import type { SyntheticScreen } from "./synthetic.ts";

function emptyDict(f: WriteStore, path: string): void {
  createEncodedGroup(f, path, "dict");
}

/** Let the event loop run (Ctrl-C handlers, timers) between blocks of synchronous HDF5 work. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function writeSyntheticScreen(
  path: string,
  screen: SyntheticScreen,
  opts: StreamOptions = {},
): Promise<{ nnz: number }> {
  const { nObs, nVars } = screen;
  // A generated row holds at most nVars entries of 8 bytes (count + index), plus the dense means.
  const rowsPerBlock = Math.min(rowsForBudget(nVars * 8, nObs, opts), 4096);
  return writeAtomically(path, async (tmp) => {
    const f = openWriteStore(tmp, "w");
    try {
      stampEncoding(f, "/", "anndata");
      writeElem(f, "/obs", screen.obs);
      writeElem(f, "/var", screen.var);
      for (const key of MAPPING_KEYS) emptyDict(f, `/${key}`);
      emptyDict(f, "/uns");
      for (const [k, v] of Object.entries(screen.uns)) writeElem(f, `/uns/${k}`, v);

      // int32 indptr (as scipy writes) unless the matrix could hold more than 2^31 - 1 entries.
      const x = SparseMatrixWriter.create(f, "/X", {
        format: "csr",
        shape: [nObs, nVars],
        dtype: "float32",
        maxNnz: nObs * nVars,
      });
      for (let start = 0; start < nObs; start += rowsPerBlock) {
        throwIfAborted(opts.signal);
        const end = Math.min(nObs, start + rowsPerBlock);
        const b = screen.rows(start, end);
        x.appendParts(b.indptr, b.indices, b.data);
        opts.onProgress?.({ phase: "generating counts", done: end, total: nObs, unit: "cells" });
        await yieldToEventLoop();
      }
      const { nnz } = x.finish();
      return { nnz };
    } finally {
      f.close();
    }
  });
}
