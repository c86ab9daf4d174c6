/**
 * DE parity with Scanpy-equivalent references (test/fixtures/de, made by scripts/reference/make_de_fixtures.py):
 * scores and logfoldchanges within 1e-5 relative, p-values within 1e-6 absolute or 1e-4 relative,
 * the same top-100 genes per perturbation; edge cases; outputs readable by anndata.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { rankGenesGroups, type RankGenesGroupsOptions } from "../../src/de/rankGenesGroups.ts";
import { readH5ad } from "../../src/io/anndata/anndata.ts";
import type { NdArray, RecArray, Dict } from "../../src/io/anndata/model.ts";
import { InvalidArgumentError } from "../../src/errors.ts";
import { formatSignificant } from "../../src/de/formatNumber.ts";
import { findPython, skipWithoutAnndata } from "../helpers/anndataChecker.ts";

const FIX = new URL("../fixtures/de/", import.meta.url).pathname;
const expected = JSON.parse(readFileSync(join(FIX, "expected.json"), "utf8"));
const GENES: string[] = expected.genes;
const work = mkdtempSync(join(tmpdir(), "crispyx-de-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

interface Ref {
  scores: number[];
  pvals: number[];
  pvals_adj: number[];
  logfoldchanges: number[];
  pts: number[];
  top100: string[];
}

function closeRel(a: number, e: number, rel: number, what: string): void {
  assert.ok(Math.abs(a - e) <= rel * Math.max(Math.abs(e), 1e-12) || Math.abs(a - e) < 1e-12, `${what}: ${a} vs ${e}`);
}
function closeP(a: number, e: number, what: string): void {
  assert.ok(Math.abs(a - e) <= 1e-6 || Math.abs(a - e) <= 1e-4 * Math.abs(e), `${what}: ${a} vs ${e}`);
}

let counter = 0;
async function run(file: string, opts: Partial<RankGenesGroupsOptions>) {
  const dir = join(work, `run${counter++}`);
  return rankGenesGroups(join(FIX, file), { perturbationColumn: "perturbation", outputDir: dir, workers: 1, ...opts });
}

/** Compare a result file with the reference for `key`; returns the tested groups. */
function checkAgainst(outputPath: string, key: string): string[] {
  const ref = expected[key];
  const a = readH5ad(outputPath);
  const groups = a.obs.index;
  assert.deepEqual(groups, Object.keys(ref.groups), "tested groups (Scanpy's category order)");
  assert.deepEqual(a.var.index, GENES);
  const n = GENES.length;
  const layer = (k: string) => (a.layers[k] as NdArray).data as Float64Array;
  const lfc = (a.X as NdArray).data as Float32Array;
  const rgg = (a.uns.rank_genes_groups as Dict).items;
  groups.forEach((g, i) => {
    const r: Ref = ref.groups[g];
    for (let j = 0; j < n; j++) {
      closeRel(layer("scores")[i * n + j]!, r.scores[j]!, 1e-5, `${g}/${GENES[j]} score`);
      closeP(layer("pvals")[i * n + j]!, r.pvals[j]!, `${g}/${GENES[j]} pval`);
      closeP(layer("pvals_adj")[i * n + j]!, r.pvals_adj[j]!, `${g}/${GENES[j]} pval_adj`);
      closeRel(lfc[i * n + j]!, r.logfoldchanges[j]!, 1e-5, `${g}/${GENES[j]} lfc`);
      closeRel((layer("pts") as unknown as Float32Array)[i * n + j]!, r.pts[j]!, 1e-6, `${g}/${GENES[j]} pts`);
    }
    // Scanpy's ranked tables: names ordered by score; the top 100 are the reference's (up to exact ties).
    const names = (rgg.names as RecArray).fields.find((f) => f.name === g)!.data as string[];
    const scores = (rgg.scores as RecArray).fields.find((f) => f.name === g)!.data as Float32Array;
    for (let k = 1; k < n; k++) assert.ok(scores[k - 1]! >= scores[k]!, `${g}: ranked scores descend`);
    // Every ranked table row holds the layers' values of the gene named in that row.
    const field = (key: string) =>
      (rgg[key] as RecArray).fields.find((f) => f.name === g)!.data as Float64Array | Float32Array;
    const [pv, pa, lf] = [field("pvals"), field("pvals_adj"), field("logfoldchanges")];
    for (let k = 0; k < n; k++) {
      const j = GENES.indexOf(names[k]!);
      assert.equal(scores[k], Math.fround(layer("scores")[i * n + j]!), `${g} rank ${k} score`);
      assert.equal(pv[k], layer("pvals")[i * n + j], `${g} rank ${k} pval`);
      assert.equal(pa[k], layer("pvals_adj")[i * n + j], `${g} rank ${k} pval_adj`);
      assert.equal(lf[k], lfc[i * n + j], `${g} rank ${k} lfc`);
    }
    const ours = names.slice(0, 100);
    const cut = Math.fround([...r.scores].sort((x, y) => y - x)[99]!);
    const byName = new Map(GENES.map((gn, j) => [gn, r.scores[j]!]));
    for (const gn of ours)
      assert.ok(Math.fround(byName.get(gn)!) >= cut - 1e-6, `${g}: ${gn} not in the reference top 100`);
    for (const gn of r.top100)
      if (Math.fround(byName.get(gn)!) > cut + 1e-6) assert.ok(ours.includes(gn), `${g}: missing ${gn} from top 100`);
  });
  return groups;
}

