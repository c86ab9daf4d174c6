/**
 * Writing DE results: the .h5ad (one row per tested perturbation, one column per gene; Scanpy's
 * `uns['rank_genes_groups']`) and the tidy CSV. Both are written to a temporary file and renamed when
 * complete.
 */
import { endianness } from "node:os";
import { DirectArrays } from "../io/anndata/directArrays.ts";
import { ArrayPool } from "../core/arrayPool.ts";
import type { ProgressCallback } from "../core/streaming.ts";
import { openWriteStore } from "../io/openStore.ts";
import type { WriteStore } from "../io/store.ts";
import { writeAtomically } from "../io/atomic.ts";
import { writeAnnDataTo } from "../io/anndata/anndata.ts";
import { createEncodedGroup, stampEncoding, writeElem } from "../io/anndata/registry.ts";
import type { AnnData, Column, Element } from "../io/anndata/model.ts";
import { dataframe, dict, ndarray, scalar, strings } from "../io/anndata/model.ts";
import { createRecArray, type RecFieldSpec } from "../io/anndata/encodings/recarray.ts";
import type { SkippedGroup } from "./groups.ts";
import { columnKeys, escapeLabel, fieldNames } from "./labelKeys.ts";
import type { DeResults } from "./finishGroups.ts";
import { deMethod } from "./methods/registry.ts";
import { SCANPY_COLUMNS, type DeColumn, type DeExtraColumn } from "./methods/columns.ts";
import { ioSettings } from "../io/directIO.ts";

/**
 * Everything a result file holds: the computed arrays (DeResults: [group × gene] row-major, pts per slot
 * with slot 0 the control, each group's gene order and ranked values) and what they describe.
 */
export interface DeTables extends DeResults {
  /** The method's name (Scanpy's params.method; its registry entry gives what `uns['method']` says). */
  method: string;
  /** The method's entries of `rank_genes_groups['params']` after Scanpy's (Wilcoxon: tie_correct). */
  params?: Record<string, string | number | boolean>;
  /** The method's columns beyond Scanpy's, in `extra` (none when absent). */
  extraColumns?: readonly DeExtraColumn[];
  /** The ranked tables' layout asked for (default: record arrays when they fit). */
  rankedLayout?: RankedLayout;
  perturbationColumn: string;
  controlLabel: string;
  groups: string[];
  genes: string[];
  sizes: Int32Array;
  tieCorrect: boolean;
  skipped: SkippedGroup[];
}

/** HDF5 keeps a datatype in one header message (< 64 KiB); a compound type with too many fields cannot be stored. */
export function recordTypeFits(fieldNames: string[], bytesPerField = 8): boolean {
  let size = 64;
  for (const n of fieldNames) size += Math.ceil((Buffer.byteLength(n) + 1) / 8) * 8 + 4 + 24 + bytesPerField * 0;
  return size < 60_000;
}

/**
 * Whether a data frame's `column-order` of `n` names fits its attribute: with h5py's (earliest) format an
 * attribute lives in one header message (< 64 KiB), 16 bytes per variable-length string; ~4,000 columns.
 */
export function columnOrderFits(n: number): boolean {
  return 16 * n + 1024 < 65_535;
}

/**
 * Scanpy's `pts` data frame (genes × [control, groups...]), written here rather than through the generic
 * data-frame writer because its column keys follow labelKeys.ts: a label with '/' is a nested path.
 * Started with its index, then filled a column (slot) at a time: the batched assembly writes each batch's.
 */
export function startPtsFrame(file: WriteStore, path: string, genes: string[], labels: string[]): string[] {
  const keys = columnKeys(labels);
  createEncodedGroup(file, path, "dataframe");
  file.setAttr(path, "_index", "_index");
  file.setAttr(path, "column-order", keys.length ? keys : new Float64Array(0));
  writeElem(file, `${path}/_index`, strings(genes));
  return keys;
}

/** One slot's column of the pts data frame (`key` from startPtsFrame). */
export function writePtsColumn(file: WriteStore, path: string, key: string, values: Float64Array): void {
  const at = `${path}/${key}`;
  file.ensureGroup(at.slice(0, at.lastIndexOf("/")));
  writeElem(file, at, ndarray(values));
}

