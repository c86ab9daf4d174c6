// The chunk planners and memory estimates give the seed's exact values on a grid of ~2300 inputs
// (test/fixtures/helpers/planners.json, made by scripts/reference/make_helpers_a_fixtures.py), and
// when memory is not given they plan for the cgroup-aware detected memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  calculateNbGlmChunkSize,
  calculateOptimalChunkSize,
  calculateOptimalGeneChunkSize,
  calculatePcaChunkSize,
  calculateWilcoxonChunkSize,
  explainNbGlmChunkSize,
  explainOptimalChunkSize,
  explainOptimalGeneChunkSize,
  explainPcaChunkSize,
  explainWilcoxonChunkSize,
  pyFixed,
} from "../../src/helpers/chunkPlanning.ts";
import {
  estimateDenseMemoryGb,
  estimateGeneBatchSizeFitter,
  estimateMaxWorkers,
  shouldUseStreaming,
} from "../../src/helpers/memoryEstimates.ts";
import { InvalidArgumentError } from "../../src/errors.ts";
import type { MemoryProbeSources } from "../../src/helpers/systemMemory.ts";

type Row = Record<string, unknown> & { n_obs: number; n_vars: number; result: unknown };
const fx = JSON.parse(readFileSync(new URL("../fixtures/helpers/planners.json", import.meta.url), "utf8")) as Record<
  string,
  Row[]
>;
const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

test("calculateOptimalChunkSize equals the seed on every grid point", () => {
  assert.ok(fx.optimal!.length > 500);
  for (const r of fx.optimal!) {
    const got = calculateOptimalChunkSize(r.n_obs, r.n_vars, {
      availableMemoryGb: r.available_memory_gb as number,
      safetyFactor: r.safety_factor as number,
      minChunk: r.min_chunk as number,
      maxChunk: r.max_chunk as number,
    });
    assert.equal(got, r.result, JSON.stringify(r));
  }
});

test("calculateOptimalGeneChunkSize equals the seed on every grid point", () => {
  assert.ok(fx.gene!.length > 500);
  const distinct = new Set(fx.gene!.map((r) => r.result));
  assert.ok(distinct.size > 10, "the grid reaches many different answers (caps, formula, clamps)");
  for (const r of fx.gene!) {
    const got = calculateOptimalGeneChunkSize(r.n_obs, r.n_vars, {
      nGroups: r.n_groups as number | null,
      availableMemoryGb: r.available_memory_gb as number,
      safetyFactor: r.safety_factor as number,
      memoryFraction: r.memory_fraction as number,
      minChunk: r.min_chunk as number,
      maxChunk: r.max_chunk as number,
    });
    assert.equal(got, r.result, JSON.stringify(r));
  }
});

test("calculateWilcoxonChunkSize equals the seed on every grid point", () => {
  for (const r of fx.wilcoxon!) {
    const got = calculateWilcoxonChunkSize(r.n_obs, r.n_vars, {
      availableMemoryGb: r.available_memory_gb as number,
      minChunk: r.min_chunk as number,
      maxChunk: r.max_chunk as number,
    });
    assert.equal(got, r.result, JSON.stringify(r));
  }
});

test("calculateNbGlmChunkSize equals the seed on every grid point", () => {
  for (const r of fx.nb_glm!) {
    const got = calculateNbGlmChunkSize(r.n_obs, r.n_vars, {
      nGroups: r.n_groups as number | null,
      availableMemoryGb: r.available_memory_gb as number,
      memoryLimitGb: r.memory_limit_gb as number | null,
      safetyFactor: r.safety_factor as number,
      memoryFraction: r.memory_fraction as number,
      minChunk: r.min_chunk as number,
      maxChunk: r.max_chunk as number,
    });
    assert.equal(got, r.result, JSON.stringify(r));
  }
});