test("t-test on CSR equals the Scanpy-equivalent reference; singleton group skipped with its reason", async () => {
  const r = await run("screen_csr.h5ad", { method: "t-test" });
  assert.equal(r.controlLabel, "non-targeting", "control label inferred");
  checkAgainst(r.outputPath, "t-test");
  assert.deepEqual(r.skipped, [{ group: "SINGLE", cells: 1, reason: "fewer than 2 cells (minCellsPerGroup)" }]);
  assert.ok(r.outputPath.endsWith("crispyx_t_test.h5ad") && r.csvPath!.endsWith("crispyx_t_test.csv"));
});

test("t-test on worker threads (statistics pass from 3, groups finished) equals the reference, with 2 and 3 threads", async () => {
  const on = { method: "t-test", finishOnWorkersFrom: 0 } as const;
  checkAgainst((await run("screen_csr.h5ad", { ...on, workers: 2 })).outputPath, "t-test");
  checkAgainst((await run("screen_csr.h5ad", { ...on, workers: 3 })).outputPath, "t-test");
  // By default a run this small finishes its groups on this thread: threads would cost more than they save.
  checkAgainst((await run("screen_csr.h5ad", { method: "t-test", workers: 2 })).outputPath, "t-test");
});

test("results larger than the memory budget are computed, with a warning saying so", async () => {
  const small = await run("screen_csr.h5ad", { method: "t-test", memoryBudget: 4096 });
  checkAgainst(small.outputPath, "t-test");
  assert.ok(
    small.warnings.some((w) => /more than the memory budget/.test(w)),
    small.warnings.join("; "),
  );
  const normal = await run("screen_csr.h5ad", { method: "t-test" });
  assert.deepEqual(normal.warnings, []);
});

test("t-test on dense and CSC input gives the same reference values", async () => {
  checkAgainst((await run("screen_dense.h5ad", { method: "t-test" })).outputPath, "t-test");
  checkAgainst((await run("screen_csc.h5ad", { method: "t-test", memoryBudget: 64 * 1024 })).outputPath, "t-test");
});

test("t-test with minCellsPerGroup 1 tests the one-cell group (score 0, p 1 as scipy's NaN rule)", async () => {
  const r = await run("screen_csr.h5ad", { method: "t-test", minCellsPerGroup: 1 });
  checkAgainst(r.outputPath, "t-test_min1");
  assert.deepEqual(r.skipped, []);
});

test("Wilcoxon (tie-corrected) on CSR, dense and CSC equals the reference, in one and several gene chunks", async () => {
  checkAgainst((await run("screen_csr.h5ad", { method: "wilcoxon" })).outputPath, "wilcoxon");
  checkAgainst((await run("screen_dense.h5ad", { method: "wilcoxon", chunkSize: 7 })).outputPath, "wilcoxon");
  checkAgainst((await run("screen_csc.h5ad", { method: "wilcoxon", memoryBudget: 16 * 1024 })).outputPath, "wilcoxon");
});

test("Wilcoxon on worker threads equals the reference", async () => {
  checkAgainst(
    (await run("screen_csr.h5ad", { method: "wilcoxon", workers: 2, chunkSize: 40, finishOnWorkersFrom: 0 }))
      .outputPath,
    "wilcoxon",
  );
});

test("Wilcoxon without tie correction, and with the one-cell group tested", async () => {
  checkAgainst(
    (await run("screen_csr.h5ad", { method: "wilcoxon", tieCorrect: false })).outputPath,
    "wilcoxon_no_tie_correct",
  );
  checkAgainst((await run("screen_csr.h5ad", { method: "wilcoxon", minCellsPerGroup: 1 })).outputPath, "wilcoxon_min1");
});

test("edge genes: all-zero gene scores 0 / p 1; every cell tied scores 0 / p 1", async () => {
  const r = await run("screen_csr.h5ad", { method: "wilcoxon" });
  const a = readH5ad(r.outputPath);
  const n = GENES.length;
  const scores = (a.layers.scores as NdArray).data as Float64Array;
  const pvals = (a.layers.pvals as NdArray).data as Float64Array;
  for (let i = 0; i < a.obs.index.length; i++) {
    for (const j of [140, 142]) {
      assert.equal(scores[i * n + j], 0);
      assert.equal(pvals[i * n + j], 1);
    }
  }
});