function writePtsFrame(
  file: WriteStore,
  path: string,
  genes: string[],
  labels: string[],
  pts: Float32Array | Float64Array,
): void {
  const n = genes.length;
  startPtsFrame(file, path, genes, labels).forEach((key, s) => {
    writePtsColumn(file, path, key, pts.subarray(s * n, (s + 1) * n) as Float64Array);
  });
}

/** What a result file says beside its arrays: DeTables without the computed arrays. */
export type DeMeta = Omit<DeTables, keyof DeResults>;

/** Where Scanpy's ranked tables go, as the number of groups allows (HDF5 keeps a datatype under 64 KiB). */
export type RankedLayout = "records" | "per-group";

/** The layout of the ranked tables: `asked` when given and possible (record arrays only when they fit), else what fits. */
export function rankedLayout(groups: string[], asked?: RankedLayout): RankedLayout {
  return asked === "per-group" || !recordTypeFits(groups) ? "per-group" : "records";
}

/**
 * What a result file of these groups can hold, for both writers (writeDeH5ad, ./batchedOutput.ts): the ranked
 * tables' layout, whether the pts data frame fits its column-order attribute, and what to tell the user.
 */
export function resultLayout(t: DeMeta): { layout: RankedLayout; withPts: boolean; warnings: string[] } {
  const G = t.groups.length;
  const layout = rankedLayout(t.groups, t.rankedLayout);
  const withPts = columnOrderFits(G + 1);
  const warnings: string[] = [];
  if (layout === "per-group") warnings.push(perGroupNote(G));
  if (!withPts)
    warnings.push(
      `${G} groups are too many for Scanpy's pts data frame (its column-order attribute would exceed HDF5's 64 KiB): the fractions are in layers['pts'] and uns['control_pts']`,
    );
  return { layout, withPts, warnings };
}

/** Each gene's name once as a zero-padded field of `width` bytes (fixed-length string records and datasets). */
export function paddedNames(genes: string[], width: number): Uint8Array {
  const padded = new Uint8Array(genes.length * width);
  genes.forEach((g, j) => {
    padded.set(Buffer.from(g), j * width);
  });
  return padded;
}

/**
 * The result file's AnnData without its large arrays (X and the layers, added by the caller): obs (the
 * tested perturbations and their cell counts), var (the genes) and uns (Scanpy's params, the run's
 * description, the control's detection fractions `controlPts`, the skipped groups).
 */
export function deAnnData(t: DeMeta, controlPts: Float64Array): AnnData {
  const rgg: Record<string, Element> = {
    params: dict({
      groupby: scalar(t.perturbationColumn),
      reference: scalar(t.controlLabel),
      method: scalar(t.method),
      use_raw: scalar(false),
      corr_method: scalar("benjamini-hochberg"),
      ...Object.fromEntries(Object.entries(t.params ?? {}).map(([k, v]) => [k, scalar(v)])),
    }),
  };
  const obsColumns: Record<string, Column> = { n_cells: ndarray(Int32Array.from(t.sizes.subarray(1))) };
  // The column is named after the input's; the generic data-frame writer makes no nested paths, so a name
  // with '/' gets its escaped key (./labelKeys.ts).
  const pertKey = columnKeys([t.perturbationColumn])[0]!;
  if (pertKey !== "n_cells") obsColumns[pertKey.includes("/") ? escapeLabel(pertKey) : pertKey] = strings(t.groups);
  return {
    X: null,
    obs: dataframe(t.groups, obsColumns),
    var: dataframe(t.genes),
    layers: {},
    uns: {
      rank_genes_groups: dict(rgg),
      method: scalar(deMethod(t.method).storedName),
      control_label: scalar(t.controlLabel),
      perturbation_column: scalar(t.perturbationColumn),
      pvalue_correction: scalar("benjamini-hochberg"),
      control_pts: ndarray(controlPts),
      skipped_groups: dict({
        group: strings(t.skipped.map((s) => s.group)),
        cells: ndarray(Int32Array.from(t.skipped.map((s) => s.cells))),
        reason: strings(t.skipped.map((s) => s.reason)),
      }),
    },
    obsm: {},
    varm: {},
    obsp: {},
    varp: {},
    raw: null,
  };
}

