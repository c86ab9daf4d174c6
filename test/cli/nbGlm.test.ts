/**
 * The CLI of issue 13: `crispyx de --method nb-glm` (--test lrt, --size-factors ratio), its result opened by
 * anndata 0.8 and read by `crispyx report` (volcano plots) and `crispyx overlap --of hits`; `crispyx
 * pseudobulk`; a non-count value refused with exit 1 and no output.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { crispyx, referencePython, tempDir, withAnndata } from "./helpers.ts";

const SCREEN = fileURLToPath(new URL("../fixtures/nbglm/screen.h5ad", import.meta.url));
const tmp = tempDir("crispyx-cli-nbglm-");
process.on("exit", tmp.cleanup);

test("crispyx de --method nb-glm, then report and overlap read its result", async () => {
  const out = join(tmp.path, "nb.h5ad");
  const r = await crispyx([
    "de",
    SCREEN,
    "--method",
    "nb-glm",
    "-p",
    "perturbation",
    "--control",
    "NTC",
    "--test",
    "lrt",
    "--size-factors",
    "ratio",
    "-o",
    out,
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.method, "nb-glm");
  assert.ok(existsSync(out.replace(/\.h5ad$/, ".csv")));
  const python = referencePython();
  if (python) {
    const got = withAnndata(
      python,
      out,
      "out = {'layers': sorted(adata.layers.keys()), 'method': str(adata.uns['method']), " +
        "'params': {k: str(v) for k, v in adata.uns['rank_genes_groups']['params'].items()}}",
    ) as { layers: string[]; method: string; params: Record<string, string> };
    for (const k of ["baseMean", "lfcSE", "dispersion", "lfc_shrunk", "pvals", "pvals_adj", "scores"])
      assert.ok(got.layers.includes(k), k);
    assert.equal(got.method, "nb_glm");
    assert.equal(got.params.test, "lrt");
    assert.equal(got.params.size_factors, "ratio");
  }
  const report = await crispyx(["report", SCREEN, "--de", out, "-o", join(tmp.path, "r.html")]);
  assert.equal(report.code, 0, report.stderr);
  assert.match(report.stderr, /nb-glm: 3\/3 perturbations with hits, 3 volcano plots/);
  const overlap = await crispyx(["overlap", out, "--of", "hits"]);
  assert.equal(overlap.code, 0, overlap.stderr);
  assert.match(overlap.stdout, /P1\s+1/);
});

test("crispyx pseudobulk; nb-glm refuses a non-count value with exit 1 and leaves nothing", async () => {
  const pb = join(tmp.path, "pb.h5ad");
  const r = await crispyx(["pseudobulk", SCREEN, "-p", "perturbation", "-o", pb]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /4 pseudo-bulk samples × 24 genes/);
  // The pseudo-bulk file holds float64 sums: still whole numbers, so nb-glm accepts it; a log-normalised
  // file is refused.
  const norm = join(tmp.path, "norm.h5ad");
  assert.equal((await crispyx(["normalize", SCREEN, "-o", norm])).code, 0);
  const out = join(tmp.path, "bad.h5ad");
  const bad = await crispyx(["de", norm, "--method", "nb-glm", "-p", "perturbation", "--control", "NTC", "-o", out]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /not a non-negative whole number; DE method 'nb-glm' expects raw counts/);
  assert.ok(!existsSync(out) && !existsSync(out.replace(/\.h5ad$/, ".csv")));
});
