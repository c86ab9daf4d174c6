/**
 * Gene symbols versus gene IDs. Downstream results (DE tables, plots) are read by people, who expect
 * symbols such as TP53, not Ensembl IDs; the seed refuses identifiers that are mostly Ensembl-like.
 */
import { InvalidArgumentError } from "../errors.ts";
import { readColumn, readIndex } from "../io/anndata/encodings/dataframe.ts";
import { openH5ad } from "../io/anndata/handle.ts";
import { resolveDataPath, type DataSource } from "../io/anndata/fileHelpers.ts";
import type { Column } from "../io/anndata/model.ts";
import { columnAsStrings, isCategoricalOrObject, pyLower, pyUpper } from "./pythonText.ts";

/** Prefixes of Ensembl-style identifiers (Ensembl, FlyBase, yeast ORFs), as in the seed. */
export const ENSEMBL_PREFIXES: readonly string[] = [
  "ENS",
  "FBgn",
  "YAL",
  "YBL",
  "YCL",
  "YDL",
  "YEL",
  "YFL",
  "YGL",
  "YHL",
  "YIL",
  "YJL",
  "YKL",
  "YLL",
  "YML",
  "YNL",
  "YOL",
  "YPL",
  "YQL",
  "YRL",
  "YSL",
  "YTL",
  "YUL",
  "YVL",
  "YWL",
  "YXL",
];

/*
 * The seed compares the upper-cased first three characters with `p[:3]` when validating (so "FBg",
 * with its lower-case g, never matches an upper-cased name) but with `p[:3].upper()` when scoring
 * columns. Both sets are kept so that crispyx accepts and rejects exactly what the seed does.
 */
const VALIDATION_PREFIXES = new Set(ENSEMBL_PREFIXES.map((p) => p.slice(0, 3)));
const DETECTION_PREFIXES = new Set(ENSEMBL_PREFIXES.map((p) => p.slice(0, 3).toUpperCase()));

/** The first three characters of `name` upper-cased (Python's `str.upper().str.slice(0, 3)`). */
function upperPrefix3(name: string): string {
  // Upper-casing has no context rules, so the prefix of the upper-cased name is the upper-cased prefix's.
  const head = Array.from(name.slice(0, 6)).slice(0, 3).join("");
  return Array.from(pyUpper(head)).slice(0, 3).join("");
}

/** True when `name` starts like an Ensembl / FlyBase / yeast ID, by the seed's validation rule. */
export function looksLikeEnsemblId(name: string): boolean {
  return VALIDATION_PREFIXES.has(upperPrefix3(name));
}

/** How many of `names` look like Ensembl-style IDs (the seed's validation rule). */
export function countEnsemblLike(names: readonly string[]): number {
  let n = 0;
  for (const name of names) if (looksLikeEnsemblId(name)) n++;
  return n;
}

/** True when any of `names` starts with an Ensembl-style prefix (the seed's column-scoring rule). */
export function anyEnsemblPrefix(names: Iterable<string>): boolean {
  for (const name of names) if (DETECTION_PREFIXES.has(upperPrefix3(name))) return true;
  return false;
}

/** True when `names` would pass {@link validateGeneSymbols}: non-empty, at most half Ensembl-like. */
export function passesGeneSymbolCheck(names: readonly string[]): boolean {
  return names.length > 0 && countEnsemblLike(names) <= names.length / 2;
}

/** var column names that usually hold gene symbols (compared lower-cased). */
export const GENE_SYMBOL_COLUMN_ALIASES: ReadonlySet<string> = new Set([
  "gene_symbols",
  "gene_name",
  "gene",
  "symbol",
  "hgnc_symbol",
  "gene_symbol",
  "feature_name",
]);

/** One column's score and how it was earned. */
export interface ColumnScore {
  column: string;
  score: number;
  /** The points per criterion, e.g. { nameAlias: 3, textDtype: 2, uniqueCount: 1, controlValue: 2 }. */
  parts: Record<string, number>;
}

/**
 * The seed's gene-symbol-column score: +3 for a known name (gene_symbols, symbol, feature_name…), +2
 * when the values pass the gene-symbol check (at most half Ensembl-like), +1 when no value starts
 * like an Ensembl ID.
 */
export function scoreGeneSymbolColumn(name: string, col: Column): ColumnScore {
  const parts: Record<string, number> = { nameAlias: 0, symbolLike: 0, noEnsemblPrefix: 0 };
  if (GENE_SYMBOL_COLUMN_ALIASES.has(pyLower(name))) parts.nameAlias = 3;
  const { n, ensemblLike, anyPrefix } = prefixStats(col);
  if (n > 0 && ensemblLike <= n / 2) parts.symbolLike = 2;
  if (!anyPrefix) parts.noEnsemblPrefix = 1;
  return { column: name, score: parts.nameAlias! + parts.symbolLike! + parts.noEnsemblPrefix!, parts };
}

/**
 * Rows, rows that look Ensembl-like (validation rule), and whether any row has an Ensembl prefix
 * (scoring rule), of a column as text. A number's text starts with a digit, "-", "nan", "inf", "True"
 * or "False", never with an Ensembl prefix, so numeric columns are not formatted at all; a categorical
 * is checked once per category.
 */
