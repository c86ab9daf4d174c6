/**
 * The NB-GLM math (src/de/nbGlm/) against test/fixtures/nbglm/ (scripts/reference/make_nbglm_fixtures.py):
 * statsmodels' NB GLM at fixed dispersions, and an independent scipy implementation of the same dispersion,
 * trend, MAP and shrinkage definitions. Tolerances, and why:
 * - β, SE, z at a fixed α: 1e-7 relative — both converge to the same MLE (statsmodels' IRLS stops on a
 *   deviance change of 1e-13, ours on a step of 1e-12), so only the stopping rules differ.
 * - p-values: 1e-6 relative (they inherit z's error, magnified by |z| in the tail).
 * - LRT statistic: 1e-6 absolute (a difference of two log-likelihoods of size ~10³; statsmodels' llf uses
 *   scipy's gammaln, we use a rising-factorial sum: both ~1e-13 relative).
 * - gene-wise and MAP dispersions: 1e-4 relative — both maximise the same function over log α to ~1e-7
 *   (we: 24-point grid + Brent at 1e-7; scipy: 200-point grid + fminbound at 1e-10); a flat optimum lets
 *   the argmax move more than the value, and 1e-4 is far below any effect on the tests (z moves ~1e-5).
 * - the trend: a1 and the trend's values at 1e-6 relative (the same IRLS in both, fed gene-wise values that
 *   agree to 1e-4); not a0, which is ~1e-5 here beside a1/mean ≥ 5e-3 and so set by those 1e-4 differences.
 * - downstream of the dispersions (b1, z, p, shrunken LFC at MAP α): 1e-4 relative, inherited.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { fisherInfo, fitLogMean, logLik, type GroupCells } from "../../src/de/nbGlm/irls.ts";
import {
  dispersionPrior,
  finalDispersion,
  fitDispersionTrend,
  genewiseDispersion,
  mapDispersion,
  maxDispersion,
  trendAt,
} from "../../src/de/nbGlm/dispersion.ts";
import { apeglmPriorVar, apeglmScale, shrinkLfc } from "../../src/de/nbGlm/shrink.ts";
import { lrTest, waldTest } from "../../src/de/nbGlm/tests.ts";
import { logGamma, logRising, trigamma } from "../../src/de/nbGlm/special.ts";

const dir = fileURLToPath(new URL("../fixtures/nbglm/", import.meta.url));
const screen = JSON.parse(readFileSync(dir + "screen.json", "utf8")) as {
  X: number[][];
  labels: string[];
  size_factors: number[];
  true_alpha: number[];
};
type Row = {
  b0: number;
  b1: number;
  se1: number;
  z: number;
  p: number;
  lr: number;
  p_lr: number;
  shrunk?: number;
  padj?: number;
} | null;
const ref = JSON.parse(readFileSync(dir + "statsmodels.json", "utf8")) as {
  base_mean: number[];
  genewise: (number | null)[];
  trend_coefs: [number, number];
  prior_var: number;
  log_resid_var: number;
  dispersion: (number | null)[];
  true: Record<string, Row[]>;
  map: Record<string, { rows: Row[]; prior_scale: number }>;
};
const nGenes = screen.X[0]!.length;
const PERTS = ["P1", "P2", "P3"];

/** The cells of `label` for gene j, as the kernel lays them out. */
function cells(label: string, j: number): GroupCells {
  const y: number[] = [],
    ys: number[] = [],
    sf: number[] = [];
  screen.labels.forEach((l, i) => {
    if (l !== label) return;
    sf.push(screen.size_factors[i]!);
    const v = screen.X[i]![j]!;
    if (v !== 0) {
      y.push(v);
      ys.push(screen.size_factors[i]!);
    }
  });
  return { y, ys, from: 0, to: y.length, sf, sfFrom: 0, sfTo: sf.length };
}

function close(a: number, b: number, rel: number, what: string, abs = 0): void {
  assert.ok(Math.abs(a - b) <= rel * Math.abs(b) + abs, `${what}: ${a} vs ${b} (tolerance ${rel} relative)`);
}

