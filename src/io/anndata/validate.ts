/**
 * The full check of the AnnData on-disk spec (issue 20): `crispyx validate`, `validate()` in the API, the
 * problems `crispyx info` lists, and the words operators refuse a file with.
 *
 *   structure (metadata, `checkStructure`): every element's encoding known; obs/var dataframes with an
 *     index, their columns as long as the table; categoricals (integer codes in [-1, n_categories), unique
 *     categories); X consistent when present (shape, format vs indptr, integer indices); obsm/varm/obsp/
 *     varp/layers/raw shapes; strings valid UTF-8 (obs/var names, string columns, categories, uns); uns
 *     nested at most MAX_UNS_DEPTH levels.
 *   X (streamed, `checkMatrix`): indptr monotone from 0 to nnz, indices in range, no duplicates within a
 *     row (./sparseInvariants.ts, the same checks every reader applies); NaN/±Inf; negative values where
 *     X holds whole numbers (counts).
 *
 * Cost model: structure reads the obs/var indexes, string columns, categorical codes and the small
 * datasets of uns (O(n_obs + n_vars) memory), never X; `checkMatrix` streams X once in blocks of
 * ≈ 4 M stored elements (bounded memory whatever the size).
 */
import { FileFormatError, CrispyxError } from "../../errors.ts";
import { openStore } from "../openStore.ts";
import type { ReadStore } from "../store.ts";
import { encodingOf, isReadable, kindOfEncoding, unknownEncoding } from "./registry.ts";
import { isLegacyTable, legacyTableLength } from "./encodings/legacyDataframe.ts";
import { sparseShape } from "./encodings/sparse.ts";
import { describeMatrix, MatrixReader } from "./matrixReader.ts";
import { num } from "../../core/sparse.ts";
import { checkIndicesBlock, checkIndptrBlock, DuplicateMarks, type SparseContext } from "./sparseInvariants.ts";

/** uns deeper than this is refused: nothing legitimate nests so deep, and readers recurse. */
export const MAX_UNS_DEPTH = 64;

export interface ValidationProblem {
  /** The element, as a path inside the file ("obs/perturbation/codes", "X/indptr"). */
  element: string;
  /** One line naming the element and what is wrong with it. */
  message: string;
}

export interface ValidationReport {
  file: string;
  valid: boolean;
  problems: ValidationProblem[];
  /** n_obs × n_vars, when obs and var could be read. */
  shape?: [number, number];
  /** What the X pass found (absent when X was not streamed). */
  x?: { format: string; nnz: number; nan: number; inf: number; negative: number; wholeNumbers: boolean };
}

type Add = (element: string, message: string) => void;

const rel = (p: string) => p.replace(/^\//, "") || "/";

/**
 * Strings whose bytes were not UTF-8. The HDF5 backend decodes strictly (../h5/utf8.ts): such a string is a
 * read error naming the element, row and byte, which `guarded` reports. This second look catches text another
 * backend's decoder replaced (unpaired surrogates, U+FFFD).
 */
const NOT_UTF8 = /[\uD800-\uDFFF\uFFFD]/u;

export function firstNonUtf8(values: string[]): number {
  for (let i = 0; i < values.length; i++) if (NOT_UTF8.test(values[i]!)) return i;
  return -1;
}

function isStringDtype(dtype: string): boolean {
  return dtype === "string" || dtype.startsWith("fixed-string:");
}

/** Check a string dataset's text; its values (null when not text), for callers that need them. */
function checkStrings(file: ReadStore, path: string, add: Add, what: string): string[] | null {
  const values = file.readStrings(path);
  const bad = firstNonUtf8(values);
  if (bad >= 0) {
    add(rel(path), `${rel(path)}[${bad}] (${what}) is not valid UTF-8 text`);
    return null;
  }
  return values;
}

/**
 * Check a string dataset's text when its values are not needed: plain ASCII, which the store can tell
 * without building millions of strings (HDF5), is valid as it stands; anything else is read and judged.
 */
function checkText(file: ReadStore, path: string, add: Add, what: string): void {
  if (file.stringsAreAscii?.(path)) return;
  checkStrings(file, path, add, what);
}

/** Run one check, turning a read failure into a problem of that element. */
function guarded(element: string, add: Add, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof CrispyxError || (err instanceof Error && !(err instanceof TypeError)))
      add(rel(element), (err as Error).message);
    else throw err;
  }
}

