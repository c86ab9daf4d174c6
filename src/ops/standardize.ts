/**
 * A standardised, cached copy of a screen (the seed's standardize_dataset): the perturbation column is
 * called `perturbation`, its control label `control`, and var's index holds the gene names, so every
 * later step can rely on those names. The copy lives in `<outputDir>/.cache/standardized_<stem>.h5ad`
 * and is reused unless `force`.
 *
 * X (and layers, obsm, raw…) are copied as stored, dataset by dataset in bounded blocks, never decoded;
 * so are obs's index and other columns (long string datasets in slices). Only the perturbation column,
 * var (when its index changes) and uns['standardization_metadata'] are written anew. The provenance
 * is written as the seed writes it (all values strings; the two mappings as Python-style JSON).
 *
 * Differences from the seed, on purpose: a gene column that does not exist is an error (the seed warns
 * and keeps the old index); so is an explicit control label that does not occur, or renaming onto an
 * existing `perturbation` column. The renamed perturbation column is written as a categorical (what
 * anndata makes of a string column), not as the seed's unencoded string dataset.
 */
import { basename, extname, join } from "node:path";
import type { ReadStore, WriteStore } from "../io/store.ts";
import { columnOrder, readDataFrame } from "../io/anndata/encodings/dataframe.ts";
import { readElem, stampEncoding, writeElem } from "../io/anndata/registry.ts";
import type { Column, DataFrame, Element } from "../io/anndata/model.ts";
import { scalar, strings } from "../io/anndata/model.ts";
import { throwIfAborted, type ProgressCallback } from "../core/streaming.ts";
import { CrispyxError, InvalidArgumentError } from "../errors.ts";
import { codePointCompare, columnAsStrings } from "../helpers/pythonText.ts";
import { resolveControlLabel } from "../helpers/controlLabel.ts";
import { copyAttrs, copyElement, type CopyOptions } from "../io/anndata/copyElements.ts";
import { copySparseDirect, createDirectPlaceholders, directCopySpec } from "../io/anndata/directSparseWriter.ts";
import { readLabelCodes } from "./sort.ts";
import { inputPath, type FileSource } from "./paths.ts";
import { runRewrite, runRewriteOperator } from "./runner.ts";

export interface StandardizeOptions {
  /** obs column holding the perturbation labels (renamed to `perturbation`). */
  perturbationColumn: string;
  /** The control label (renamed to `control`); inferred from the labels when absent. */
  controlLabel?: string | null;
  /** var column with gene names to use as var's index; absent = keep the index. */
  geneNameColumn?: string | null;
  /** Directory whose `.cache/` holds the standardised copy (required unless `output` is given). */
  outputDir?: string;
  /** Write the copy here instead of `<outputDir>/.cache/standardized_<stem>.h5ad` (same reuse rule). */
  output?: string;
  /** Rebuild the copy even when it exists. */
  force?: boolean;
  /** Bytes per block when copying X and other large datasets (default 16 MiB). */
  blockBytes?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** Internal: the path recorded as the original (a current-layout copy of a pre-0.7 file records that file). */
  recordedInput?: string;
}

/** Path.stem: the file name without its last suffix. */
function stem(path: string): string {
  return basename(path, extname(path));
}

/** Where standardizeDataset puts (or finds) the copy of `input`. */
export function standardizedPath(input: string, outputDir: string): string {
  return join(outputDir, ".cache", `standardized_${stem(input)}.h5ad`);
}

/** Python's json.dumps of a flat dict of strings: ", " / ": " separators, non-ASCII as \uXXXX. */
export function pyJsonDumps(obj: Record<string, string>): string {
  const str = (s: string) =>
    JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return `{${Object.entries(obj)
    .map(([k, v]) => `${str(k)}: ${str(v)}`)
    .join(", ")}}`;
}