/** The [perturbation × gene] matrices of a result file, X first: [path, source, stored type]. */
export function resultMatrices(t: DeMeta): { path: string; key: string; dtype: "float32" | "float64" }[] {
  const x = SCANPY_COLUMNS.find((c) => c.layer === "X")!;
  const typeOf = (c: DeColumn): "float32" | "float64" =>
    c.source === "pts" || c.source === "logfoldchanges" ? "float32" : "float64";
  return [
    { path: "/X", key: x.source, dtype: typeOf(x) },
    ...SCANPY_COLUMNS.filter((c) => c.layer !== "X").map((c) => ({
      path: `/layers/${c.layer}`,
      key: c.source as string,
      dtype: typeOf(c),
    })),
    ...(t.extraColumns ?? []).map((c) => ({
      path: `/layers/${c.key}`,
      key: `extra:${c.key}`,
      dtype: "float64" as const,
    })),
  ];
}

/** The ranked tables' keys and stored types, after `names` (Scanpy's: scores, pvals, pvals_adj, logfoldchanges). */
export const RANKED_COLUMNS = SCANPY_COLUMNS.filter((c) => c.ranked !== null && c.source !== "pts").map((c) => ({
  key: c.key,
  source: c.source as keyof DeResults["ranked"],
  dtype: c.ranked!,
}));

/**
 * Scanpy's ranked tables when there are too many groups for record arrays: one dict per table
 * (`names`, `scores`, …) holding a dataset per group, in rank order — `adata.uns['rank_genes_groups'][table][group]`
 * reads as with the record arrays, and Scanpy's `rank_genes_groups_df` works on it. Started once, then
 * written a group at a time (rankedForGroup gives one group's values).
 */
export function startPerGroupTables(file: WriteStore, base: string): void {
  for (const key of ["names", ...RANKED_COLUMNS.map((c) => c.key)]) createEncodedGroup(file, `${base}/${key}`, "dict");
}

/** One group's ranked values, in rank order. */
export interface RankedGroup {
  order: Int32Array;
  values: Record<keyof DeResults["ranked"], Float32Array | Float64Array>;
}

export function writePerGroupTables(
  file: WriteStore,
  base: string,
  key: string,
  genes: string[],
  g: RankedGroup,
  width = namesWidth(genes),
): void {
  const at = (table: string) => {
    const path = `${base}/${table}/${key}`;
    file.ensureGroup(path.slice(0, path.lastIndexOf("/")));
    return path;
  };
  // Fixed-length UTF-8 strings: anndata reads them as str like variable-length ones, at a fifth of the bytes
  // and a third of the time (10⁴ perturbations × 2·10⁴ genes: ~2 GB instead of ~9).
  const names = at("names");
  file.createDataset(names, {
    dtype: `fixed-string:${width}`,
    shape: [g.order.length],
    data: Array.from(g.order, (j) => genes[j]!),
  });
  stampEncoding(file, names, "string-array");
  for (const c of RANKED_COLUMNS) writeElem(file, at(c.key), ndarray(g.values[c.source]));
}

/** Bytes of the longest gene name (the width of the per-group names datasets). */
export function namesWidth(genes: string[]): number {
  let width = 1;
  for (const name of genes) width = Math.max(width, Buffer.byteLength(name));
  return width;
}

/**
 * Write the result .h5ad. Returns warnings (e.g. when there are too many groups for Scanpy's record
 * arrays, which HDF5 cannot store; the layers and the CSV still hold everything). `ready` settles when
 * the per-group arrays are complete: the rest of the file (which needs only `t.pts` and the names) is
 * written before that, while worker threads are still finishing the groups.
 */
