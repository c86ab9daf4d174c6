/**
 * Gene name standardisation (the seed's `standardise_gene_names`): strip Ensembl version suffixes,
 * write mitochondrial genes as MT-…, and optionally map IDs to symbols, from an offline table or
 * through MyGene.info. Only var is rewritten; X is never read.
 */
import { CrispyxError, InvalidArgumentError } from "../errors.ts";
import type { DataFrame } from "../io/anndata/model.ts";
import { loadVar, resolveDataPath, writeVar, writeVarColumns, type DataSource } from "../io/anndata/fileHelpers.ts";
import type { ProgressCallback } from "../core/streaming.ts";
import { columnTexts, missingMask, sameKindTextColumn } from "./columnValues.ts";
import { lookupSymbolsMyGene, MYGENE_DEFAULT_URL } from "./myGene.ts";
import { readSymbolMapping } from "./geneMappingFile.ts";

/** What to do with IDs that no mapping knows: keep them silently, keep them with a warning, or fail. */
export type UnmappedAction = "keep" | "warn" | "error";

export interface NormalizeGeneIdOptions {
  /** Remove a trailing ".N" version (ENSG00000141510.16 → ENSG00000141510). Default true. */
  stripVersion?: boolean;
  /** Write a leading lower-case "mt-" as "MT-" (mt-Nd1 → MT-Nd1). Default true. */
  normaliseMtPrefix?: boolean;
}

// Python's `\d` matches any Unicode decimal digit and `$` also matches before a final newline.
const VERSION_SUFFIX = /\.\p{Nd}+(?=\n?$)/u;

/** Steps 1–2 of the seed on one name: version suffix, then mt- prefix. */
export function normalizeGeneId(name: string, options: NormalizeGeneIdOptions = {}): string {
  let s = name;
  if (options.stripVersion ?? true) s = s.replace(VERSION_SUFFIX, "");
  if ((options.normaliseMtPrefix ?? true) && s.startsWith("mt-")) s = "MT-" + s.slice(3);
  return s;
}

export interface StandardizeGeneNamesOptions extends NormalizeGeneIdOptions {
  /** var column to standardise; omitted or null: the var index (var_names). */
  column?: string | null;
  /** Map IDs to symbols through MyGene.info (needs network). Default false. */
  lookupSymbols?: boolean;
  /**
   * An ID → symbol table (TSV or CSV, header line detected) used before, or instead of, the online
   * lookup: for machines without network. IDs it maps are not looked up online.
   */
  mappingFile?: string;
  /** Whether the mapping file's first line is a header; default: detected (see readSymbolMapping). */
  mappingHeader?: boolean;
  /** Species for MyGene.info ("human", "mouse", a taxonomy ID…). Default "human". */
  species?: string;
  /** IDs no mapping knows: "keep" them, "warn" and keep them (default), or "error" (lists the first 10). */
  unmappedAction?: UnmappedAction;
  /**
   * Write the standardised names into the file (var only; X is untouched, crash-safe). Default false:
   * return the names and leave the file byte-identical.
   */
  inplace?: boolean;
  /** MyGene.info API base URL. Default https://mygene.info/v3. */
  baseUrl?: string;
  /** Time allowed for each MyGene.info request, in milliseconds. Default 30,000. */
  timeoutMs?: number;
  /** Extra attempts after a failed MyGene.info request. Default 2. */
  retries?: number;
  /** Pause between MyGene.info batches (ms). Default 1,000. */
  delayMs?: number;
  /** Called after each MyGene.info batch (phase "MyGene.info lookup", done/total in batches). */
  onProgress?: ProgressCallback;
  /** Where warnings go (default: console.warn). */
  log?: (message: string) => void;
  signal?: AbortSignal;
}

export interface StandardizeGeneNamesResult {
  /** The standardised names, one per gene, in var order (a missing value reads as pandas writes it, "nan"). */
  names: string[];
  /** The var column standardised, or null for the index. */
  column: string | null;
  /** How many names differ from the originals. */
  changed: number;
  /** Distinct names that a lookup was asked for but found no symbol for (empty without a lookup). */
  unmapped: string[];
  /** True when the names were written into the file. */
  written: boolean;
}

