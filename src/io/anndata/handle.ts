/**
 * The lazy on-disk handle: `openH5ad(path)` reads only what is asked for. Opening reads the root's
 * structure and the length of the obs/var indexes; obs/var tables, names and uns entries load on first
 * use; X is read only in blocks.
 */
import { openStore } from "../openStore.ts";
import type { ReadStore } from "../store.ts";
import { FileFormatError, InvalidArgumentError } from "../../errors.ts";
import type { AnnData, Column, DataFrame, Element } from "./model.ts";
import { assertAnnData, readAnnData, MAPPING_KEYS, type MappingKey } from "./anndata.ts";
import { columnOrder, indexName, readColumn, readDataFrame, readIndex, tableLength } from "./encodings/dataframe.ts";
import {
  consumedCategoryKeys,
  isLegacyMapping,
  isLegacyTable,
  legacyMappingKeys,
  readLegacyDataFrame,
  readLegacyMapping,
} from "./encodings/legacyDataframe.ts";
import { encodingOf, kindOfEncoding, readElem } from "./registry.ts";
import { MatrixReader } from "./matrixReader.ts";
import { sparseShape } from "./encodings/sparse.ts";
import { categoricalParts } from "./encodings/categorical.ts";

export interface ElementPreview {
  key: string;
  /** The AnnData encoding-type, or "group"/"dataset" for elements without one. */
  encoding: string;
  shape?: number[];
  dtype?: string;
  /** For dicts and dataframes: their keys / columns. */
  keys?: string[];
  /** For categoricals: the number of categories. */
  nCategories?: number;
  /** For scalars and short string arrays: the value itself. */
  value?: unknown;
}

/** A read-only lazy view of a group of named elements (uns, obsm, layers, …). */
export class LazyMapping {
  private cache = new Map<string, Element>();
  private hiddenKeys?: ReadonlySet<string>;
  /** `hidden` lists keys not shown (computed on first use), e.g. legacy categories moved into obs/var. */
  constructor(
    private readonly file: ReadStore,
    readonly path: string,
    private readonly hidden?: () => ReadonlySet<string>,
  ) {}

  keys(): string[] {
    if (!this.file.exists(this.path)) return [];
    if (isLegacyMapping(this.file, this.path)) return legacyMappingKeys(this.file, this.path);
    this.hiddenKeys ??= this.hidden?.() ?? new Set();
    return this.file.keys(this.path).filter((k) => !this.hiddenKeys!.has(k));
  }

  has(key: string): boolean {
    return this.keys().includes(key);
  }

  /** Load one entry into memory. */
  get(key: string): Element {
    if (!this.has(key)) {
      throw new InvalidArgumentError(`${this.path} has no key '${key}'`, {
        file: this.file.path,
        hint: `available: ${this.keys().join(", ") || "(none)"}`,
      });
    }
    let e = this.cache.get(key);
    if (!e) {
      e = isLegacyMapping(this.file, this.path)
        ? readLegacyMapping(this.file, this.path)[key]!
        : readElem(this.file, `${this.path}/${key}`);
      this.cache.set(key, e);
    }
    return e;
  }

  /** What an entry is, without loading large data. */
  preview(key: string): ElementPreview {
    return previewElement(this.file, `${this.path}/${key}`, key);
  }

  toObject(): Record<string, Element> {
    return Object.fromEntries(this.keys().map((k) => [k, this.get(k)]));
  }
}

export function previewElement(file: ReadStore, path: string, key: string): ElementPreview {
  const parent = path.slice(0, path.lastIndexOf("/"));
  if (parent && file.isDataset(parent) && isLegacyTable(file, parent)) {
    if (LEGACY_TABLES.has(parent)) return previewLegacyColumn(file, parent, key);
    const a = readLegacyMapping(file, parent)[key];
    if (!a) throw new FileFormatError(`${parent} has no entry '${key}'`, { file: file.path });
    return { key, encoding: "array", shape: a.shape, dtype: a.dtype };
  }
  // A description, not a read: an encoding crispyx cannot read is shown by name rather than refused.
  const enc = encodingOf(file, path);
  const kind = enc ? kindOfEncoding(enc.type) : undefined;
  if (kind === "categorical") {
    const parts = categoricalParts(file, path);
    return {
      key,
      encoding: "categorical",
      shape: file.info(parts.codes).shape,
      dtype: "category",
      nCategories: file.info(parts.categories).shape[0] ?? 0,
    };
  }
  if (file.isDataset(path)) {
    const info = file.info(path);
    const p: ElementPreview = { key, encoding: enc?.type ?? "dataset", shape: info.shape, dtype: info.dtype };
    if (info.size <= 8 && info.dtype !== "other") {
      const v = file.readValue(path);
      p.value = ArrayBuffer.isView(v)
        ? Array.from(v as ArrayLike<number | bigint>, (x) => (typeof x === "bigint" ? Number(x) : x))
        : v;
    }
    return p;
  }
  const type = enc?.type ?? "group";
  const p: ElementPreview = { key, encoding: type, keys: file.keys(path) };
  if (kind === "csr" || kind === "csc") {
    p.shape = sparseShape(file, path);
    p.dtype = file.info(`${path}/data`).dtype;
    delete p.keys;
  } else if (kind === "dataframe") {
    p.keys = columnOrder(file, path);
    p.shape = [file.info(`${path}/${indexName(file, path)}`).shape[0]!];
  } else if (kind === "nullable") {
    p.shape = file.info(`${path}/values`).shape;
    delete p.keys;
  }
  return p;
}