function checkEncodingKnown(file: ReadStore, path: string, add: Add): boolean {
  const enc = encodingOf(file, path);
  if (enc && kindOfEncoding(enc.type) === undefined) {
    add(rel(path), `${rel(path)} has encoding-type '${enc.type}', which is not an AnnData encoding`);
    return false;
  }
  // Every anndata since 0.7 writes the two attributes together; anndata (0.8 and newest) cannot read an
  // element that has a type and no version, so neither may an output copied from it.
  if (enc && enc.implied !== true && file.attr(path, "encoding-version") === undefined) {
    add(rel(path), `${rel(path)} has encoding-type '${enc.type}' but no encoding-version attribute`);
    return false;
  }
  // The registry's own rule (isReadable, which every reader applies): a version outside the table's
  // `reads` is refused here too, before an operator could copy the element into an output.
  if (enc && !isReadable(enc)) {
    const hint = unknownEncoding(file, path, enc).hint;
    add(
      rel(path),
      `${rel(path)} has encoding-type '${enc.type}' with encoding-version '${enc.version}', which crispyx cannot read (${hint})`,
    );
    return false;
  }
  return true;
}

function checkCategorical(file: ReadStore, path: string, n: number | null, add: Add): void {
  const codesPath = file.isDataset(path) ? path : `${path}/codes`;
  const catsPath = file.isDataset(path) ? file.referencedPath(path, "categories") : `${path}/categories`;
  if (!file.isDataset(codesPath)) return add(rel(path), `categorical ${rel(path)} has no codes`);
  if (catsPath === null || !file.isDataset(catsPath))
    return add(rel(path), `categorical ${rel(path)} has no categories`);
  const ci = file.info(codesPath);
  if (!/^int(8|16|32|64)$/.test(ci.dtype)) {
    return add(rel(codesPath), `${rel(codesPath)} holds ${ci.dtype} values; categorical codes must be signed integers`);
  }
  if (n !== null && ci.shape[0] !== n)
    add(rel(codesPath), `${rel(codesPath)} has ${ci.shape[0]} values but the table has ${n} rows`);
  const kinfo = file.info(catsPath);
  const cats = isStringDtype(kinfo.dtype)
    ? checkStrings(file, catsPath, add, "a category")
    : Array.from(file.read(catsPath) as ArrayLike<number | bigint>, String);
  if (cats === null) return;
  const seen = new Set<string>();
  for (const c of cats) {
    if (seen.has(c)) return add(rel(catsPath), `${rel(catsPath)} lists '${c}' twice; categories must be unique`);
    seen.add(c);
  }
  const codes = file.read(codesPath) as ArrayLike<number | bigint>;
  const k = cats.length;
  for (let i = 0; i < codes.length; i++) {
    const c = Number(codes[i]!);
    if (c < -1 || c >= k)
      return add(rel(codesPath), `${rel(codesPath)}[${i}] is ${c}, outside -1 … ${k - 1} (${k} categories)`);
  }
}

