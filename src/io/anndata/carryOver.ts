/**
 * Carry-over: write everything of an output .h5ad except X from its input, optionally restricted to
 * selected cells and genes. Operators (normalize, subset, convert, sort…) write X themselves with the
 * streaming writers of ./matrixWriter.ts and call this for the rest:
 *
 *   const out = openWriteStore(tmp, "w");
 *   startAnnData(out);                                      // root attributes, empty uns/obsm/… groups
 *   carryOver(src, out, { cells, genes, removeUnusedCategories: true });
 *   SparseMatrixWriter.create(out, "/X", …) …
 *
 * Memory: tables are handled one column at a time (the selected index is held in memory, as pandas
 * would); matrices (obsm, layers, obsp, raw/X…) are streamed in blocks within the memory budget and keep
 * their storage format (dense stays dense, CSR stays CSR, CSC stays CSC).
 *
 * This module plans what is copied where (which elements, which axes each is restricted along, legacy
 * layouts, uns); the copying is split along its seams: ./rowSelection.ts (selected rows in memory),
 * ./copyTable.ts (dataframes), ./copyMatrix.ts (streamed matrices) and ./sparseBlockFilter.ts (its inner loop).
 */
import type { ReadStore, WriteStore } from "../store.ts";
import { CrispyxError } from "../../errors.ts";
import { DEFAULT_MEMORY_BUDGET } from "../../core/streaming.ts";
import type { DataFrame } from "./model.ts";
import { createEncodedGroup, isMatrixElement, readElem, stampEncoding, writeElem } from "./registry.ts";
import {
  consumedCategoryKeys,
  isLegacyMapping,
  isLegacyTable,
  readLegacyMapping,
} from "./encodings/legacyDataframe.ts";
import { takeArray, takeDataFrame } from "./rowSelection.ts";
import { copyTable, type KeptCategories } from "./copyTable.ts";
import { copyMatrix } from "./copyMatrix.ts";

// What this module exported before it was split (importers keep their paths).
export {
  maskToIndices,
  remapFor,
  removeUnusedCategories,
  selectionWindows,
  takeColumn,
  takeDataFrame,
} from "./rowSelection.ts";
export { copyDataFrame, type KeptCategories } from "./copyTable.ts";
export { filterSparseBlock } from "./sparseBlockFilter.ts";
export { copyMatrix } from "./copyMatrix.ts";

export type CarryKey = "obs" | "var" | "uns" | "obsm" | "varm" | "obsp" | "varp" | "layers" | "raw";

/**
 * What an operator that rewrites X keeps: everything else, as Scanpy's in-place functions do (layers
 * such as 'counts' and raw included — X-sized, but streamed, and users rely on them).
 */
export const DEFAULT_CARRY: CarryKey[] = ["obs", "var", "uns", "obsm", "varm", "obsp", "varp", "layers", "raw"];

export interface CarryOverOptions {
  /** Selected cells (row positions, strictly increasing); omitted = all cells. */
  cells?: Int32Array;
  /** Selected genes (strictly increasing); omitted = all genes. */
  genes?: Int32Array;
  /** Elements to carry (default DEFAULT_CARRY). */
  include?: CarryKey[];
  /** Tables written instead of the input's (already restricted to the selection). */
  obs?: DataFrame;
  var?: DataFrame;
  /** Drop categories that no selected cell uses from obs columns (pandas remove_unused_categories). */
  removeUnusedCategories?: boolean;
  memoryBudget?: number;
}

const MAPPINGS = ["uns", "obsm", "varm", "obsp", "varp", "layers"] as const;

function emptyDict(f: WriteStore, path: string): void {
  createEncodedGroup(f, path, "dict");
}

/** Root attributes of an AnnData file and its (empty) uns/obsm/varm/obsp/varp/layers groups. */
export function startAnnData(dst: WriteStore): void {
  stampEncoding(dst, "/", "anndata");
  for (const key of MAPPINGS) if (!dst.exists(`/${key}`)) emptyDict(dst, `/${key}`);
}