export async function writeDeH5ad(
  path: string,
  t: DeTables,
  ready: Promise<void> = Promise.resolve(),
  onProgress?: ProgressCallback,
): Promise<string[]> {
  const G = t.groups.length;
  const n = t.genes.length;
  const warnings: string[] = [];
  const slotNames = [t.controlLabel, ...t.groups];
  // Large arrays go straight into the file after HDF5 has written the rest (../io/anndata/directArrays.ts):
  // HDF5 writes one-element placeholders for them.
  const direct = ioSettings.directIO && G * n > 0 && endianness() === "LE";
  const ptsLayer = Float32Array.from(t.pts.subarray(n));
  // X and the layers as the columns declare them (./methods/columns.ts): X first, then the layers in order, then the method's extras.
  const arrayOf = (c: DeColumn): Float32Array | Float64Array => (c.source === "pts" ? ptsLayer : t[c.source]);
  const layerColumns = SCANPY_COLUMNS.filter((c) => c.layer !== "X");
  const extras = t.extraColumns ?? [];
  const layerEntries: [string, Float32Array | Float64Array][] = [
    ...layerColumns.map((c): [string, Float32Array | Float64Array] => [c.layer, arrayOf(c)]),
    ...extras.map((c): [string, Float32Array | Float64Array] => [c.key, t.extra![c.key]!]),
  ];
  const matrices: [string, Float32Array | Float64Array][] = [
    ["/X", arrayOf(SCANPY_COLUMNS.find((c) => c.layer === "X")!)],
    ...layerEntries.map(([k, a]): [string, Float32Array | Float64Array] => [`/layers/${k}`, a]),
  ];
  const layer = (a: Float32Array | Float64Array) => ndarray(a, [G, n]);
  const ad = deAnnData(t, t.pts.slice(0, n));
  if (!direct) {
    ad.X = layer(t.logfoldchanges);
    ad.layers = Object.fromEntries(layerEntries.map(([k, a]) => [k, layer(a)]));
  }
  const base = "/uns/rank_genes_groups";
  const planned = resultLayout(t);
  const perGroup = planned.layout === "per-group";
  const tables = perGroup ? [] : rankTables(t.groups, t.genes, t.ranked);
  const withPts = planned.withPts;
  warnings.push(...planned.warnings);
  // Progress of the library route (the direct route reports its own, piece by piece): layers, then ranked records.
  const MB = 2 ** 20;
  const totalBytes =
    matrices.reduce((s, [, a]) => s + a.byteLength, 0) + tables.reduce((s, tab) => s + n * tab.recordSize, 0);
  const reportWritten = (bytes: number) =>
    onProgress?.({ phase: "writing results", done: bytes / MB, total: totalBytes / MB, unit: "MB" });
  await writeAtomically(path, async (tmp) => {
    if (!direct) await ready;
    const file = openWriteStore(tmp, "w");
    try {
      // After the open, as on the direct route: the first 'writing results' event finds the temporary output there.
      if (!direct) reportWritten(0);
      writeAnnDataTo(file, ad);
      if (withPts) writePtsFrame(file, `${base}/pts`, t.genes, slotNames, t.pts);
      if (perGroup) {
        await ready;
        writeRankedPerGroup(file, base, t);
      }
      // One-element placeholders of the right type and rank, pointed at their data below.
      if (direct)
        for (const [p, a] of matrices)
          writeElem(file, p, ndarray(new (a.constructor as Float64ArrayConstructor)(1), [1, 1]));
      for (const tab of tables)
        createRecArray(file, `${base}/${tab.key}`, tab.specs, direct ? 1 : n, direct ? "contiguous" : undefined);
      if (!direct) {
        let written = matrices.reduce((s, [, a]) => s + a.byteLength, 0);
        reportWritten(written);
        const pool = new ArrayPool();
        for (const b of rankTableBlocks(t, tables, pool)) {
          file.writeRecords(`${base}/${b.key}`, b.r0, b.count, b.bytes);
          written += b.bytes.byteLength;
          reportWritten(written);
          pool.give(b.bytes);
        }
        reportWritten(totalBytes);
      }
    } finally {
      file.close();
    }
    await ready;
    if (direct) {
      const layers = matrices.map(([p, a]) => ({
        path: p,
        bytes: new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
        elemSize: a.BYTES_PER_ELEMENT,
      }));
      await writeDirect(tmp, t, tables, layers, onProgress);
    }
  });
  return warnings;
}

/** What the CLI and API say when the ranked tables are written a dataset per group. */
export function perGroupNote(G: number): string {
  return `${G} groups are too many for Scanpy's record arrays (HDF5 limits a datatype to 64 KiB): the ranked tables are written a dataset per group (uns['rank_genes_groups']['names'][group], …; rank_genes_groups_df reads them)`;
}

/** Every group's ranked tables from in-memory results (the per-group layout). */
function writeRankedPerGroup(file: WriteStore, base: string, t: DeTables): void {
  const n = t.genes.length;
  const keys = columnKeys(t.groups);
  const width = namesWidth(t.genes);
  startPerGroupTables(file, base);
  for (let g = 0; g < t.groups.length; g++) {
    const at = (a: Float32Array | Float64Array) => a.subarray(g * n, (g + 1) * n);
    const r = t.ranked;
    writePerGroupTables(
      file,
      base,
      keys[g]!,
      t.genes,
      {
        order: t.orders.subarray(g * n, (g + 1) * n),
        values: {
          scores: at(r.scores),
          pvals: at(r.pvals),
          pvalsAdj: at(r.pvalsAdj),
          logfoldchanges: at(r.logfoldchanges),
        },
      },
      width,
    );
  }
}

