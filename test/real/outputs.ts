/** Reading back what crispyx wrote, through crispyx's own reader (anndata opens the same files separately). */
import { openH5ad } from "../../src/io/anndata/handle.ts";
import { iterMatrixChunks } from "../../src/ops/chunks.ts";
import type { Column } from "../../src/io/anndata/model.ts";
import { categoricalValues } from "../../src/io/anndata/encodings/categorical.ts";

export interface MatrixSummary {
  shape: [number, number];
  format: string;
  dtype: string;
  sum: number;
  /** For each row asked for: sum, stored non-zeros, and its non-zero (column, value) pairs in column order. */
  rows: Map<number, { sum: number; nnz: number; nonzeros: [number, number][] }>;
}

/** X's shape, storage, total and a few rows (read as CSR blocks whatever the storage). */
export function summarizeX(path: string, rows: number[]): MatrixSummary {
  const h = openH5ad(path);
  try {
    const info = h.X.info;
    const want = new Set(rows);
    const out: MatrixSummary = {
      shape: [h.nObs, h.nVars],
      format: info.format,
      dtype: String(info.dtype),
      sum: 0,
      rows: new Map(),
    };
    for (const { start, block } of iterMatrixChunks(h, { dense: false, layout: "csr", chunkSize: 256 })) {
      if (block.type === "array") throw new Error("expected a sparse block");
      const { data, indices, indptr } = block;
      for (let r = 0; r + 1 < indptr.length; r++) {
        let s = 0;
        const nz: [number, number][] = [];
        for (let k = Number(indptr[r]); k < Number(indptr[r + 1]); k++) {
          const v = Number(data[k]);
          s += v;
          if (want.has(start + r) && v !== 0) nz.push([Number(indices[k]), v]);
        }
        out.sum += s;
        if (want.has(start + r)) {
          nz.sort((a, b) => a[0] - b[0]);
          out.rows.set(start + r, { sum: s, nnz: nz.length, nonzeros: nz });
        }
      }
    }
    return out;
  } finally {
    h.close();
  }
}

/** An obs column as labels (categoricals decoded, missing as null), with its categories if categorical. */
export function obsColumn(path: string, name: string): { values: (string | null)[]; categories: string[] | null } {
  const h = openH5ad(path);
  try {
    const col: Column = h.obs.column(name);
    if (col.type === "categorical") {
      return {
        values: categoricalValues(col),
        categories: Array.from(col.categories.data as ArrayLike<unknown>, String),
      };
    }
    if (col.type === "array")
      return { values: Array.from(col.data as ArrayLike<unknown>, (v) => String(v)), categories: null };
    const vals = Array.from(col.values.data as ArrayLike<unknown>, (v) => String(v));
    return { values: vals.map((v, i) => (col.mask[i] ? null : v)), categories: null };
  } finally {
    h.close();
  }
}

/** The length of uns[key] when it is a 1-d array, else null (absent or another kind). */
export function unsArrayLength(path: string, key: string): number | null {
  const h = openH5ad(path);
  try {
    if (!h.uns.has(key)) return null;
    const e = h.uns.get(key);
    return e.type === "array" && e.shape.length === 1 ? e.shape[0]! : null;
  } finally {
    h.close();
  }
}

export function shapeOf(path: string): [number, number] {
  const h = openH5ad(path);
  try {
    return [h.nObs, h.nVars];
  } finally {
    h.close();
  }
}
