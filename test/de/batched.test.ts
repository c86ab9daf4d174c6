/**
 * DE in batches of perturbations (src/de/batchedRun.ts): a run split into ≥ 3 passes gives a CSV
 * byte-identical and an .h5ad dataset-identical to an unbatched run; a run stopped after some batches and
 * resumed gives the same; a damaged or foreign checkpoint is never used; the per-group layout of the
 * ranked tables holds the same values as Scanpy's record arrays and opens in anndata.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rankGenesGroups, type RankGenesGroupsOptions } from "../../src/de/rankGenesGroups.ts";
import { planDeBatches } from "../../src/de/batchedRun.ts";
import { checkpointDir } from "../../src/de/checkpoint.ts";
import { rankGenesGroupsDf } from "../../src/de/resultTable.ts";
import { deMethod } from "../../src/de/methods/registry.ts";
import { openStore } from "../../src/io/openStore.ts";
import { datasetValues } from "../helpers/datasets.ts";
import { findPython, skipWithoutAnndata } from "../helpers/anndataChecker.ts";

const FIX = new URL("../fixtures/de/", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "crispyx-batched-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

let counter = 0;
async function run(file: string, opts: Partial<RankGenesGroupsOptions>) {
  const dir = join(work, `run${counter++}`);
  return rankGenesGroups(join(FIX, file), { perturbationColumn: "perturbation", outputDir: dir, workers: 1, ...opts });
}

function assertSameFiles(a: string, b: string): void {
  const x = datasetValues(a, true);
  const y = datasetValues(b, true);
  assert.deepEqual([...x.keys()].sort(), [...y.keys()].sort(), "the same elements");
  for (const [k, v] of x) assert.deepEqual(y.get(k), v, k);
}

test("planDeBatches: one pass when everything fits, equal batches that fit the budget otherwise", () => {
  const spec = deMethod("t-test");
  assert.equal(planDeBatches(1000, 8000, spec, 1 << 30).batches.length, 1);
  const p = planDeBatches(10_000, 20_000, spec, 1 << 30);
  assert.ok(p.batches.length > 1);
  assert.ok(p.batchBytes <= (1 << 30) * 0.75 - (160 << 20), `a batch holds ${p.batchBytes} bytes`);
  assert.equal(p.batches.at(-1)![1], 10_000);
  const sizes = p.batches.map(([a, b]) => b - a);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, "equal batches");
  assert.match(p.reason, /perturbations per pass/);
  assert.deepEqual(planDeBatches(7, 10, spec, 1 << 30, 3).batches, [
    [0, 3],
    [3, 6],
    [6, 7],
  ]);
});

for (const [method, file] of [
  ["t-test", "screen_csr.h5ad"],
  ["wilcoxon", "screen_csc.h5ad"],
  ["wilcoxon", "screen_csr.h5ad"],
] as const) {
  test(`${method} on ${file} in 3 batches: CSV byte-identical, .h5ad dataset-identical to one pass`, async () => {
    const one = await run(file, { method });
    const three = await run(file, { method, groupsPerPass: 2, workers: 2 });
    // Passes over X as the reader counted them: the statistics pass per batch, and the Wilcoxon test's gene
    // chunks (one chunk here: X read once more per batch, CSR or CSC).
    const perBatch = method === "wilcoxon" ? 2 : 1;
    assert.equal(one.passes, perBatch);
    assert.equal(three.passes, 3 * perBatch);
    if (method === "wilcoxon") assert.match(three.passReason, /gene chunks read X 3 more times/);
    assert.ok(readFileSync(three.csvPath!).equals(readFileSync(one.csvPath!)), "CSV bytes");
    assertSameFiles(one.outputPath, three.outputPath);
    assert.equal(existsSync(checkpointDir(three.outputPath)), false, "the checkpoint is removed");
    const left = readdirSync(join(three.outputPath, "..")).filter((n) => n.startsWith(".crispyx-"));
    assert.deepEqual(left, []);
  });
}

test("a run stopped after two batches and resumed gives the same files; without resume it starts anew", async () => {
  const full = await run("screen_csr.h5ad", { method: "t-test", groupsPerPass: 1 });
  const dir = join(work, "resume");
  const opts: Partial<RankGenesGroupsOptions> = { method: "t-test", groupsPerPass: 1, outputDir: dir };
  const stop = new AbortController();
  await assert.rejects(
    run("screen_csr.h5ad", {
      ...opts,
      signal: stop.signal,
      onProgress: (p) => {
        if (p.phase.startsWith("batch 3/")) stop.abort(new Error("stopped for the test"));
      },
    }),
    /stopped for the test/,
  );
  const resumed = await run("screen_csr.h5ad", { ...opts, resume: true });
  assert.equal(resumed.resumedBatches, 2);
  assert.deepEqual(resumed.warnings, []);
  assert.ok(readFileSync(resumed.csvPath!).equals(readFileSync(full.csvPath!)), "CSV bytes");
  assertSameFiles(full.outputPath, resumed.outputPath);
  assert.equal(existsSync(checkpointDir(resumed.outputPath)), false);
});

test("a damaged or foreign checkpoint is not used: the run starts from the first batch and says why", async () => {
  const full = await run("screen_csr.h5ad", { method: "t-test", groupsPerPass: 1 });
  const dir = join(work, "damaged");
  const opts: Partial<RankGenesGroupsOptions> = { method: "t-test", groupsPerPass: 1, outputDir: dir };
  const stopAt = async (phase: string, extra: Partial<RankGenesGroupsOptions> = {}) => {
    const stop = new AbortController();
    await assert.rejects(
      run("screen_csr.h5ad", {
        ...opts,
        ...extra,
        signal: stop.signal,
        onProgress: (p) => {
          if (p.phase.startsWith(phase)) stop.abort(new Error("stopped"));
        },
      }),
      /stopped/,
    );
  };
  await stopAt("batch 4/");
  const cp = checkpointDir(join(dir, "crispyx_t_test.h5ad"));
  truncateSync(join(cp, "batch-00001.bin"), 100);
  const r = await run("screen_csr.h5ad", { ...opts, resume: true });
  assert.equal(r.resumedBatches, 0);
  assert.match(
    r.warnings.join("\n"),
    /--resume: the checkpoint's part of batch 2 is damaged; starting from the first batch/,
  );
  assertSameFiles(full.outputPath, r.outputPath);

  // A checkpoint of another run (here: other groups per pass) is not this run's.
  await stopAt("batch 3/", { force: true });
  const other = await run("screen_csr.h5ad", { ...opts, groupsPerPass: 2, resume: true, force: true });
  assert.equal(other.resumedBatches, 0);
  assert.match(other.warnings.join("\n"), /checkpoint found is of another run/);
  assertSameFiles(full.outputPath, other.outputPath);
});

let layouts: { records: string; perGroup: string } | null = null;

test("per-group ranked tables: the record arrays' values a dataset per group, batched or not", async () => {
  const records = await run("screen_csr.h5ad", { method: "wilcoxon" });
  const perGroup = await run("screen_csr.h5ad", { method: "wilcoxon", rankedLayout: "per-group" });
  const batched = await run("screen_csr.h5ad", { method: "wilcoxon", rankedLayout: "per-group", groupsPerPass: 2 });
  assert.equal(perGroup.rankedLayout, "per-group");
  assertSameFiles(perGroup.outputPath, batched.outputPath);
  const base = "/uns/rank_genes_groups";
  const rec = openStore(records.outputPath);
  const pg = openStore(perGroup.outputPath);
  try {
    const { members, columns } = rec.readCompound(`${base}/scores`);
    const names = rec.readCompound(`${base}/names`);
    members.forEach((m, k) => {
      assert.deepEqual(
        Array.from(pg.read(`${base}/scores/${m.name}`) as Float32Array),
        columns[k],
        `scores[${m.name}]`,
      );
      assert.deepEqual(
        pg.readStrings(`${base}/names/${m.name}`),
        (names.columns[k] as string[]).map((s) => s.replace(/\0+$/, "")),
        `names[${m.name}]`,
      );
    });
    assert.equal(pg.attr(`${base}/names`, "encoding-type"), "dict");
  } finally {
    rec.close();
    pg.close();
  }
  layouts = { records: records.outputPath, perGroup: perGroup.outputPath };

  // One perturbation's table, read alone: the same from either layout, and the record arrays' values.
  const recFile = openStore(records.outputPath);
  try {
    const scores = recFile.readCompound(`${base}/scores`);
    const pvalsAdj = recFile.readCompound(`${base}/pvals_adj`);
    for (const [k, m] of scores.members.entries()) {
      const a = rankGenesGroupsDf(records.outputPath, m.name);
      const b = rankGenesGroupsDf(perGroup.outputPath, m.name);
      assert.equal(a.layout, "layers");
      assert.equal(b.layout, "per-group");
      assert.deepEqual({ ...a, layout: "" }, { ...b, layout: "" }, m.name);
      assert.deepEqual(Array.from(a.scores), scores.columns[k], `${m.name} scores`);
      assert.deepEqual(Array.from(a.pvals_adj), pvalsAdj.columns[k], `${m.name} pvals_adj`);
    }
  } finally {
    recFile.close();
  }
  assert.throws(() => rankGenesGroupsDf(records.outputPath, "no such"), /no perturbation 'no such'/);
});

test(
  "anndata reads the per-group tables as Scanpy's rank_genes_groups_df reads the record arrays",
  skipWithoutAnndata(),
  () => {
    assert.ok(layouts, "the layouts test ran first");
    const out = execFileSync(
      findPython()!,
      [
        "-c",
        `import anndata, pandas as pd, sys
a = anndata.read_h5ad(sys.argv[1]); b = anndata.read_h5ad(sys.argv[2])
for g in a.obs_names:
    for c in ["names", "scores", "pvals", "pvals_adj", "logfoldchanges"]:
        x = pd.DataFrame(a.uns["rank_genes_groups"][c])[g]; y = b.uns["rank_genes_groups"][c][g]
        assert list(x) == list(y), (g, c)
print("ok", len(a.obs_names))`,
        layouts.records,
        layouts.perGroup,
      ],
      { encoding: "utf8" },
    );
    assert.match(out, /^ok 6/);
  },
);
