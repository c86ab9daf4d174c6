/**
 * Perturbation label normalisation (the seed's `normalise_perturbation_labels`): screens spell the
 * same perturbation many ways (sgTP53_KO, TP53_P1P2) and the controls even more (NTC, non-targeting,
 * ctrl…). This strips guide prefixes/suffixes and maps every control spelling to one label, so that
 * grouping by perturbation works. Only obs is rewritten; X is never read.
 */
import { CrispyxError, InvalidArgumentError } from "../errors.ts";
import type { Column } from "../io/anndata/model.ts";
import { resolveDataPath, writeObsColumns, type DataSource } from "../io/anndata/fileHelpers.ts";
import { openH5ad } from "../io/anndata/handle.ts";
import { readColumn } from "../io/anndata/encodings/dataframe.ts";
import { DEFAULT_CONTROL_ALIASES } from "./controlLabel.ts";
import { escapeRegExp, PY_END_ANCHOR, pyLower, pythonRegex } from "./pythonText.ts";
import { columnTexts, missingMask, sameKindTextColumn } from "./columnValues.ts";

export interface NormalizeLabelOptions {
  /** Prefixes removed from the start of a label, in order (e.g. ["sg-", "sg"]). */
  stripPrefixes?: readonly string[];
  /** Suffixes removed from the end of a label, in order (e.g. ["_KO", "_KD", "_P1P2"]). */
  stripSuffixes?: readonly string[];
  /** A Python regular expression whose matches are removed after prefixes and suffixes (e.g. "_[0-9]+$"). */
  stripSuffixRegex?: string;
  /** More control spellings (compared case-insensitively), added to the built-in ones (NTC, ctrl, scramble…). */
  controlAliases?: readonly string[];
  /** The label every control spelling becomes. Default "NTC". */
  canonicalControl?: string;
}

/**
 * A function normalising one label as the seed does: strip each prefix (once, at the start), each
 * suffix (once, at the end), remove the regex's matches, then map control aliases (case-insensitive)
 * to the canonical control. Arguments are checked here, before any label is touched.
 */
export function labelNormalizer(options: NormalizeLabelOptions = {}): (label: string) => string {
  for (const key of ["stripPrefixes", "stripSuffixes", "controlAliases"] as const) {
    const list = options[key];
    if (list !== undefined && (!Array.isArray(list) || list.some((x) => typeof x !== "string"))) {
      throw new InvalidArgumentError(`${key} must be a list of strings`);
    }
  }
  for (const key of ["stripSuffixRegex", "canonicalControl"] as const) {
    if (options[key] !== undefined && typeof options[key] !== "string")
      throw new InvalidArgumentError(`${key} must be a string`);
  }
  const prefixes = [...(options.stripPrefixes ?? [])];
  const suffixes = (options.stripSuffixes ?? []).map((s) => new RegExp(escapeRegExp(s) + PY_END_ANCHOR, "g"));
  const regex = options.stripSuffixRegex ? pythonRegex(options.stripSuffixRegex) : null;
  const aliases = new Set(DEFAULT_CONTROL_ALIASES);
  for (const a of options.controlAliases ?? []) aliases.add(pyLower(String(a)));
  const canonical = options.canonicalControl ?? "NTC";
  return (label: string) => {
    let s = label;
    for (const p of prefixes) if (p && s.startsWith(p)) s = s.slice(p.length);
    for (const re of suffixes) s = s.replace(re, "");
    if (regex) s = s.replace(regex, "");
    return aliases.has(pyLower(s)) ? canonical : s;
  };
}

/** Normalise a list of labels (see {@link labelNormalizer}); each distinct label is worked out once. */
export function normalizeLabels(labels: readonly string[], options: NormalizeLabelOptions = {}): string[] {
  const f = labelNormalizer(options);
  const memo = new Map<string, string>();
  return labels.map((l) => {
    let v = memo.get(l);
    if (v === undefined) {
      v = f(l);
      memo.set(l, v);
    }
    return v;
  });
}

export interface NormalizePerturbationLabelsOptions extends NormalizeLabelOptions {
  /**
   * Write the normalised labels into the file (obs only; X is untouched, crash-safe). Default false:
   * return the labels and leave the file byte-identical.
   */
  inplace?: boolean;
  /** Where warnings go (default: console.warn). */
  log?: (message: string) => void;
}