/** Copy one element of obsm/varm/obsp/varp/layers, restricting its axes as the mapping says. */
function copyAligned(
  src: ReadStore,
  dst: WriteStore,
  path: string,
  rows: Int32Array | undefined,
  cols: Int32Array | undefined,
  budget: number,
): void {
  if (isMatrixElement(src, path)) return copyMatrix(src, path, dst, path, rows, cols, budget);
  const e = readElem(src, path);
  if (!rows) return writeElem(dst, path, e);
  if (e.type === "dataframe") return writeElem(dst, path, takeDataFrame(e, rows));
  if (e.type === "array") return writeElem(dst, path, takeArray(e, rows));
  throw new CrispyxError(`cannot subset ${path} (a ${e.type}) to the selected rows`, { file: src.path });
}

/** Write obs/var/uns/obsm/… of `dst` from `src` (see the module comment). `dst` must have been started. */
export function carryOver(src: ReadStore, dst: WriteStore, opts: CarryOverOptions = {}): void {
  const include = new Set(opts.include ?? DEFAULT_CARRY);
  const { cells, genes } = opts;
  const budget = opts.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  const has = (p: string) => src.exists(p);
  // As anndata's subset: unused categories leave obs and var, and their colours in uns follow.
  const kept: KeptCategories = new Map();
  const drop = opts.removeUnusedCategories ?? false;
  if (include.has("obs")) {
    if (opts.obs) writeElem(dst, "/obs", opts.obs);
    else copyTable(src, "/obs", dst, "/obs", cells, drop, kept);
  }
  if (include.has("var")) {
    if (opts.var) writeElem(dst, "/var", opts.var);
    else copyTable(src, "/var", dst, "/var", genes, drop && genes !== undefined, kept);
  }
  if (include.has("uns") && has("/uns"))
    copyUns(src, dst, { kept, cells, budget, adjacencyToObsp: include.has("obsp") });
  const axes: Record<
    Exclude<CarryKey, "obs" | "var" | "uns" | "raw">,
    [Int32Array | undefined, Int32Array | undefined]
  > = {
    obsm: [cells, undefined],
    varm: [genes, undefined],
    obsp: [cells, cells],
    varp: [genes, genes],
    layers: [cells, genes],
  };
  for (const [key, [r, c]] of Object.entries(axes)) {
    if (!include.has(key as CarryKey) || !has(`/${key}`)) continue;
    if (!dst.exists(`/${key}`)) emptyDict(dst, `/${key}`);
    if (isLegacyMapping(src, `/${key}`)) {
      writeLegacyMapping(src, `/${key}`, dst, `/${key}`, r);
      continue;
    }
    for (const k of src.keys(`/${key}`)) copyAligned(src, dst, `/${key}/${k}`, r, c, budget);
  }
  if (include.has("raw") && !has("/raw") && has("/raw.X")) {
    // anndata < 0.7 raw: root elements raw.X, raw.var, raw.varm, written back in the current layout.
    dst.createGroup("/raw");
    copyMatrix(src, "/raw.X", dst, "/raw/X", cells, undefined, budget);
    copyTable(src, "/raw.var", dst, "/raw/var", undefined, false);
    emptyDict(dst, "/raw/varm");
    if (isLegacyMapping(src, "/raw.varm")) writeLegacyMapping(src, "/raw.varm", dst, "/raw/varm");
  }
  if (include.has("raw") && has("/raw")) {
    dst.createGroup("/raw");
    copyMatrix(src, "/raw/X", dst, "/raw/X", cells, undefined, budget);
    copyTable(src, "/raw/var", dst, "/raw/var", undefined, false);
    if (has("/raw/varm")) {
      emptyDict(dst, "/raw/varm");
      for (const k of src.keys("/raw/varm")) writeElem(dst, `/raw/varm/${k}`, readElem(src, `/raw/varm/${k}`));
    }
  }
}

/**
 * For operators that copy root elements as stored (convert): in a pre-0.7 file (obs a compound dataset),
 * write `key` in the current layout instead — obs/var as dataframes, obsm/varm as dicts of arrays, uns
 * with its legacy elements encoded (and without the categories moved into obs/var), raw.X/raw.var/raw.varm
 * into /raw. Returns false when `key` is not such an element (copy it as stored).
 */
