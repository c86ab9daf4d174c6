/** standardize, plan, qc-thresholds through the real CLI. */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { crispyx, referencePython, smallScreen, tempDir, withAnndata, NO_PYTHON } from "./helpers.ts";
import { calculateAdaptiveQcThresholds } from "../../src/helpers/adaptiveQc.ts";

const tmp = tempDir();
let file: string;
before(async () => {
  file = await smallScreen(tmp.path);
});
after(() => tmp.cleanup());

test("standardize: obs['perturbation'] with 'control', gene symbols as var_names, X untouched; no staging left", async (t) => {
  const out = join(tmp.path, "std.h5ad");
  const r = await crispyx([
    "standardize",
    file,
    "-p",
    "perturbation",
    "--control",
    "non-targeting",
    "--gene-column",
    "gene_symbols",
    "-o",
    out,
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.deepEqual(
    [s.output, s.perturbation_column, s.control_label, s.gene_column],
    [out, "perturbation", "non-targeting", "gene_symbols"],
  );
  assert.match(
    r.stderr,
    /^wrote .*std\.h5ad: obs\['perturbation'\] kept, 'non-targeting' → 'control', var\['gene_symbols'\] → var_names/m,
  );
  const { readdirSync } = await import("node:fs");
  assert.deepEqual(
    readdirSync(tmp.path).filter((f) => f.startsWith(".crispyx-tmp")),
    [],
  );
  const py = referencePython();
  if (!py) return t.skip(NO_PYTHON);
  const ref = withAnndata(
    py,
    out,
    [
      "orig = ad.read_h5ad(sys.argv[1].replace('std.h5ad', 'screen.h5ad'))",
      "p = adata.obs.perturbation.astype(str)",
      "out = dict(ctrl=int((p == 'control').sum()), exp=int((orig.obs.perturbation == 'non-targeting').sum()), names=bool((adata.var_names == orig.var.gene_symbols.astype(str).values).all()), X=bool((adata.X != orig.X).nnz == 0))",
    ].join("\n"),
  ) as { ctrl: number; exp: number; names: boolean; X: boolean };
  assert.ok(ref.ctrl > 0);
  assert.equal(ref.ctrl, ref.exp);
  assert.equal(ref.names, true);
  assert.equal(ref.X, true);
});

test("qc-thresholds: the CLI prints what the library computes (JSON parses) and a ready qc command", async () => {
  const [json, text] = await Promise.all([
    crispyx(["qc-thresholds", file, "--json"]),
    crispyx(["qc-thresholds", file, "--mode", "aggressive"]),
  ]);
  assert.equal(json.code, 0, json.stderr);
  const s = JSON.parse(json.stdout);
  const lib = calculateAdaptiveQcThresholds(file, "perturbation", { seed: 0 });
  assert.deepEqual(
    [s.min_genes, s.min_cells_per_perturbation, s.min_cells_per_gene],
    [lib.minGenes, lib.minCellsPerPerturbation, lib.minCellsPerGene],
  );
  assert.equal(s.perturbation_column, "perturbation");
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /\(aggressive: 5th percentiles; 300 cells, 200 genes, 5 perturbations\)/);
  assert.match(
    text.stdout,
    /^Use them: crispyx qc .*screen\.h5ad -p perturbation --min-genes \d+ --min-cells-per-perturbation \d+ --min-cells-per-gene \d+$/m,
  );
});

test("plan: honours --memory-limit, lists every step; --json parses", async () => {
  const [small, big] = await Promise.all([
    crispyx(["--memory-limit", "1M", "plan", file, "--json"]),
    crispyx(["plan", file]),
  ]);
  assert.equal(small.code, 0, small.stderr);
  const s = JSON.parse(small.stdout);
  assert.equal(s.memory.usable_bytes, 1 << 20);
  assert.deepEqual([s.file.n_obs, s.file.n_vars, s.file.groups], [300, 200, 5]);
  const stream = s.steps.find((x: { step: string }) => x.step.startsWith("streaming"));
  assert.ok(stream.block_size < 300, `1 MiB budget should split 300 cells, got ${stream.block_size}`);
  assert.equal(big.code, 0, big.stderr);
  for (const step of ["streaming passes", "gene-wise DE", "Wilcoxon", "NB-GLM", "PCA"])
    assert.ok(big.stdout.includes(step), step);
  assert.match(big.stdout, /^memory: .* usable/m);
  // DE's results for 4 perturbations × 200 genes (see src/de/finishGroups.ts deResultBytes) fit the default budget: one pass
  assert.match(
    big.stdout,
    /^DE t-test: 1 pass over X \([\d.]+ KiB of statistics and results for 4 perturbations × 200 genes fit, whatever the cells\)$/m,
  );
  // Wilcoxon and NB-GLM read X again for their gene chunks: the line says so.
  assert.match(big.stdout, /^DE wilcoxon: 1 pass over X, plus the method's own passes over gene chunks \(/m);
  assert.match(big.stdout, /^DE nb-glm: 1 pass over X, plus the method's own passes over gene chunks \(/m);
  assert.ok(s.de_results_bytes["t-test"] > 0 && s.de_results_bytes.wilcoxon > 0);
  assert.equal(s.de_passes["t-test"].passes, 4, "1 MiB holds one perturbation per pass");
  // ...but not a budget of 32 KiB: a pass per perturbation, and --resume is mentioned.
  const tiny = await crispyx(["--memory-limit", "32K", "plan", file]);
  assert.match(
    tiny.stdout,
    /^DE t-test: 4 passes over X — .*; 1 perturbations per pass .* a killed run continues with --resume$/m,
  );
});

test("standardize: renaming onto an existing column is refused with a hint, before anything is written", async () => {
  const out = join(tmp.path, "never.h5ad");
  const r = await crispyx(["standardize", file, "-p", "guide_id", "-o", out]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^crispyx: error: .*screen\.h5ad: obs already has a column 'perturbation'/);
  const { existsSync } = await import("node:fs");
  assert.ok(!existsSync(out));
});
