/**
 * The CLI of issue 13: `crispyx de --method nb-glm` (--test lrt, --size-factors ratio), its result opened by
 * anndata 0.8 and read by `crispyx report` (volcano plots) and `crispyx overlap --of hits`; `crispyx
 * pseudobulk`; a non-count value refused with exit 1 and no output.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { crispyx, referencePython, tempDir, withAnndata } from "./helpers.ts";
import { rankGenesGroups, type RankGenesGroupsOptions } from "../../src/de/rankGenesGroups.ts";
import { readH5ad, writeH5ad } from "../../src/io/anndata/anndata.ts";
import { categorical, dataframe, emptyAnnData, ndarray, type NdArray } from "../../src/io/anndata/model.ts";

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

test("--covariates, --dispersion pooled and pseudobulk-nb's --replicate-column reach the method (results as the API's)", async () => {
  // The reference screen with a gem group and a guide per cell.
  const ref = JSON.parse(readFileSync(new URL("../fixtures/nbglm/screen.json", import.meta.url), "utf8")) as {
    X: number[][];
    labels: string[];
  };
  const n = ref.labels.length,
    genes = ref.X[0]!.length;
  const ad = emptyAnnData(n, genes);
  ad.X = ndarray(Float32Array.from(ref.X.flat()), [n, genes]);
  ad.obs = dataframe(
    ref.labels.map((_, i) => `c${i}`),
    {
      perturbation: categorical(ref.labels),
      gem_group: categorical(ref.labels.map((_, i) => `gem${i % 3}`)),
      guide: categorical(ref.labels.map((l, i) => `${l}_g${i % 2}`)),
    },
  );
  ad.var = dataframe(Array.from({ length: genes }, (_, j) => `g${j}`));
  const file = join(tmp.path, "cov.h5ad");
  writeH5ad(file, ad);
  const cases: [string[], RankGenesGroupsOptions["nbGlm"], string][] = [
    [["--covariates", "gem_group"], { covariates: ["gem_group"] }, "nb-glm"],
    [["--dispersion", "pooled"], { dispersion: "pooled" }, "nb-glm"],
    [["--replicate-column", "guide"], { replicateColumn: "guide" }, "pseudobulk-nb"],
  ];
  for (const [flags, nbGlm, method] of cases) {
    const cli = join(tmp.path, `cli_${flags[0]!.slice(2)}.h5ad`);
    const r = await crispyx([
      "de",
      file,
      "--method",
      method,
      "-p",
      "perturbation",
      "--control",
      "NTC",
      ...flags,
      "-o",
      cli,
    ]);
    assert.equal(r.code, 0, `${flags.join(" ")}: ${r.stderr}`);
    const api = join(tmp.path, `api_${flags[0]!.slice(2)}.h5ad`);
    await rankGenesGroups(file, {
      perturbationColumn: "perturbation",
      controlLabel: "NTC",
      method: method as "nb-glm",
      nbGlm,
      output: api,
      workers: 1,
    });
    const a = readH5ad(cli),
      b = readH5ad(api);
    for (const k of ["scores", "dispersion"])
      assert.deepEqual(
        Array.from((a.layers[k] as NdArray).data as Float64Array),
        Array.from((b.layers[k] as NdArray).data as Float64Array),
        `${flags.join(" ")}: ${k}`,
      );
  }
  // Without the flags the results differ (each flag changed something).
  const plain = join(tmp.path, "plain.h5ad");
  assert.equal(
    (await crispyx(["de", file, "--method", "nb-glm", "-p", "perturbation", "--control", "NTC", "-o", plain])).code,
    0,
  );
  const d = (f: string) => Array.from((readH5ad(f).layers.dispersion as NdArray).data as Float64Array);
  assert.notDeepEqual(d(join(tmp.path, "cli_dispersion.h5ad")), d(plain));
  assert.notDeepEqual(
    Array.from((readH5ad(join(tmp.path, "cli_covariates.h5ad")).layers.scores as NdArray).data as Float64Array),
    Array.from((readH5ad(plain).layers.scores as NdArray).data as Float64Array),
  );
  const noReplicates = await crispyx([
    "de",
    file,
    "--method",
    "pseudobulk-nb",
    "-p",
    "perturbation",
    "--control",
    "NTC",
    "-o",
    join(tmp.path, "pb_none.h5ad"),
  ]);
  assert.equal(noReplicates.code, 1, "pseudobulk-nb without --replicate-column: one sample per group");
});