export function copyLegacyRootElement(src: ReadStore, dst: WriteStore, key: string): boolean {
  if (!isLegacyTable(src, "/obs")) return false;
  const p = `/${key}`;
  if ((key === "obs" || key === "var") && isLegacyTable(src, p)) {
    copyTable(src, p, dst, p, undefined, false);
  } else if ((key === "obsm" || key === "varm") && isLegacyMapping(src, p)) {
    emptyDict(dst, p);
    writeLegacyMapping(src, p, dst, p);
  } else if (key === "uns" && src.isGroup(p)) {
    emptyDict(dst, p);
    copyUns(src, dst, { adjacencyToObsp: true });
  } else if (key === "raw.X" || key === "raw.var" || key === "raw.varm") {
    if (!dst.exists("/raw")) dst.createGroup("/raw");
    const to = `/raw/${key.slice(4)}`;
    if (key === "raw.X") copyMatrix(src, p, dst, to, undefined, undefined);
    else if (key === "raw.var") copyTable(src, p, dst, to, undefined, false);
    else {
      emptyDict(dst, to);
      if (isLegacyMapping(src, p)) writeLegacyMapping(src, p, dst, to);
    }
  } else {
    return false;
  }
  return true;
}

interface UnsCopyOptions {
  /** Categories kept in obs/var: the matching `<column>_colors` arrays keep the same entries. */
  kept?: KeptCategories;
  /** Selected cells, for the cell × cell matrices moved to obsp. */
  cells?: Int32Array;
  budget?: number;
  /**
   * Move uns['neighbors']['distances'/'connectivities'] (cells × cells, where Scanpy < 1.5 kept them) to
   * obsp, as anndata does when it reads a file: a subset then restricts them like any obsp matrix.
   */
  adjacencyToObsp: boolean;
}

/** NEIGHBORS_ADJACENCY: the uns['neighbors'] entries anndata's reader moves to obsp (`_move_adj_mtx`). */
const NEIGHBORS_ADJACENCY = ["distances", "connectivities"];

/** uns's entries, without the pre-0.7 categories that now live in obs/var (dst's /uns must exist). */
function copyUns(src: ReadStore, dst: WriteStore, opts: UnsCopyOptions): void {
  const moved = consumedCategoryKeys(src);
  for (const k of src.keys("/uns")) {
    if (moved.has(k)) continue;
    const p = `/uns/${k}`;
    if (k === "neighbors" && opts.adjacencyToObsp && src.isGroup(p)) {
      copyNeighbors(src, dst, opts);
      continue;
    }
    let e = readElem(src, p);
    const kept = opts.kept?.get(k);
    // anndata subsets a colour list only when it has a colour for every original category.
    if (kept && e.type === "array" && e.shape.length === 1 && e.shape[0]! >= kept.nCategories)
      e = takeArray(e, kept.keep);
    writeElem(dst, p, e);
  }
}

function copyNeighbors(src: ReadStore, dst: WriteStore, opts: UnsCopyOptions): void {
  const from = "/uns/neighbors";
  // Its entries are copied one by one, as a dict's (the group is read as one: see readElem).
  createEncodedGroup(dst, from, "dict");
  for (const k of src.keys(from)) {
    const p = `${from}/${k}`;
    if (NEIGHBORS_ADJACENCY.includes(k) && isMatrixElement(src, p)) {
      if (!dst.exists("/obsp")) emptyDict(dst, "/obsp");
      if (!src.exists(`/obsp/${k}`) && !dst.exists(`/obsp/${k}`))
        copyMatrix(src, p, dst, `/obsp/${k}`, opts.cells, opts.cells, opts.budget);
      continue;
    }
    writeElem(dst, p, readElem(src, p));
  }
}

/**
 * An anndata < 0.7 obsm/varm (one compound dataset, small: a few columns per cell, one field per entry)
 * as one array per entry under `to` (which must exist), restricted to `rows` when given.
 */
function writeLegacyMapping(src: ReadStore, from: string, dst: WriteStore, to: string, rows?: Int32Array): void {
  for (const [k, a] of Object.entries(readLegacyMapping(src, from)))
    writeElem(dst, `${to}/${k}`, rows ? takeArray(a, rows) : a);
}