const LEGACY_TABLES = new Set(["/obs", "/var", "/raw.var"]);

/** A column of a pre-0.7 compound obs/var table (no dataset of its own: the table is read, it is small). */
function previewLegacyColumn(file: ReadStore, table: string, key: string): ElementPreview {
  const col = readLegacyDataFrame(file, table).columns[key];
  if (!col) throw new FileFormatError(`table ${table} has no column '${key}'`, { file: file.path });
  if (col.type === "categorical")
    return {
      key,
      encoding: "categorical",
      shape: [col.codes.length],
      dtype: "category",
      nCategories: col.categories.shape[0]!,
    };
  if (col.type === "array")
    return { key, encoding: col.dtype === "string" ? "string-array" : "array", shape: col.shape, dtype: col.dtype };
  return { key, encoding: col.type };
}

/** A table (obs or var) that loads columns one at a time. */
export class LazyTable {
  private _index?: string[];
  private full?: DataFrame;
  private columnsCache = new Map<string, Column>();
  /** A pre-0.7 compound table has no per-column storage: columns come from one whole read (cached). */
  private readonly legacy: boolean;
  constructor(
    private readonly file: ReadStore,
    readonly path: string,
  ) {
    this.legacy = isLegacyTable(file, path);
  }

  /** Number of rows, from the index's shape (no data read). */
  get length(): number {
    return tableLength(this.file, this.path);
  }

  get columns(): string[] {
    return columnOrder(this.file, this.path);
  }

  get index(): string[] {
    this._index ??= this.legacy ? this.load().index : readIndex(this.file, this.path);
    return this._index;
  }

  /** One column, loaded on first use. A missing column is an error listing the available ones. */
  column(name: string): Column {
    if (!this.columns.includes(name)) {
      throw new InvalidArgumentError(`${this.path.slice(1)} has no column '${name}'`, {
        file: this.file.path,
        hint: `available columns: ${this.columns.join(", ") || "(none)"}`,
      });
    }
    let c = this.columnsCache.get(name);
    if (!c) {
      c = this.legacy ? this.load().columns[name]! : readColumn(this.file, this.path, name);
      this.columnsCache.set(name, c);
    }
    return c;
  }

  /** The whole table in memory. */
  load(): DataFrame {
    this.full ??= readDataFrame(this.file, this.path);
    return this.full;
  }

  /** The first `n` rows (reads only those rows' worth of each column, except categories). */
  head(n = 5): DataFrame {
    const df = this.load();
    return sliceDataFrame(df, 0, Math.min(n, df.index.length));
  }
}

export function sliceDataFrame(df: DataFrame, start: number, end: number): DataFrame {
  const columns: Record<string, Column> = {};
  for (const name of df.columnOrder) {
    const c = df.columns[name]!;
    if (c.type === "array") columns[name] = { ...c, shape: [end - start], data: c.data.slice(start, end) };
    else if (c.type === "categorical") columns[name] = { ...c, codes: c.codes.slice(start, end) };
    else
      columns[name] = {
        ...c,
        values: { ...c.values, shape: [end - start], data: c.values.data.slice(start, end) },
        mask: c.mask.slice(start, end),
      };
  }
  return { ...df, index: df.index.slice(start, end), columns };
}

export interface OpenOptions {
  /** "r" (default) to read, "r+" to allow in-place edits through the edit functions. */
  mode?: "r" | "r+";
}

/** A lazily-read .h5ad file. Close it with `close()` or `using`. */
export class H5adHandle implements Disposable {
  readonly path: string;
  readonly file: ReadStore;
  readonly obs: LazyTable;
  readonly var: LazyTable;
  readonly uns: LazyMapping;
  readonly obsm: LazyMapping;
  readonly varm: LazyMapping;
  readonly obsp: LazyMapping;
  readonly varp: LazyMapping;
  readonly layers: LazyMapping;
  private _X?: MatrixReader;

