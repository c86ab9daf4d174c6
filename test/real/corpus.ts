/**
 * The real-file corpus (test/fixtures/real/): its manifest, the expectations written by
 * scripts/reference/make_real_fixtures.py, and the comparisons the corpus test makes (with their tolerances).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../cli/helpers.ts";

export const CORPUS = join(REPO, "test", "fixtures", "real");

/** JSON numbers, with the non-finite ones as strings (JSON has none). */
export type Num = number | "NaN" | "Infinity" | "-Infinity";

export interface ManifestEntry {
  name: string;
  repository: string;
  commit: string | null;
  path: string;
  licence: string;
  covers: string[];
  /** input "X": DE runs on the file itself (X is not counts), else on the normalised copy. */
  de: { column: string; control: string; input?: "X"; input_reason?: string } | null;
  de_reason?: string;
}

export interface Expected {
  name: string;
  read_by: string;
  n_obs: number;
  n_vars: number;
  obs_names_head: string[];
  var_names_head: string[];
  obs_columns: Record<string, "categorical" | "bool" | "int" | "float" | "string">;
  var_columns: string[];
  categories: Record<string, (string | null)[]>;
  obs_head: Record<string, (string | null)[]>;
  raw: null | { n_vars: number };
  layers: string[];
  obsm: string[];
  x: null | { dtype: string; format: string; sum: Num; rows: { row: number; sum: Num; nnz: number }[] };
  normalize: null | { target_sum: number; rows: { row: number; sum: Num; first: [number, Num][] }[] };
  filter: null | { cells?: string; cells_from?: string[]; n_obs: number; x_sum: Num };
  de: null | {
    column: string;
    control: string;
    group: string;
    input: "X" | "normalized";
    n_group: number;
    n_control: number;
    genes: string[];
    ttest: Num[];
    wilcoxon: Num[];
  };
}

export function loadManifest(): ManifestEntry[] {
  return (JSON.parse(readFileSync(join(CORPUS, "manifest.json"), "utf8")) as { files: ManifestEntry[] }).files;
}

export function loadExpected(name: string): Expected {
  return JSON.parse(readFileSync(join(CORPUS, "expected", name.replace(/\.h5ad$/, ".json")), "utf8")) as Expected;
}

export function toNumber(v: Num): number {
  return typeof v === "number" ? v : v === "NaN" ? NaN : v === "Infinity" ? Infinity : -Infinity;
}

/** |a − b| ≤ rel·|b| + abs, with NaN equal only to NaN and infinities equal only to themselves. */
export function close(actual: number, expected: number, rel: number, abs = 0): boolean {
  if (Number.isNaN(expected) || Number.isNaN(actual)) return Number.isNaN(expected) && Number.isNaN(actual);
  if (!Number.isFinite(expected) || !Number.isFinite(actual)) return actual === expected;
  return Math.abs(actual - expected) <= rel * Math.abs(expected) + abs;
}

/** "what: got A, expected B" when the two differ beyond the tolerance, else null. */
export function differs(what: string, actual: number, expected: Num, rel: number, abs = 0): string | null {
  const e = toNumber(expected);
  return close(actual, e, rel, abs) ? null : `${what}: got ${actual}, expected ${e}`;
}

/** A minimal RFC 4180 CSV parser (quoted fields with commas, quotes and newlines). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += ch;
  }
  if (field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** A stack trace, a WebAssembly abort or an HDF5 error stack in a command's stderr. */
export function crashSign(stderr: string): string | null {
  const signs: [RegExp, string][] = [
    [/^\s+at .+[(:]\d+:\d+\)?$/m, "stack trace"],
    [/Aborted\(|RuntimeError: |memory access out of bounds|unreachable/, "WebAssembly abort"],
    [/HDF5-DIAG|#\d{3}: .*H5/, "HDF5 error stack"],
  ];
  for (const [re, what] of signs) if (re.test(stderr)) return what;
  return null;
}

/** The first line of stderr that says something (for the failure table). */
export function firstLine(stderr: string): string {
  return (
    stderr.split("\n").find((l) => l.trim() && !/^\s*(wrote|warning:)/i.test(l)) ??
    stderr.trim().split("\n")[0] ??
    ""
  )
    .trim()
    .slice(0, 200);
}