test("groups: a subset is tested; an absent group and the control are reported as skipped", async () => {
  const r = await run("screen_csr.h5ad", { method: "t-test", groups: ["KD_A", "UNUSED", "non-targeting", "NOPE"] });
  assert.deepEqual(r.groups, ["KD_A"]);
  assert.deepEqual(r.skipped.map((s) => s.group).sort(), ["NOPE", "UNUSED", "non-targeting"]);
  const a = readH5ad(r.outputPath);
  assert.deepEqual(a.obs.index, ["KD_A"]);
});

test("explicit control label; unknown control and raw counts are refused before any output", async () => {
  const r = await run("screen_csr.h5ad", { method: "t-test", controlLabel: "non-targeting" });
  assert.equal(r.controlLabel, "non-targeting");
  await assert.rejects(
    run("screen_csr.h5ad", { controlLabel: "NOPE" }),
    (e: Error) => e instanceof InvalidArgumentError && /NOPE/.test(e.message),
  );
  await assert.rejects(run("screen_csr.h5ad", { perturbationColumn: "nope" }), /no column 'nope'/);
  await assert.rejects(
    rankGenesGroups(new URL("../fixtures/h5ad/x_csr_int32.h5ad", import.meta.url).pathname, {
      perturbationColumn: "x",
      outputDir: work,
    }),
    InvalidArgumentError,
  );
});

test("an existing complete result is reused unless force; no temporary files are left", async () => {
  const dir = join(work, "reuse");
  const first = await rankGenesGroups(join(FIX, "screen_csr.h5ad"), {
    perturbationColumn: "perturbation",
    outputDir: dir,
    workers: 1,
  });
  const mtime = statSync(first.outputPath).mtimeMs;
  const again = await rankGenesGroups(join(FIX, "screen_csr.h5ad"), {
    perturbationColumn: "perturbation",
    outputDir: dir,
    workers: 1,
  });
  assert.equal(again.reused, true);
  assert.deepEqual(again.groups, first.groups);
  assert.deepEqual(again.skipped, first.skipped);
  assert.equal(again.controlLabel, "non-targeting");
  assert.equal(statSync(first.outputPath).mtimeMs, mtime);
  const forced = await rankGenesGroups(join(FIX, "screen_csr.h5ad"), {
    perturbationColumn: "perturbation",
    outputDir: dir,
    workers: 1,
    force: true,
  });
  assert.equal(forced.reused, false);
  assert.deepEqual(readdirSync(dir).sort(), ["crispyx_t_test.csv", "crispyx_t_test.h5ad"]);
});

test("CSV: one row per perturbation × gene with the same numbers as the h5ad", async () => {
  const r = await run("screen_csr.h5ad", { method: "wilcoxon" });
  const lines = readFileSync(r.csvPath!, "utf8").trimEnd().split("\n");
  assert.equal(lines[0], "perturbation,gene,score,pvalue,pvalue_adj,logfoldchange,pct_group,pct_control");
  assert.equal(lines.length, 1 + r.groups.length * GENES.length);
  assert.ok(
    lines.some((l) => l.startsWith('KD_A,"Gene,with comma",')),
    "names with commas are quoted",
  );
  const first = lines[1]!.split(",");
  const ref: Ref = expected.wilcoxon.groups[first[0]!];
  const j = GENES.indexOf(first[1]!);
  closeRel(Number(first[2]), ref.scores[j]!, 1e-5, "csv score");
  closeP(Number(first[3]), ref.pvals[j]!, "csv pvalue");
  closeRel(Number(first[7]), expected.wilcoxon.control_pts[j], 1e-9, "csv pct_control");
  // Every row: the h5ad's numbers in Python's '.9g' spelling, genes in rank order within each group.
  const ad = readH5ad(r.outputPath);
  const layer = (k: string) => (ad.layers[k] as NdArray).data as Float64Array;
  const [scores, pvals, adj] = [layer("scores"), layer("pvals"), layer("pvals_adj")];
  const lfc = (ad.X as NdArray).data as Float32Array;
  const n = GENES.length;
  const rowOfGroup = new Map(r.groups.map((g, i) => [g, i]));
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.replace('"Gene,with comma"', "Gene,with comma").split(",");
    const gene = f.length === 9 ? `${f[1]},${f[2]}` : f[1]!;
    const rest = f.slice(f.length - 6);
    const g = rowOfGroup.get(f[0]!)!;
    const at = g * n + GENES.indexOf(gene);
    assert.deepEqual(
      rest.slice(0, 4),
      [scores[at]!, pvals[at]!, adj[at]!, lfc[at]!].map(formatSignificant),
      `row ${i}`,
    );
    if ((i - 1) % n > 0)
      assert.ok(Number(rest[0]) <= Number(lines[i - 1]!.split(",").at(-6)), `row ${i}: ranked by score`);
  }
});

