/**
 * Guess which obs column holds the perturbation labels and which var column holds gene symbols, with
 * the seed's scoring, so that users need not name them for every command. Columns are read one at a
 * time (a 10M-cell obs is never loaded whole) and categoricals are scored from their categories.
 */
import { InvalidArgumentError } from "../errors.ts";
import type { Column } from "../io/anndata/model.ts";
import { encodingOf } from "../io/anndata/registry.ts";
import type { ReadStore } from "../io/store.ts";
import type { TypedArray } from "../io/dtypes.ts";
import { readColumn } from "../io/anndata/encodings/dataframe.ts";
import { H5adHandle, openH5ad } from "../io/anndata/handle.ts";
import { resolveDataPath, type DataSource } from "../io/anndata/fileHelpers.ts";
import { CONTROL_TERMS } from "./controlLabel.ts";
import { GENE_SYMBOL_COLUMN_ALIASES, scoreGeneSymbolColumn, type ColumnScore } from "./geneSymbols.ts";
import { columnAsStrings, columnNunique, isCategoricalOrObject, pyLower } from "./pythonText.ts";

// The gene-symbol score lives with the symbol rules; re-exported so detection is one import.
export { GENE_SYMBOL_COLUMN_ALIASES, scoreGeneSymbolColumn, type ColumnScore };

/** obs column names that usually hold perturbation labels (compared lower-cased). */
export const PERTURBATION_COLUMN_ALIASES: ReadonlySet<string> = new Set([
  "perturbation",
  "gene",
  "gene_target",
  "condition",
  "guide_identity",
  "target_gene_name",
  "gene_name",
  "sgrna",
  "guide",
  "guide_id",
  "sgrna_name",
  "target",
]);

/** Most distinct values a perturbation column may have for the +1 (more looks like a cell barcode). */
export const MAX_PERTURBATION_UNIQUE = 5000;

/** The chosen column, its score, and every column's score (in table order). */
export interface ColumnDetection {
  column: string | null;
  score: number;
  scores: ColumnScore[];
}

export interface DetectOptions {
  /** Log the chosen column and its score through `log`. Default false. */
  verbose?: boolean;
  /** Where verbose messages go (default: console.error). */
  log?: (message: string) => void;
  /** Return every column's score ({@link ColumnDetection}) instead of only the column name. */
  explain?: boolean;
}

export interface DetectPerturbationOptions extends DetectOptions {
  /** A known control label: columns containing it score +2 (instead of any control spelling). */
  controlLabel?: string | null;
  /** Fewest distinct values for the +1 distinct-count point. Default 2. */
  minUnique?: number;
}

/** Open `data` (or use an open handle) for the duration of `fn`. */
function withHandle<T>(data: DataSource, fn: (h: H5adHandle) => T): T {
  if (data instanceof H5adHandle) return fn(data);
  const h = openH5ad(resolveDataPath(data));
  try {
    return fn(h);
  } finally {
    h.close();
  }
}

/**
 * The distinct values of a column as pandas' `astype(str)` writes them (categoricals: the categories in
 * use). Numbers are made text only once per distinct value: formatting a million floats costs seconds.
 */
function distinctStrings(col: Column): Set<string> {
  if (col.type === "categorical") {
    const cats = columnAsStrings(col.categories);
    const out = new Set<string>();
    const codes = col.codes;
    for (let i = 0; i < codes.length; i++) {
      const k = Number(codes[i]);
      out.add(k < 0 ? "nan" : cats[k]!);
    }
    return out;
  }
  if (col.type === "array" && col.dtype !== "string") {
    const data = col.data as TypedArray;
    const distinct = [...new Set(data as Iterable<number | bigint>)];
    const Ctor = data.constructor as new (values: Array<number | bigint>) => TypedArray;
    return new Set(columnAsStrings({ ...col, shape: [distinct.length], data: new Ctor(distinct) }));
  }
  return new Set(columnAsStrings(col));
}

