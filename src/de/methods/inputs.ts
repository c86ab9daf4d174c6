/**
 * The values a DE method needs, each with the check that enforces it and the fold change that suits it.
 * The check reads only a small first block before any pass over X: the first cells (≤ 200 rows), or for
 * an X stored by columns (CSC, where the first rows are a scan of the whole matrix) as many first genes
 * as hold about as many values.
 *
 * - "log-normalised" (t-test, Wilcoxon): floating-point values that are not all whole numbers; fold
 *   changes log2((expm1(mean_group) + 1e-9) / (expm1(mean_control) + 1e-9)), as Scanpy.
 * - "counts" (NB-GLM): non-negative whole numbers; fold changes log2((mean_group + 1e-9) / (mean_control + 1e-9)).
 */
import { InvalidArgumentError } from "../../errors.ts";
import type { MatrixReader } from "../../io/anndata/matrixReader.ts";
import type { NdArray, SparseMatrix } from "../../io/anndata/model.ts";

export type DeInput = "log-normalised" | "counts";

export interface DeInputKind {
  /** Refuse values that are not of this kind, naming the file (and, for counts, the first cell and gene that fail). */
  check(reader: MatrixReader, path: string, method: string): void;
  /** The means are log1p-scale (fold changes through expm1) or on the values' own scale. */
  readonly logScaleMeans: boolean;
}

export const DE_INPUTS: Record<DeInput, DeInputKind> = {
  "log-normalised": { check: assertLogNormalised, logScaleMeans: true },
  counts: { check: assertCounts, logScaleMeans: false },
};

/** Rows the checks read. */
const SAMPLE_ROWS = 200;

interface Sample {
  values: ArrayLike<number>;
  column: (k: number) => number;
  row: (k: number) => number;
  /** What the block holds, for messages. */
  what: string;
}

/** The first block's stored values (sparse: with their column indices): first rows, or first columns of CSC. */
function firstRows(reader: MatrixReader): Sample {
  const [nObs, nVars] = reader.shape;
  if (reader.info.format === "csc") {
    const cols = Math.min(nVars, Math.max(1, Math.ceil((SAMPLE_ROWS * nVars) / Math.max(1, nObs))));
    return sparseSample(reader.cols(0, cols, "csc") as SparseMatrix, "genes");
  }
  const block = reader.rows(0, Math.min(nObs, SAMPLE_ROWS));
  if (block.type === "array") {
    const values = (block as NdArray).data as ArrayLike<number>;
    return { values, column: (k) => k % nVars, row: (k) => Math.floor(k / nVars), what: "cells" };
  }
  return sparseSample(block as SparseMatrix, "cells");
}

/** A sparse block's values; each one's major index (row of CSR, column of CSC) found from indptr, its minor one stored. */
function sparseSample(b: SparseMatrix, what: "cells" | "genes"): Sample {
  const ptr = b.indptr as ArrayLike<number | bigint>;
  const minor = (k: number) => Number((b.indices as ArrayLike<number | bigint>)[k]!);
  const major = (k: number) => {
    let r = 0;
    while (Number(ptr[r + 1]!) <= k) r++;
    return r;
  };
  return b.type === "csc"
    ? { values: b.data as ArrayLike<number>, row: minor, column: major, what }
    : { values: b.data as ArrayLike<number>, row: major, column: minor, what };
}

/** Refuse raw counts (as the seed does): integer storage, or a first block whose non-zeros are all whole numbers. */
export function assertLogNormalised(reader: MatrixReader, path: string): void {
  const dt = reader.info.dtype;
  const hint = "log-normalise first (normalise total counts, then log1p)";
  if (dt !== "float32" && dt !== "float64") {
    throw new InvalidArgumentError(`X holds ${dt} values, which look like raw counts; DE expects log-normalised data`, {
      file: path,
      hint,
    });
  }
  const { values, what } = firstRows(reader);
  let nonzero = 0;
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    if (v === 0) continue;
    nonzero++;
    if (Math.abs(v - Math.round(v)) > 1e-8 * Math.max(1, Math.abs(v))) return;
  }
  if (nonzero > 0) {
    throw new InvalidArgumentError(
      `the first ${what}' values are all whole numbers, which look like raw counts; DE expects log-normalised data`,
      { file: path, hint },
    );
  }
}

/** Refuse values that are not non-negative whole numbers in the first block, naming the first that fails. */
export function assertCounts(reader: MatrixReader, path: string, method: string): void {
  const { values, column, row } = firstRows(reader);
  for (let k = 0; k < values.length; k++) {
    const v = Number(values[k]!);
    if (v >= 0 && Number.isInteger(v)) continue;
    throw new InvalidArgumentError(
      `X holds ${v} at cell ${row(k)}, gene ${column(k)} (0-based), not a non-negative whole number; DE method '${method}' expects raw counts`,
      { file: path, hint: "give the raw counts: the file before 'crispyx normalize', or a counts layer (--layer)" },
    );
  }
}
