/**
 * NB-GLM covariates (src/de/nbGlm/levels.ts) against statsmodels' joint NB GLM
 * y ~ 1 + x + gem_group (fixed α, offset log s) on the fixture's covariate screen (240 control cells,
 * 60 perturbation cells mostly in gem group 2, gem-group effects that differ by gene). Our fit freezes
 * the level means at the control's estimates (as the Python crispyx's covariate offsets), so it is not the
 * joint MLE: β1 within 0.03 (the level means move by ~n_p/(n_c+n_p) of the perturbation's pull on them),
 * SE within 3% (the arrowhead information is the joint model's, at slightly different estimates). Then end to
 * end: with --covariates the fold changes lose the bias the uneven gem groups give without them, and
 * collinear covariates are refused.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fisherInfo, fitLogMean, type GroupCells } from "../../src/de/nbGlm/irls.ts";
import { betaVariance, levelLogMean } from "../../src/de/nbGlm/levels.ts";
import { rankGenesGroups } from "../../src/de/rankGenesGroups.ts";
import { readH5ad, writeH5ad } from "../../src/io/anndata/anndata.ts";
import { categorical, dataframe, emptyAnnData, ndarray, type NdArray } from "../../src/io/anndata/model.ts";
import { InvalidArgumentError } from "../../src/errors.ts";

const work = mkdtempSync(join(tmpdir(), "crispyx-nbglm-cov-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));
const ref = JSON.parse(
  readFileSync(fileURLToPath(new URL("../fixtures/nbglm/statsmodels.json", import.meta.url)), "utf8"),
).covariates as {
  X: number[][];
  labels: string[];
  gem: number[];
  size_factors: number[];
  alpha: number;
  fits: { b1: number; se1: number; z: number; b1_no_cov: number }[];
};
const nGenes = ref.X[0]!.length;

function cells(label: string, level: number, j: number): GroupCells {
  const y: number[] = [],
    ys: number[] = [],
    sf: number[] = [];
  ref.labels.forEach((l, i) => {
    if (l !== label || ref.gem[i] !== level) return;
    sf.push(ref.size_factors[i]!);
    if (ref.X[i]![j]! > 0) {
      y.push(ref.X[i]![j]!);
      ys.push(ref.size_factors[i]!);
    }
  });
  return { y, ys, from: 0, to: y.length, sf, sfFrom: 0, sfTo: sf.length };
}

test("frozen control level means: β1 and SE near statsmodels' joint NB GLM with the covariate", () => {
  for (let j = 0; j < nGenes; j++) {
    const a = ref.alpha;
    const lm = [0, 1, 2].map((l) => levelLogMean(cells("NTC", l, j), a));
    const ps = [0, 1, 2].map((l) => ({ ...cells("P", l, j), scale: Math.exp(lm[l]!) }));
    const b1 = fitLogMean(ps, a).logMean;
    const se = Math.sqrt(
      betaVariance(
        lm.map((m, l) => fisherInfo([cells("NTC", l, j)], m, a)),
        ps.map((p) => fisherInfo([p], b1, a)),
      ),
    );
    const f = ref.fits[j]!;
    assert.ok(Math.abs(b1 - f.b1) < 0.03, `g${j} β1 ${b1} vs ${f.b1}`);
    assert.ok(Math.abs(se - f.se1) < 0.03 * f.se1, `g${j} SE ${se} vs ${f.se1}`);
  }
});

function write(path: string, gem: (i: number) => string): void {
  const n = ref.labels.length;
  const X = new Float32Array(n * nGenes);
  ref.X.forEach((row, i) => row.forEach((v, j) => (X[i * nGenes + j] = v)));
  const ad = emptyAnnData(n, nGenes);
  ad.X = ndarray(X, [n, nGenes]);
  ad.obs = dataframe(
    ref.labels.map((_, i) => `c${i}`),
    {
      perturbation: categorical(ref.labels),
      gem_group: categorical(ref.labels.map((_, i) => gem(i))),
    },
  );
  ad.var = dataframe(Array.from({ length: nGenes }, (_, j) => `g${j}`));
  writeH5ad(path, ad);
}

test("--covariates gem_group removes the gem-group bias end to end; collinear covariates are refused", async () => {
  const input = join(work, "cov.h5ad");
  write(input, (i) => `gem${ref.gem[i]}`);
  const run = (output: string, covariates?: string[], file = input) =>
    rankGenesGroups(file, {
      perturbationColumn: "perturbation",
      controlLabel: "NTC",
      method: "nb-glm",
      output: join(work, output),
      workers: 1,
      ...(covariates ? { nbGlm: { covariates } } : {}),
    });
  const lfc = (path: string) => (readH5ad(path).X as NdArray).data as Float32Array;
  const withCov = lfc((await run("with.h5ad", ["gem_group"])).outputPath);
  const without = lfc((await run("without.h5ad")).outputPath);
  let errWith = 0,
    errWithout = 0;
  for (let j = 0; j < nGenes; j++) {
    // Library-size factors here, not the simulation's s: compare the fold changes' errors, not their values.
    errWith += Math.abs(withCov[j]! * Math.LN2 - ref.fits[j]!.b1);
    errWithout += Math.abs(without[j]! * Math.LN2 - ref.fits[j]!.b1);
  }
  assert.ok(errWith < errWithout / 2, `mean |Δβ1| with covariates ${errWith / nGenes}, without ${errWithout / nGenes}`);
  await assert.rejects(run("x.h5ad", ["perturbation"]), /covariate 'perturbation' is the perturbation column/);
  const collinear = join(work, "collinear.h5ad");
  write(collinear, (i) => (ref.labels[i] === "P" ? "late" : `gem${ref.gem[i]}`));
  await assert.rejects(
    run("y.h5ad", ["gem_group"], collinear),
    (e: unknown) =>
      e instanceof InvalidArgumentError &&
      /perturbation 'P' has cells in a covariate level with no control cells: the covariates are collinear/.test(
        e.message,
      ),
  );
});