function checkColumn(file: ReadStore, table: string, name: string, n: number | null, add: Add): void {
  const p = `${table}/${name}`;
  if (!file.exists(p)) return add(rel(table), `${rel(table)}'s column-order names '${name}', which it does not hold`);
  if (!checkEncodingKnown(file, p, add)) return;
  const enc = encodingOf(file, p);
  // A dataset without encoding attributes (anndata < 0.7) is a plain column.
  const kind = enc ? kindOfEncoding(enc.type) : file.isDataset(p) ? "dense" : undefined;
  if (kind === "categorical") return checkCategorical(file, p, n, add);
  if (kind === "nullable") {
    for (const part of ["values", "mask"]) {
      const q = `${p}/${part}`;
      if (!file.isDataset(q)) return add(rel(p), `${rel(p)} has no '${part}'`);
      const len = file.info(q).shape[0];
      if (n !== null && len !== n) add(rel(q), `${rel(q)} has ${len} values but the table has ${n} rows`);
    }
    if (isStringDtype(file.info(`${p}/values`).dtype)) checkText(file, `${p}/values`, add, "a value");
    return;
  }
  if (kind === "dense" || kind === "strings") {
    if (!file.isDataset(p)) return add(rel(p), `${rel(p)} is a group, expected a column`);
    const info = file.info(p);
    if (info.shape.length !== 1)
      return add(rel(p), `${rel(p)} is ${info.shape.length}-dimensional, expected one value per row`);
    if (n !== null && info.shape[0] !== n)
      add(rel(p), `${rel(p)} has ${info.shape[0]} values but the table has ${n} rows`);
    if (isStringDtype(info.dtype)) checkText(file, p, add, "a value");
    return;
  }
  add(rel(p), `${rel(p)} is a ${enc?.type ?? "group"}, not a column`);
}

/** Check a dataframe (obs, var, raw/var); returns its length when it could be read. */
function checkDataFrame(file: ReadStore, path: string, add: Add): number | null {
  if (!file.exists(path)) {
    add(rel(path), `has no ${rel(path)}`);
    return null;
  }
  if (isLegacyTable(file, path)) return legacyTableLength(file, path);
  const enc = encodingOf(file, path);
  if (enc && kindOfEncoding(enc.type) !== "dataframe") {
    add(rel(path), `${rel(path)} has encoding-type '${enc.type}', expected 'dataframe'`);
    return null;
  }
  const indexName = file.attr(path, "_index");
  if (typeof indexName !== "string") {
    add(rel(path), `dataframe ${rel(path)} has no '_index' attribute`);
    return null;
  }
  const ip = `${path}/${indexName}`;
  if (!file.isDataset(ip)) {
    add(rel(path), `dataframe ${rel(path)} names '${indexName}' as its index but has no such dataset`);
    return null;
  }
  const info = file.info(ip);
  if (info.shape.length !== 1) {
    add(rel(ip), `${rel(ip)} is ${info.shape.length}-dimensional, expected one name per row`);
    return null;
  }
  const n = info.shape[0]!;
  if (isStringDtype(info.dtype))
    guarded(ip, add, () => checkText(file, ip, add, `a ${path === "/obs" ? "cell" : "gene"} name`));
  const order = file.attr(path, "column-order");
  const names =
    order === undefined ? [] : typeof order === "string" ? [order] : Array.isArray(order) ? order.map(String) : [];
  for (const name of names) guarded(`${path}/${name}`, add, () => checkColumn(file, path, name, n, add));
  return n;
}

/** The shape an element declares, without reading its data; null when it is not array-like. */
function declaredShape(file: ReadStore, path: string): number[] | null {
  if (file.isDataset(path)) return file.info(path).shape;
  const enc = encodingOf(file, path);
  const kind = enc ? kindOfEncoding(enc.type) : undefined;
  if (kind === "csr" || kind === "csc") return sparseShape(file, path);
  if (kind === "dataframe") {
    const idx = file.attr(path, "_index");
    return typeof idx === "string" && file.isDataset(`${path}/${idx}`) ? [file.info(`${path}/${idx}`).shape[0]!] : null;
  }
  return null;
}

function checkMatrixStructure(file: ReadStore, path: string, expect: [number | null, number | null], add: Add): void {
  guarded(path, add, () => {
    const m = describeMatrix(file, path);
    const [r, c] = m.shape;
    if ((expect[0] !== null && r !== expect[0]) || (expect[1] !== null && c !== expect[1])) {
      add(
        rel(path),
        `${rel(path)} has shape [${r}, ${c}] but the file has ${expect[0] ?? "?"} cells × ${expect[1] ?? "?"} genes`,
      );
    }
  });
}