/** Python's datetime.now().isoformat(). */
function pythonIsoNow(): string {
  const d = new Date();
  const p = (x: number, w = 2) => String(x).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds() * 1000, 6)}`;
}

interface Plan {
  /** obs is copied as stored except the perturbation column: renamed, and rewritten when relabelled. */
  obs: { column: string; perturbation: Column | null; columnOrder: string[] };
  var: DataFrame | null;
  metadata: Record<string, string>;
}

/** Validate and compute the new obs/var/metadata (no output written). */
function planStandardization(src: ReadStore, input: string, opts: StandardizeOptions): Plan {
  const col = opts.perturbationColumn;
  const obsColumns = columnOrder(src, "/obs");
  if (!obsColumns.includes(col)) {
    throw new InvalidArgumentError(`obs has no column '${col}'`, {
      file: input,
      hint: `available columns: ${obsColumns.join(", ") || "(none)"}`,
    });
  }
  if (col !== "perturbation" && obsColumns.includes("perturbation")) {
    throw new InvalidArgumentError(
      `obs already has a column 'perturbation'; renaming '${col}' onto it would lose one of them`,
      {
        file: input,
        hint: "pass perturbationColumn: 'perturbation' to use the existing one",
      },
    );
  }
  const varColumns = columnOrder(src, "/var");
  if (opts.geneNameColumn != null && !varColumns.includes(opts.geneNameColumn)) {
    throw new InvalidArgumentError(`var has no column '${opts.geneNameColumn}'`, {
      file: input,
      hint: `available columns: ${varColumns.join(", ") || "(none)"}`,
    });
  }
  const lc = readLabelCodes(src, col);
  let control: string;
  if (opts.controlLabel != null) {
    control = String(opts.controlLabel);
    if (!lc.labels.includes(control)) {
      throw new InvalidArgumentError(`control label '${control}' does not occur in obs['${col}']`, {
        file: input,
        hint: `labels: ${lc.labels.slice(0, 10).join(", ")}${lc.labels.length > 10 ? ", …" : ""}`,
      });
    }
  } else {
    // The seed scans labels in cell order; codes follow first appearance only for string columns.
    const first = new Float64Array(lc.labels.length).fill(Infinity);
    for (let i = 0; i < lc.codes.length; i++) if (first[lc.codes[i]!] === Infinity) first[lc.codes[i]!] = i;
    const inOrder = lc.labels
      .map((_, k) => k)
      .sort((a, b) => first[a]! - first[b]!)
      .map((k) => lc.labels[k]!);
    try {
      control = resolveControlLabel(inOrder, null);
    } catch (err) {
      if (err instanceof CrispyxError)
        throw new InvalidArgumentError(`obs['${col}']: ${err.message}`, { file: input, hint: err.hint });
      throw err;
    }
  }

  const columnMappings: Record<string, string> = {};
  const labelMappings: Record<string, string> = {};
  let pert: Column | null = null;
  if (control !== "control") {
    // astype(str).replace({control: "control"}), stored as a categorical of the resulting strings.
    const renamed = lc.labels.map((l) => (l === control ? "control" : l));
    const categories = [...new Set(renamed)].sort(codePointCompare);
    const pos = new Map(categories.map((c, i) => [c, i]));
    const codeOf = Int32Array.from(renamed, (l) => pos.get(l)!);
    const Codes = categories.length < 128 ? Int8Array : categories.length < 32768 ? Int16Array : Int32Array;
    const codes = new Codes(lc.codes.length);
    for (let i = 0; i < codes.length; i++) codes[i] = codeOf[lc.codes[i]!]!;
    pert = { type: "categorical", codes, categories: strings(categories), ordered: false };
    labelMappings[control] = "control";
  }
  if (col !== "perturbation") columnMappings.perturbation = col;

  let newVar: DataFrame | null = null;
  if (opts.geneNameColumn != null) {
    const v = readDataFrame(src, "/var");
    const names = columnAsStrings(v.columns[opts.geneNameColumn]!);
    if (names.some((n, i) => n !== v.index[i])) {
      newVar = { ...v, index: names };
      columnMappings["var.index"] = opts.geneNameColumn;
    }
  }
  return {
    obs: { column: col, perturbation: pert, columnOrder: obsColumns.map((n) => (n === col ? "perturbation" : n)) },
    var: newVar,
    metadata: {
      original_path: opts.recordedInput ?? input,
      standardization_timestamp: pythonIsoNow(),
      column_mappings: pyJsonDumps(columnMappings),
      label_mappings: pyJsonDumps(labelMappings),
    },
  };
}

/** obs as stored (index and other columns copied in bounded slices), the perturbation column renamed. */
function writeObs(src: ReadStore, dst: WriteStore, obs: Plan["obs"], copy: CopyOptions): void {
  dst.createGroup("/obs");
  copyAttrs(src, dst, "/obs", "/obs");
  dst.setAttr("/obs", "column-order", obs.columnOrder.length ? obs.columnOrder : new Float64Array(0));
  for (const key of src.keys("/obs")) if (key !== obs.column) copyElement(src, dst, `/obs/${key}`, `/obs/${key}`, copy);
  if (obs.perturbation) writeElem(dst, "/obs/perturbation", obs.perturbation);
  else copyElement(src, dst, `/obs/${obs.column}`, "/obs/perturbation", copy);
}

/** An existing standardization_metadata's entries, as the strings the seed would re-write them as. */
function previousMetadata(src: ReadStore): Record<string, Element> {
  if (!src.exists("/uns/standardization_metadata")) return {};
  const e = readElem(src, "/uns/standardization_metadata");
  return e.type === "dict" ? { ...e.items } : {};
}

/**
 * Write (or reuse) the standardised copy and return its path.
 * @throws InvalidArgumentError before any work for a missing column, an uninferable or absent control
 *   label, or an output that would be the input
 */
export async function standardizeDataset(data: FileSource, opts: StandardizeOptions): Promise<string> {
  const input = inputPath(data);
  if (!opts || typeof opts.perturbationColumn !== "string" || !opts.perturbationColumn) {
    throw new InvalidArgumentError("standardizeDataset needs perturbationColumn");
  }
  if (!opts.output && (typeof opts.outputDir !== "string" || !opts.outputDir))
    throw new InvalidArgumentError("standardizeDataset needs outputDir (or output)");
  const output = opts.output ?? standardizedPath(input, opts.outputDir!);
  return runRewriteOperator({
    input,
    output,
    reuse: () => !opts.force,
    onLegacyCopy:
      opts.recordedInput === undefined
        ? (copy) => standardizeDataset(copy, { ...opts, output, recordedInput: input })
        : undefined,
    stream: opts,
    run: async (src) => {
      const plan = planStandardization(src, input, opts);
      const copy = { signal: opts.signal, blockBytes: opts.blockBytes };
      const onBytes = (b: number) => opts.onProgress?.({ phase: "copying X", done: b, total: NaN, unit: "bytes" });
      // A sparse X is copied straight into the output after HDF5 has written the rest (no WebAssembly copies).
      const directX = directCopySpec(src, "/X");
      await runRewrite(
        output,
        (dst) => {
          copyAttrs(src, dst, "/", "/");
          for (const key of src.keys("/")) {
            throwIfAborted(opts.signal);
            if (key.startsWith("raw.")) continue; // staging leftovers of interrupted edits
            if (key === "obs") writeObs(src, dst, plan.obs, copy);
            else if (key === "var" && plan.var) writeElem(dst, "/var", plan.var);
            else if (key === "uns") continue;
            else if (key === "X" && directX) {
              createDirectPlaceholders(dst, "/X", directX);
              copyAttrs(src, dst, "/X", "/X");
            } else copyElement(src, dst, `/${key}`, `/${key}`, key === "X" ? { ...copy, onBytes } : copy);
          }
          dst.createGroup("/uns");
          if (src.exists("/uns")) {
            copyAttrs(src, dst, "/uns", "/uns");
            for (const k of src.keys("/uns"))
              if (k !== "standardization_metadata") copyElement(src, dst, `/uns/${k}`, `/uns/${k}`, copy);
          } else {
            stampEncoding(dst, "/uns", "dict");
          }
          const items = previousMetadata(src);
          for (const [k, v] of Object.entries(plan.metadata)) items[k] = scalar(v);
          writeElem(dst, "/uns/standardization_metadata", { type: "dict", items });
        },
        directX
          ? (tmp) =>
              copySparseDirect(src, "/X", tmp, "/X", directX, {
                blockBytes: opts.blockBytes,
                signal: opts.signal,
                onBytes,
              })
          : undefined,
      );
      return output;
    },
  });
}
