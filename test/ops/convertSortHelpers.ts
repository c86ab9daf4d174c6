// Shared by the convert/sort/standardize tests: dense views of X, the seed's expectations, and a child
// process to SIGKILL in the middle of an operator.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { readH5ad } from "../../src/io/anndata/anndata.ts";
import { toLayout } from "../../src/core/sparse.ts";
import type { Column, DataFrame, Matrix, NdArray, SparseMatrix } from "../../src/io/anndata/model.ts";
import { nullableStringsAsCategorical } from "../../src/io/anndata/encodings/nullable.ts";
import { killChildAtFirstProgress, ROOT } from "./opsTestHelpers.ts";

export { ROOT };
export const OPSB = join(ROOT, "test/fixtures/ops-b");
export const EXPECTED = JSON.parse(readFileSync(join(OPSB, "expected.json"), "utf8"));

/** X (or any matrix) as a dense row-major float64 array plus its storage format. */
export function dense(m: Matrix): { format: string; shape: number[]; values: number[] } {
  const d = toLayout(m, "dense") as NdArray;
  return {
    format: m.type === "array" ? "dense" : m.type,
    shape: d.shape,
    values: Array.from(d.data as ArrayLike<number | bigint>, Number),
  };
}

export function denseX(path: string): { format: string; shape: number[]; values: number[] } {
  const a = readH5ad(path);
  assert.ok(a.X, `${path} has X`);
  return dense(a.X);
}

/** Sparse X has sorted, in-range indices in every line and consistent indptr. */
export function assertCanonical(m: Matrix): void {
  if (m.type === "array") return;
  const s = m as SparseMatrix;
  const nMajor = s.type === "csr" ? s.shape[0] : s.shape[1];
  const nMinor = s.type === "csr" ? s.shape[1] : s.shape[0];
  assert.equal(s.indptr.length, nMajor + 1);
  assert.equal(Number(s.indptr[nMajor]!), s.data.length);
  for (let i = 0; i < nMajor; i++) {
    for (let k = Number(s.indptr[i]!); k < Number(s.indptr[i + 1]!); k++) {
      const j = Number(s.indices[k]!);
      assert.ok(j >= 0 && j < nMinor, "index in range");
      if (k > Number(s.indptr[i]!)) assert.ok(Number(s.indices[k - 1]!) < j, `indices sorted in line ${i}`);
    }
  }
}

/** Files in `dir` (temporary leftovers start with .crispyx-tmp). */
export function listDir(dir: string): string[] {
  return readdirSync(dir).sort();
}

/**
 * Run `op` on `input` in a child (test/ops/convertSortChild.ts) and SIGKILL it at its first progress
 * report, while it is blocked in the middle of writing.
 */
export function killAtFirstProgress(op: string, input: string, options: object): Promise<{ signal: string | null }> {
  return killChildAtFirstProgress("test/ops/convertSortChild.ts", [op, input, JSON.stringify(options)]);
}

/**
 * A table as crispyx writes it by default: pandas' nullable string columns become categoricals of the same
 * values in anndata's category order (src/io/anndata/settings.ts), so that anndata 0.8 can open the file.
 */
export function asWrittenByDefault(df: DataFrame): DataFrame {
  const columns: Record<string, Column> = {};
  for (const [name, c] of Object.entries(df.columns)) {
    if (c.type !== "nullable-string") {
      columns[name] = c;
      continue;
    }
    columns[name] = nullableStringsAsCategorical(c);
  }
  return { ...df, columns };
}
