import { test } from "node:test";
import assert from "node:assert/strict";
import { Random, logGamma } from "../../src/demo/random.ts";
import { syntheticScreen, CONTROL_LABEL } from "../../src/demo/synthetic.ts";
import { InvalidArgumentError } from "../../src/errors.ts";
import { categoricalValues } from "../../src/io/anndata/encodings/categorical.ts";
import type { Categorical, NdArray } from "../../src/io/anndata/model.ts";

function moments(draw: () => number, n: number): { mean: number; variance: number } {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const x = draw();
    s += x;
    s2 += x * x;
  }
  const mean = s / n;
  return { mean, variance: s2 / n - mean * mean };
}

test("the generator is seeded: same seed same stream, other seed other stream; uniforms are in (0, 1)", () => {
  const a = new Random(42),
    b = new Random(42),
    c = new Random(43);
  const xa = Array.from({ length: 1000 }, () => a.uniform());
  const xb = Array.from({ length: 1000 }, () => b.uniform());
  const xc = Array.from({ length: 1000 }, () => c.uniform());
  assert.deepEqual(xa, xb);
  assert.notDeepEqual(xa, xc);
  assert.ok(xa.every((x) => x > 0 && x < 1));
  const m = moments(() => a.uniform(), 200_000);
  assert.ok(Math.abs(m.mean - 0.5) < 0.003, `mean ${m.mean}`);
  assert.ok(Math.abs(m.variance - 1 / 12) < 0.002, `variance ${m.variance}`);
});

test("normal, gamma and Poisson samplers have the right mean and variance", () => {
  const r = new Random(1);
  const n = 200_000;
  const z = moments(() => r.normal(), n);
  assert.ok(Math.abs(z.mean) < 0.01 && Math.abs(z.variance - 1) < 0.02, JSON.stringify(z));
  for (const shape of [0.3, 1, 4.5]) {
    const g = moments(() => r.gamma(shape), n);
    // Gamma(k, 1): mean k, variance k. Tolerance ~5 standard errors.
    assert.ok(Math.abs(g.mean - shape) < 5 * Math.sqrt(shape / n), `gamma(${shape}) mean ${g.mean}`);
    assert.ok(Math.abs(g.variance / shape - 1) < 0.05, `gamma(${shape}) variance ${g.variance}`);
  }
  for (const lambda of [0.2, 3, 25, 400]) {
    const p = moments(() => r.poisson(lambda), n);
    assert.ok(Math.abs(p.mean - lambda) < 5 * Math.sqrt(lambda / n), `poisson(${lambda}) mean ${p.mean}`);
    assert.ok(Math.abs(p.variance / lambda - 1) < 0.03, `poisson(${lambda}) variance ${p.variance}`);
  }
});

test("negative binomial draws have mean mu and variance mu + mu²/theta (both sampling paths)", () => {
  const r = new Random(2);
  const n = 300_000;
  for (const [mu, theta] of [
    [0.05, 0.5],
    [0.8, 2],
    [3, 0.7],
    [12, 5],
    [150, 10],
  ] as const) {
    const m = moments(() => r.negativeBinomial(mu, theta), n);
    const v = mu + (mu * mu) / theta;
    assert.ok(Math.abs(m.mean - mu) < 5 * Math.sqrt(v / n), `NB(${mu}, ${theta}) mean ${m.mean}`);
    assert.ok(Math.abs(m.variance / v - 1) < 0.06, `NB(${mu}, ${theta}) variance ${m.variance} vs ${v}`);
  }
});

test("logGamma matches known values", () => {
  assert.ok(Math.abs(logGamma(1)) < 1e-12);
  assert.ok(Math.abs(logGamma(5) - Math.log(24)) < 1e-12);
  assert.ok(Math.abs(logGamma(0.5) - 0.5 * Math.log(Math.PI)) < 1e-12);
  assert.ok(Math.abs(logGamma(101) - 363.73937555556347) < 1e-9);
});