export interface NormalizePerturbationLabelsResult {
  /** The normalised label of every cell, in obs order; null where the label was missing. */
  labels: (string | null)[];
  column: string;
  /** How many cells' labels changed. */
  changed: number;
  /** Each distinct original label that changed, and what it became. */
  mapping: Record<string, string>;
  /** Cells now carrying the canonical control label. */
  nControl: number;
  /** True when the labels were written into the file. */
  written: boolean;
}

/** Read one obs column (and the list of columns) without loading the rest of obs. */
function readObsColumn(path: string, column: string): { col: Column; nObs: number } {
  const h = openH5ad(path);
  try {
    const columns = h.obs.columns;
    if (!columns.includes(column)) {
      throw new InvalidArgumentError(`obs has no column '${column}'`, {
        file: path,
        hint: `available obs columns: ${columns.map((c) => `'${c}'`).join(", ") || "(none)"}`,
      });
    }
    return { col: readColumn(h.file, "/obs", column), nObs: h.nObs };
  } finally {
    h.close();
  }
}

/**
 * Normalise the perturbation labels in `obs[column]`, as the seed's `normalise_perturbation_labels`:
 * strip prefixes, then suffixes, then the regex's matches, then map the control spellings (built-in:
 * ntc, non-targeting, non_targeting, nontarget, non-target, non_target, control, ctrl, scramble,
 * scrambled, non-targeting control, non-targeting-control; plus `controlAliases`) to
 * `canonicalControl`. A categorical column stays categorical (categories re-sorted, unused dropped,
 * unordered, as the seed writes it);
 * other columns become string columns. Missing labels stay missing (the seed would write "nan").
 *
 * Only that column is read, and with `inplace` only that column is rewritten (crash-safe, through
 * writeObsColumns: the other obs columns are linked, not copied): the rest of obs, and X, are never
 * loaded, so a 10M-cell file costs one column's memory.
 *
 * @throws InvalidArgumentError for an unknown column (listing the available ones), a file without
 *   cells, a bad regular expression, or options that would leave every label empty
 */
export function normalizePerturbationLabels(
  data: DataSource,
  column: string,
  options: NormalizePerturbationLabelsOptions = {},
): NormalizePerturbationLabelsResult {
  const path = resolveDataPath(data);
  if (typeof column !== "string" || column === "") {
    throw new InvalidArgumentError("name the obs column holding the perturbation labels");
  }
  const normalise = labelNormalizer(options);
  const log = options.log ?? ((m: string) => console.warn(m));
  const { col, nObs } = readObsColumn(path, column);
  if (nObs === 0) {
    throw new InvalidArgumentError(`obs['${column}'] has no labels (the file has no cells)`, { file: path });
  }
  const text = columnTexts(col);
  const missing = missingMask(col);
  const mapping = new Map<string, string>();
  const memo = new Map<string, string>();
  const labels: (string | null)[] = new Array(text.length);
  let changed = 0;
  let nControl = 0;
  let nEmpty = 0;
  let nPresent = 0;
  const canonical = options.canonicalControl ?? "NTC";
  for (let i = 0; i < text.length; i++) {
    if (missing?.[i]) {
      labels[i] = null;
      continue;
    }
    const t = text[i]!;
    let v = memo.get(t);
    if (v === undefined) {
      v = normalise(t);
      memo.set(t, v);
      if (v !== t) mapping.set(t, v);
    }
    labels[i] = v;
    nPresent++;
    if (v !== t) changed++;
    if (v === canonical) nControl++;
    if (v === "") nEmpty++;
  }
  if (nPresent > 0 && nEmpty === nPresent) {
    throw new InvalidArgumentError(`normalising obs['${column}'] would leave every label empty`, {
      file: path,
      hint: "check the prefixes, suffixes and regular expression to strip",
    });
  }
  if (nEmpty > 0) log(`${path}: ${nEmpty} cells in obs['${column}'] have an empty label after normalisation.`);

  const written = options.inplace === true;
  if (written) {
    const newColumn = sameKindTextColumn(col, labels, missing);
    try {
      writeObsColumns(path, { [column]: newColumn });
    } catch (err) {
      if (err instanceof CrispyxError) throw err;
      throw new CrispyxError(`could not write obs['${column}']: ${(err as Error).message}`, { file: path, cause: err });
    }
  }
  // fromEntries defines own keys, so a label such as "__proto__" is kept as data.
  return { labels, column, changed, mapping: Object.fromEntries(mapping), nControl, written };
}