test("special functions: log Γ, trigamma and the rising factorial against known values", () => {
  close(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-14, "lgamma(0.5)");
  close(logGamma(101), 363.73937555556347, 1e-14, "lgamma(101)"); // log(100!)
  close(trigamma(1), (Math.PI * Math.PI) / 6, 1e-13, "trigamma(1)");
  close(trigamma(0.5), (Math.PI * Math.PI) / 2, 1e-13, "trigamma(0.5)");
  close(trigamma(1e5), 1e-5 + 0.5e-10 + 1 / 6e15, 1e-13, "trigamma(1e5)"); // 1/x + 1/(2x²) + 1/(6x³)
  for (const [y, a] of [
    [7, 0.3],
    [200, 0.05],
    [1000, 1e-9],
    [1e6, 0.2],
  ] as const) {
    const direct = y < 2000 ? Array.from({ length: y }, (_, k) => Math.log1p(k * a)).reduce((s, v) => s + v, 0) : NaN;
    const viaGamma = logGamma(y + 1 / a) - logGamma(1 / a) + y * Math.log(a);
    close(logRising(y, a), Number.isNaN(direct) ? viaGamma : direct, 1e-9, `logRising(${y}, ${a})`, 1e-9);
  }
});

test("fixed dispersion: β, SE, Wald z and p, LRT equal statsmodels' NB GLM", () => {
  for (const p of PERTS) {
    for (let j = 0; j < nGenes; j++) {
      const r = ref.true[p]![j];
      if (!r) continue;
      const a = screen.true_alpha[j]!;
      const c = cells("NTC", j),
        g = cells(p, j);
      const fc = fitLogMean([c], a),
        fp = fitLogMean([g], a);
      assert.ok(fc.converged && fp.converged, `${p} g${j} converged`);
      const b1 = fp.logMean - fc.logMean;
      const se = Math.sqrt(1 / fc.info + 1 / fp.info);
      const w = waldTest(b1, se);
      close(fc.logMean, r.b0, 1e-7, `${p} g${j} b0`, 1e-9);
      close(b1, r.b1, 1e-7, `${p} g${j} b1`, 1e-9);
      close(se, r.se1, 1e-7, `${p} g${j} se`);
      close(w.z, r.z, 1e-7, `${p} g${j} z`, 1e-9);
      close(w.p, r.p, 1e-6, `${p} g${j} p`, 1e-300);
      const red = fitLogMean([c, g], a);
      const lr = lrTest(logLik([c], fc.logMean, a) + logLik([g], fp.logMean, a), logLik([c, g], red.logMean, a), b1);
      close(lr.stat, r.lr, 0, `${p} g${j} LR`, 1e-6);
      close(lr.p, r.p_lr, 1e-5, `${p} g${j} LRT p`, 1e-12);
      close(fisherInfo([c], fc.logMean, a), fc.info, 1e-15, "info");
    }
  }
});

