/**
 * The seed's file helpers: small path-based operations on .h5ad files that never read or rewrite X.
 * Edits go through replaceElement, so they are crash-safe.
 */
import { existsSync, statSync } from "node:fs";
import { basename, isAbsolute, join, resolve, sep } from "node:path";
import { openStore, withHardLinks } from "../openStore.ts";
import type { ReadStore } from "../store.ts";
import { isZarrStore } from "../zarr/index.ts";
import { FileFormatError, InvalidArgumentError } from "../../errors.ts";
import type { Column, DataFrame, Element, SparseMatrix } from "./model.ts";
import { lengthOf } from "./model.ts";
import { assertAnnData } from "./anndata.ts";
import { columnOrder, readDataFrame, readIndex } from "./encodings/dataframe.ts";
import { isLegacyTable } from "./encodings/legacyDataframe.ts";
import { getMatrixStorageFormat as formatOf, type StorageFormat } from "./matrixReader.ts";
import { readElem, writeElem } from "./registry.ts";
import { replaceElement, STAGING_NAME } from "./edit.ts";
import { toElement, type PlainValue } from "./convert.ts";
import { H5adHandle } from "./handle.ts";
import { toLayout, type Block } from "../../core/sparse.ts";

function withFile<T>(path: string, fn: (f: ReadStore) => T): T {
  const f = openStore(path, "r");
  try {
    assertAnnData(f);
    return fn(f);
  } finally {
    f.close();
  }
}

/** 'csr', 'csc' or 'dense': how X is stored. */
export function getMatrixStorageFormat(path: string): StorageFormat {
  return withFile(path, (f) => formatOf(f, "/X"));
}

/** True when X is a dense array on disk. */
export function isDenseStorage(path: string): boolean {
  return getMatrixStorageFormat(path) === "dense";
}

export function loadObs(path: string): DataFrame {
  return withFile(path, (f) => readDataFrame(f, "/obs"));
}

export function loadVar(path: string): DataFrame {
  return withFile(path, (f) => readDataFrame(f, "/var"));
}

/** Rows of obs/var before an in-place edit (which needs the current layout: tables as groups). */
function rowCount(path: string, key: "obs" | "var"): number {
  return withFile(path, (f) => {
    if (isLegacyTable(f, "/obs") || isLegacyTable(f, "/var")) {
      throw new FileFormatError(
        `obs/var are in the pre-0.7 anndata layout (compound datasets), which crispyx reads but does not edit in place`,
        {
          file: path,
          hint: `write a copy in the current layout first: crispyx convert ${path} --to csr (or anndata.read_h5ad(p).write_h5ad(p))`,
        },
      );
    }
    const name = String(f.attr(`/${key}`, "_index"));
    return f.info(`/${key}/${name}`).shape[0]!;
  });
}

function writeTable(path: string, key: "obs" | "var", df: DataFrame): void {
  const n = rowCount(path, key);
  if (df.index.length !== n) {
    throw new InvalidArgumentError(
      `new ${key} table has ${df.index.length} rows but the file has ${n} ${key === "obs" ? "cells" : "genes"}`,
      { file: path },
    );
  }
  replaceElement(path, `/${key}`, (f, at) => writeElem(f, at, df));
}

/** Replace obs without touching X. The row count must match. */
export function writeObs(path: string, df: DataFrame): void {
  writeTable(path, "obs", df);
}

/** Replace var without touching X. The row count must match. */
export function writeVar(path: string, df: DataFrame): void {
  writeTable(path, "var", df);
}

const COLUMN_TYPES = new Set(["array", "categorical", "nullable-integer", "nullable-boolean", "nullable-string"]);

/**
 * Add or replace columns of obs/var without rewriting the other columns (or X): a new table group is
 * staged holding hard links to the unchanged columns and the index, the new columns and the updated
 * `column-order`, then swapped in by replaceElement. New columns go to the end of the column order.
 * (Linking bumps the reference count in the linked columns' object headers — a few bytes HDF5 rewrites
 * in place — the only write of that session outside the staging group.)
 */