/** Bytes of ranked-table blocks allowed to wait for the writer (bounds the memory of the overlap). */
const QUEUED_BLOCKS_MAX = 32 << 20;
/** Layer bytes handed to the writer at a time, between record blocks. */
const LAYER_PIECE = 16 << 20;

/**
 * The large arrays and the ranked tables, straight into the closed file (DirectArrays). Writes run on
 * libuv's thread while this thread makes the next block of ranked records: the kernel's copy into the
 * page cache (~1–1.4 s for 600 MB here) and making the blocks overlap instead of adding up. Pieces of
 * the layers, already in memory, fill the writer's queue between blocks so it never waits.
 */
async function writeDirect(
  tmp: string,
  t: DeTables,
  tables: RankTable[],
  layers: { path: string; bytes: Uint8Array; elemSize: number }[],
  onProgress?: ProgressCallback,
): Promise<void> {
  const G = t.groups.length;
  const n = t.genes.length;
  const MB = 2 ** 20;
  let total = 0;
  for (const l of layers) total += l.bytes.byteLength;
  for (const tab of tables) total += n * tab.recordSize;
  let written = 0;
  const report = () => onProgress?.({ phase: "writing results", done: written / MB, total: total / MB, unit: "MB" });
  const base = "/uns/rank_genes_groups";
  const d = DirectArrays.open(tmp);
  try {
    const pieces: { id: number; offset: number; bytes: Uint8Array }[] = [];
    for (const l of layers) {
      const id = d.add(l.path, [G, n], l.elemSize);
      for (let o = 0; o < l.bytes.byteLength; o += LAYER_PIECE)
        pieces.push({ id, offset: o, bytes: l.bytes.subarray(o, o + LAYER_PIECE) });
    }
    const regions = new Map(
      tables.map((tab) => [
        tab.key,
        { id: d.add(`${base}/${tab.key}`, [n], tab.recordSize), recordSize: tab.recordSize },
      ]),
    );
    let writerQueue = 0; // bytes queued on the writer and not yet written
    let blocksQueued = 0; // of which ranked-table blocks (memory held only for the write)
    const waiting: Promise<void>[] = [];
    const blockWrites: Promise<void>[] = []; // the blocks' writes, oldest first
    const blocks = new ArrayPool(); // the blocks' buffers, recycled once written
    const queue = (id: number, offset: number, bytes: Uint8Array, isBlock: boolean): Promise<void> => {
      writerQueue += bytes.byteLength;
      if (isBlock) blocksQueued += bytes.byteLength;
      const w = d.writeAsync(id, offset, bytes).then(() => {
        writerQueue -= bytes.byteLength;
        written += bytes.byteLength;
        report();
        if (isBlock) {
          blocksQueued -= bytes.byteLength;
          blocks.give(bytes);
        }
      });
      w.catch(() => undefined); // rejections are collected by Promise.all below
      waiting.push(w);
      if (isBlock) blockWrites.push(w);
      return w;
    };
    let next = 0;
    for (const b of rankTableBlocks(t, tables, blocks)) {
      const r = regions.get(b.key)!;
      queue(r.id, b.r0 * r.recordSize, b.bytes, true);
      // Keep the writer busy with layer pieces while the next block is made.
      while (next < pieces.length && writerQueue < 2 * LAYER_PIECE + b.bytes.byteLength) {
        const p = pieces[next++]!;
        queue(p.id, p.offset, p.bytes, false);
      }
      while (blocksQueued > QUEUED_BLOCKS_MAX && blockWrites.length) await blockWrites.shift();
    }
    for (; next < pieces.length; next++) queue(pieces[next]!.id, pieces[next]!.offset, pieces[next]!.bytes, false);
    await Promise.all(waiting);
    await d.settle();
    d.finish();
  } catch (err) {
    await d.settle().catch(() => undefined);
    d.abort();
    throw err;
  }
}

export interface RankTable {
  key: string;
  specs: RecFieldSpec[];
  recordSize: number;
  src?: Float64Array | Float32Array;
  Out?: Float32ArrayConstructor | Float64ArrayConstructor;
  width?: number;
}

