/**
 * The result .h5ad of a batched DE run (./batchedRun.ts), assembled from the checkpoint's parts
 * (./checkpoint.ts) into a temporary file renamed when complete. It holds the same datasets with the same
 * values as the .h5ad of an unbatched run (./output.ts writeDeH5ad; test/de/batched.test.ts compares them):
 * X and the layers are created at their full [perturbation × gene] shape and filled a batch of rows at a
 * time; the pts data frame a column per group; Scanpy's ranked tables as record arrays when they fit
 * (filled a block of ranks at a time from slices of every part) or a dataset per group otherwise.
 *
 * Cost model: memory is a slab of rows (~8 MB per matrix) or one block of ranked records (~8 MB) and its
 * slices; every part is read once, and once more in slices when record arrays are written.
 */
import { closeSync } from "node:fs";
import { writeAtomically } from "../io/atomic.ts";
import { openWriteStore } from "../io/openStore.ts";
import type { WriteStore } from "../io/store.ts";
import { writeAnnDataTo } from "../io/anndata/anndata.ts";
import { stampEncoding } from "../io/anndata/registry.ts";
import { createRecArray } from "../io/anndata/encodings/recarray.ts";
import type { ProgressCallback } from "../core/streaming.ts";
import type { DeCheckpoint } from "./checkpoint.ts";
import { columnKeys } from "./labelKeys.ts";
import {
  namesWidth,
  deAnnData,
  RANKED_COLUMNS,
  rankTables,
  resultLayout,
  paddedNames,
  resultMatrices,
  startPerGroupTables,
  startPtsFrame,
  writePerGroupTables,
  writePtsColumn,
  type DeMeta,
  type RankTable,
} from "./output.ts";

const BASE = "/uns/rank_genes_groups";
/** Bytes of ranked records assembled at a time. */
const BLOCK_BYTES = 8 << 20;
/** Bytes of a matrix's rows written at a time. */
const SLAB_BYTES = 8 << 20;

/** Write the result .h5ad at `path` from the finished parts of `batches` ([g0, g1) each). Returns warnings. */
export async function writeBatchedH5ad(
  path: string,
  meta: DeMeta,
  checkpoint: DeCheckpoint,
  batches: readonly (readonly [number, number])[],
  onProgress?: ProgressCallback,
): Promise<string[]> {
  const G = meta.groups.length;
  const n = meta.genes.length;
  const { layout, withPts, warnings } = resultLayout(meta);
  const slotNames = [meta.controlLabel, ...meta.groups];
  const matrices = resultMatrices(meta);
  const phase = "writing results";
  await writeAtomically(path, async (tmp) => {
    const file = openWriteStore(tmp, "w");
    try {
      const first = checkpoint.openPart(0);
      let controlPts: Float64Array;
      try {
        controlPts = first.slice("pts", 0, n) as Float64Array;
      } finally {
        closeSync(first.fd);
      }
      writeAnnDataTo(file, deAnnData(meta, controlPts));
      for (const m of matrices) {
        file.createDataset(m.path, { dtype: m.dtype, shape: [G, n] });
        stampEncoding(file, m.path, "array");
      }
      const ptsKeys = withPts ? startPtsFrame(file, `${BASE}/pts`, meta.genes, slotNames) : [];
      if (withPts) writePtsColumn(file, `${BASE}/pts`, ptsKeys[0]!, controlPts);
      const groupKeys = columnKeys(meta.groups);
      const width = namesWidth(meta.genes);
      if (layout === "per-group") startPerGroupTables(file, BASE);
      const tables = layout === "records" ? rankTables(meta.groups, meta.genes) : [];
      for (const tab of tables) createRecArray(file, `${BASE}/${tab.key}`, tab.specs, n);

      for (const [k, [g0, g1]] of batches.entries()) {
        onProgress?.({ phase, done: g0, total: G, unit: "perturbations" });
        const part = checkpoint.openPart(k);
        try {
          // Rows in slabs of ~SLAB_BYTES: memory (ours and HDF5's heap) stays small whatever the batch.
          const slab = Math.max(1, Math.floor(SLAB_BYTES / (8 * Math.max(1, n))));
          for (let r0 = g0; r0 < g1; r0 += slab) {
            const r1 = Math.min(g1, r0 + slab);
            for (const m of matrices) {
              // pts has the control's row first: group g's row is row g - g0 + 1.
              const at = (r0 - g0 + (m.key === "pts" ? 1 : 0)) * n;
              const src = part.slice(m.key, at, (r1 - r0) * n);
              const data = m.dtype === "float32" && !(src instanceof Float32Array) ? Float32Array.from(src) : src;
              file.write(m.path, [r0, 0], [r1 - r0, n], data);
            }
          }
          for (let g = g0; g < g1; g++) {
            const row = (name: string, offset = 0) => part.slice(name, (g - g0 + offset) * n, n);
            if (withPts) writePtsColumn(file, `${BASE}/pts`, ptsKeys[g + 1]!, row("pts", 1) as Float64Array);
            if (layout === "per-group") writePerGroupRow(file, meta.genes, groupKeys[g]!, row, width);
          }
        } finally {
          closeSync(part.fd);
        }
      }
      if (tables.length) writeRecordTables(file, meta, checkpoint, batches, tables, onProgress);
      onProgress?.({ phase, done: G, total: G, unit: "perturbations" });
    } finally {
      file.close();
    }
  });
  return warnings;
}

