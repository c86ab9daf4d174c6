// Mt19937 + legacyChoiceWithoutReplacement reproduce np.random.seed(s); np.random.choice(n, k, replace=False)
// (test/fixtures/helpers/numpy_choice.json, made by the real numpy).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Mt19937, legacyChoiceWithoutReplacement } from "../../src/helpers/numpyRandom.ts";
import { InvalidArgumentError } from "../../src/errors.ts";

interface Case {
  n: number;
  k: number;
  seed: number;
  result: number[];
}
const cases = JSON.parse(
  readFileSync(new URL("../fixtures/helpers/numpy_choice.json", import.meta.url), "utf8"),
) as Case[];

test("MT19937 output for seed 5489 matches the reference generator (10000th output 4123659995)", () => {
  const rng = new Mt19937(5489);
  let v = 0;
  for (let i = 0; i < 10000; i++) v = rng.nextUint32();
  assert.equal(v, 4123659995);
});

test("seeded choice without replacement equals numpy's legacy RandomState", () => {
  for (const c of cases) {
    assert.deepEqual(
      Array.from(legacyChoiceWithoutReplacement(c.n, c.k, c.seed)),
      c.result,
      `n=${c.n} k=${c.k} seed=${c.seed}`,
    );
  }
});

test("bad arguments are clear errors", () => {
  assert.throws(() => legacyChoiceWithoutReplacement(5, 6, 0), InvalidArgumentError);
  assert.throws(() => new Mt19937(-1), /seed must be an integer/);
  assert.throws(() => new Mt19937(2 ** 32), /seed must be an integer/);
});
