/**
 * Sort cells by perturbation (the seed's sort_by_perturbation, needs_sorting_for_nbglm and
 * get_perturbation_slice): control cells first, then each label in alphabetical order, original order
 * kept inside a group, so per-perturbation work reads one contiguous block of rows.
 *
 * Bounded memory: sparse X (and sparse layers/obsm/raw X) are permuted by the external-memory engine
 * (./externalScatter.ts: one sequential read of the input, sorted runs spilled to a temporary file when
 * over budget) and always come out as CSR, as in the seed; dense matrices stay dense and are gathered in
 * blocks of output rows (each block reads its source rows in increasing order, runs of consecutive rows
 * at once). obs is permuted in memory, as the seed does (one column at a time would not save much: the
 * labels and the permutation are needed anyway).
 *
 * Differences from the seed, on purpose: obsm, layers and raw are carried over, permuted like X (the
 * seed drops them); obsp (cells × cells) is dropped as in the seed. An explicit control label that does
 * not occur in the column is an error (the seed silently sorts without a control group).
 */
import { basename, dirname, extname, join } from "node:path";
import { openStore } from "../io/openStore.ts";
import type { ReadStore, WriteStore } from "../io/store.ts";
import type { TypedArray, NumericDtype } from "../io/dtypes.ts";
import { TYPED_ARRAY_OF } from "../io/dtypes.ts";
import { assertAnnData } from "../io/anndata/anndata.ts";
import { describeMatrix, MatrixReader } from "../io/anndata/matrixReader.ts";
import { columnOrder, readColumn, readDataFrame, tableLength } from "../io/anndata/encodings/dataframe.ts";
import { isMatrixElement, readElem, stampEncoding, writeElem } from "../io/anndata/registry.ts";
import type { Column, DataFrame, Dict, Element, NdArray } from "../io/anndata/model.ts";
import { toElement } from "../io/anndata/convert.ts";
import { dataframe, ndarray } from "../io/anndata/model.ts";
import { isStorableKey } from "../io/anndata/keys.ts";
import { takeDataFrame } from "../io/anndata/carryOver.ts";
import { DenseMatrixWriter } from "../io/anndata/matrixWriter.ts";
import { dtypeBytes, sparseMatrixBytes } from "../io/writeErrors.ts";
import { DEFAULT_MEMORY_BUDGET, rowsForBudget, throwIfAborted, type StreamOptions } from "../core/streaming.ts";
import { CrispyxError, FileFormatError, InvalidArgumentError } from "../errors.ts";
import { codePointCompare, columnAsStrings } from "../helpers/pythonText.ts";
import { resolveControlLabel } from "../helpers/controlLabel.ts";
import { copyAttrs, copyElement } from "../io/anndata/copyElements.ts";
import { writeReorderedSparse } from "./reorderMatrix.ts";
import { inputPath, type FileSource } from "./paths.ts";
import { runRewrite, runRewriteOperator } from "./runner.ts";

export interface SortOptions extends StreamOptions {
  /** obs column with the perturbation labels. Default "perturbation". */
  column?: string;
  /** Label of control cells; inferred from the labels when absent (ctrl, control, non-targeting…). */
  controlLabel?: string | null;
  /** Output file. Default: `<input stem>_sorted.h5ad` beside the input. */
  output?: string;
  /** Rebuild the output even when a sorted file with sorting metadata already exists there. */
  force?: boolean;
  /** Sort-buffer size in elements (tests: exercise spilling on tiny files). */
  bufferElements?: number;
  /** Internal: the path recorded as the original (a current-layout copy of a pre-0.7 file records that file). */
  recordedInput?: string;
}

/** Per-cell integer label codes and the distinct label strings (pandas `astype(str)` spelling). */
export interface LabelCodes {
  codes: Int32Array;
  labels: string[];
}