test("a screen is reproducible and any block of rows equals the same rows of the whole", () => {
  const spec = { cells: 120, genes: 150, perturbations: 5, seed: 11 };
  const a = syntheticScreen(spec),
    b = syntheticScreen(spec);
  const whole = a.rows(0, 120);
  assert.deepEqual(b.rows(0, 120), whole);
  assert.deepEqual(a.obs, b.obs);
  const part = a.rows(37, 80);
  const lo = whole.indptr[37]!,
    hi = whole.indptr[80]!;
  assert.deepEqual(Array.from(part.data), Array.from(whole.data.slice(lo, hi)));
  assert.deepEqual(Array.from(part.indices), Array.from(whole.indices.slice(lo, hi)));
  const other = syntheticScreen({ ...spec, seed: 12 }).rows(0, 120);
  assert.notDeepEqual(Array.from(other.data), Array.from(whole.data));
  assert.ok(whole.data.every((v) => Number.isInteger(v) && v > 0));
});

test("a screen looks like a Perturb-seq experiment", () => {
  const s = syntheticScreen({ cells: 2000, genes: 1000, perturbations: 10, seed: 3 });
  const pert = categoricalValues(s.obs.columns.perturbation as Categorical);
  const guide = categoricalValues(s.obs.columns.guide_id as Categorical);
  const counts = new Map<string, number>();
  pert.forEach((p, i) => {
    counts.set(p!, (counts.get(p!) ?? 0) + 1);
    assert.equal(guide[i]!.replace(/_sg\d+$/, ""), p);
  });
  assert.equal(counts.size, 11);
  // Controls are over-represented: three targets' worth of cells.
  const perTarget = (2000 - counts.get(CONTROL_LABEL)!) / 10;
  assert.ok(counts.get(CONTROL_LABEL)! > 2 * perTarget, `controls ${counts.get(CONTROL_LABEL)}`);
  const ids = s.var.index;
  assert.ok(ids.every((id) => /^ENSG\d{11}\.\d+$/.test(id)));
  assert.equal(new Set(ids).size, ids.length);
  const symbols = (s.var.columns.gene_symbols as NdArray).data as string[];
  assert.deepEqual(
    symbols.slice(-13).map((x) => x.slice(0, 3)),
    new Array(13).fill("MT-"),
  );
  assert.ok(s.truth.targets.every((t) => symbols.includes(t)));
  assert.equal(new Set(s.obs.index).size, 2000);

  // Knock-downs show: each target's share of counts in its own cells vs in control cells.
  const X = s.rows(0, 2000);
  const share = (gene: number, label: string) => {
    let g = 0,
      tot = 0;
    for (let c = 0; c < 2000; c++) {
      if (pert[c] !== label) continue;
      for (let k = X.indptr[c]!; k < X.indptr[c + 1]!; k++) {
        tot += X.data[k]!;
        if (X.indices[k] === gene) g += X.data[k]!;
      }
    }
    return g / tot;
  };
  s.truth.targets.forEach((t, i) => {
    const gene = symbols.indexOf(t);
    const ratio = share(gene, t) / share(gene, CONTROL_LABEL);
    const planted = 1 - s.truth.knockdown[i]!;
    assert.ok(Math.abs(ratio - planted) < 0.2, `${t}: observed ${ratio.toFixed(2)}, planted ${planted.toFixed(2)}`);
  });
  // Library sizes vary as in droplet data: a long tail of small libraries.
  const libs = Array.from({ length: 2000 }, (_, c) =>
    X.data.slice(X.indptr[c]!, X.indptr[c + 1]!).reduce((a, b) => a + b, 0),
  ).sort((a, b) => a - b);
  assert.ok(libs[20]! < libs[1000]! / 4, `1st percentile ${libs[20]} vs median ${libs[1000]}`);
});

test("impossible specs are rejected before anything is generated", () => {
  assert.throws(() => syntheticScreen({ cells: 10, genes: 40, perturbations: 11, seed: 0 }), InvalidArgumentError);
  assert.throws(
    () => syntheticScreen({ cells: 0, genes: 40, perturbations: 1, seed: 0 }),
    /--cells must be an integer ≥ 1/,
  );
  assert.throws(() => syntheticScreen({ cells: 10, genes: 40, perturbations: 1, seed: -1 }), /--seed/);
});
