/**
 * Tables out of the CLI: an obs/var DataFrame (or any rows of plain values) as CSV, TSV or JSON.
 *
 * Conventions, chosen to round-trip through pandas and R:
 *  - the first column holds the row names, headed "obs_names" / "var_names";
 *  - missing values (NaN, a categorical's missing code, a masked nullable value) are empty cells in
 *    CSV/TSV and null in JSON; booleans are True/False in CSV/TSV (as pandas writes them);
 *  - CSV quoting is RFC 4180 (fields with the delimiter, quotes or line breaks are quoted, quotes
 *    doubled); TSV uses the same rule with tabs.
 *  - JSON is an array of records, one per row, the row name first.
 */
import type { Column, DataFrame } from "../io/anndata/model.ts";

export type TableFormat = "csv" | "tsv" | "json";
export const TABLE_FORMATS: TableFormat[] = ["csv", "tsv", "json"];

export type Cell = string | number | boolean | null;

/** A table of plain values, column-wise. */
export interface PlainTable {
  columns: string[];
  /** One array per column, all of the same length. */
  values: Cell[][];
}

/** The format for `-o out.tsv` when --format was not given. */
export function formatFromPath(path: string | undefined): TableFormat | undefined {
  const ext = path?.toLowerCase().match(/\.(csv|tsv|txt|tab|json)$/)?.[1];
  if (!ext) return undefined;
  return ext === "json" ? "json" : ext === "csv" ? "csv" : "tsv";
}

function toNumber(v: number | bigint): number | string {
  if (typeof v === "number") return v;
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

/** A column's values as plain cells (missing → null). */
export function columnCells(c: Column): Cell[] {
  const plain = (dtype: string, data: ArrayLike<unknown>, i: number): Cell => {
    const v = data[i];
    if (dtype === "bool") return Boolean(v);
    if (typeof v === "string") return v;
    const n = toNumber(v as number | bigint);
    return typeof n === "number" && Number.isNaN(n) ? null : n;
  };
  if (c.type === "array") {
    const n = c.shape[0] ?? 0;
    return Array.from({ length: n }, (_, i) => plain(c.dtype, c.data as ArrayLike<unknown>, i));
  }
  if (c.type === "categorical") {
    const cats = Array.from({ length: c.categories.shape[0] ?? 0 }, (_, i) =>
      plain(c.categories.dtype, c.categories.data as ArrayLike<unknown>, i),
    );
    return Array.from(c.codes as ArrayLike<number | bigint>, (k) => (Number(k) < 0 ? null : cats[Number(k)]!));
  }
  const dtype = c.type === "nullable-boolean" ? "bool" : c.values.dtype;
  return Array.from(c.mask, (m, i) => (m ? null : plain(dtype, c.values.data as ArrayLike<unknown>, i)));
}

/** A DataFrame as a plain table whose first column is the row names. */
export function dataFrameTable(df: DataFrame, indexLabel: string): PlainTable {
  const label = df.columnOrder.includes(indexLabel) ? "_index" : indexLabel;
  return {
    columns: [label, ...df.columnOrder],
    values: [df.index, ...df.columnOrder.map((name) => columnCells(df.columns[name]!))],
  };
}

function delimitedField(v: Cell, delimiter: string): string {
  if (v === null) return "";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : v > 0 ? "inf" : "-inf";
  return /["\r\n]/.test(v) || v.includes(delimiter) ? `"${v.replace(/"/g, '""')}"` : v;
}

function jsonValue(v: Cell): Cell {
  // JSON has no infinities; write them as strings rather than produce invalid JSON.
  if (typeof v === "number" && !Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

/** Serialise a table; calls `write` with pieces so large tables are not built as one string. */
export function writeTable(table: PlainTable, format: TableFormat, write: (chunk: string) => void): void {
  const nRows = table.values[0]?.length ?? 0;
  const ROWS_PER_CHUNK = 2000;
  if (format === "json") {
    write("[");
    let buf = "";
    for (let i = 0; i < nRows; i++) {
      const rec: Record<string, Cell> = {};
      table.columns.forEach((name, j) => {
        rec[name] = jsonValue(table.values[j]![i]!);
      });
      buf += (i ? ",\n" : "\n") + JSON.stringify(rec);
      if (i % ROWS_PER_CHUNK === ROWS_PER_CHUNK - 1) {
        write(buf);
        buf = "";
      }
    }
    write(`${buf}${nRows ? "\n" : ""}]\n`);
    return;
  }
  const d = format === "csv" ? "," : "\t";
  write(table.columns.map((c) => delimitedField(c, d)).join(d) + "\n");
  let buf = "";
  for (let i = 0; i < nRows; i++) {
    buf += table.values.map((col) => delimitedField(col[i]!, d)).join(d) + "\n";
    if (i % ROWS_PER_CHUNK === ROWS_PER_CHUNK - 1) {
      write(buf);
      buf = "";
    }
  }
  write(buf);
}

/** Rows of records (e.g. a summary) as a plain table. */
export function recordsTable(records: Record<string, Cell>[], columns?: string[]): PlainTable {
  const cols = columns ?? [...new Set(records.flatMap((r) => Object.keys(r)))];
  return { columns: cols, values: cols.map((c) => records.map((r) => r[c] ?? null)) };
}

/** Fixed-width text for a terminal: columns padded, numbers right-aligned. */
export function formatTextTable(table: PlainTable, { maxRows = Infinity } = {}): string {
  const nRows = Math.min(table.values[0]?.length ?? 0, maxRows);
  const text = (v: Cell) => (v === null ? "" : typeof v === "number" ? formatNumber(v) : String(v));
  const cells = table.values.map((col) => col.slice(0, nRows).map(text));
  const widths = table.columns.map((c, j) => Math.max(c.length, ...cells[j]!.map((s) => s.length)));
  const numeric = table.values.map((col) => col.slice(0, nRows).every((v) => v === null || typeof v === "number"));
  const line = (vals: string[]) =>
    vals
      .map((s, j) => (numeric[j] ? s.padStart(widths[j]!) : s.padEnd(widths[j]!)))
      .join("  ")
      .trimEnd();
  return [line(table.columns), ...Array.from({ length: nRows }, (_, i) => line(cells.map((c) => c[i]!)))].join("\n");
}

export function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return v.toPrecision(4).replace(/\.?0+$/, "");
}