/** Scanpy's names record array and one per column with a ranked type (scores, pvals, pvals_adj, logfoldchanges): one field per group. */
export function rankTables(groups: string[], genes: string[], ranked?: DeResults["ranked"]): RankTable[] {
  const G = groups.length;
  const width = namesWidth(genes);
  const fields = fieldNames(groups); // the labels, exactly; see ./labelKeys.ts
  const numeric = (
    key: string,
    src: Float64Array | Float32Array | undefined,
    Out: Float32ArrayConstructor | Float64ArrayConstructor,
  ): RankTable => ({
    key,
    src,
    Out,
    recordSize: G * Out.BYTES_PER_ELEMENT,
    specs: fields.map((name) => ({ name, dtype: Out === Float32Array ? ("float32" as const) : ("float64" as const) })),
  });
  return [
    {
      key: "names",
      specs: fields.map((name) => ({ name, dtype: `fixed-string:${width}` as const })),
      recordSize: G * width,
      width,
    },
    ...SCANPY_COLUMNS.filter((c) => c.ranked !== null && c.source !== "pts").map((c) =>
      numeric(
        c.key,
        ranked?.[c.source as keyof DeResults["ranked"]],
        c.ranked === "float32" ? Float32Array : Float64Array,
      ),
    ),
  ];
}

/** Ranks taken together: a tile's records (TILE × groups fields) stay in cache while every group adds its field. */
const TILE = 64;

/**
 * The ranked tables' records (genes ranked by score within each group), in blocks of ~8 MB taken from
 * `pool` (the consumer gives each back once written: fresh blocks cost a page fault per 4 KiB, ~0.3 s
 * for the 272 MB of a 1,000 × 8,000 result).
 */
function* rankTableBlocks(
  t: DeTables,
  tables: RankTable[],
  pool: ArrayPool,
): Generator<{ key: string; r0: number; count: number; bytes: Uint8Array }> {
  const G = t.groups.length;
  const n = t.genes.length;
  for (const tab of tables) {
    const block = Math.max(1, Math.floor((8 << 20) / Math.max(1, tab.recordSize)));
    if (tab.width !== undefined) {
      // Each gene's name once as a zero-padded fixed-width field; a block of records is then byte copies.
      const width = tab.width;
      const padded = paddedNames(t.genes, width);
      for (let r0 = 0; r0 < n; r0 += block) {
        const r1 = Math.min(n, r0 + block);
        const out = pool.take(Uint8Array, (r1 - r0) * G * width);
        for (let a = r0; a < r1; a += TILE) {
          const b = Math.min(r1, a + TILE);
          for (let g = 0; g < G; g++)
            gatherNames(padded, width, t.orders, g * n, a, b, out, (a - r0) * G * width + g * width, G * width);
        }
        yield { key: tab.key, r0, count: r1 - r0, bytes: out };
      }
      continue;
    }
    // Every field has the same type, so a block of records is simply a [rows × groups] matrix.
    for (let r0 = 0; r0 < n; r0 += block) {
      const r1 = Math.min(n, r0 + block);
      const bytes = pool.take(Uint8Array, (r1 - r0) * G * tab.Out!.BYTES_PER_ELEMENT);
      const out = new tab.Out!(bytes.buffer, 0, (r1 - r0) * G);
      for (let a = r0; a < r1; a += TILE) {
        const b = Math.min(r1, a + TILE);
        for (let g = 0; g < G; g++) transposeRow(tab.src!, g * n, a, b, out, (a - r0) * G + g, G);
      }
      yield { key: tab.key, r0, count: r1 - r0, bytes };
    }
  }
}

/** The padded names of one group's ranks [r0, r1) (its order at `offset`) into records (`at`: the first one's field byte offset). */
function gatherNames(
  padded: Uint8Array,
  width: number,
  order: Int32Array,
  offset: number,
  r0: number,
  r1: number,
  out: Uint8Array,
  at: number,
  stride: number,
): void {
  for (let r = r0; r < r1; r++, at += stride) {
    const src = order[offset + r]! * width;
    for (let b = 0; b < width; b++) out[at + b] = padded[src + b]!;
  }
}

/** out[at + (r − r0)·stride] = src[offset + r] for r in [r0, r1): one group's ranked values into records. */
function transposeRow(
  src: Float64Array | Float32Array,
  offset: number,
  r0: number,
  r1: number,
  out: Float64Array | Float32Array,
  at: number,
  stride: number,
): void {
  for (let r = r0; r < r1; r++, at += stride) out[at] = src[offset + r]!;
}