function writeColumns(path: string, key: "obs" | "var", columns: Record<string, Column>): void {
  const n = rowCount(path, key);
  const names = Object.keys(columns);
  const rows = key === "obs" ? "cells" : "genes";
  for (const name of names) {
    checkKey(path, name);
    const col = columns[name]!;
    if (!COLUMN_TYPES.has(col.type) || (col.type === "array" && col.shape.length !== 1)) {
      throw new InvalidArgumentError(
        `${key} column '${name}' must be a 1-D array, categorical or nullable array; got ${col.type}`,
        { file: path },
      );
    }
    if (lengthOf(col) !== n) {
      throw new InvalidArgumentError(
        `${key} column '${name}' has ${lengthOf(col)} values but the file has ${n} ${rows}`,
        { file: path },
      );
    }
  }
  if (names.length === 0) return;
  const { attrs, order, members } = withFile(path, (f) => ({
    attrs: f.attrs(`/${key}`),
    order: columnOrder(f, `/${key}`),
    members: f.keys(`/${key}`),
  }));
  const index = String(attrs["_index"]);
  if (names.includes(index)) {
    throw new InvalidArgumentError(`'${index}' is the name of ${key}'s index, not a column`, { file: path });
  }
  const newOrder = [...order, ...names.filter((c) => !order.includes(c))];
  replaceElement(path, `/${key}`, (f, at) => {
    f.createGroup(at);
    for (const [a, v] of Object.entries(attrs)) if (a !== "column-order") f.setAttr(at, a, v);
    f.setAttr(at, "column-order", newOrder);
    // The untouched columns: HDF5 gives them a second name (no bytes copied); a store without hard links
    // would get a copy through the encoding registry.
    const linker = withHardLinks(f);
    for (const m of members) {
      if (names.includes(m) || m === STAGING_NAME) continue;
      if (linker) linker.hardLink(`/${key}/${m}`, `${at}/${m}`);
      else writeElem(f, `${at}/${m}`, readElem(f, `/${key}/${m}`));
    }
    for (const name of names) writeElem(f, `${at}/${name}`, columns[name]!);
  });
}

/** Add or replace obs columns (one value per cell); the other columns and X are not rewritten. */
export function writeObsColumns(path: string, columns: Record<string, Column>): void {
  writeColumns(path, "obs", columns);
}

/** Add or replace var columns (one value per gene); the other columns and X are not rewritten. */
export function writeVarColumns(path: string, columns: Record<string, Column>): void {
  writeColumns(path, "var", columns);
}

/**
 * Write obsm/varm/obsp[key] after checking its shape against the file's n_obs / n_vars (and, for a
 * dataframe, that its index is the obs / var names, which anndata requires when reading).
 */
function writeAxisElement(path: string, mapping: "obsm" | "varm" | "obsp", key: string, value: Element): void {
  checkKey(path, key);
  const [nObs, nVars] = [rowCount(path, "obs"), rowCount(path, "var")];
  const shape =
    value.type === "array" || value.type === "csr" || value.type === "csc" ? value.shape : [lengthOf(value)];
  const ok =
    mapping === "obsp"
      ? shape.length === 2 && shape[0] === nObs && shape[1] === nObs
      : shape[0] === (mapping === "obsm" ? nObs : nVars);
  if (!ok) {
    const want = mapping === "obsp" ? `${nObs} × ${nObs}` : `${mapping === "obsm" ? nObs : nVars} rows`;
    throw new InvalidArgumentError(`${mapping}['${key}'] must have ${want}; got shape [${shape.join(", ")}]`, {
      file: path,
    });
  }
  if (value.type === "dataframe") {
    const axis = mapping === "varm" ? "var" : "obs";
    const names = withFile(path, (f) => readIndex(f, `/${axis}`));
    const bad = value.index.findIndex((v, i) => v !== names[i]);
    if (bad >= 0) {
      throw new InvalidArgumentError(
        `${mapping}['${key}'] is a dataframe whose index differs from the ${axis} names at row ${bad} ('${value.index[bad]}' vs '${names[bad]}'); anndata could not read it`,
        { file: path },
      );
    }
  }
  const stored = mapping === "obsp" && value.type !== "csr" ? (toLayout(value as Block, "csr") as SparseMatrix) : value;
  replaceElement(path, `/${mapping}/${key}`, (f, at) => writeElem(f, at, stored));
}

function checkKey(path: string, key: string): void {
  if (!key || key.includes("/") || key === "." || key === "..") {
    throw new InvalidArgumentError(`'${key}' is not a valid key (it must be non-empty and contain no '/')`, {
      file: path,
    });
  }
}

/** Write (or replace) obsm[key]: an array or dataframe with one row per cell. */
export function writeObsm(path: string, key: string, value: Element): void {
  writeAxisElement(path, "obsm", key, value);
}

/** Write (or replace) varm[key]: an array or dataframe with one row per gene. */
export function writeVarm(path: string, key: string, value: Element): void {
  writeAxisElement(path, "varm", key, value);
}