test("dispersions: gene-wise Cox–Reid, trend, prior and MAP equal the scipy reference", () => {
  const maxDisp = maxDispersion(screen.labels.filter((l) => l === "NTC").length);
  const mean = new Float64Array(nGenes),
    gw = new Float64Array(nGenes).fill(Number.NaN),
    lm = new Float64Array(nGenes);
  for (let j = 0; j < nGenes; j++) {
    const c = cells("NTC", j);
    let s = 0;
    for (let k = 0; k < c.to; k++) s += c.y[k]! / c.ys[k]!;
    mean[j] = s / c.sfTo;
    close(mean[j]!, ref.base_mean[j]!, 1e-12, `baseMean g${j}`, 1e-15);
    const d = genewiseDispersion(c, maxDisp);
    assert.equal(d === null, ref.genewise[j] === null, `g${j} estimable`);
    if (!d) continue;
    gw[j] = d.alpha;
    lm[j] = d.logMean;
    close(d.alpha, ref.genewise[j]!, 1e-4, `gene-wise α g${j}`);
  }
  const trend = fitDispersionTrend(mean, gw);
  assert.equal(trend.kind, "parametric");
  // a0 (~1e-5) is ill-determined beside a1/mean (≥ 5e-3 here): compare a1 and the trend's values.
  close(trend.a1, ref.trend_coefs[1], 1e-6, "trend a1");
  for (let j = 0; j < nGenes; j++)
    if (mean[j]! > 0)
      close(trendAt(trend, mean[j]!), ref.trend_coefs[0] + ref.trend_coefs[1] / mean[j]!, 1e-6, `trend g${j}`);
  const resid: number[] = [];
  for (let j = 0; j < nGenes; j++)
    if (gw[j]! > 100 * 1e-8) resid.push(Math.log(gw[j]!) - Math.log(trendAt(trend, mean[j]!)));
  const prior = dispersionPrior(Float64Array.from(resid), 300, 1);
  close(prior.priorVar, ref.prior_var, 1e-6, "prior variance");
  close(prior.residualVar, ref.log_resid_var, 1e-4, "residual variance");
  for (let j = 0; j < nGenes; j++) {
    if (!Number.isFinite(gw[j]!)) continue;
    const t = trendAt(trend, mean[j]!);
    const map = mapDispersion(cells("NTC", j), lm[j]!, Math.log(t), prior.priorVar, maxDisp);
    close(finalDispersion(gw[j]!, map, t, prior), ref.dispersion[j]!, 1e-4, `MAP α g${j}`);
  }
});

test("at the MAP dispersions: β1, z, p and the apeGLM-style shrunken LFC equal the reference", () => {
  for (const p of PERTS) {
    const rows = ref.map[p]!.rows;
    const b: number[] = [],
      ses: number[] = [];
    for (let j = 0; j < nGenes; j++) {
      const r = rows[j];
      if (!r) continue;
      const a = ref.dispersion[j]!;
      const fc = fitLogMean([cells("NTC", j)], a),
        fp = fitLogMean([cells(p, j)], a);
      const b1 = fp.logMean - fc.logMean,
        se = Math.sqrt(1 / fc.info + 1 / fp.info);
      close(b1, r.b1, 1e-7, `${p} g${j} b1`, 1e-9);
      close(waldTest(b1, se).p, r.p, 1e-6, `${p} g${j} p`, 1e-300);
      b.push(b1);
      ses.push(se);
    }
    const scale = apeglmScale(apeglmPriorVar(b, ses));
    close(scale, ref.map[p]!.prior_scale, 1e-8, `${p} prior scale`);
    let k = 0;
    for (let j = 0; j < nGenes; j++) {
      const r = rows[j];
      if (!r) continue;
      close(shrinkLfc(b[k]!, ses[k]!, scale), r.shrunk!, 1e-6, `${p} g${j} shrunken`, 1e-9);
      k++;
    }
  }
});

test("size factors: library size equals the fixture's; median-of-ratios equals the Python crispyx's", async () => {
  const { openH5ad } = await import("../../src/io/anndata/handle.ts");
  const { cellTotals, librarySizeFactors, medianRatioSizeFactors } = await import("../../src/de/nbGlm/chunk.ts");
  const py = JSON.parse(readFileSync(dir + "python_crispyx.json", "utf8")) as { size_factors_ratio: number[] };
  const h = openH5ad(dir + "screen.h5ad");
  try {
    const reader = h.matrix();
    const nGenesFile = reader.shape[1];
    const geneLogs = { logSum: new Float64Array(nGenesFile), count: new Float64Array(nGenesFile) };
    const totals = cellTotals(reader, {}, dir + "screen.h5ad", "nb-glm", geneLogs);
    const lib = librarySizeFactors(totals);
    const ratio = medianRatioSizeFactors(reader, {}, geneLogs);
    // Library size: sums and logs in float64 on both sides, 1e-12 relative. Median-of-ratios: 1e-7, as the
    // Python crispyx takes np.log of the file's float32 values (float32 logs, ~6e-8 relative each).
    lib.forEach((v, i) => close(v, screen.size_factors[i]!, 1e-12, `library size factor ${i}`));
    ratio.forEach((v, i) => close(v, py.size_factors_ratio[i]!, 1e-7, `median-of-ratios size factor ${i}`));
  } finally {
    h.close();
  }
});