/** Read an obs column as label codes. A missing column lists the available ones. */
export function readLabelCodes(file: ReadStore, column: string): LabelCodes {
  const columns = columnOrder(file, "/obs");
  if (!columns.includes(column)) {
    throw new InvalidArgumentError(`obs has no column '${column}'`, {
      file: file.path,
      hint: `available columns: ${columns.join(", ") || "(none)"}`,
    });
  }
  const col: Column = readColumn(file, "/obs", column);
  if (col.type === "categorical") {
    // Work on codes: 10M cells need no 10M strings. Missing values read as "nan", as astype(str) does.
    const catStrings = columnAsStrings({
      ...col,
      codes: Int32Array.from({ length: col.categories.shape[0] ?? 0 }, (_, i) => i),
    });
    const labels: string[] = [];
    const codeOf = new Map<string, number>();
    const remap = catStrings.map((s) => {
      if (!codeOf.has(s)) codeOf.set(s, labels.push(s) - 1);
      return codeOf.get(s)!;
    });
    const codes = new Int32Array(col.codes.length);
    let nanCode = -1;
    for (let i = 0; i < codes.length; i++) {
      const k = Number(col.codes[i]!);
      if (k >= 0) codes[i] = remap[k]!;
      else {
        if (nanCode < 0) nanCode = codeOf.get("nan") ?? (codeOf.set("nan", labels.push("nan") - 1), labels.length - 1);
        codes[i] = nanCode;
      }
    }
    return { codes, labels };
  }
  const strings = columnAsStrings(col);
  const labels: string[] = [];
  const codeOf = new Map<string, number>();
  const codes = new Int32Array(strings.length);
  for (let i = 0; i < strings.length; i++) {
    let c = codeOf.get(strings[i]!);
    if (c === undefined) {
      c = labels.push(strings[i]!) - 1;
      codeOf.set(strings[i]!, c);
    }
    codes[i] = c;
  }
  return { codes, labels };
}

/** Labels in cell order of first appearance, as resolveControlLabel scans them. */
function labelsInCellOrder(lc: LabelCodes): string[] {
  // Codes are assigned in order of first appearance for string columns; for categoricals map each
  // label to its first cell so ties are decided by cell order, as the seed (which scans all cells) does.
  const first = new Float64Array(lc.labels.length).fill(Infinity);
  for (let i = 0; i < lc.codes.length; i++) if (first[lc.codes[i]!] === Infinity) first[lc.codes[i]!] = i;
  return lc.labels
    .map((_, k) => k)
    .sort((a, b) => first[a]! - first[b]!)
    .map((k) => lc.labels[k]!);
}

export interface SortPlan {
  /** sortOrder[newRow] = old row. */
  order: Int32Array;
  /** inverse[oldRow] = new row. */
  inverse: Int32Array;
  controlLabel: string;
  /** Control first, then the other labels in code-point order (also those with no cells). */
  labelOrder: string[];
  /** label → [start, end) rows in the sorted file, for labels with cells, in sorted order. */
  boundaries: Map<string, [number, number]>;
}

/** The seed's order: control, then alphabetical; stable inside a group (a counting sort). */
export function planSort(lc: LabelCodes, controlLabel: string): SortPlan {
  const others = lc.labels.filter((l) => l !== controlLabel).sort(codePointCompare);
  const labelOrder = [controlLabel, ...others];
  const priority = new Map(labelOrder.map((l, i) => [l, i]));
  const prioOfCode = Int32Array.from(lc.labels, (l) => priority.get(l)!);
  const n = lc.codes.length;
  const starts = new Float64Array(labelOrder.length + 1);
  for (let i = 0; i < n; i++) starts[prioOfCode[lc.codes[i]!]! + 1]!++;
  for (let g = 0; g < labelOrder.length; g++) starts[g + 1]! += starts[g]!;
  const boundaries = new Map<string, [number, number]>();
  labelOrder.forEach((l, g) => {
    if (starts[g + 1]! > starts[g]!) boundaries.set(l, [starts[g]!, starts[g + 1]!]);
  });
  const next = starts.slice(0, labelOrder.length);
  const order = new Int32Array(n);
  const inverse = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const p = next[prioOfCode[lc.codes[i]!]!]!++;
    order[p] = i;
    inverse[i] = p;
  }
  return { order, inverse, controlLabel, labelOrder, boundaries };
}

