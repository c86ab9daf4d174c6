/**
 * The result .h5ad of a batched DE run (./batchedRun.ts), assembled from the checkpoint's parts
 * (./checkpoint.ts) into a temporary file renamed when complete. It holds the same datasets with the same
 * values as the .h5ad of an unbatched run (./output.ts writeDeH5ad; test/de/batched.test.ts compares them):
 * X and the layers are created at their full [perturbation × gene] shape and filled a batch of rows at a
 * time; the pts data frame a column per group; Scanpy's ranked tables as record arrays when they fit
 * (filled a block of ranks at a time from slices of every part) or a dataset per group otherwise.
 *
 * Cost model: memory is one part (one batch's arrays, what computing the batch held) or one block of
 * ranked records (~8 MB) and its slices; every part is read once whole, and once more in slices when
 * record arrays are written.
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
  columnOrderFits,
  deAnnData,
  perGroupNote,
  RANKED_COLUMNS,
  rankTables,
  rankedLayout,
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
  const warnings: string[] = [];
  const layout = rankedLayout(meta.groups, meta.rankedLayout);
  if (layout === "per-group") warnings.push(perGroupNote(G));
  const slotNames = [meta.controlLabel, ...meta.groups];
  const withPts = columnOrderFits(slotNames.length);
  if (!withPts)
    warnings.push(
      `${G} groups are too many for Scanpy's pts data frame (its column-order attribute would exceed HDF5's 64 KiB): the fractions are in layers['pts'] and uns['control_pts']`,
    );
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
      if (layout === "per-group") startPerGroupTables(file, BASE);
      const tables = layout === "records" ? rankTables(meta.groups, meta.genes) : [];
      for (const tab of tables) createRecArray(file, `${BASE}/${tab.key}`, tab.specs, n);

      for (const [k, [g0, g1]] of batches.entries()) {
        onProgress?.({ phase, done: g0, total: G, unit: "perturbations" });
        const part = checkpoint.readPart(k);
        const rows = g1 - g0;
        for (const m of matrices) {
          const src = part[m.key]!;
          // pts has the control's row first; the layer holds the groups' rows, as float32.
          const data =
            m.key === "pts" ? Float32Array.from(src.subarray(n)) : m.dtype === "float32" ? Float32Array.from(src) : src;
          file.write(m.path, [g0, 0], [rows, n], data);
        }
        if (withPts) {
          const pts = part.pts as Float64Array;
          for (let g = g0; g < g1; g++)
            writePtsColumn(file, `${BASE}/pts`, ptsKeys[g + 1]!, pts.subarray((g - g0 + 1) * n, (g - g0 + 2) * n));
        }
        if (layout === "per-group") writePerGroupParts(file, meta.genes, groupKeys, g0, g1, part);
      }
      if (tables.length) writeRecordTables(file, meta, checkpoint, batches, tables, onProgress);
      onProgress?.({ phase, done: G, total: G, unit: "perturbations" });
    } finally {
      file.close();
    }
  });
  return warnings;
}

/** The ranked tables of one batch's groups, a dataset per group (values ranked by the group's order). */
function writePerGroupParts(
  file: WriteStore,
  genes: string[],
  keys: string[],
  g0: number,
  g1: number,
  part: Record<string, Float64Array | Float32Array | Int32Array>,
): void {
  const n = genes.length;
  for (let g = g0; g < g1; g++) {
    const at = (g - g0) * n;
    const order = (part.orders as Int32Array).subarray(at, at + n);
    const ranked = (src: Float64Array | Float32Array, Out: Float32ArrayConstructor | Float64ArrayConstructor) => {
      const out = new Out(n);
      for (let r = 0; r < n; r++) out[r] = src[at + order[r]!]!;
      return out;
    };
    writePerGroupTables(file, BASE, keys[g]!, genes, {
      order,
      values: {
        scores: ranked(part.scores as Float64Array, Float32Array),
        pvals: ranked(part.pvals as Float64Array, Float64Array),
        pvalsAdj: ranked(part.pvalsAdj as Float64Array, Float64Array),
        logfoldchanges: ranked(part.logfoldchanges as Float32Array, Float32Array),
      },
    });
  }
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
      let padded: Uint8Array | null = null;
      if (tab.width !== undefined) {
        padded = new Uint8Array(n * tab.width);
        meta.genes.forEach((g, j) => {
          padded!.set(Buffer.from(g), j * tab.width!);
        });
      }
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