/** Write (or replace) obsp[key]: an n_obs × n_obs matrix, stored as CSR as the seed does. */
export function writeObsp(path: string, key: string, value: Element): void {
  if (value.type !== "csr" && value.type !== "csc" && !(value.type === "array" && value.shape.length === 2)) {
    throw new InvalidArgumentError(`obsp['${key}'] must be a 2-D matrix (dense, CSR or CSC); got a ${value.type}`, {
      file: path,
    });
  }
  writeAxisElement(path, "obsp", key, value);
}

/**
 * Write (or replace) uns[key] as a dict: nested dicts, scalars, strings and arrays, from plain JS values
 * or elements.
 */
export function writeUnsDict(path: string, key: string, data: Record<string, PlainValue>): void {
  checkKey(path, key);
  const isPlainObject = typeof data === "object" && data !== null && !Array.isArray(data) && !ArrayBuffer.isView(data);
  const element = isPlainObject ? toElement(data, `uns.${key}`) : null;
  if (!element || element.type !== "dict") {
    throw new InvalidArgumentError(
      `writeUnsDict('${key}') needs an object of named values (a dict); got ${Array.isArray(data) ? "an array" : (element?.type ?? typeof data)}`,
      { file: path },
    );
  }
  replaceElement(path, `/uns/${key}`, (f, at) => writeElem(f, at, element));
}

/** Anything that names an .h5ad file: a path, or an open handle. */
export type DataSource = string | H5adHandle | { path: string };

/**
 * The on-disk path of `data`. An in-memory AnnData object (no path) is a clear error, as is a missing
 * file when `requireExists` (default).
 */
export function resolveDataPath(data: DataSource | object, { requireExists = true } = {}): string {
  let p: string;
  if (typeof data === "string") p = data;
  else if (data instanceof H5adHandle) p = data.path;
  else if (typeof data === "object" && data !== null && typeof (data as { path?: unknown }).path === "string")
    p = (data as { path: string }).path;
  else if (typeof data === "object" && data !== null && "obs" in data && "var" in data) {
    throw new InvalidArgumentError(
      "crispyx works on files: this AnnData object is in memory. Write it with writeH5ad(path, adata) and pass the path.",
    );
  } else {
    throw new InvalidArgumentError(
      `expected a path to an .h5ad file or an open handle; received ${data === null ? "null" : typeof data}`,
    );
  }
  if (requireExists && !existsSync(p)) throw new FileFormatError(`data file not found`, { file: p });
  // A zarr store is a directory (read with the zarr backend); any other directory is a mistake.
  if (requireExists && statSync(p).isDirectory() && !isZarrStore(p))
    throw new FileFormatError(`is a directory, not an .h5ad file or a zarr store`, { file: p });
  return p;
}

export interface OutputPathOptions {
  suffix: string;
  outputDir?: string;
  dataName?: string;
  module?: string;
}

/**
 * The seed's naming rule for intermediate files: `{module}_{dataName}_{suffix}.h5ad` in `outputDir`
 * (default: beside the input), or `{module}_{suffix}.h5ad` without a data name. A name that would
 * leave the output directory (path separators, "..") is an error.
 */
export function resolveOutputPath(inputPath: string, opts: OutputPathOptions): string {
  const module = opts.module ?? "crispyx";
  const dir = resolve(opts.outputDir ?? resolve(inputPath, ".."));
  for (const [label, v] of [
    ["suffix", opts.suffix],
    ["dataName", opts.dataName],
    ["module", module],
  ] as const) {
    if (
      v !== undefined &&
      (v.includes("/") || v.includes("\\") || v.includes("\0") || v === ".." || v === "." || isAbsolute(v))
    ) {
      throw new InvalidArgumentError(`${label} '${v}' would place the output outside ${dir}; use a plain name`);
    }
  }
  let base: string;
  if (opts.dataName) {
    base = opts.dataName;
    if (module && !base.startsWith(`${module}_`)) base = `${module}_${base}`;
    if (!base.endsWith(`_${opts.suffix}`)) base = `${base}_${opts.suffix}`;
  } else {
    base = `${module}_${opts.suffix}`;
  }
  const out = join(dir, `${base}.h5ad`);
  if (!resolve(out).startsWith(dir + sep) || basename(out) !== `${base}.h5ad`) {
    throw new InvalidArgumentError(`output name '${base}' would leave ${dir}`);
  }
  return out;
}