function prefixStats(col: Column): { n: number; ensemblLike: number; anyPrefix: boolean } {
  if (col.type === "array" && col.dtype !== "string") return { n: col.shape[0] ?? 0, ensemblLike: 0, anyPrefix: false };
  if (col.type === "categorical") {
    const cats = columnAsStrings(col.categories);
    const counts = new Float64Array(cats.length);
    for (let i = 0; i < col.codes.length; i++) {
      const k = Number(col.codes[i]);
      if (k >= 0) counts[k]!++; // a missing value reads "nan": not Ensembl-like
    }
    let ensemblLike = 0;
    let anyPrefix = false;
    cats.forEach((c, k) => {
      if (counts[k] === 0) return;
      if (looksLikeEnsemblId(c)) ensemblLike += counts[k]!;
      if (!anyPrefix && anyEnsemblPrefix([c])) anyPrefix = true;
    });
    return { n: col.codes.length, ensemblLike, anyPrefix };
  }
  const values = columnAsStrings(col);
  return { n: values.length, ensemblLike: countEnsemblLike(values), anyPrefix: anyEnsemblPrefix(values) };
}

export interface ValidateGeneSymbolsOptions {
  /** The file the names come from (named in the error). */
  file?: string;
  /** Where the names come from, e.g. "var_names" or "var['gene_ids']" (named in the error). */
  source?: string;
  /** var columns that hold symbols, suggested in the error. */
  candidates?: readonly string[];
}

/**
 * Check that gene identifiers look like symbols: an empty list, or one where more than half start like
 * Ensembl IDs (ENS…, yeast ORFs), is an InvalidArgumentError telling the user to pick a symbol column.
 */
export function validateGeneSymbols(names: readonly string[], options: ValidateGeneSymbolsOptions = {}): void {
  const where = options.source ? ` in ${options.source}` : "";
  const prefix = options.file ? `${options.file}: ` : "";
  if (names.length === 0) {
    throw new InvalidArgumentError(`${prefix}no gene names were provided${where}`, { file: options.file });
  }
  const ensembl = countEnsemblLike(names);
  if (ensembl > names.length / 2) {
    const candidates = options.candidates ?? [];
    const hint = candidates.length
      ? `pick a column of gene symbols (best match first): ${candidates.map((c) => `'${c}'`).join(", ")}`
      : "supply a var column of gene symbols, or map the IDs to symbols with standardizeGeneNames (lookupSymbols or mappingFile)";
    throw new InvalidArgumentError(
      `${prefix}${ensembl} of ${names.length} gene identifiers${where} look like Ensembl-style IDs (e.g. '${names.find(looksLikeEnsemblId)}'), not gene symbols`,
      { file: options.file, hint },
    );
  }
}

export interface EnsureGeneSymbolOptions {
  /** Where informational messages go (default: nowhere). */
  log?: (message: string) => void;
}

/**
 * The gene symbols of a file: `var[geneNameColumn]`, or var_names when no column is given (or when
 * the column 'gene_symbols' is asked for but absent, as the seed allows), checked to look like symbols.
 *
 * @throws InvalidArgumentError for an unknown column (listing the available ones), or when the names
 *   are mostly Ensembl-like (naming the var columns that hold symbols)
 */
export function ensureGeneSymbolColumn(
  data: DataSource,
  geneNameColumn?: string | null,
  options: EnsureGeneSymbolOptions = {},
): string[] {
  const path = resolveDataPath(data);
  const h = openH5ad(path);
  try {
    const columns = h.var.columns;
    let names: string[];
    let source: string;
    if (geneNameColumn === undefined || geneNameColumn === null) {
      options.log?.("No gene name column given; using var_names as gene identifiers.");
      names = readIndex(h.file, "/var");
      source = "var_names";
    } else if (!columns.includes(geneNameColumn)) {
      if (geneNameColumn !== "gene_symbols") {
        throw new InvalidArgumentError(`var has no column '${geneNameColumn}'`, {
          file: path,
          hint: `available var columns: ${columns.map((c) => `'${c}'`).join(", ") || "(none)"}`,
        });
      }
      options.log?.("Column 'gene_symbols' not found in var; using var_names as gene identifiers.");
      names = readIndex(h.file, "/var");
      source = "var_names";
    } else {
      names = columnAsStrings(readColumn(h.file, "/var", geneNameColumn));
      source = `var['${geneNameColumn}']`;
    }
    if (!passesGeneSymbolCheck(names)) {
      // Only text columns can hold symbols (a numeric column would pass the check trivially); best first.
      const candidates = columns
        .filter((c) => c !== geneNameColumn)
        .map((c) => ({ c, col: readColumn(h.file, "/var", c) }))
        .filter(({ col }) => isCategoricalOrObject(col) && passesGeneSymbolCheck(columnAsStrings(col)))
        .map(({ c, col }) => scoreGeneSymbolColumn(c, col))
        .sort((a, b) => b.score - a.score)
        .map((s) => s.column);
      validateGeneSymbols(names, { file: path, source, candidates });
    }
    return names;
  } finally {
    h.close();
  }
}