/** What the perturbation score needs to know about a column's values. */
interface LabelEvidence {
  /** Categorical or text (pandas category / object dtype). */
  isText: boolean;
  /** Distinct values (missing not counted), or any number above MAX_PERTURBATION_UNIQUE when there are more. */
  nUnique: number;
  /** Some value, as text and lower-cased, is a control. */
  hasControl: boolean;
}

type ControlTest = (lowered: string) => boolean;

function controlTest(controlLabel: string | null | undefined): ControlTest {
  if (controlLabel === undefined || controlLabel === null) return (v) => CONTROL_TERMS.has(v);
  const want = pyLower(String(controlLabel));
  return (v) => v === want;
}

function evidenceOf(col: Column, isControl: ControlTest): LabelEvidence {
  return {
    isText: isCategoricalOrObject(col),
    nUnique: columnNunique(col),
    hasControl: [...distinctStrings(col)].some((v) => isControl(pyLower(v))),
  };
}

/** Rows per read when a text column is streamed. */
const TEXT_CHUNK = 1 << 18;

/**
 * The same evidence for a text (string-array) column on disk, read in chunks: distinct values are kept
 * only up to MAX_PERTURBATION_UNIQUE (beyond that the +1 is lost anyway), and reading stops once both
 * answers are known, so a 10M-cell barcode column costs one chunk of memory.
 */
function streamedTextEvidence(file: ReadStore, path: string, isControl: ControlTest): LabelEvidence {
  const n = file.info(path).shape[0] ?? 0;
  let seen: Set<string> | null = new Set<string>();
  let hasControl = false;
  for (let start = 0; start < n; start += TEXT_CHUNK) {
    const values = file.readStrings(path, start, Math.min(TEXT_CHUNK, n - start));
    for (const v of values) {
      if (seen) {
        if (seen.has(v)) continue;
        seen.add(v);
        if (!hasControl && isControl(pyLower(v))) hasControl = true;
        if (seen.size > MAX_PERTURBATION_UNIQUE) seen = null;
      } else if (!hasControl && isControl(pyLower(v))) {
        hasControl = true;
      }
    }
    if (!seen && hasControl) break;
  }
  return { isText: true, nUnique: seen ? seen.size : MAX_PERTURBATION_UNIQUE + 1, hasControl };
}

function perturbationScore(name: string, ev: LabelEvidence, minUnique: number): ColumnScore {
  const parts: Record<string, number> = {
    nameAlias: PERTURBATION_COLUMN_ALIASES.has(pyLower(name)) ? 3 : 0,
    textDtype: ev.isText ? 2 : 0,
    uniqueCount: minUnique <= ev.nUnique && ev.nUnique <= MAX_PERTURBATION_UNIQUE ? 1 : 0,
    controlValue: ev.hasControl ? 2 : 0,
  };
  return { column: name, score: parts.nameAlias! + parts.textDtype! + parts.uniqueCount! + parts.controlValue!, parts };
}

/**
 * The seed's perturbation-column score: +3 for a known name (perturbation, gene, guide_identity…),
 * +2 for a categorical or text column, +1 for `minUnique`–5000 distinct values, +2 when a value is
 * a control spelling (ctrl, control, ntc, non-target, scramble…) or equals `controlLabel`
 * (case-insensitive).
 */
export function scorePerturbationColumn(
  name: string,
  col: Column,
  options: { controlLabel?: string | null; minUnique?: number } = {},
): ColumnScore {
  return perturbationScore(name, evidenceOf(col, controlTest(options.controlLabel)), options.minUnique ?? 2);
}

/** The first column with the highest score (as Python's max), or null when none scores above zero. */
function pick(scores: ColumnScore[]): ColumnDetection {
  let best: ColumnScore | null = null;
  for (const s of scores) if (best === null || s.score > best.score) best = s;
  if (best === null || best.score <= 0) return { column: null, score: best?.score ?? 0, scores };
  return { column: best.column, score: best.score, scores };
}