/**
 * Standardise gene identifiers in var (the index, or one column), as the seed's
 * `standardise_gene_names`: strip ".N" versions, "mt-" → "MT-", then optionally map each distinct
 * name to a symbol (mapping file first, then MyGene.info when `lookupSymbols`). Names no mapping
 * knows stay as they are, with a warning by default.
 *
 * @returns the names (and what changed); written into the file only when `inplace: true`
 * @throws InvalidArgumentError for an unknown column (listing the available ones), or unmapped IDs
 *   with `unmappedAction: "error"` (listing the first 10); LookupServiceError when MyGene.info cannot be
 *   reached or is too slow. The file is never modified when an error is thrown.
 */
export async function standardizeGeneNames(
  data: DataSource,
  options: StandardizeGeneNamesOptions = {},
): Promise<StandardizeGeneNamesResult> {
  const path = resolveDataPath(data);
  const action = options.unmappedAction ?? "warn";
  if (!["keep", "warn", "error"].includes(action)) {
    throw new InvalidArgumentError(`unmappedAction must be 'keep', 'warn' or 'error', got '${action}'`);
  }
  // Validate every argument before the (possibly long) lookup starts.
  const mapping = options.mappingFile
    ? readSymbolMapping(options.mappingFile, { header: options.mappingHeader }).map
    : null;
  const log = options.log ?? ((m: string) => console.warn(m));
  const df: DataFrame = loadVar(path);
  const column = options.column ?? null;
  let original: string[];
  let missing: Uint8Array | null = null;
  if (column === null) {
    original = df.index;
  } else {
    const col = df.columns[column];
    if (!col) {
      throw new InvalidArgumentError(`var has no column '${column}'`, {
        file: path,
        hint: `available var columns: ${df.columnOrder.map((c) => `'${c}'`).join(", ") || "(none)"}`,
      });
    }
    original = columnTexts(col);
    missing = missingMask(col);
  }

  // Missing values stay missing: not normalised, not looked up, written back as missing.
  let names = original.map((n, i) => (missing?.[i] ? n : normalizeGeneId(n, options)));
  let unmapped: string[] = [];
  if (mapping || options.lookupSymbols) {
    const unique = [...new Set(missing ? names.filter((_, i) => !missing![i]) : names)];
    const symbols = new Map<string, string>();
    if (mapping)
      for (const id of unique) {
        const s = mapping.get(id);
        if (s !== undefined) symbols.set(id, s);
      }
    if (options.lookupSymbols) {
      const rest = unique.filter((id) => !symbols.has(id));
      if (rest.length) {
        const found = await lookupSymbolsMyGene(rest, {
          species: options.species,
          baseUrl: options.baseUrl ?? MYGENE_DEFAULT_URL,
          timeoutMs: options.timeoutMs,
          retries: options.retries,
          delayMs: options.delayMs,
          onProgress: options.onProgress,
          signal: options.signal,
        });
        for (const [id, s] of found) symbols.set(id, s);
      }
    }
    unmapped = unique.filter((id) => !symbols.has(id));
    if (unmapped.length) {
      const msg = `${unmapped.length} gene IDs could not be mapped to symbols`;
      if (action === "error") {
        throw new InvalidArgumentError(
          `${msg}. First 10: ${unmapped
            .slice(0, 10)
            .map((u) => `'${u}'`)
            .join(", ")}`,
          {
            file: path,
            hint: "use unmappedAction 'keep' or 'warn' to leave them unchanged, or add them to a mapping file",
          },
        );
      }
      if (action === "warn")
        log(`${path}: ${msg}; they are left unchanged (first 10: ${unmapped.slice(0, 10).join(", ")}).`);
    }
    names = names.map((n, i) => (missing?.[i] ? n : (symbols.get(n) ?? n)));
  }

  let changed = 0;
  for (let i = 0; i < names.length; i++) if (names[i] !== original[i]) changed++;

  const written = options.inplace === true;
  if (written) {
    if (column === null && new Set(names).size !== names.length) {
      log(`${path}: the standardised var_names are not unique (anndata will warn when reading the file).`);
    }
    try {
      if (column === null) {
        writeVar(path, { ...df, index: names });
      } else {
        // Only this column is rewritten; the other var columns are linked, not copied.
        const values = missing ? names.map((n, i) => (missing![i] ? null : n)) : names;
        writeVarColumns(path, { [column]: sameKindTextColumn(df.columns[column]!, values, missing) });
      }
    } catch (err) {
      if (err instanceof CrispyxError) throw err;
      throw new CrispyxError(`could not write var: ${(err as Error).message}`, { file: path, cause: err });
    }
  }
  return { names, column, changed, unmapped, written };
}
