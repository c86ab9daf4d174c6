/**
 * Write a synthetic screen to an .h5ad file, streaming: counts are generated and appended block by
 * block (CSR float32), so memory stays bounded whatever the number of cells. Atomic: the file
 * appears under its name only when complete.
 */
import { H5File } from "../io/h5/file.ts";
import { writeAtomically } from "../io/atomic.ts";
import { writeElem } from "../io/anndata/registry.ts";
import { MAPPING_KEYS } from "../io/anndata/anndata.ts";
import { rowsForBudget, throwIfAborted, type StreamOptions } from "../core/streaming.ts";
import type { SyntheticScreen } from "./synthetic.ts";

/** Elements per HDF5 chunk of X's data/indices (1 MiB of float32). */
const CHUNK = 1 << 18;

function emptyDict(f: H5File, path: string): void {
  f.createGroup(path);
  f.setAttr(path, "encoding-type", "dict");
  f.setAttr(path, "encoding-version", "0.1.0");
}

/** Let the event loop run (Ctrl-C handlers, timers) between blocks of synchronous HDF5 work. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function writeSyntheticScreen(path: string, screen: SyntheticScreen, opts: StreamOptions = {}): Promise<{ nnz: number }> {
  const { nObs, nVars } = screen;
  // A generated row holds at most nVars entries of 8 bytes (count + index), plus the dense means.
  const rowsPerBlock = Math.min(rowsForBudget(nVars * 8, nObs, opts), 4096);
  // int32 indptr (as scipy writes) unless the matrix could hold more than 2^31 - 1 entries.
  const wideIndptr = nObs * nVars > 0x7fffffff;
  return writeAtomically(path, async (tmp) => {
    const f = H5File.open(tmp, "w");
    try {
      f.setAttr("/", "encoding-type", "anndata");
      f.setAttr("/", "encoding-version", "0.1.0");
      writeElem(f, "/obs", screen.obs);
      writeElem(f, "/var", screen.var);
      for (const key of MAPPING_KEYS) emptyDict(f, `/${key}`);
      emptyDict(f, "/uns");
      for (const [k, v] of Object.entries(screen.uns)) writeElem(f, `/uns/${k}`, v);

      f.createGroup("/X");
      f.setAttr("/X", "encoding-type", "csr_matrix");
      f.setAttr("/X", "encoding-version", "0.1.0");
      f.setAttr("/X", "shape", BigInt64Array.from([nObs, nVars], BigInt));
      f.createDataset("/X/data", { dtype: "float32", shape: [0], maxshape: [null], chunks: [CHUNK] });
      f.createDataset("/X/indices", { dtype: "int32", shape: [0], maxshape: [null], chunks: [CHUNK] });
      f.createDataset("/X/indptr", { dtype: wideIndptr ? "int64" : "int32", shape: [nObs + 1], chunks: [Math.min(CHUNK, nObs + 1)] });

      let nnz = 0;
      for (let start = 0; start < nObs; start += rowsPerBlock) {
        throwIfAborted(opts.signal);
        const end = Math.min(nObs, start + rowsPerBlock);
        const b = screen.rows(start, end);
        const k = b.data.length;
        if (k > 0) {
          f.resize("/X/data", [nnz + k]);
          f.resize("/X/indices", [nnz + k]);
          f.write("/X/data", [nnz], [k], b.data);
          f.write("/X/indices", [nnz], [k], b.indices);
        }
        // indptr entries start+1 … end (entry 0 stays 0), shifted by the counts written before.
        const m = end - start;
        const ptr = wideIndptr ? new BigInt64Array(m) : new Int32Array(m);
        for (let i = 0; i < m; i++) {
          const v = nnz + b.indptr[i + 1]!;
          if (wideIndptr) (ptr as BigInt64Array)[i] = BigInt(v);
          else (ptr as Int32Array)[i] = v;
        }
        f.write("/X/indptr", [start + 1], [m], ptr);
        nnz += k;
        opts.onProgress?.({ phase: "generating counts", done: end, total: nObs, unit: "cells" });
        await yieldToEventLoop();
      }
      return { nnz };
    } finally {
      f.close();
    }
  });
}
