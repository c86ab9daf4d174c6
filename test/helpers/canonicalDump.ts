// Canonical JSON of an in-memory AnnData (crispyx reader), in the same shape as `scripts/check_h5ad.py dump`
// so golden tests compare our reading with anndata's, element by element, with no Python.
import type { AnnData, Column, DataFrame, Element, NdArray } from "../../src/io/anndata/model.ts";

const num = (v: number | bigint | boolean): number | string | boolean => {
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "boolean") return v;
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "Infinity";
  if (v === -Infinity) return "-Infinity";
  return v;
};

/** numpy dtype name as anndata reports it (strings are object arrays). */
const npDtype = (d: string) => (d === "string" ? "object" : d);

function flat(a: NdArray): unknown[] {
  if (a.dtype === "string") return [...(a.data as string[])];
  const out: unknown[] = [];
  for (const v of a.data as Iterable<number | bigint>) out.push(a.dtype === "bool" ? Boolean(v) : num(v));
  return out;
}

function nest(values: unknown[], shape: number[]): unknown {
  if (shape.length <= 1) return values;
  const step = values.length / shape[0]!;
  return Array.from({ length: shape[0]! }, (_, i) => nest(values.slice(i * step, (i + 1) * step), shape.slice(1)));
}

function dumpColumn(c: Column): unknown {
  if (c.type === "categorical") {
    return {
      kind: "categorical",
      ordered: c.ordered,
      codes: Array.from(c.codes as ArrayLike<number | bigint>, Number),
      categories: flat(c.categories),
      categories_dtype: npDtype(c.categories.dtype),
    };
  }
  if (c.type === "array") return { kind: "array", dtype: npDtype(c.dtype), values: flat(c) };
  const dtype =
    c.type === "nullable-boolean"
      ? "boolean"
      : c.type === "nullable-string"
        ? "string"
        : c.values.dtype.replace(/^u?int/, (m) => (m === "uint" ? "UInt" : "Int"));
  const vals = flat(c.values);
  return { kind: "nullable", dtype, values: vals.map((v, i) => (c.mask[i] ? null : v)) };
}

function dumpDf(df: DataFrame): unknown {
  return {
    kind: "dataframe",
    index_name: df.indexName === "_index" ? null : df.indexName,
    index: [...df.index],
    columns: [...df.columnOrder],
    data: Object.fromEntries(df.columnOrder.map((k) => [k, dumpColumn(df.columns[k]!)])),
  };
}

export function dumpElement(e: Element): unknown {
  switch (e.type) {
    case "dataframe":
      return dumpDf(e);
    case "csr":
    case "csc":
      return {
        kind: "sparse",
        format: e.type,
        shape: [...e.shape],
        dtype: npDtype(e.data instanceof Float32Array ? "float32" : dtypeOf(e.data)),
        indptr: Array.from(e.indptr as ArrayLike<number | bigint>, Number),
        indices: Array.from(e.indices as ArrayLike<number | bigint>, Number),
        data: Array.from(e.data as ArrayLike<number | bigint>, num),
      };
    case "dict":
      return { kind: "dict", items: dumpMap(e.items) };
    case "array":
      return {
        kind: "ndarray",
        dtype: npDtype(e.dtype),
        shape: [...e.shape],
        values: e.shape.length === 0 ? flat(e)[0] : nest(flat(e), e.shape),
      };
    case "scalar":
      return {
        kind: "scalar",
        type: e.dtype === "string" ? "str" : e.dtype,
        value: typeof e.value === "string" ? e.value : num(e.value),
      };
    case "rec-array": {
      // numpy's str(dtype) of the record type; string fields print as object ('O').
      const np = (d: string) =>
        d === "string"
          ? "O"
          : d === "bool"
            ? "?"
            : ((
                {
                  float64: "<f8",
                  float32: "<f4",
                  int64: "<i8",
                  int32: "<i4",
                  int16: "<i2",
                  int8: "|i1",
                  uint64: "<u8",
                  uint32: "<u4",
                  uint16: "<u2",
                  uint8: "|u1",
                } as Record<string, string>
              )[d] ?? d);
      const columns = e.fields.map((f) => flat({ type: "array", dtype: f.dtype, shape: [e.length], data: f.data }));
      return {
        kind: "ndarray",
        dtype: `[${e.fields.map((f) => `('${f.name}', '${np(f.dtype)}')`).join(", ")}]`,
        shape: [e.length],
        values: Array.from({ length: e.length }, (_, i) =>
          Object.fromEntries(e.fields.map((f, k) => [f.name, columns[k]![i]])),
        ),
      };
    }
    case "null":
      return { kind: "none" };
    default:
      return dumpColumn(e);
  }
}

function dtypeOf(a: unknown): string {
  const n = (a as object).constructor.name.replace("Array", "");
  return (
    (
      {
        Float64: "float64",
        Float32: "float32",
        Int8: "int8",
        Uint8: "uint8",
        Int16: "int16",
        Uint16: "uint16",
        Int32: "int32",
        Uint32: "uint32",
        BigInt64: "int64",
        BigUint64: "uint64",
      } as Record<string, string>
    )[n] ?? n
  );
}

function dumpMap(m: Record<string, Element>): Record<string, unknown> {
  return Object.fromEntries(
    Object.keys(m)
      .sort()
      .map((k) => [k, dumpElement(m[k]!)]),
  );
}

/** The whole object, shaped like check_h5ad.py's dump. */
export function canonicalDump(a: AnnData): any {
  return {
    shape: [a.obs.index.length, a.var.index.length],
    X: a.X === null ? null : dumpElement(a.X),
    obs: dumpDf(a.obs),
    var: dumpDf(a.var),
    uns: { kind: "dict", items: dumpMap(a.uns) },
    obsm: dumpMap(a.obsm),
    varm: dumpMap(a.varm),
    obsp: dumpMap(a.obsp),
    varp: dumpMap(a.varp),
    layers: dumpMap(a.layers),
    raw:
      a.raw === null
        ? null
        : {
            shape: [a.obs.index.length, a.raw.var.index.length],
            X: dumpElement(a.raw.X),
            var: dumpDf(a.raw.var),
            varm: dumpMap(a.raw.varm),
          },
  };
}

/** Paths where two canonical dumps differ (at most `limit`). */
export function diffDumps(a: unknown, b: unknown, path = "", out: string[] = [], limit = 30): string[] {
  if (out.length >= limit) return out;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push(`${path}: length ${a.length} != ${b.length}`);
    else a.forEach((x, i) => diffDumps(x, b[i], `${path}[${i}]`, out, limit));
  } else if (a && b && typeof a === "object" && typeof b === "object") {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (!(k in a) || !(k in b)) out.push(`${path}/${k}: only in ${k in a ? "ours" : "expected"}`);
      else diffDumps((a as any)[k], (b as any)[k], `${path}/${k}`, out, limit);
    }
  } else if (!Object.is(a, b) && !(a === 0 && b === 0)) {
    out.push(`${path}: ${JSON.stringify(a)?.slice(0, 120)} != ${JSON.stringify(b)?.slice(0, 120)}`);
  }
  return out;
}
