import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { normalSf, normalTwoSidedP, studentTSf, studentTTwoSidedP } from "../../src/stats/distributions.ts";
import { benjaminiHochberg } from "../../src/stats/multipleTesting.ts";
import { tieCorrect } from "../../src/stats/ties.ts";

// Expected values: scipy 1.x / statsmodels from test/stats/make_scipy_reference.py, see README.md (/tmp/pyref).
const ref = JSON.parse(readFileSync(new URL("./scipy_reference.json", import.meta.url), "utf8"));

function close(actual: number, expected: number, rel: number, what: string): void {
  if (expected === 0) {
    assert.ok(Math.abs(actual) < 1e-300, `${what}: ${actual} vs 0`);
    return;
  }
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected), `${what}: ${actual} vs ${expected}`);
}

test("normal tail probabilities equal scipy's down to 1e-300", () => {
  for (const [z, two, sf] of ref.norm as number[][]) {
    close(normalTwoSidedP(z!), two!, 1e-12, `2·sf(|${z}|)`);
    close(normalSf(z!), sf!, 1e-12, `sf(${z})`);
  }
});

test("Student t tail probabilities equal scipy's (small and huge df, far tails)", () => {
  for (const [t, df, two, sf] of ref.t as number[][]) {
    close(studentTTwoSidedP(t!, df!), two!, 1e-9, `t two-sided(${t}, ${df})`);
    close(studentTSf(t!, df!), sf!, 1e-9, `t sf(${t}, ${df})`);
  }
  assert.equal(studentTTwoSidedP(Infinity, 3), 0);
  assert.ok(Number.isNaN(studentTTwoSidedP(NaN, 3)));
});

test("Benjamini–Hochberg equals statsmodels fdr_bh (NaN counted as 1, ties)", () => {
  const p = (ref.bh.p as (number | null)[]).map((v) => (v === null ? NaN : v));
  const adj = benjaminiHochberg(p);
  (ref.bh.adj as number[]).forEach((e, i) => close(adj[i]!, e, 1e-12, `adj[${i}]`));
});

test("tie correction equals scipy.stats.tiecorrect", () => {
  close(tieCorrect(ref.tie.v), ref.tie.tc, 1e-14, "tiecorrect");
  assert.equal(tieCorrect([1, 1, 1]), 0);
  assert.equal(tieCorrect([4]), 1);
});

test("argsortFloat64: stable, ascending/descending, NaN last, −0 equals 0, matches a comparison sort", async () => {
  const { argsortFloat64 } = await import("../../src/stats/argsort.ts");
  const v = [3, -1, 0, -0, NaN, 2.5, -1, 1e-300, -1e300, Infinity, -Infinity, 2.5];
  assert.deepEqual(Array.from(argsortFloat64(v)), [10, 8, 1, 6, 2, 3, 7, 5, 11, 0, 9, 4]);
  assert.deepEqual(Array.from(argsortFloat64(v, true)), [9, 0, 5, 11, 7, 2, 3, 1, 6, 8, 10, 4]);
  let s = 7;
  const rnd = Array.from(
    { length: 5000 },
    () => ((s = (s * 16807) % 2147483647) / 2147483647 - 0.5) * 10 ** ((s % 40) - 20),
  );
  const expect = rnd.map((_, i) => i).sort((a, b) => rnd[a]! - rnd[b]! || a - b);
  assert.deepEqual(Array.from(argsortFloat64(rnd)), expect);
  // Values that differ only in their low 32 bits (runs longer and shorter than the insertion-sort cut-off),
  // exact ties, zeros of both signs and NaN, in both directions and from a Float64Array view at an offset.
  const close = Array.from({ length: 3000 }, (_, i) => {
    s = (s * 16807) % 2147483647;
    if (i % 7 === 0) return [0, -0, NaN, 1][s % 4]!;
    return (i % 2 ? 1 + (i % 300) : -2.5) + (s % (i % 4 === 1 ? 5 : 400)) * 2 ** -45;
  });
  const cmp = (desc: boolean) => (a: number, b: number) => {
    const x = close[a]!,
      y = close[b]!;
    if (Number.isNaN(x) || Number.isNaN(y)) return (Number.isNaN(x) ? 1 : 0) - (Number.isNaN(y) ? 1 : 0) || a - b;
    return (desc ? y - x : x - y) || a - b;
  };
  const view = new Float64Array(close.length + 3).subarray(3);
  view.set(close);
  for (const desc of [false, true]) {
    const want = close.map((_, i) => i).sort(cmp(desc));
    assert.deepEqual(Array.from(argsortFloat64(close, desc)), want);
    assert.deepEqual(Array.from(argsortFloat64(view, desc)), want);
  }
});

test("Student t tail: the continued-fraction path agrees with stdlib's general incomplete beta on a dense grid", async () => {
  const { default: betainc } = await import("@stdlib/math-base-special-betainc");
  // df 19.99 and 20 sit either side of the switch to the series for ln Γ(a)/Γ(a+½) (a = df/2 = 10).
  for (const df of [1, 2.5, 7, 19.99, 20, 20.5, 30, 149.3, 400, 2500, 1e5, 1e6]) {
    for (const t of [0, 1e-3, 0.1, 0.7, 1, 1.96, 3, 5, 12, 40, 300]) {
      const x = df / (df + t * t),
        y = (t * t) / (df + t * t);
      const ref = x < 0.5 ? betainc(x, df / 2, 0.5) : betainc(y, 0.5, df / 2, true, true);
      const p = studentTTwoSidedP(t, df);
      assert.ok(Math.abs(p - ref) <= 1e-10 * ref + 1e-300, `t=${t} df=${df}: ${p} vs ${ref}`);
    }
  }
});
