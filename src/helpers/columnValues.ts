/**
 * Reading a table column as text and writing text back in the same kind of column, for the helpers
 * that rewrite labels or names: a categorical stays categorical and missing values stay missing.
 */
import type { Column } from "../io/anndata/model.ts";
import { categorical, strings } from "../io/anndata/model.ts";
import { codePointCompare, columnAsStrings } from "./pythonText.ts";

/**
 * A text column to write in place of `col`, of the same kind: a categorical stays categorical (categories
 * = the distinct values, sorted as pandas.Categorical sorts them), a column with missing values keeps
 * them missing (nullable string), anything else becomes a string column.
 */
export function sameKindTextColumn(col: Column, labels: (string | null)[], missing: Uint8Array | null): Column {
  if (col.type === "categorical") {
    // pandas.Categorical(values), as the seed writes: the distinct values, sorted, unordered (an old
    // order means nothing for new values); missing stays missing (code -1).
    const present = new Set<string>();
    for (const l of labels) if (l !== null) present.add(l);
    const cats = [...present].sort(codePointCompare);
    return categorical(labels, { categories: cats, ordered: false });
  }
  if (missing)
    return { type: "nullable-string", values: strings(labels.map((l) => l ?? "")), mask: Uint8Array.from(missing) };
  return strings(labels as string[]);
}

/** Which cells have no label: missing categorical codes and masked nullable values. */
export function missingMask(col: Column): Uint8Array | null {
  if (col.type === "categorical") {
    const m = new Uint8Array(col.codes.length);
    let any = false;
    for (let i = 0; i < col.codes.length; i++)
      if (Number(col.codes[i]) < 0) {
        m[i] = 1;
        any = true;
      }
    return any ? m : null;
  }
  if (col.type !== "array") return col.mask.some((x) => x) ? col.mask : null;
  return null;
}

/** Every row as text (pandas `astype(str)`), worked out once per category for a categorical column. */
export function columnTexts(col: Column): string[] {
  if (col.type !== "categorical") return columnAsStrings(col);
  const cats = columnAsStrings(col.categories);
  const out = new Array<string>(col.codes.length);
  for (let i = 0; i < out.length; i++) {
    const k = Number(col.codes[i]);
    out[i] = k < 0 ? "nan" : cats[k]!;
  }
  return out;
}