function checkMapping(
  file: ReadStore,
  key: string,
  rule: (s: number[]) => string | null,
  add: Add,
  matrices = false,
): void {
  const p = `/${key}`;
  if (!file.exists(p)) return;
  if (file.isDataset(p)) return; // anndata < 0.7 stored obsm/varm as record arrays: legacy, read as such
  for (const k of file.keys(p)) {
    const e = `${p}/${k}`;
    guarded(e, add, () => {
      if (!checkEncodingKnown(file, e, add)) return;
      const s = declaredShape(file, e);
      if (s === null) return;
      const why = rule(s);
      if (why) add(rel(e), `${rel(e)} has shape [${s.join(", ")}], ${why}`);
      else if (matrices) describeMatrix(file, e);
    });
  }
}

/** uns: encodings known, strings UTF-8, at most MAX_UNS_DEPTH levels (iterative: no recursion to overflow). */
function checkUns(file: ReadStore, root: string, add: Add): void {
  if (!file.exists(root) || !file.isGroup(root)) return;
  const stack: { path: string; depth: number }[] = [{ path: root, depth: 0 }];
  while (stack.length) {
    const { path, depth } = stack.pop()!;
    if (depth > MAX_UNS_DEPTH) {
      add(rel(root), `${rel(root)} is nested more than ${MAX_UNS_DEPTH} levels deep (at ${rel(path).slice(0, 80)}…)`);
      return;
    }
    for (const k of file.keys(path)) {
      const p = `${path}/${k}`;
      guarded(p, add, () => {
        if (!checkEncodingKnown(file, p, add)) return;
        if (file.isGroup(p)) {
          const enc = encodingOf(file, p);
          if (!enc || kindOfEncoding(enc.type) === "dict") stack.push({ path: p, depth: depth + 1 });
          return;
        }
        const info = file.info(p);
        if (isStringDtype(info.dtype) && info.size <= 1_000_000) checkText(file, p, add, "a string");
      });
    }
  }
}

/** Every problem in the file's metadata (everything but X's stored values). */
export function checkStructure(file: ReadStore): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  // Messages name the file once, in the report or the error built from them.
  const add: Add = (element, message) =>
    problems.push({
      element,
      message: message.startsWith(`${file.path}: `) ? message.slice(file.path.length + 2) : message,
    });
  guarded("/", add, () => {
    const enc = encodingOf(file, "/");
    if (enc && kindOfEncoding(enc.type) !== "anndata")
      add("/", `the root has encoding-type '${enc.type}', expected 'anndata'`);
  });
  let nObs: number | null = null,
    nVars: number | null = null;
  guarded("/obs", add, () => {
    nObs = checkDataFrame(file, "/obs", add);
  });
  guarded("/var", add, () => {
    nVars = checkDataFrame(file, "/var", add);
  });
  // No X is legal (anndata writes none for X=None); the operators that need one say so themselves.
  if (file.exists("/X")) checkMatrixStructure(file, "/X", [nObs, nVars], add);
  const o = nObs as number | null,
    v = nVars as number | null;
  const rows = (n: number | null, what: string) => (s: number[]) =>
    n !== null && s[0] !== n ? `expected ${n} rows (${what})` : null;
  checkMapping(file, "obsm", rows(o, "one per cell"), add);
  checkMapping(file, "varm", rows(v, "one per gene"), add);
  checkMapping(file, "obsp", (s) => (o !== null && (s[0] !== o || s[1] !== o) ? `expected [${o}, ${o}]` : null), add);
  checkMapping(file, "varp", (s) => (v !== null && (s[0] !== v || s[1] !== v) ? `expected [${v}, ${v}]` : null), add);
  checkMapping(
    file,
    "layers",
    (s) => ((o !== null && s[0] !== o) || (v !== null && s[1] !== v) ? `expected [${o}, ${v}] as X` : null),
    add,
    true,
  );
  if (file.exists("/raw") && file.isGroup("/raw")) {
    let rawVars: number | null = null;
    guarded("/raw/var", add, () => {
      rawVars = checkDataFrame(file, "/raw/var", add);
    });
    if (file.exists("/raw/X")) checkMatrixStructure(file, "/raw/X", [o, rawVars], add);
  }
  checkUns(file, "/uns", add);
  return problems;
}