/** Python's datetime.now().isoformat(): local time, microseconds, no zone. */
function pythonIsoNow(): string {
  const d = new Date();
  const p = (x: number, w = 2) => String(x).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds() * 1000, 6)}`;
}

/** uns['sorting_metadata'] exactly as the seed writes it (sort_order only below 100 000 cells). */
export function sortingMetadata(originalPath: string, column: string, plan: SortPlan): Dict {
  const boundaries: Record<string, number[]> = {};
  for (const [l, [s, e]] of plan.boundaries) boundaries[l] = [s, e];
  // The seed keys a dict by label; a label HDF5 cannot use as a name (e.g. 'CD4+/CD25 T Reg') makes it a
  // data frame instead: labels as its index, columns start and end (anndata reads it as a pandas DataFrame).
  const keyed = [...plan.boundaries.keys()].every(isStorableKey);
  const meta: Record<string, unknown> = {
    original_path: originalPath,
    sorted_by: column,
    control_label: plan.controlLabel,
    timestamp: pythonIsoNow(),
    n_perturbations: plan.labelOrder.length,
    perturbation_boundaries: keyed ? boundaries : {},
  };
  if (plan.order.length < 100000) meta.sort_order = Array.from(plan.order);
  const d = toElement(meta as never, "sorting_metadata") as Dict;
  if (!keyed) d.items.perturbation_boundaries = boundaryTable(plan.boundaries);
  // Boundary pairs are int64 arrays as numpy writes them (toElement would already do this; empty
  // dict stays a dict).
  return d;
}

function boundaryTable(boundaries: SortPlan["boundaries"]): DataFrame {
  const labels = [...boundaries.keys()];
  const col = (k: 0 | 1) => ndarray(BigInt64Array.from(labels, (l) => BigInt(boundaries.get(l)![k])));
  return dataframe(labels, { start: col(0), end: col(1) });
}

/** Rows [start, end) of each label, from either layout of perturbation_boundaries. */
function boundariesOf(e: Element): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  if (e.type === "dict") {
    for (const [label, b] of Object.entries(e.items)) {
      if (b.type === "array" && b.data.length === 2)
        out.set(label, Array.from(b.data as ArrayLike<number | bigint>, Number) as [number, number]);
    }
  } else if (e.type === "dataframe") {
    const start = e.columns.start,
      end = e.columns.end;
    if (start?.type === "array" && end?.type === "array") {
      e.index.forEach((label, i) => {
        out.set(label, [Number(start.data[i]), Number(end.data[i])]);
      });
    }
  }
  return out;
}

function defaultSortedPath(input: string): string {
  const ext = extname(input);
  return join(dirname(input), `${basename(input, ext)}_sorted.h5ad`);
}

function hasSortingMetadata(path: string): boolean {
  try {
    const f = openStore(path, "r");
    try {
      assertAnnData(f);
      return f.exists("/uns/sorting_metadata");
    } finally {
      f.close();
    }
  } catch {
    return false;
  }
}

/**
 * Write a copy of the file with cells sorted by perturbation and return its path. An existing output
 * with sorting metadata is reused unless `force`.
 */
export async function sortByPerturbation(data: FileSource, opts: SortOptions = {}): Promise<string> {
  const input = inputPath(data);
  const column = opts.column ?? "perturbation";
  const output = opts.output ?? defaultSortedPath(input);
  const budget = opts.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  return runRewriteOperator({
    input,
    output,
    reuse: (existing) => !opts.force && hasSortingMetadata(existing),
    check: () => {
      if (!(budget > 0)) throw new InvalidArgumentError(`memory budget must be positive, got ${budget}`);
      if (opts.chunkSize !== undefined && !(Number.isInteger(opts.chunkSize) && opts.chunkSize >= 1))
        throw new InvalidArgumentError(`chunk size must be a positive integer, got ${opts.chunkSize}`);
    },
    onLegacyCopy:
      opts.recordedInput === undefined
        ? (copy) => sortByPerturbation(copy, { ...opts, output, recordedInput: input })
        : undefined,
    stream: opts,
    run: async (src) => {
      if (!src.exists("/X")) throw new FileFormatError(`has no X matrix to sort`, { file: input });
      const lc = readLabelCodes(src, column);
      const nObs = lc.codes.length;
      const xInfo = describeMatrix(src, "/X");
      if (xInfo.shape[0] !== nObs)
        throw new FileFormatError(`X has ${xInfo.shape[0]} rows but obs has ${nObs}`, { file: input });
      let control: string;
      if (opts.controlLabel !== undefined && opts.controlLabel !== null) {
        control = String(opts.controlLabel);
        if (!lc.labels.includes(control)) {
          throw new InvalidArgumentError(`control label '${control}' does not occur in obs['${column}']`, {
            file: input,
            hint: `labels: ${lc.labels.slice(0, 10).join(", ")}${lc.labels.length > 10 ? ", …" : ""}`,
          });
        }
      } else {
        try {
          control = resolveControlLabel(labelsInCellOrder(lc), null);
        } catch (err) {
          if (err instanceof CrispyxError)
            throw new InvalidArgumentError(`obs['${column}']: ${err.message}`, { file: input, hint: err.hint });
          throw err;
        }
      }
      const plan = planSort(lc, control);
      const meta = sortingMetadata(opts.recordedInput ?? input, column, plan);
      await runRewrite(
        output,
        (dst, tmp) => writeSorted(src, dst, plan, meta, { ...opts, memoryBudget: budget }, `${tmp}.runs`, tmp),
        undefined,
        {
          expectedBytes:
            xInfo.format === "dense"
              ? xInfo.nnz * dtypeBytes(xInfo.dtype)
              : sparseMatrixBytes(xInfo.nnz, dtypeBytes(xInfo.dtype), nObs),
        },
      );
      return output;
    },
  });
}

/** Everything of `src`, cells in sorted order, into `dst` (the file at `dstFile`). */
function writeSorted(
  src: ReadStore,
  dst: WriteStore,
  plan: SortPlan,
  meta: Dict,
  opts: SortOptions,
  spillPath: string,
  dstFile: string,
): void {
  const signal = opts.signal;
  copyAttrs(src, dst, "/", "/");
  writeElem(dst, "/obs", takeDataFrame(readDataFrame(src, "/obs"), plan.order));
  copyElement(src, dst, "/var", "/var", { signal });
  // uns: everything as stored, plus the new sorting metadata (replacing an older one).
  dst.createGroup("/uns");
  if (src.exists("/uns")) {
    copyAttrs(src, dst, "/uns", "/uns");
    for (const k of src.keys("/uns"))
      if (k !== "sorting_metadata") copyElement(src, dst, `/uns/${k}`, `/uns/${k}`, { signal });
  } else {
    stampEncoding(dst, "/uns", "dict");
  }
  writeElem(dst, "/uns/sorting_metadata", meta);
  for (const key of ["varm", "varp"])
    if (src.exists(`/${key}`)) copyElement(src, dst, `/${key}`, `/${key}`, { signal });
  for (const key of ["obsm", "layers"]) {
    if (!src.exists(`/${key}`)) continue;
    dst.createGroup(`/${key}`);
    copyAttrs(src, dst, `/${key}`, `/${key}`);
    for (const k of src.keys(`/${key}`)) permuteAligned(src, dst, `/${key}/${k}`, plan, opts, spillPath);
  }
  if (src.exists("/obsp")) {
    // Cells × cells graphs would need both axes permuted; like the seed, they are not carried.
    dst.createGroup("/obsp");
    copyAttrs(src, dst, "/obsp", "/obsp");
  }
  if (src.exists("/raw")) {
    dst.createGroup("/raw");
    copyAttrs(src, dst, "/raw", "/raw");
    for (const k of src.keys("/raw")) {
      if (k === "X") permuteMatrix(src, "/raw/X", dst, "/raw/X", plan, opts, spillPath);
      else copyElement(src, dst, `/raw/${k}`, `/raw/${k}`, { signal });
    }
  }
  throwIfAborted(signal);
  // X last: a sparse X is then written straight into the file once HDF5 has closed it.
  permuteMatrix(src, "/X", dst, "/X", plan, opts, spillPath, dstFile);
}

/** One obsm/layers entry, rows permuted. */
function permuteAligned(
  src: ReadStore,
  dst: WriteStore,
  path: string,
  plan: SortPlan,
  opts: SortOptions,
  spillPath: string,
): void {
  if (isMatrixElement(src, path)) return permuteMatrix(src, path, dst, path, plan, opts, spillPath);
  const e: Element = readElem(src, path);
  if (e.type === "dataframe") return writeElem(dst, path, takeDataFrame(e as DataFrame, plan.order));
  if (e.type === "array") return writeElem(dst, path, takeRowsInMemory(e, plan.order));
  throw new CrispyxError(`cannot reorder ${path} (a ${e.type}) by cells`, { file: src.path });
}

function takeRowsInMemory(a: NdArray, order: Int32Array): NdArray {
  const rowLen = a.shape.slice(1).reduce((x, y) => x * y, 1);
  if (Array.isArray(a.data)) {
    const out: string[] = [];
    for (const i of order) for (let j = 0; j < rowLen; j++) out.push(a.data[i * rowLen + j]!);
    return { ...a, data: out };
  }
  const data = a.data as TypedArray;
  const out = new (data.constructor as { new (n: number): TypedArray })(data.length);
  for (let k = 0; k < order.length; k++) {
    (out as unknown as { set(x: TypedArray, o: number): void }).set(
      data.subarray(order[k]! * rowLen, (order[k]! + 1) * rowLen),
      k * rowLen,
    );
  }
  return { ...a, data: out };
}

/** A cells × something matrix with rows in sorted order: sparse → CSR (seed), dense stays dense. */
function permuteMatrix(
  src: ReadStore,
  from: string,
  dst: WriteStore,
  to: string,
  plan: SortPlan,
  opts: SortOptions,
  spillPath: string,
  directFile?: string,
): void {
  const reader = new MatrixReader(src, from);
  if (reader.format === "dense") return gatherDenseRows(src, reader, dst, to, plan.order, opts);
  writeReorderedSparse(reader, dst, to, {
    format: "csr",
    // CSR: a stored line is a cell; CSC: a cell is an element's stored index.
    destFrom: reader.format === "csr" ? "line" : "index",
    destMap: plan.inverse,
    // The seed's sorted files always have int64 indptr.
    indptrDtype: "int64",
    memoryBudget: opts.memoryBudget,
    spillPath,
    directFile,
    bufferElements: opts.bufferElements,
    chunkSize: opts.chunkSize,
    signal: opts.signal,
    onProgress: opts.onProgress,
  });
}

/**
 * Dense rows in the order `order`, a block of output rows at a time: each block's source rows are read
 * in increasing order, consecutive ones in one read.
 */
function gatherDenseRows(
  src: ReadStore,
  reader: MatrixReader,
  dst: WriteStore,
  to: string,
  order: Int32Array,
  opts: SortOptions,
): void {
  const [nRows, nCols] = reader.shape;
  if (reader.info.dtype === "bool")
    throw new CrispyxError(`${reader.path} is a boolean matrix, which crispyx cannot reorder yet`, { file: src.path });
  const dtype: NumericDtype = reader.info.dtype;
  const Ctor = TYPED_ARRAY_OF[dtype];
  const rowBytes = Math.max(1, nCols * Ctor.BYTES_PER_ELEMENT);
  const w = DenseMatrixWriter.create(dst, to, { shape: [nRows, nCols], dtype });
  const step = rowsForBudget(rowBytes * 3, nRows, { memoryBudget: opts.memoryBudget, chunkSize: opts.chunkSize });
  const out = new Ctor(Math.min(step, nRows) * nCols);
  for (let s = 0; s < nRows; s += step) {
    throwIfAborted(opts.signal);
    const e = Math.min(nRows, s + step);
    const pos = Int32Array.from({ length: e - s }, (_, k) => k).sort((a, b) => order[s + a]! - order[s + b]!);
    let k = 0;
    while (k < pos.length) {
      let t = k + 1;
      while (t < pos.length && order[s + pos[t]!]! === order[s + pos[t - 1]!]! + 1) t++;
      const lo = order[s + pos[k]!]!;
      const block = src.read(reader.path, [lo, 0], [t - k, nCols]);
      for (let q = k; q < t; q++) {
        (out as unknown as { set(x: TypedArray, o: number): void }).set(
          block.subarray((q - k) * nCols, (q - k + 1) * nCols),
          pos[q]! * nCols,
        );
      }
      k = t;
    }
    w.appendRows(e - s, out.subarray(0, (e - s) * nCols));
    opts.onProgress?.({ phase: "sorting", done: e, total: nRows, unit: "cells" });
  }
  w.finish();
}

// ---- the seed's helpers around sorted files ------------------------------------------------------

function readSortingMeta(file: ReadStore): { sortedBy?: string; boundaries?: Map<string, [number, number]> } {
  if (!file.exists("/uns/sorting_metadata")) return {};
  const out: { sortedBy?: string; boundaries?: Map<string, [number, number]> } = {};
  if (file.exists("/uns/sorting_metadata/sorted_by")) {
    const e = readElem(file, "/uns/sorting_metadata/sorted_by");
    if (e.type === "scalar") out.sortedBy = String(e.value);
  }
  if (file.exists("/uns/sorting_metadata/perturbation_boundaries")) {
    out.boundaries = boundariesOf(readElem(file, "/uns/sorting_metadata/perturbation_boundaries"));
  }
  return out;
}

export interface NeedsSortingOptions {
  minCells?: number;
  minPerturbations?: number;
  contiguityThreshold?: number;
}

/**
 * Would sorting by perturbation help NB-GLM? The seed's rule: not when already sorted by `column`, nor
 * below `minCells` (360 000) cells or `minPerturbations` (100) labels, nor when the first 20 labels'
 * cells are on average at least `contiguityThreshold` (0.5) contiguous. A missing column gives false.
 */
export function needsSortingForNbglm(
  data: FileSource,
  column = "perturbation",
  opts: NeedsSortingOptions = {},
): boolean {
  const { minCells = 360_000, minPerturbations = 100, contiguityThreshold = 0.5 } = opts;
  const path = inputPath(data);
  const f = openStore(path, "r");
  try {
    assertAnnData(f);
    if (readSortingMeta(f).sortedBy === column) return false;
    const nCells = tableLength(f, "/obs");
    if (nCells < minCells) return false;
    if (!columnOrder(f, "/obs").includes(column)) return false;
    const lc = readLabelCodes(f, column);
    const sortedLabels = lc.labels.map((l, k) => [l, k] as const).sort((a, b) => codePointCompare(a[0], b[0]));
    if (sortedLabels.length < minPerturbations) return false;
    const sample = sortedLabels.slice(0, Math.min(20, sortedLabels.length));
    const lo = new Float64Array(lc.labels.length).fill(Infinity);
    const hi = new Float64Array(lc.labels.length).fill(-1);
    const count = new Float64Array(lc.labels.length);
    for (let i = 0; i < lc.codes.length; i++) {
      const c = lc.codes[i]!;
      if (i < lo[c]!) lo[c] = i;
      hi[c] = i;
      count[c]!++;
    }
    let total = 0;
    for (const [, k] of sample) total += count[k]! < 2 ? 1 : count[k]! / (hi[k]! - lo[k]! + 1);
    return total / sample.length < contiguityThreshold;
  } finally {
    f.close();
  }
}

export interface PerturbationSlice {
  /** Rows [start, end) of the label's cells, or null when the file is not sorted by `column` or lacks the label. */
  slice: { start: number; end: number } | null;
  isSorted: boolean;
}

/** The contiguous rows of one perturbation in a file sorted by `column` (the seed's get_perturbation_slice). */
export function getPerturbationSlice(data: FileSource, label: string, column = "perturbation"): PerturbationSlice {
  const path = inputPath(data);
  const f = openStore(path, "r");
  try {
    const meta = readSortingMeta(f);
    if (meta.sortedBy === column && meta.boundaries) {
      const b = meta.boundaries.get(label);
      if (b) return { slice: { start: b[0], end: b[1] }, isSorted: true };
    }
    return { slice: null, isSorted: false };
  } finally {
    f.close();
  }
}
