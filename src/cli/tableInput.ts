/**
 * Tables into the CLI (`crispyx obs import`): CSV, TSV or JSON records → a DataFrame to write as obs/var.
 *
 * Column types are inferred from the values, guided by the column of the same name already in the
 * file, so that export → edit → import keeps types: a categorical stays categorical, an int column
 * stays integer, new text columns become categoricals (as anndata stores strings by default).
 * Empty CSV cells / JSON nulls are missing values: NaN in float columns, a missing category, or a
 * masked value in pandas nullable columns.
 */
import { InvalidArgumentError } from "../errors.ts";
import {
  bools,
  categorical,
  dataframe,
  ndarray,
  strings,
  type ArrayDtype,
  type Column,
  type DataFrame,
  type NdArray,
} from "../io/anndata/model.ts";
import type { Cell, PlainTable, TableFormat } from "./output.ts";

/** Parse RFC 4180 delimited text (quoted fields, doubled quotes, CRLF or LF, optional BOM). */
export function parseDelimited(text: string, delimiter: string, source: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let quoted = false;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      if (ch === "\n") line++;
      field += ch;
      i++;
      continue;
    }
    if (ch === '"' && field === "") {
      quoted = true;
      i++;
      continue;
    }
    if (ch === delimiter) {
      row.push(field);
      field = "";
      i++;
      continue;
    }
    if (ch === "\r" && text[i + 1] === "\n") {
      i++;
      continue;
    }
    if (ch === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i++;
      line++;
      continue;
    }
    field += ch;
    i++;
  }
  if (quoted)
    throw new InvalidArgumentError(`a quoted field starting before line ${line} is never closed`, { file: source });
  if (field !== "" || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** Read a table file's text into a plain table (strings for CSV/TSV, JSON values for JSON). */
export function parseTable(text: string, format: TableFormat, source: string): PlainTable {
  if (format === "json") return parseJsonRecords(text, source);
  const rows = parseDelimited(text, format === "csv" ? "," : "\t", source).filter(
    (r) => !(r.length === 1 && r[0] === ""),
  );
  if (rows.length === 0)
    throw new InvalidArgumentError(`is empty; expected a header line and one line per row`, { file: source });
  const header = rows[0]!;
  rows.slice(1).forEach((r, k) => {
    if (r.length !== header.length) {
      throw new InvalidArgumentError(`line ${k + 2} has ${r.length} fields but the header has ${header.length}`, {
        file: source,
        hint: format === "csv" ? 'quote fields that contain commas, e.g. "a, b"' : "check for tabs inside values",
      });
    }
  });
  return { columns: header, values: header.map((_, j) => rows.slice(1).map((r) => r[j]!)) };
}

function parseJsonRecords(text: string, source: string): PlainTable {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new InvalidArgumentError(`is not valid JSON (${(e as Error).message})`, { file: source });
  }
  if (!Array.isArray(data) || data.some((r) => typeof r !== "object" || r === null || Array.isArray(r))) {
    throw new InvalidArgumentError(`expected a JSON array of records, one object per row`, {
      file: source,
      hint: "as written by 'crispyx obs export --format json'",
    });
  }
  const records = data as Record<string, unknown>[];
  const columns = [...new Set(records.flatMap((r) => Object.keys(r)))];
  const values = columns.map((c) =>
    records.map((r, i): Cell => {
      const v = r[c];
      if (v === undefined || v === null) return null;
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
      throw new InvalidArgumentError(
        `row ${i + 1}, '${c}' holds ${Array.isArray(v) ? "an array" : "an object"}; only strings, numbers, booleans and null can go in a table`,
        { file: source },
      );
    }),
  );
  return { columns, values };
}

const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|inf|infinity|nan)$/i;
const BOOLS: Record<string, boolean> = { true: true, false: false };

function isMissing(v: Cell): boolean {
  return v === null || v === "";
}

function asNumber(v: Cell): number {
  if (typeof v === "number") return v;
  const s = String(v).toLowerCase().replace(/^\+/, "");
  if (s === "inf" || s === "infinity") return Infinity;
  if (s === "-inf" || s === "-infinity") return -Infinity;
  if (s === "nan") return NaN;
  return Number(s);
}

type Kind = "bool" | "int" | "float" | "string";

function kindOf(cells: Cell[]): Kind {
  const present = cells.filter((v) => !isMissing(v));
  if (present.length === 0) return "float";
  if (present.every((v) => typeof v === "boolean" || (typeof v === "string" && v.toLowerCase() in BOOLS)))
    return "bool";
  if (
    present.every(
      (v) =>
        (typeof v === "number" && Number.isSafeInteger(v)) ||
        (typeof v === "string" && INT_RE.test(v.trim()) && Number.isSafeInteger(Number(v))),
    )
  )
    return "int";
  if (present.every((v) => typeof v === "number" || (typeof v === "string" && FLOAT_RE.test(v.trim())))) return "float";
  return "string";
}

