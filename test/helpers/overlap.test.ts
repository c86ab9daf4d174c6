// computeOverlap gives the seed's compute_overlap matrices (test/fixtures/helpers/overlap.json).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { computeOverlap, type OverlapMetric } from "../../src/helpers/overlap.ts";
import { InvalidArgumentError } from "../../src/errors.ts";

interface Case {
  sets: Record<string, string[]>;
  metric: OverlapMetric;
  names: string[];
  count: number[][];
  jaccard: number[][];
  set_sizes: Record<string, number>;
}
const cases = JSON.parse(readFileSync(new URL("../fixtures/helpers/overlap.json", import.meta.url), "utf8")) as Case[];

test("identical matrices and set sizes to the seed for every case and metric", () => {
  assert.equal(cases.length, 15);
  for (const c of cases) {
    const r = computeOverlap(new Map(Object.entries(c.sets)), { metric: c.metric });
    const label = `${JSON.stringify(Object.keys(c.sets))} ${c.metric}`;
    assert.deepEqual(r.names, c.names, label);
    assert.deepEqual(r.countMatrix, c.count, label);
    assert.deepEqual(r.jaccardMatrix, c.jaccard, label);
    assert.deepEqual(
      r.setSizes,
      c.names.map((n) => c.set_sizes[n]),
      label,
    );
  }
});

test("accepts Sets, arrays of pairs and plain objects; keeps pair order", () => {
  const r = computeOverlap([
    ["B", new Set(["x", "y"])],
    ["A", ["y", "y", "z"]],
  ]);
  assert.deepEqual(r.names, ["B", "A"]);
  assert.deepEqual(r.countMatrix, [
    [2, 1],
    [1, 2],
  ]);
  assert.deepEqual(r.jaccardMatrix, [
    [1, 1 / 3],
    [1 / 3, 1],
  ]);
  assert.deepEqual(computeOverlap({ a: [1, 2], b: [2] }).countMatrix, [
    [2, 1],
    [1, 1],
  ]);
});

test("bad input is a clear error", () => {
  assert.throws(() => computeOverlap({ a: ["x"] }, { metric: "dice" as OverlapMetric }), InvalidArgumentError);
  assert.throws(
    () =>
      computeOverlap([
        ["a", ["x"]],
        ["a", ["y"]],
      ]),
    /given twice/,
  );
  assert.throws(() => computeOverlap({ a: "xyz" as unknown as string[] }), /must be a list or set/);
});
