/**
 * The DE input checks (src/de/methods/inputs.ts) read one small first block, never a pass over X: on CSC
 * storage the first genes (the first rows of a CSC matrix are a scan of every column — a third of a
 * Wilcoxon run's time on 50k × 5k before); raw counts stored by columns are refused naming genes, and a
 * non-count value is named by its cell and gene.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openH5ad } from "../../src/io/anndata/handle.ts";
import { writeH5ad } from "../../src/io/anndata/anndata.ts";
import { dataframe, emptyAnnData, type SparseMatrix } from "../../src/io/anndata/model.ts";
import { DE_INPUTS } from "../../src/de/methods/inputs.ts";

const work = mkdtempSync(join(tmpdir(), "crispyx-inputs-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

/** A CSC matrix of 2,000 cells × 50 genes, every value `value(cell, gene)` (none zero). */
function cscFile(name: string, value: (i: number, j: number) => number): string {
  const N = 2000,
    G = 50;
  const data = new Float32Array(N * G),
    indices = new Int32Array(N * G),
    indptr = new Int32Array(G + 1);
  for (let j = 0; j < G; j++) {
    for (let i = 0; i < N; i++) {
      data[j * N + i] = value(i, j);
      indices[j * N + i] = i;
    }
    indptr[j + 1] = (j + 1) * N;
  }
  const ad = emptyAnnData(N, G);
  ad.X = { type: "csc", shape: [N, G], data, indices, indptr } satisfies SparseMatrix;
  ad.obs = dataframe(
    Array.from({ length: N }, (_, i) => `c${i}`),
    {},
  );
  ad.var = dataframe(
    Array.from({ length: G }, (_, j) => `g${j}`),
    {},
  );
  const path = join(work, name);
  writeH5ad(path, ad);
  return path;
}

test("CSC input: the checks read the first genes only, and raw counts are refused naming genes", () => {
  const log = cscFile("log.h5ad", (i, j) => Math.log1p(1 + ((i + j) % 7)));
  const h = openH5ad(log);
  try {
    const reader = h.matrix();
    DE_INPUTS["log-normalised"].check(reader, log, "t-test");
    // 200 rows' worth of values: 200 × 50 / 2,000 = 5 genes of 50.
    assert.ok(reader.passesRead <= 0.1, `the check read ${reader.passesRead} of X`);
  } finally {
    h.close();
  }
  const counts = cscFile("counts.h5ad", (i, j) => 1 + ((i * j) % 4));
  const hc = openH5ad(counts);
  try {
    assert.throws(
      () => DE_INPUTS["log-normalised"].check(hc.matrix(), counts, "t-test"),
      /the first genes' values are all whole numbers, which look like raw counts/,
    );
    DE_INPUTS.counts.check(hc.matrix(), counts, "nb-glm");
  } finally {
    hc.close();
  }
  const bad = cscFile("bad.h5ad", (i, j) => (i === 7 && j === 2 ? 2.5 : 1));
  const hb = openH5ad(bad);
  try {
    assert.throws(
      () => DE_INPUTS.counts.check(hb.matrix(), bad, "nb-glm"),
      /X holds 2\.5 at cell 7, gene 2 \(0-based\)/,
    );
  } finally {
    hb.close();
  }
});
