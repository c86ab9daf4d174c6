// calculateAdaptiveQcThresholds gives the seed's thresholds AND its unclamped percentiles/median on
// csr, csc and dense files, sampling the same cells as np.random.seed(s) in Python
// (test/fixtures/helpers/qc_thresholds.json, made by scripts/reference/make_helpers_a_fixtures.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { calculateAdaptiveQcThresholds, numpyPercentileSorted, valueCounts } from "../../src/helpers/adaptiveQc.ts";
import { openH5ad } from "../../src/io/anndata/handle.ts";
import { InvalidArgumentError } from "../../src/errors.ts";
import type { Progress } from "../../src/core/streaming.ts";

interface Case {
  file: string;
  column: string;
  mode: "conservative" | "aggressive";
  sample_size: number;
  chunk_size: number;
  seed: number;
  result: { min_genes: number; min_cells_per_perturbation: number; min_cells_per_gene: number; chunk_size: number };
  intermediates: { perturbation_percentile: number; gene_percentile: number; median_genes: number; n_sampled: number };
}
const dir = new URL("../fixtures/helpers/", import.meta.url);
const cases = JSON.parse(readFileSync(new URL("qc_thresholds.json", dir), "utf8")) as Case[];
const path = (name: string) => fileURLToPath(new URL(name, dir));

test("same thresholds and same unclamped statistics as the seed on every file, mode, sample size and seed", () => {
  assert.equal(cases.length, 24);
  for (const c of cases) {
    const r = calculateAdaptiveQcThresholds(path(c.file), c.column, {
      mode: c.mode,
      sampleSize: c.sample_size,
      chunkSize: c.chunk_size,
      seed: c.seed,
    });
    const label = JSON.stringify({ f: c.file, col: c.column, m: c.mode, n: c.sample_size, s: c.seed });
    assert.deepEqual(
      {
        min_genes: r.minGenes,
        min_cells_per_perturbation: r.minCellsPerPerturbation,
        min_cells_per_gene: r.minCellsPerGene,
        chunk_size: r.chunkSize,
      },
      c.result,
      label,
    );
    assert.deepEqual(
      {
        perturbation_percentile: r.perturbationPercentile,
        gene_percentile: r.genePercentile,
        median_genes: r.medianGenes,
        n_sampled: r.nCellsSampled,
      },
      c.intermediates,
      label,
    );
  }
});

test("the result does not depend on the memory budget (blocks of any size give the same answer)", () => {
  const small: Progress[] = [];
  const a = calculateAdaptiveQcThresholds(path("qc_csr.h5ad"), "perturbation", {
    sampleSize: 300,
    seed: 9,
    memoryBudget: 4096,
    onProgress: (p) => small.push(p),
  });
  const b = calculateAdaptiveQcThresholds(path("qc_csr.h5ad"), "perturbation", { sampleSize: 300, seed: 9 });
  assert.ok(small.length > 10, `read in many blocks (${small.length})`);
  assert.deepEqual(a, b);
  for (const f of ["qc_csc.h5ad", "qc_dense.h5ad"]) {
    const progress: Progress[] = [];
    const c = calculateAdaptiveQcThresholds(path(f), "perturbation", {
      sampleSize: 300,
      seed: 9,
      memoryBudget: 8192,
      onProgress: (p) => progress.push(p),
    });
    assert.ok(progress.length > 3, `${f}: read in blocks (${progress.length})`);
    assert.equal(progress.at(-1)!.done, progress.at(-1)!.total);
    assert.deepEqual(
      { ...c, medianGenes: 0, genePercentile: 0, minCellsPerGene: 0, minGenes: 0 },
      { ...a, medianGenes: 0, genePercentile: 0, minCellsPerGene: 0, minGenes: 0 },
    );
  }
});

test("progress reaches the total even when the last blocks hold no sampled cell", () => {
  for (const f of ["qc_csr.h5ad", "qc_dense.h5ad"]) {
    const progress: Progress[] = [];
    calculateAdaptiveQcThresholds(path(f), "perturbation", {
      sampleSize: 3,
      seed: 1,
      memoryBudget: 4096,
      onProgress: (p) => progress.push(p),
    });
    assert.deepEqual(progress.at(-1), { phase: "counting detected genes", done: 1000, total: 1000, unit: "cells" }, f);
  }
});