test("CSV written on a worker thread (workers > 1) is byte-identical to the one written on the main thread", async () => {
  for (const method of ["t-test", "wilcoxon"] as const) {
    const one = await run("screen_csr.h5ad", { method, workers: 1 });
    const two = await run("screen_csr.h5ad", { method, workers: 2 });
    assert.ok(readFileSync(two.csvPath!).equals(readFileSync(one.csvPath!)), method);
    assert.deepEqual(
      readdirSync(dirname(two.csvPath!)).sort(),
      [basename(two.csvPath!), basename(two.outputPath)].sort(),
      "no temporary files left",
    );
  }
});

test("a run whose .h5ad cannot be put in place leaves the earlier CSV alone and no temporary files", async () => {
  for (const workers of [1, 2]) {
    const dir = join(work, `pair${workers}`);
    // A non-empty directory under the .h5ad's name: the final rename fails after everything is written.
    mkdirSync(join(dir, "crispyx_t_test.h5ad"), { recursive: true });
    writeFileSync(join(dir, "crispyx_t_test.h5ad", "keep"), "x");
    writeFileSync(join(dir, "crispyx_t_test.csv"), "old");
    await assert.rejects(
      rankGenesGroups(join(FIX, "screen_csr.h5ad"), {
        perturbationColumn: "perturbation",
        outputDir: dir,
        workers,
        force: true,
      }),
    );
    assert.equal(readFileSync(join(dir, "crispyx_t_test.csv"), "utf8"), "old", `workers ${workers}`);
    assert.deepEqual(readdirSync(dir).sort(), ["crispyx_t_test.csv", "crispyx_t_test.h5ad"], "no temporary files left");
  }
});

test("progress: the pass over X, the perturbations finished, the results written — each to its end", async () => {
  for (const [method, workers] of [
    ["t-test", 1],
    ["t-test", 2],
    ["wilcoxon", 2],
  ] as const) {
    const seen: { phase: string; done: number; total: number }[] = [];
    const r = await run("screen_csr.h5ad", {
      method,
      workers,
      finishOnWorkersFrom: 0,
      onProgress: (p) => seen.push(p),
    });
    const phases = [...new Set(seen.map((p) => p.phase))];
    const want =
      method === "t-test"
        ? ["group statistics", "finishing perturbations", "writing results"]
        : ["group statistics", "wilcoxon", "finishing perturbations", "writing results"];
    assert.deepEqual(phases, want, `${method}/${workers}`);
    for (const phase of phases) {
      const done = seen.filter((p) => p.phase === phase).map((p) => p.done);
      assert.deepEqual(
        done,
        [...done].sort((a, b) => a - b),
        `${phase} never goes back`,
      );
      const last = seen.filter((p) => p.phase === phase).at(-1)!;
      assert.equal(last.done, last.total, `${phase} ends at its total`);
    }
    assert.equal(seen.find((p) => p.phase === "finishing perturbations")!.total, r.groups.length);
  }
});

test("csv: false writes only the .h5ad", async () => {
  const r = await run("screen_csr.h5ad", { method: "t-test", csv: false });
  assert.equal(r.csvPath, null);
  assert.deepEqual(readdirSync(join(r.outputPath, "..")), ["crispyx_t_test.h5ad"]);
});

test(
  "anndata reads the output; uns['rank_genes_groups'] are record arrays usable like sc.get.rank_genes_groups_df",
  skipWithoutAnndata(),
  async () => {
    const r = await run("screen_csr.h5ad", { method: "wilcoxon" });
    const py = `
import sys, anndata as ad, numpy as np, pandas as pd
a = ad.read_h5ad(sys.argv[1]); r = a.uns["rank_genes_groups"]
for k in ("names", "scores", "pvals", "pvals_adj", "logfoldchanges"):
    assert isinstance(r[k], np.ndarray) and r[k].dtype.names == tuple(a.obs_names), k
assert isinstance(r["pts"], pd.DataFrame) and list(r["pts"].columns) == ["non-targeting", *a.obs_names]
g = "KD_A"
df = pd.DataFrame({k: r[k][g] for k in ("names", "scores", "logfoldchanges", "pvals", "pvals_adj")})
df["pct_nz_group"] = r["pts"][g].loc[df["names"]].to_numpy()
assert df["scores"].is_monotonic_decreasing and len(df) == a.n_vars
print(r["params"]["method"], r["params"]["reference"], df["names"].iloc[0])
`;
    const out = execFileSync(findPython()!, ["-c", py, r.outputPath], { encoding: "utf8" }).trim();
    assert.match(out, /^wilcoxon non-targeting \S+$/);
  },
);