/** Stored elements per block of the X pass. */
const BLOCK_ELEMENTS = 4 << 20;

/**
 * Stream a matrix once: the sparse invariants (thrown by the reader as it reads, reported here), and
 * counts of NaN, ±Inf and negative values. Negative values are a problem when X holds whole numbers (counts).
 */
export function checkMatrix(
  file: ReadStore,
  path: string,
): { problems: ValidationProblem[]; summary: NonNullable<ValidationReport["x"]> } {
  const problems: ValidationProblem[] = [];
  const reader = new MatrixReader(file, path);
  const { format, shape, nnz } = reader.info;
  const s = { format, nnz, nan: 0, inf: 0, negative: 0, wholeNumbers: true };
  const first: { nan?: string; inf?: string; negative?: string } = {};
  const major = format === "csc" ? shape[1] : shape[0];
  const perMajor = format === "dense" ? Math.max(1, shape[1]) : Math.max(1, nnz / Math.max(1, major));
  const step = Math.max(1, Math.floor(BLOCK_ELEMENTS / perMajor));
  try {
    for (let m0 = 0; m0 < major; m0 += step) {
      const m1 = Math.min(major, m0 + step);
      const b = format === "csc" ? reader.cols(m0, m1) : reader.rows(m0, m1);
      const data = b.data as ArrayLike<number | bigint>;
      if (typeof data[0] === "bigint") continue;
      const d = data as ArrayLike<number>;
      const where = (k: number) => {
        if (b.type === "array") return `cell ${m0 + Math.floor(k / shape[1])}, gene ${k % shape[1]}`;
        let r = 0;
        while (r + 1 < b.indptr.length - 1 && num(b.indptr, r + 1) <= k) r++;
        const j = num(b.indices, k);
        return format === "csr" ? `cell ${m0 + r}, gene ${j}` : `cell ${j}, gene ${m0 + r}`;
      };
      for (let k = 0; k < d.length; k++) {
        const x = d[k]!;
        if (x >= 0 && x < Infinity) {
          if (s.wholeNumbers && x !== Math.floor(x)) s.wholeNumbers = false;
          continue;
        }
        if (Number.isNaN(x)) {
          s.nan++;
          first.nan ??= where(k);
        } else if (x === Infinity || x === -Infinity) {
          s.inf++;
          first.inf ??= where(k);
        } else {
          s.negative++;
          first.negative ??= where(k);
          if (s.wholeNumbers && x !== Math.floor(x)) s.wholeNumbers = false;
        }
      }
    }
  } catch (err) {
    if (!(err instanceof CrispyxError)) throw err;
    problems.push({ element: rel(path), message: err.message.replace(`${file.path}: `, "") });
    return { problems, summary: s };
  }
  const r = rel(path);
  if (s.nan)
    problems.push({
      element: r,
      message: `${r} holds ${s.nan} NaN value${s.nan > 1 ? "s" : ""}, the first at ${first.nan}`,
    });
  if (s.inf)
    problems.push({
      element: r,
      message: `${r} holds ${s.inf} infinite value${s.inf > 1 ? "s" : ""}, the first at ${first.inf}`,
    });
  if (s.negative && s.wholeNumbers) {
    problems.push({
      element: r,
      message: `${r} holds whole numbers (counts) but ${s.negative} negative value${s.negative > 1 ? "s" : ""}, the first at ${first.negative}`,
    });
  }
  return { problems, summary: s };
}

/**
 * Stored elements of X whose indices `crispyx info` checks (≈ 0.4 GB of int32 indices; 59 M took 1.8 s on a loaded
 * 2-core machine); beyond, info checks indptr only and says `validate` checks the rest.
 */
export const INFO_INDEX_LIMIT = 100_000_000;

/**
 * A sparse matrix's structure streamed without its values (what `info` adds to the metadata checks): indptr
 * whole, then, when nnz ≤ `indexLimit`, indices in range and no column twice within a row — the checks
 * every reader applies (./sparseInvariants.ts). `indicesChecked` false: nnz was above the limit.
 */
