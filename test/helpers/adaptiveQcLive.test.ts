// Random files (shape, storage, sparsity, dtype, labels, sample size, seed) checked live against the
// Python seed: identical thresholds and unclamped statistics. Skipped without Python + anndata + the seed
// (CRISPYX_SEED_SRC, default /tmp/crispyx-seed/src).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { findPython, SKIP_MESSAGE } from "./anndataChecker.ts";
import { calculateAdaptiveQcThresholds } from "../../src/helpers/adaptiveQc.ts";

const seedSrc = process.env.CRISPYX_SEED_SRC ?? "/tmp/crispyx-seed/src";
const python = findPython();
const skip = !python
  ? SKIP_MESSAGE
  : !existsSync(join(seedSrc, "crispyx"))
    ? `skipped: the Python seed is not at ${seedSrc} (set CRISPYX_SEED_SRC)`
    : undefined;
const script = fileURLToPath(new URL("../../scripts/reference/helpers_a_live_qc.py", import.meta.url));

test("random cases equal the seed run live", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "crispyx-qc-live-"));
  try {
    const rngSeed = Number(process.env.CRISPYX_LIVE_SEED ?? Date.now() % 100000);
    const r = spawnSync(python!, [script, dir, "12", String(rngSeed)], {
      encoding: "utf8",
      env: { ...process.env, PYTHONPATH: seedSrc },
      maxBuffer: 1 << 26,
    });
    assert.equal(r.status, 0, r.stderr);
    const cases = JSON.parse(r.stdout) as any[];
    assert.equal(cases.length, 12);
    for (const c of cases) {
      const t = calculateAdaptiveQcThresholds(c.file, "label", {
        mode: c.mode,
        sampleSize: c.sample_size,
        chunkSize: c.chunk_size,
        seed: c.seed,
      });
      const label = `CRISPYX_LIVE_SEED=${rngSeed} ${JSON.stringify({ ...c, file: undefined })}`;
      assert.deepEqual(
        {
          min_genes: t.minGenes,
          min_cells_per_perturbation: t.minCellsPerPerturbation,
          min_cells_per_gene: t.minCellsPerGene,
          chunk_size: t.chunkSize,
        },
        c.result,
        label,
      );
      assert.deepEqual(
        {
          perturbation_percentile: t.perturbationPercentile,
          gene_percentile: t.genePercentile,
          median_genes: t.medianGenes,
          n_sampled: t.nCellsSampled,
        },
        c.intermediates,
        label,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