function report(kind: string, det: ColumnDetection, options: DetectOptions): void {
  if (!options.verbose) return;
  const log = options.log ?? ((m: string) => console.error(m));
  if (det.column === null) log(`No ${kind} column detected.`);
  else log(`Detected ${kind} column: '${det.column}' (score=${det.score}).`);
}

/** Every obs column's perturbation score, in column order. */
export function scorePerturbationColumns(data: DataSource, options: DetectPerturbationOptions = {}): ColumnScore[] {
  const minUnique = options.minUnique ?? 2;
  if (!Number.isInteger(minUnique) || minUnique < 0) {
    throw new InvalidArgumentError(`minUnique must be a non-negative integer, got ${minUnique}`);
  }
  const isControl = controlTest(options.controlLabel);
  return withHandle(data, (h) =>
    h.obs.columns.map((name) => {
      const p = `/obs/${name}`;
      const streamable = h.file.isDataset(p) && encodingOf(h.file, p)?.type === "string-array";
      const ev = streamable
        ? streamedTextEvidence(h.file, p, isControl)
        : evidenceOf(readColumn(h.file, "/obs", name), isControl);
      return perturbationScore(name, ev, minUnique);
    }),
  );
}

/** Every var column's gene-symbol score, in column order. */
export function scoreGeneSymbolColumns(data: DataSource): ColumnScore[] {
  return withHandle(data, (h) =>
    h.var.columns.map((name) => scoreGeneSymbolColumn(name, readColumn(h.file, "/var", name))),
  );
}

/**
 * The obs column most likely to hold perturbation labels (the seed's `detect_perturbation_column`),
 * or null when no column scores above zero. Ties go to the earlier column.
 * With `explain: true`, returns every column's score as well.
 */
export function detectPerturbationColumn(
  data: DataSource,
  options: DetectPerturbationOptions & { explain: true },
): ColumnDetection;
export function detectPerturbationColumn(data: DataSource, options?: DetectPerturbationOptions): string | null;
export function detectPerturbationColumn(
  data: DataSource,
  options: DetectPerturbationOptions = {},
): string | null | ColumnDetection {
  const det = pick(scorePerturbationColumns(data, options));
  report("perturbation", det, options);
  return options.explain ? det : det.column;
}

/**
 * The var column most likely to hold gene symbols (the seed's `detect_gene_symbol_column`), or null
 * (use var_names). Ties go to the earlier column. With `explain: true`, returns every column's score.
 */
export function detectGeneSymbolColumn(data: DataSource, options: DetectOptions & { explain: true }): ColumnDetection;
export function detectGeneSymbolColumn(data: DataSource, options?: DetectOptions): string | null;
export function detectGeneSymbolColumn(data: DataSource, options: DetectOptions = {}): string | null | ColumnDetection {
  const det = pick(scoreGeneSymbolColumns(data));
  report("gene symbol", det, options);
  return options.explain ? det : det.column;
}

export interface InferredColumns {
  perturbationColumn: string | null;
  geneNameColumn: string | null;
}

export interface InferredColumnsExplained extends InferredColumns {
  perturbation: ColumnDetection;
  geneName: ColumnDetection;
}

/**
 * Both detections at once (the seed's `infer_columns`), opening the file once. With `explain: true`
 * the result also carries every column's scores.
 */
export function inferColumns(
  data: DataSource,
  options: DetectPerturbationOptions & { explain: true },
): InferredColumnsExplained;
export function inferColumns(data: DataSource, options?: DetectPerturbationOptions): InferredColumns;
export function inferColumns(
  data: DataSource,
  options: DetectPerturbationOptions = {},
): InferredColumns | InferredColumnsExplained {
  return withHandle(data, (h) => {
    const perturbation = detectPerturbationColumn(h, { ...options, explain: true });
    const geneName = detectGeneSymbolColumn(h, { verbose: options.verbose, log: options.log, explain: true });
    const base = { perturbationColumn: perturbation.column, geneNameColumn: geneName.column };
    return options.explain ? { ...base, perturbation, geneName } : base;
  });
}
