import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { crispyx, referencePython, smallScreen, tempDir, withAnndata, NO_PYTHON } from "./helpers.ts";

const tmp = tempDir();
let file: string;
before(async () => {
  file = await smallScreen(tmp.path, "screen.h5ad", { cells: 600, genes: 300, perturbations: 5, seed: 2 });
});
after(() => tmp.cleanup());

test("qc: kept cells/genes match the three rules recomputed in anndata; metrics in obs; JSON summary beside", async (t) => {
  const r = await crispyx([
    "qc",
    file,
    "-p",
    "perturbation",
    "--min-genes",
    "150",
    "--min-cells-per-perturbation",
    "20",
    "--min-cells-per-gene",
    "30",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  const out = join(tmp.path, "screen_qc.h5ad");
  assert.equal(s.output, out);
  assert.ok(existsSync(s.summary_file));
  assert.deepEqual(JSON.parse(readFileSync(s.summary_file, "utf8")).counts ?? s.counts, s.counts);
  assert.equal(s.control_label, "non-targeting");
  assert.equal(s.counts.cells.input, 600);
  const py = referencePython();
  if (!py) return t.skip(NO_PYTHON);
  const ref = withAnndata(
    py,
    out,
    [
      "orig = ad.read_h5ad(sys.argv[1].replace('screen_qc.h5ad', 'screen.h5ad'))",
      "ng = np.asarray((orig.X > 0).sum(1)).ravel()",
      "cells = ng >= 150",
      "vc = orig.obs.perturbation[cells].value_counts()",
      "ok = set(vc[vc >= 20].index) | {'non-targeting'}",
      "cells &= orig.obs.perturbation.isin(ok).values",
      "genes = np.asarray((orig.X[cells] > 0).sum(0)).ravel() >= 30",
      "out = dict(shape=list(adata.shape), exp=[int(cells.sum()), int(genes.sum())], same_cells=bool((adata.obs_names == orig.obs_names[cells]).all()),",
      "  cols=[c for c in ['total_counts', 'n_genes_by_counts', 'pct_counts_mt'] if c in adata.obs], qc='qc_summary' in adata.uns)",
    ].join("\n"),
  ) as { shape: number[]; exp: number[]; same_cells: boolean; cols: string[]; qc: boolean };
  assert.deepEqual(ref.shape, ref.exp);
  assert.deepEqual(ref.shape, [s.counts.cells.kept, s.counts.genes.kept]);
  assert.equal(ref.same_cells, true);
  assert.deepEqual(ref.cols, ["total_counts", "n_genes_by_counts", "pct_counts_mt"]);
  assert.equal(ref.qc, true);
});

test("qc --adaptive --dry-run: thresholds from the data, text summary, nothing written", async () => {
  const r = await crispyx(["qc", file, "--adaptive", "aggressive", "--dry-run", "-o", join(tmp.path, "never.h5ad")]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^thresholds \(adaptive, aggressive\): min \d+ genes per cell/);
  assert.match(r.stdout, /^cells: +[\d,]+ of 600 kept/m);
  assert.match(r.stderr, /dry run: nothing written/);
  assert.ok(!existsSync(join(tmp.path, "never.h5ad")));
});

test("qc: bad values are errors (negative threshold exit 2, unknown control exit 1)", async () => {
  const [neg, ctrl] = await Promise.all([
    crispyx(["qc", file, "--min-genes", "-1"]),
    crispyx(["qc", file, "--control", "NTC", "--dry-run"]),
  ]);
  assert.equal(neg.code, 2);
  assert.match(neg.stderr, /^crispyx: error: option '--min-genes <n>' argument '-1' is invalid/);
  assert.equal(ctrl.code, 1);
  assert.match(ctrl.stderr, /^crispyx: error: .*NTC/m);
});