export function checkSparseIndex(
  file: ReadStore,
  path: string,
  indexLimit = INFO_INDEX_LIMIT,
): { problems: ValidationProblem[]; indicesChecked: boolean } {
  const problems: ValidationProblem[] = [];
  let indicesChecked = true;
  try {
    const m = describeMatrix(file, path);
    if (m.format === "dense") return { problems, indicesChecked };
    const csr = m.format === "csr";
    const ctx: SparseContext = {
      file: file.path,
      path,
      format: m.format,
      major: csr ? m.shape[0] : m.shape[1],
      minor: csr ? m.shape[1] : m.shape[0],
      nnz: m.nnz,
    };
    indicesChecked = m.nnz <= indexLimit;
    const marks = new DuplicateMarks(ctx.minor);
    const step = Math.max(1, Math.floor(BLOCK_ELEMENTS / Math.max(1, m.nnz / Math.max(1, ctx.major))));
    for (let m0 = 0; m0 < ctx.major; m0 += step) {
      const m1 = Math.min(ctx.major, m0 + step);
      const ptr = file.read(`${path}/indptr`, [m0], [m1 - m0 + 1]) as ArrayLike<number | bigint>;
      // Checked before any offset from it is used, as the readers do.
      checkIndptrBlock(ptr, m0, ctx);
      if (!indicesChecked) continue;
      const lo = Number(ptr[0]!),
        hi = Number(ptr[m1 - m0]!);
      const indices = file.read(`${path}/indices`, [lo], [hi - lo]);
      checkIndicesBlock(
        indices,
        Float64Array.from(ptr, (x) => Number(x) - lo),
        m0,
        marks,
        ctx,
      );
    }
  } catch (err) {
    if (!(err instanceof CrispyxError)) throw err;
    problems.push({ element: rel(path), message: err.message.replace(`${file.path}: `, "") });
  }
  return { problems, indicesChecked };
}

/**
 * Validate an .h5ad file against the AnnData on-disk spec: structure, then X streamed. Never throws for a
 * damaged file: every problem found is in `problems` (a file that cannot be opened is one problem).
 */
export function validate(path: string, opts: { values?: boolean } = {}): ValidationReport {
  const report: ValidationReport = { file: path, valid: false, problems: [] };
  let file: ReadStore;
  try {
    file = openStore(path, "r");
  } catch (err) {
    if (!(err instanceof CrispyxError)) throw err;
    report.problems.push({ element: "/", message: err.message.replace(`${path}: `, "") });
    return report;
  }
  try {
    report.problems.push(...checkStructure(file));
    const obsN = safeLength(file, "/obs"),
      varN = safeLength(file, "/var");
    if (obsN !== null && varN !== null) report.shape = [obsN, varN];
    // X is streamed only when its structure is sound: a damaged indptr must not drive the reads.
    if ((opts.values ?? true) && file.exists("/X") && !report.problems.some((p) => p.element.startsWith("X"))) {
      const x = checkMatrix(file, "/X");
      report.problems.push(...x.problems);
      report.x = x.summary;
    }
  } catch (err) {
    if (!(err instanceof CrispyxError)) throw err;
    report.problems.push({ element: "/", message: err.message.replace(`${path}: `, "") });
  } finally {
    file.close();
  }
  report.valid = report.problems.length === 0;
  return report;
}

function safeLength(file: ReadStore, path: string): number | null {
  try {
    const s = declaredShape(file, path);
    return s ? s[0]! : null;
  } catch {
    return null;
  }
}

/**
 * Refuse a file whose metadata contradicts itself, with the first problem's words (operators, before they
 * read anything else). Everything `crispyx validate` reports but X's values.
 */
export function assertValidStructure(file: ReadStore): void {
  const problems = checkStructure(file);
  if (problems.length === 0) return;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? "s" : ""})` : "";
  throw new FileFormatError(`${problems[0]!.message}${more}`, {
    file: file.path,
    hint: `'crispyx validate ${file.path}' lists every problem`,
  });
}
