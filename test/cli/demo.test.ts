import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { crispyx, referencePython, tempDir, withAnndata, NO_PYTHON } from "./helpers.ts";

const tmp = tempDir();
after(() => tmp.cleanup());

test("crispyx demo (small) writes a screen anndata reads, runs the pipeline and prints a summary", async (t) => {
  const out = join(tmp.path, "demo");
  const r = await crispyx([
    "demo",
    "--cells",
    "600",
    "--genes",
    "300",
    "--perturbations",
    "5",
    "--seed",
    "4",
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^crispyx demo: synthetic screen in /);
  assert.match(r.stdout, /generate .* 600 cells × 300 genes, 5 knock-downs \+ 'non-targeting' controls/);
  assert.match(r.stdout, /Done in [\d.]+ s\. Next: crispyx info /);
  // stderr is not a terminal here: no progress bars, no escape codes.
  assert.doesNotMatch(r.stderr, /\x1b\[/);
  const file = join(out, "demo.h5ad");
  assert.ok(existsSync(file));
  for (const step of [
    "generate",
    "check counts",
    "detect",
    "standardize",
    "qc thresholds",
    "qc",
    "normalize",
    "de t-test",
    "de wilcoxon",
    "report",
  ]) {
    assert.match(r.stdout, new RegExp(`^  ${step} +[\\d.]+ s  `, "m"), step);
  }
  assert.match(
    r.stdout,
    /detect .* perturbations in obs\['perturbation'\] \(6 groups, control 'non-targeting'\), gene symbols in var\['gene_symbols'\]/,
  );
  for (const f of [
    "demo_standardized.h5ad",
    "demo_qc.h5ad",
    "demo_normalized.h5ad",
    "demo_de_t_test.h5ad",
    "demo_de_t_test.csv",
    "demo_de_wilcoxon.h5ad",
    "demo_report.html",
  ])
    assert.ok(existsSync(join(out, f)), f);
  assert.equal(readdirSync(out).filter((f) => f.startsWith(".crispyx-tmp")).length, 0);
  const py = referencePython();
  if (!py) return t.skip(NO_PYTHON);
  const ref = withAnndata(
    py,
    file,
    [
      "X = adata.X",
      "out = dict(shape=list(adata.shape), fmt=type(X).__name__, dtype=str(X.dtype), integral=bool(np.all(X.data == np.round(X.data))),",
      "  ctrl=int((adata.obs.perturbation == 'non-targeting').sum()), cats=len(adata.obs.perturbation.cat.categories),",
      "  mt=int(adata.var.gene_symbols.str.startswith('MT-').sum()), ids=bool(adata.var_names.str.match(r'^ENSG\\d{11}\\.\\d+$').all()),",
      "  targets=list(adata.uns['demo']['truth']['targets']), seed=int(adata.uns['demo']['seed']))",
    ].join("\n"),
  ) as Record<string, unknown>;
  assert.deepEqual(ref.shape, [600, 300]);
  assert.match(String(ref.fmt), /^csr_(matrix|array)$/);
  assert.equal(ref.dtype, "float32");
  assert.equal(ref.integral, true);
  assert.ok((ref.ctrl as number) > 100);
  assert.equal(ref.cats, 6);
  assert.equal(ref.mt, 13);
  assert.equal(ref.ids, true);
  assert.equal((ref.targets as string[]).length, 5);
  assert.equal(ref.seed, 4);
});

test("crispyx demo --json --quiet: JSON summary on stdout, nothing on stderr", async () => {
  const out = join(tmp.path, "demo-json");
  const r = await crispyx([
    "--quiet",
    "demo",
    "--cells",
    "200",
    "--genes",
    "100",
    "--perturbations",
    "3",
    "--out",
    out,
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  const s = JSON.parse(r.stdout);
  assert.deepEqual(s.spec, { cells: 200, genes: 100, perturbations: 3, seed: 0 });
  assert.equal(s.knockdown.length, 3);
  // DE finds the planted knock-downs: the targets rank at the top of their own perturbation's genes.
  assert.ok(
    s.knockdown.filter((k: { ttest_rank: number | null }) => k.ttest_rank !== null && k.ttest_rank <= 2).length >= 2,
    JSON.stringify(s.knockdown),
  );
  assert.ok(
    s.knockdown.every((k: { wilcoxon_rank: number | null }) => k.wilcoxon_rank === null || k.wilcoxon_rank >= 1),
  );
  assert.ok(s.steps.length >= 2);
  assert.ok(s.steps.every((st: { seconds: number; detail: string }) => st.seconds >= 0 && st.detail.length > 0));
});

test("crispyx demo: bad values are errors before anything is written", async () => {
  const out = join(tmp.path, "never");
  const tooMany = await crispyx(["demo", "--genes", "40", "--perturbations", "30", "--out", out]);
  assert.equal(tooMany.code, 1);
  assert.match(tooMany.stderr, /^crispyx: error: --perturbations 30 is too many for 40 genes \(at most 10/);
  const notNumber = await crispyx(["demo", "--cells", "lots", "--out", out]);
  assert.equal(notNumber.code, 2);
  assert.match(notNumber.stderr, /^crispyx: error: option '--cells <n>' argument 'lots' is invalid/);
  assert.ok(!existsSync(out));
});

test("--verbose logs each step and each pass with timings", async () => {
  const out = join(tmp.path, "demo-verbose");
  const r = await crispyx([
    "--verbose",
    "demo",
    "--cells",
    "200",
    "--genes",
    "100",
    "--perturbations",
    "3",
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^step: generate$/m);
  assert.match(r.stderr, /^generating counts: 200\/200 cells in [\d.]+ s$/m);
});

test("Ctrl-C during the demo stops it quickly and leaves no file behind", async () => {
  const { spawn } = await import("node:child_process");
  const { CLI } = await import("./helpers.ts");
  const out = join(tmp.path, "interrupted");
  const child = spawn(process.execPath, [CLI, "demo", "--cells", "300000", "--out", out], { stdio: "ignore" });
  const exited = new Promise<{ code: number | null; signal: string | null }>((done) =>
    child.on("exit", (code, signal) => done({ code, signal })),
  );
  // Wait until the temporary output exists, i.e. the generator is writing.
  const started = Date.now();
  while (!(existsSync(out) && readdirSync(out).some((f) => f.startsWith(".crispyx-tmp")))) {
    assert.ok(Date.now() - started < 20_000, "the demo never started writing");
    await new Promise((r) => setTimeout(r, 50));
  }
  const t = Date.now();
  child.kill("SIGINT");
  const { code, signal } = await exited;
  // Generating 300k cells takes well over a minute; stopping within 15 s shows the run was interrupted, not
  // finished. (Stopping takes < 1 s on an idle machine; 3 s proved too tight on a loaded 2-core one.)
  assert.ok(Date.now() - t < 15_000, `took ${Date.now() - t} ms to stop`);
  assert.ok(signal === "SIGINT" || code === 130, `exit ${code} ${signal}`);
  // The temporary file is removed by the run's reaper (src/io/tempReaper.ts) as the process ends: give it a moment.
  for (const end = Date.now() + 10_000; readdirSync(out).length && Date.now() < end; )
    await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(readdirSync(out), []);
});