test("calculatePcaChunkSize equals the seed (size and method) on every grid point", () => {
  const methods = new Set<string>();
  for (const r of fx.pca!) {
    const got = calculatePcaChunkSize(r.n_obs, r.n_vars, {
      nComps: r.n_comps as number,
      availableMemoryGb: r.available_memory_gb as number,
      method: r.method as "auto",
      memoryFraction: r.memory_fraction as number,
      minChunk: r.min_chunk as number,
      maxChunk: r.max_chunk as number,
    });
    assert.deepEqual([got.chunkSize, got.method], r.result, JSON.stringify(r));
    if (r.method === "auto") methods.add(got.method);
  }
  assert.deepEqual([...methods].sort(), ["incremental", "sparse_cov"], "auto picks both methods somewhere on the grid");
});

test("memory estimates (_memory.py) equal the seed", () => {
  for (const r of fx.memory! as unknown as Record<string, any>[]) {
    assert.equal(estimateDenseMemoryGb(r.n_cells, r.n_genes), r.dense_gb);
    assert.equal(estimateDenseMemoryGb(r.n_cells, r.n_genes, 5), r.dense_gb_5);
    assert.equal(estimateGeneBatchSizeFitter(r.n_cells, r.n_genes), r.batch);
    assert.equal(estimateGeneBatchSizeFitter(r.n_cells, r.n_genes, 6, 250.0), r.batch_6_250);
    for (const w of r.workers) {
      const got = estimateMaxWorkers(r.n_cells, r.n_genes, {
        availableMb: w.available_mb,
        memoryLimitMb: opt(w.memory_limit_mb),
        memoryPerWorkerMb: opt(w.memory_per_worker_mb),
        cpuCount: r.cpu_count,
      });
      assert.equal(got, w.result, JSON.stringify({ r: r.n_cells, g: r.n_genes, w }));
    }
    for (const s of r.streaming) {
      const got = shouldUseStreaming(s.n_groups, r.n_genes, { memoryLimitGb: s.memory_limit_gb });
      assert.deepEqual([got.useStreaming, got.estimatedPeakBytes, got.memoryBudgetBytes, got.groupBatchSize], s.result);
    }
  }
});

test("explain variants return the same chunk size plus their working and the seed's log line", () => {
  const logs: string[] = [];
  const e = explainOptimalGeneChunkSize(4_000_000, 38000, {
    nGroups: 18000,
    availableMemoryGb: 128,
    log: (m) => logs.push(m),
  });
  assert.equal(
    e.chunkSize,
    calculateOptimalGeneChunkSize(4_000_000, 38000, { nGroups: 18000, availableMemoryGb: 128 }),
  );
  assert.equal(e.chunkSize, 128);
  assert.deepEqual(e.memory, { gb: 128, source: "given" });
  assert.ok(
    e.steps.some((s) => s.label.includes("many groups") && s.value === 128),
    JSON.stringify(e.steps),
  );
  assert.deepEqual(logs, [
    "Calculated gene chunk size: 128 (dataset: 4000000 cells × 38000 genes, groups: 18000, available memory: 128.0GB)",
  ]);
  assert.equal(e.message, logs[0]);
  assert.equal(explainOptimalChunkSize(100000, 20000, { availableMemoryGb: 32 }).steps[1]!.value, 25000);
  assert.equal(explainWilcoxonChunkSize(1161864, 33165, { availableMemoryGb: 128 }).chunkSize, 1377);
  assert.equal(explainNbGlmChunkSize(1200000, 36000, { nGroups: 500, availableMemoryGb: 128 }).chunkSize, 138);
  const pca = explainPcaChunkSize(100000, 8000, { availableMemoryGb: 32 });
  assert.equal(pca.method, "sparse_cov");
  assert.equal(pca.unit, "cells");
  assert.match(
    pca.message,
    /^PCA chunk size: \d+, method: sparse_cov \(dataset: 100000 cells × 8000 genes, cov matrix: 0\.51 GB, available: 32\.0 GB\)$/,
  );
});