const INT_DTYPES = new Set<ArrayDtype>(["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]);

function intArray(values: number[], dtype: ArrayDtype): Column {
  switch (dtype) {
    case "int8":
      return ndarray(Int8Array.from(values), undefined, dtype);
    case "uint8":
      return ndarray(Uint8Array.from(values), undefined, dtype);
    case "int16":
      return ndarray(Int16Array.from(values), undefined, dtype);
    case "uint16":
      return ndarray(Uint16Array.from(values), undefined, dtype);
    case "int32":
      return ndarray(Int32Array.from(values), undefined, dtype);
    case "uint32":
      return ndarray(Uint32Array.from(values), undefined, dtype);
    case "uint64":
      return ndarray(BigUint64Array.from(values, BigInt), undefined, dtype);
    default:
      return ndarray(BigInt64Array.from(values, BigInt), undefined, "int64");
  }
}

/** One imported column, typed by its values and by `existing` (the file's column of that name). */
export function columnFromCells(cells: Cell[], existing?: Column): Column {
  const kind = kindOf(cells);
  const missing = cells.map(isMissing);
  const anyMissing = missing.some(Boolean);
  const wantsCategorical = existing?.type === "categorical";
  if (wantsCategorical || kind === "string") {
    const text = cells.map((v) => (isMissing(v) ? null : typeof v === "boolean" ? (v ? "True" : "False") : String(v)));
    if (existing?.type === "array" && existing.dtype === "string") return strings(text.map((t) => t ?? ""));
    if (existing?.type === "nullable-string") {
      return {
        type: "nullable-string",
        values: strings(text.map((t) => t ?? "")),
        mask: Uint8Array.from(missing, Number),
      };
    }
    const ordered = existing?.type === "categorical" ? existing.ordered : false;
    // Keep the file's category order when the values still fit in it (it may be meaningful).
    let categories: string[] | undefined;
    if (existing?.type === "categorical") {
      const old = Array.from(existing.categories.data as ArrayLike<unknown>, String);
      const present = new Set(text.filter((t): t is string => t !== null));
      if ([...present].every((t) => old.includes(t))) categories = old;
    }
    return categorical(text, { categories, ordered });
  }
  if (kind === "bool") {
    const vals = cells.map((v) =>
      isMissing(v) ? false : typeof v === "boolean" ? v : BOOLS[String(v).toLowerCase()]!,
    );
    if (!anyMissing && existing?.type !== "nullable-boolean") return bools(vals);
    return { type: "nullable-boolean", values: bools(vals), mask: Uint8Array.from(missing, Number) };
  }
  if (kind === "int") {
    const vals = cells.map((v) => (isMissing(v) ? 0 : asNumber(v)));
    if (existing?.type === "nullable-integer") {
      return {
        type: "nullable-integer",
        values: intArray(vals, existing.values.dtype) as NdArray,
        mask: Uint8Array.from(missing, Number),
      };
    }
    if (!anyMissing) {
      if (existing?.type === "array" && existing.dtype === "float32")
        return ndarray(Float32Array.from(vals), undefined, "float32");
      if (existing?.type === "array" && existing.dtype === "float64")
        return ndarray(Float64Array.from(vals), undefined, "float64");
      const dtype = existing?.type === "array" && INT_DTYPES.has(existing.dtype) ? existing.dtype : "int64";
      const fits = (min: number, max: number) => vals.every((v) => v >= min && v <= max);
      const ranges: Partial<Record<ArrayDtype, [number, number]>> = {
        int8: [-128, 127],
        uint8: [0, 255],
        int16: [-32768, 32767],
        uint16: [0, 65535],
        int32: [-(2 ** 31), 2 ** 31 - 1],
        uint32: [0, 2 ** 32 - 1],
        uint64: [0, Number.MAX_SAFE_INTEGER],
      };
      const r = ranges[dtype];
      return intArray(vals, r && !fits(r[0], r[1]) ? "int64" : dtype);
    }
  }
  // Floats, or integers with gaps (pandas reads those as float64 with NaN too).
  const vals = cells.map((v) => (isMissing(v) ? NaN : asNumber(v)));
  if (existing?.type === "array" && existing.dtype === "float32")
    return ndarray(Float32Array.from(vals), undefined, "float32");
  return ndarray(Float64Array.from(vals), undefined, "float64");
}

/**
 * Turn an imported table into the DataFrame to write: the first column is the row names, the others
 * are typed against `existing` (the file's current table).
 */
export function tableToDataFrame(table: PlainTable, existing: DataFrame, source: string): DataFrame {
  if (table.columns.length === 0) throw new InvalidArgumentError(`has no columns`, { file: source });
  const [indexCol, ...cols] = table.columns;
  const seen = new Set<string>();
  for (const c of cols) {
    if (c === "") throw new InvalidArgumentError(`a column has an empty name`, { file: source });
    if (c.includes("/"))
      throw new InvalidArgumentError(`column name '${c}' contains '/', which HDF5 does not allow`, { file: source });
    if (seen.has(c)) throw new InvalidArgumentError(`column '${c}' appears twice`, { file: source });
    seen.add(c);
  }
  const index = table.values[0]!.map((v, i) => {
    if (isMissing(v))
      throw new InvalidArgumentError(`row ${i + 1} has an empty row name (first column '${indexCol}')`, {
        file: source,
      });
    return String(v);
  });
  const columns: Record<string, Column> = {};
  cols.forEach((name, j) => {
    columns[name] = columnFromCells(table.values[j + 1]!, existing.columns[name]);
  });
  return dataframe(index, columns, existing.indexName);
}