/** One group's ranked tables, a dataset each (values ranked by the group's order); `row` reads its rows from the part. */
function writePerGroupRow(
  file: WriteStore,
  genes: string[],
  key: string,
  row: (name: string) => Float64Array | Float32Array | Int32Array,
  width: number,
): void {
  const n = genes.length;
  const order = row("orders") as Int32Array;
  const ranked = (name: string, Out: Float32ArrayConstructor | Float64ArrayConstructor) => {
    const src = row(name);
    const out = new Out(n);
    for (let r = 0; r < n; r++) out[r] = src[order[r]!]!;
    return out;
  };
  writePerGroupTables(
    file,
    BASE,
    key,
    genes,
    {
      order,
      values: {
        scores: ranked("scores", Float32Array),
        pvals: ranked("pvals", Float64Array),
        pvalsAdj: ranked("pvalsAdj", Float64Array),
        logfoldchanges: ranked("logfoldchanges", Float32Array),
      },
    },
    width,
  );
}

/**
 * Scanpy's record arrays ([rank × group] records) from the parts' ranked values ([group × rank] rows):
 * a block of ranks at a time, each group's slice read from its part.
 */
function writeRecordTables(
  file: WriteStore,
  meta: DeMeta,
  checkpoint: DeCheckpoint,
  batches: readonly (readonly [number, number])[],
  tables: RankTable[],
  onProgress?: ProgressCallback,
): void {
  const G = meta.groups.length;
  const n = meta.genes.length;
  const parts = batches.map((_, k) => checkpoint.openPart(k));
  try {
    for (const tab of tables) {
      const block = Math.max(1, Math.floor(BLOCK_BYTES / Math.max(1, tab.recordSize)));
      const column = RANKED_COLUMNS.find((c) => c.key === tab.key);
      const padded = tab.width !== undefined ? paddedNames(meta.genes, tab.width) : null;
      for (let r0 = 0; r0 < n; r0 += block) {
        const r1 = Math.min(n, r0 + block);
        const count = r1 - r0;
        const bytes = new Uint8Array(count * tab.recordSize);
        const floats =
          column?.dtype === "float32"
            ? new Float32Array(bytes.buffer)
            : column?.dtype === "float64"
              ? new Float64Array(bytes.buffer)
              : null;
        for (const [k, [g0, g1]] of batches.entries()) {
          for (let g = g0; g < g1; g++) {
            const from = (g - g0) * n + r0;
            if (padded) {
              const width = tab.width!;
              const order = parts[k]!.slice("orders", from, count) as Int32Array;
              for (let r = 0; r < count; r++) {
                const at = r * tab.recordSize + g * width;
                bytes.set(padded.subarray(order[r]! * width, (order[r]! + 1) * width), at);
              }
            } else {
              const vals = parts[k]!.slice(`ranked:${column!.source}`, from, count);
              for (let r = 0; r < count; r++) floats![r * G + g] = vals[r]!;
            }
          }
        }
        file.writeRecords(`${BASE}/${tab.key}`, r0, count, bytes);
        onProgress?.({ phase: `writing ranked ${tab.key}`, done: r1, total: n, unit: "genes" });
      }
    }
  } finally {
    for (const p of parts) closeSync(p.fd);
  }
}
