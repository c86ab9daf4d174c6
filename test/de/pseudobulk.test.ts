/**
 * pseudobulk() and `crispyx pseudobulk`: sums per perturbation (and per perturbation × guide) equal the
 * sums of the cells' counts computed here; the file opens in Python anndata (the reference, 0.8) with the
 * same X, obs and var; values that are not counts are refused with no output left behind.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pseudobulk, sampleBatches } from "../../src/de/pseudobulk.ts";
import { readH5ad, writeH5ad } from "../../src/io/anndata/anndata.ts";
import { categorical, dataframe, emptyAnnData, ndarray, strings, type NdArray } from "../../src/io/anndata/model.ts";
import { findPython, skipWithoutAnndata } from "../helpers/anndataChecker.ts";

const work = mkdtempSync(join(tmpdir(), "crispyx-pseudobulk-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

const N = 90,
  GENES = 7;
const pertOf = (i: number) => ["NTC", "A", "B"][i % 3]!;
const guideOf = (i: number) => `${pertOf(i)}_g${i % 2}`;

function screen(
  path: string,
  value: (i: number, j: number) => number = (i, j) => ((i * 7 + j * 3) % 5) * (j + 1),
): Float32Array {
  const X = new Float32Array(N * GENES);
  for (let i = 0; i < N; i++) for (let j = 0; j < GENES; j++) X[i * GENES + j] = value(i, j);
  const ad = emptyAnnData(N, GENES);
  ad.X = ndarray(X, [N, GENES]);
  ad.obs = dataframe(
    Array.from({ length: N }, (_, i) => `c${i}`),
    {
      perturbation: categorical(Array.from({ length: N }, (_, i) => pertOf(i))),
      guide: categorical(Array.from({ length: N }, (_, i) => guideOf(i))),
    },
  );
  ad.var = dataframe(
    Array.from({ length: GENES }, (_, j) => `ENSG${j}`),
    { gene_symbols: strings(Array.from({ length: GENES }, (_, j) => `G${j}`)) },
  );
  writeH5ad(path, ad);
  return X;
}

test(
  "pseudobulk sums per perturbation and per perturbation × guide; anndata opens the file",
  skipWithoutAnndata(),
  async () => {
    const input = join(work, "s.h5ad");
    const X = screen(input);
    for (const by of [undefined, "guide"]) {
      const output = join(work, `pb_${by ?? "p"}.h5ad`);
      const r = await pseudobulk(input, { perturbationColumn: "perturbation", ...(by ? { by } : {}), output });
      const a = readH5ad(output);
      const names = a.obs.index;
      assert.equal(r.samples, by ? 6 : 3);
      assert.equal(names.length, r.samples);
      const sums = (a.X as NdArray).data as Float64Array;
      const nCells = (a.obs.columns.n_cells as NdArray).data as Int32Array;
      names.forEach((name, s) => {
        const member = (i: number) => (by ? `${pertOf(i)}|${guideOf(i)}` : pertOf(i)) === name;
        let cells = 0;
        for (let i = 0; i < N; i++) if (member(i)) cells++;
        assert.equal(nCells[s], cells, `${name} cells`);
        for (let j = 0; j < GENES; j++) {
          let t = 0;
          for (let i = 0; i < N; i++) if (member(i)) t += X[i * GENES + j]!;
          assert.equal(sums[s * GENES + j], t, `${name} gene ${j}`);
        }
      });
      // Python anndata: shape, names, X and the carried-over var.
      const code = [
        "import sys, json, anndata as ad, numpy as np",
        "a = ad.read_h5ad(sys.argv[1])",
        "print(json.dumps({'shape': list(a.shape), 'obs': list(a.obs_names), 'cols': list(a.obs.columns),",
        "  'total': float(np.asarray(a.X).sum()), 'n_cells': [int(v) for v in a.obs['n_cells']],",
        "  'var': list(a.var_names), 'symbols': list(a.var['gene_symbols'])}))",
      ].join("\n");
      const py = spawnSync(findPython()!, ["-c", code, output], { encoding: "utf8" });
      assert.equal(py.status, 0, py.stderr);
      const got = JSON.parse(py.stdout);
      assert.deepEqual(got.shape, [r.samples, GENES]);
      assert.deepEqual(got.obs, names);
      assert.deepEqual(got.cols, by ? ["perturbation", "guide", "n_cells"] : ["perturbation", "n_cells"]);
      assert.equal(
        got.total,
        X.reduce((s, v) => s + v, 0),
      );
      assert.deepEqual(got.n_cells, Array.from(nCells));
      assert.deepEqual(
        got.var,
        Array.from({ length: GENES }, (_, j) => `ENSG${j}`),
      );
      assert.deepEqual(
        got.symbols,
        Array.from({ length: GENES }, (_, j) => `G${j}`),
      );
    }
  },
);

test("pseudobulk within a tiny budget: one pass per batch of samples, the same file as in one pass", async () => {
  const input = join(work, "budget.h5ad");
  screen(input);
  const one = join(work, "pb_one.h5ad"),
    many = join(work, "pb_many.h5ad");
  await pseudobulk(input, { perturbationColumn: "perturbation", by: "guide", output: one });
  const phases = new Set<string>();
  // 200 bytes: half of it holds one sample's 7 genes × 12 bytes, so each of the 6 samples is a pass.
  await pseudobulk(input, {
    perturbationColumn: "perturbation",
    by: "guide",
    output: many,
    memoryBudget: 200,
    onProgress: (p) => phases.add(p.phase),
  });
  assert.deepEqual(
    [...phases],
    [1, 2, 3, 4, 5, 6].map((k) => `pseudo-bulk sums, pass ${k} of 6`),
  );
  const a = readH5ad(one),
    b = readH5ad(many);
  assert.deepEqual(b.obs.index, a.obs.index);
  assert.deepEqual(
    Array.from((b.X as NdArray).data as Float64Array),
    Array.from((a.X as NdArray).data as Float64Array),
  );
  assert.deepEqual(
    Array.from((b.obs.columns.n_cells as NdArray).data as Int32Array),
    Array.from((a.obs.columns.n_cells as NdArray).data as Int32Array),
  );
  // A genome-wide screen's samples at 1 GiB: every batch's sums within half of it.
  const batches = sampleBatches(18_000 * 3, 36_000, 2 ** 30);
  assert.equal(batches.length, 44);
  assert.ok(batches.every(([s0, s1]) => (s1 - s0) * 36_000 * 12 <= 2 ** 29));
  assert.equal(batches.at(-1)![1], 54_000);
  assert.deepEqual(sampleBatches(0, 10, 1 << 20), []);
});

test("pseudobulk refuses values that are not counts and leaves no output", async () => {
  const input = join(work, "neg.h5ad");
  screen(input, (i, j) => (i === 5 && j === 2 ? -1 : 1));
  const output = join(work, "neg_pb.h5ad");
  await assert.rejects(pseudobulk(input, { perturbationColumn: "perturbation", output }), /-1 at cell 5, gene 2/);
  assert.ok(!existsSync(output));
  await assert.rejects(
    pseudobulk(join(work, "s.h5ad"), { perturbationColumn: "perturbation", by: "replicate", output }),
    /obs has no column 'replicate'/,
  );
});

test("--method pseudobulk-nb equals nb-glm run on pseudobulk()'s samples; fewer than 2 samples is a clear error", async () => {
  const { rankGenesGroups } = await import("../../src/de/rankGenesGroups.ts");
  const input = join(work, "reps.h5ad");
  // Counts that vary between guides; gene 3 knocked down in A.
  screen(input, (i, j) => ((i * 13 + j * 7) % 11) + (j === 3 && pertOf(i) === "A" ? 0 : 6) + (i % 2) * 3);
  const direct = await rankGenesGroups(input, {
    perturbationColumn: "perturbation",
    controlLabel: "NTC",
    method: "pseudobulk-nb",
    nbGlm: { replicateColumn: "guide" },
    output: join(work, "pbnb.h5ad"),
    workers: 1,
  });
  assert.deepEqual(direct.groups, ["A", "B"]);
  const pb = join(work, "reps_pb.h5ad");
  await pseudobulk(input, { perturbationColumn: "perturbation", by: "guide", output: pb });
  // pseudobulk() writes float64 sums; nb-glm on them wants the values as they are (whole numbers).
  const viaFile = await rankGenesGroups(pb, {
    perturbationColumn: "perturbation",
    controlLabel: "NTC",
    method: "nb-glm",
    minCellsPerGroup: 1,
    output: join(work, "pb_nbglm.h5ad"),
    workers: 1,
  });
  assert.deepEqual(viaFile.groups, ["A", "B"]);
  const a = readH5ad(direct.outputPath),
    b = readH5ad(viaFile.outputPath);
  for (const k of ["scores", "pvals", "dispersion", "lfcSE", "baseMean", "lfc_shrunk"])
    assert.deepEqual((a.layers[k] as NdArray).data, (b.layers[k] as NdArray).data, k);
  assert.deepEqual((a.X as NdArray).data, (b.X as NdArray).data, "log2 fold changes");
  const lfc3 = ((a.X as NdArray).data as Float32Array)[3]!;
  assert.ok(lfc3 < -0.5, `A knocks gene 3 down: log2FC ${lfc3}`);
  // A column with one value per perturbation gives each group one sample.
  await assert.rejects(
    rankGenesGroups(input, {
      perturbationColumn: "perturbation",
      controlLabel: "NTC",
      method: "pseudobulk-nb",
      nbGlm: { replicateColumn: "perturbation" },
      output: join(work, "one_sample.h5ad"),
      workers: 1,
    }),
    /the control 'NTC' has 1 pseudo-bulk sample\(s\) in obs\['perturbation'\]; pseudobulk-nb needs at least 2 per group/,
  );
  assert.ok(!existsSync(join(work, "one_sample.h5ad")));
});
