import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { crispyx, referencePython, smallScreen, tempDir, withAnndata, NO_PYTHON } from "./helpers.ts";

const tmp = tempDir();
let counts: string;
let norm: string;
before(async () => {
  counts = await smallScreen(tmp.path, "screen.h5ad", { cells: 600, genes: 150, perturbations: 3, seed: 5 });
  norm = join(tmp.path, "norm.h5ad");
  const r = await crispyx(["normalize", counts, "-o", norm]);
  assert.equal(r.code, 0, r.stderr);
});
after(() => tmp.cleanup());

test("de t-test: scores and p-values equal scipy's Welch t-test per gene; summary JSON parses", async (t) => {
  const r = await crispyx(["de", norm, "--json", "--top", "2"]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  const out = join(tmp.path, "norm_de_t_test.h5ad");
  assert.equal(s.output, out);
  assert.ok(existsSync(s.csv));
  assert.equal(s.method, "t-test");
  assert.equal(s.control_label, "non-targeting");
  assert.equal(s.perturbations.length, 3);
  for (const p of s.perturbations) assert.equal(p.top.length, 2);
  // The knocked-down target is the strongest hit of its own perturbation.
  for (const p of s.perturbations) assert.ok(p.down >= 1, `${p.perturbation} has hits`);
  const py = referencePython();
  if (!py) return t.skip(NO_PYTHON);
  const ref = withAnndata(
    py,
    out,
    [
      "from scipy import stats",
      "src = ad.read_h5ad(sys.argv[1].replace('norm_de_t_test.h5ad', 'norm.h5ad'))",
      "X = src.X.toarray().astype(np.float64)",
      "ctrl = (src.obs.perturbation == 'non-targeting').values",
      "worst = 0.0",
      "for i, g in enumerate(adata.obs_names):",
      "  grp = (src.obs.perturbation == g).values",
      "  with np.errstate(all='ignore'):",
      "    tt = stats.ttest_ind(X[grp], X[ctrl], equal_var=False)",
      "  sc = np.nan_to_num(tt.statistic); pv = np.nan_to_num(tt.pvalue, nan=1.0)",
      "  worst = max(worst, float(np.abs(adata.layers['scores'][i] - sc).max()), float(np.abs(adata.layers['pvals'][i] - pv).max()))",
      "out = dict(groups=list(adata.obs_names), worst=worst)",
    ].join("\n"),
  ) as { groups: string[]; worst: number };
  assert.deepEqual(
    ref.groups,
    s.perturbations.map((p: { perturbation: string }) => p.perturbation),
  );
  assert.ok(ref.worst < 1e-4, `largest difference from scipy ${ref.worst}`);
});

test("de wilcoxon --groups: only the named perturbation; text table with top genes", async () => {
  const exported = await crispyx(["detect", norm, "--json"]);
  const out = join(tmp.path, "w.h5ad");
  const first = (await crispyx(["obs", "export", norm, "-c", "perturbation", "-f", "json"])).stdout;
  const label = (JSON.parse(first) as { perturbation: string }[])
    .map((r) => r.perturbation)
    .find((p) => p !== "non-targeting")!;
  assert.equal(exported.code, 0);
  const r = await crispyx(["de", norm, "--method", "wilcoxon", "--groups", label, "-o", out, "--workers", "1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^wilcoxon of 1 perturbations against 'non-targeting' over 150 genes/);
  assert.match(r.stdout, new RegExp(`^${label} +\\d+ +\\d+ +\\S+ [+-]\\d`, "m"));
  assert.match(r.stderr, /^wrote .*w\.h5ad: 1 perturbations × 150 genes; table in .*w\.csv/m);
  const noCsv = join(tmp.path, "nocsv.h5ad");
  const r2 = await crispyx(["de", norm, "--groups", label, "-o", noCsv, "--no-csv", "--json"]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(JSON.parse(r2.stdout).csv, null);
  assert.ok(!existsSync(join(tmp.path, "nocsv.csv")));
});

test("de on raw counts is refused with a hint to normalise; unknown method is a usage error", async () => {
  const [raw, method] = await Promise.all([
    crispyx(["de", counts, "-o", join(tmp.path, "x.h5ad")]),
    crispyx(["de", norm, "--method", "deseq"]),
  ]);
  assert.equal(raw.code, 1);
  assert.match(raw.stderr, /look like raw counts; DE expects log-normalised data\nhint: log-normalise first/);
  assert.equal(method.code, 2);
  assert.match(method.stderr, /argument 'deseq' is invalid\. Allowed choices are t-test, wilcoxon/);
});