  constructor(path: string, options: OpenOptions = {}) {
    this.path = path;
    this.file = openStore(path, options.mode ?? "r");
    try {
      assertAnnData(this.file);
      this.obs = new LazyTable(this.file, "/obs");
      this.var = new LazyTable(this.file, "/var");
      // Touch the index shapes now so a broken obs/var fails at open, not later.
      void this.obs.length;
      void this.var.length;
    } catch (err) {
      this.file.close();
      throw err;
    }
    this.uns = new LazyMapping(this.file, "/uns", () => consumedCategoryKeys(this.file));
    this.obsm = new LazyMapping(this.file, "/obsm");
    this.varm = new LazyMapping(this.file, "/varm");
    this.obsp = new LazyMapping(this.file, "/obsp");
    this.varp = new LazyMapping(this.file, "/varp");
    this.layers = new LazyMapping(this.file, "/layers");
  }

  get nObs(): number {
    return this.obs.length;
  }
  get nVars(): number {
    return this.var.length;
  }
  get shape(): [number, number] {
    return [this.nObs, this.nVars];
  }
  get obsNames(): string[] {
    return this.obs.index;
  }
  get varNames(): string[] {
    return this.var.index;
  }
  get hasX(): boolean {
    return this.file.exists("/X");
  }
  get hasRaw(): boolean {
    return this.file.exists("/raw") || this.file.exists("/raw.X");
  }
  /** raw's number of variables (raw/var, or anndata < 0.7's root raw.var), or null without raw or its var. */
  get rawNVars(): number | null {
    const rawVar = this.hasRaw ? `${this.rawPrefix}var` : null;
    return rawVar && this.file.exists(rawVar) ? new LazyTable(this.file, rawVar).length : null;
  }
  /** Where raw lives: "/raw/" now, root elements "raw.X", "raw.var" in anndata < 0.7. */
  private get rawPrefix(): string {
    return this.file.exists("/raw") ? "/raw/" : "/raw.";
  }

  /** Block reader over X (nothing is read until a block is asked for). */
  get X(): MatrixReader {
    if (!this._X) {
      if (!this.hasX) throw new FileFormatError(`has no X matrix`, { file: this.path });
      this._X = new MatrixReader(this.file, "/X");
      const [r, c] = this._X.shape;
      if (r !== this.nObs || c !== this.nVars) {
        throw new FileFormatError(`X has shape [${r}, ${c}] but obs/var have ${this.nObs} and ${this.nVars} entries`, {
          file: this.path,
        });
      }
    }
    return this._X;
  }

  /** Block reader over a layer, or raw/X with `layer: "raw"`. */
  matrix(layer?: string): MatrixReader {
    if (!layer) return this.X;
    if (layer === "raw") return new MatrixReader(this.file, `${this.rawPrefix}X`);
    if (!this.layers.has(layer)) {
      throw new InvalidArgumentError(`has no layer '${layer}'`, {
        file: this.path,
        hint: `layers: ${this.layers.keys().join(", ") || "(none)"}`,
      });
    }
    return new MatrixReader(this.file, `/layers/${layer}`);
  }

  mapping(key: MappingKey): LazyMapping {
    return this[key];
  }

  /** Everything in memory (for small files). */
  toMemory(): AnnData {
    return readAnnData(this.file);
  }

  /** A short text summary, like anndata's repr. */
  describe(): string {
    return describeHandle(this);
  }

  close(): void {
    this.file.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Open a .h5ad file lazily. */
export function openH5ad(path: string, options: OpenOptions = {}): H5adHandle {
  return new H5adHandle(path, options);
}

function quoteList(keys: string[]): string {
  return keys.map((k) => `'${k}'`).join(", ");
}

export function describeHandle(h: H5adHandle): string {
  const lines = [`AnnData object with n_obs × n_vars = ${h.nObs} × ${h.nVars}`];
  const add = (label: string, keys: string[]) => {
    if (keys.length) lines.push(`    ${label}: ${quoteList(keys)}`);
  };
  add("obs", h.obs.columns);
  add("var", h.var.columns);
  add("uns", h.uns.keys());
  for (const key of MAPPING_KEYS) add(key, h.mapping(key).keys());
  if (h.hasRaw) lines.push(`    raw: ${h.rawNVars ?? "?"} vars`);
  if (h.hasX) {
    const x = h.X.info;
    const fmt = x.format === "dense" ? "dense array" : `${x.format}_matrix`;
    lines.push(`    X: ${fmt}, ${x.dtype}${x.format === "dense" ? "" : `, ${x.nnz} stored elements`}`);
  } else {
    lines.push("    X: none");
  }
  return lines.join("\n");
}