test("explains itself: sampling, percentile, planned chunk size", () => {
  using h = openH5ad(path("qc_csr.h5ad"));
  const r = calculateAdaptiveQcThresholds(h, "perturbation", { mode: "aggressive", availableMemoryGb: 0.001 });
  assert.equal(r.percentile, 5);
  assert.equal(r.nCells, 1000);
  assert.equal(r.nCellsSampled, 1000);
  assert.equal(r.seed, null, "all cells used: nothing drawn");
  assert.equal(r.chunkSizeSource, "planned");
  assert.equal(r.chunkSize, 512, "planner with 1 MB of memory clamps to its minimum");
  assert.equal(r.nPerturbations, 41, "39 labels + 1 unused category + G_tiny");
});

test("numpy linear percentile and pandas value_counts rules", () => {
  // Values from np.percentile([1, 2, 3, 4, 10], q).
  assert.equal(numpyPercentileSorted([1, 2, 3, 4, 10], 10), 1.4);
  assert.equal(numpyPercentileSorted([1, 2, 3, 4, 10], 90), 7.6000000000000005);
  assert.equal(numpyPercentileSorted([7], 5), 7);
  assert.ok(Number.isNaN(numpyPercentileSorted([], 10)));
  assert.deepEqual(
    valueCounts({ type: "array", dtype: "float64", shape: [5], data: Float64Array.of(1, NaN, 1, 2, -0) }),
    [2, 1, 1],
  );
  assert.deepEqual(
    valueCounts({
      type: "categorical",
      codes: Int8Array.of(0, -1, 0, 2),
      categories: { type: "array", dtype: "string", shape: [3], data: ["a", "b", "c"] },
      ordered: false,
    }),
    [2, 0, 1],
  );
});

test("bad arguments are clear errors before any work", () => {
  const p = path("qc_csr.h5ad");
  assert.throws(
    () => calculateAdaptiveQcThresholds(p, "nope"),
    (e: unknown) =>
      e instanceof InvalidArgumentError && /no column 'nope'/.test(e.message) && /perturbation/.test(e.hint ?? ""),
  );
  assert.throws(
    () => calculateAdaptiveQcThresholds(p, "perturbation", { mode: "lenient" as "aggressive" }),
    /conservative or aggressive/,
  );
  assert.throws(() => calculateAdaptiveQcThresholds(p, "perturbation", { sampleSize: 0 }), /sampleSize/);
  assert.throws(() => calculateAdaptiveQcThresholds(p, "perturbation", { seed: -3 }), /seed/);
  assert.throws(() => calculateAdaptiveQcThresholds(p, "perturbation", { chunkSize: 1.5 }), /chunkSize/);
  assert.throws(() => calculateAdaptiveQcThresholds(p, "perturbation", { layer: "counts" }), /no layer 'counts'/);
});

test("reads a layer when asked; stops at once when cancelled", async () => {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { writeH5ad } = await import("../../src/io/anndata/anndata.ts");
  const dirTmp = mkdtempSync(join(tmpdir(), "crispyx-qc-"));
  try {
    const ad = openH5ad(path("qc_dense.h5ad"));
    const mem = ad.toMemory();
    ad.close();
    const csr = openH5ad(path("qc_csr.h5ad"));
    mem.layers = { counts: csr.X.readAll("csr") as never };
    csr.close();
    const p = join(dirTmp, "layered.h5ad");
    writeH5ad(p, mem);
    const fromLayer = calculateAdaptiveQcThresholds(p, "perturbation", {
      sampleSize: 700,
      seed: 1,
      chunkSize: 1000,
      layer: "counts",
    });
    const fromCsr = calculateAdaptiveQcThresholds(path("qc_csr.h5ad"), "perturbation", {
      sampleSize: 700,
      seed: 1,
      chunkSize: 1000,
    });
    const fromX = calculateAdaptiveQcThresholds(p, "perturbation", { sampleSize: 700, seed: 1, chunkSize: 1000 });
    assert.deepEqual(fromLayer, fromCsr);
    assert.notEqual(fromX.medianGenes, fromLayer.medianGenes, "X (dense, with negatives) differs from the CSR layer");
    const ac = new AbortController();
    ac.abort(new Error("stop now"));
    assert.throws(() => calculateAdaptiveQcThresholds(p, "perturbation", { signal: ac.signal }), /stop now/);
  } finally {
    rmSync(dirTmp, { recursive: true, force: true });
  }
});