test("without availableMemoryGb the planners use the cgroup limit when it is below MemAvailable", () => {
  const files: Record<string, string> = {
    "/proc/self/cgroup": "0::/slurm/job_1\n",
    "/sys/fs/cgroup/slurm/job_1/memory.max": "4000000000\n",
    "/proc/meminfo": "MemTotal: 500000000 kB\nMemAvailable:   250000000 kB\n",
  };
  const memorySources: MemoryProbeSources = { readFile: (p) => files[p] };
  const e = explainOptimalChunkSize(1000, 100_000, { memorySources, minChunk: 1 });
  assert.equal(e.memory.source, "cgroup");
  assert.equal(e.memory.gb, 4);
  assert.equal(e.chunkSize, calculateOptimalChunkSize(1000, 100_000, { availableMemoryGb: 4, minChunk: 1 }));
  assert.equal(e.chunkSize, 625);
  // Without a limit the machine's MemAvailable (256 GB) decides.
  delete files["/sys/fs/cgroup/slurm/job_1/memory.max"];
  const e2 = explainOptimalChunkSize(1000, 100_000, { memorySources, minChunk: 1, maxChunk: 1e9 });
  assert.equal(e2.memory.source, "system");
  assert.equal(e2.memory.gb, 256);
  assert.equal(e2.chunkSize, 40000);
});

test("nonsense arguments are clear errors instead of the seed's division by zero", () => {
  assert.throws(() => calculateOptimalChunkSize(10, 0, { availableMemoryGb: 1 }), InvalidArgumentError);
  assert.throws(
    () => calculateOptimalChunkSize(-1, 10, { availableMemoryGb: 1 }),
    /nObs must be a non-negative integer/,
  );
  assert.throws(() => calculateWilcoxonChunkSize(0, 10, { availableMemoryGb: 1 }), /nObs must be a positive integer/);
  assert.throws(() => calculateOptimalGeneChunkSize(10, 10, { availableMemoryGb: Number.NaN }), /availableMemoryGb/);
  assert.throws(() => calculateNbGlmChunkSize(10, 10, { availableMemoryGb: 1, minChunk: 0 }), /minChunk/);
  assert.throws(
    () => calculatePcaChunkSize(10, 10, { availableMemoryGb: 1, method: "svd" as "auto" }),
    /auto, sparse_cov or incremental/,
  );
});

test("log lines format numbers as Python's f-strings (ties to even: 0.25 -> '0.2')", () => {
  // [value, digits, format(value, f".{digits}f")] from CPython.
  const cases: [number, number, string][] = [
    [0.25, 0, "0"],
    [0.25, 1, "0.2"],
    [0.25, 2, "0.25"],
    [0.35, 0, "0"],
    [0.35, 1, "0.3"],
    [0.35, 2, "0.35"],
    [0.05, 0, "0"],
    [0.05, 1, "0.1"],
    [0.05, 2, "0.05"],
    [2.5, 0, "2"],
    [2.5, 1, "2.5"],
    [2.5, 2, "2.50"],
    [0.15, 0, "0"],
    [0.15, 1, "0.1"],
    [0.15, 2, "0.15"],
    [1.45, 0, "1"],
    [1.45, 1, "1.4"],
    [1.45, 2, "1.45"],
    [128.0, 0, "128"],
    [128.0, 1, "128.0"],
    [128.0, 2, "128.00"],
    [31.95, 0, "32"],
    [31.95, 1, "31.9"],
    [31.95, 2, "31.95"],
    [0.0, 0, "0"],
    [0.0, 1, "0.0"],
    [0.0, 2, "0.00"],
    [1e-5, 0, "0"],
    [1e-5, 1, "0.0"],
    [1e-5, 2, "0.00"],
    [123456.789, 0, "123457"],
    [123456.789, 1, "123456.8"],
    [123456.789, 2, "123456.79"],
    [0.125, 0, "0"],
    [0.125, 1, "0.1"],
    [0.125, 2, "0.12"],
    [0.375, 0, "0"],
    [0.375, 1, "0.4"],
    [0.375, 2, "0.38"],
    [-0.25, 0, "-0"],
    [-0.25, 1, "-0.2"],
    [-0.25, 2, "-0.25"],
    [7e-12, 0, "0"],
    [7e-12, 1, "0.0"],
    [7e-12, 2, "0.00"],
    [999.95, 0, "1000"],
    [999.95, 1, "1000.0"],
    [999.95, 2, "999.95"],
  ];
  for (const [v, d, want] of cases) assert.equal(pyFixed(v, d), want, `${v} .${d}f`);
  assert.match(explainOptimalChunkSize(10, 10, { availableMemoryGb: 0.25 }).message, /available memory: 0\.2GB\)$/);
});
