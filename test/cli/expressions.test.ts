import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSelection } from "../../src/cli/expressions.ts";
import type { Cell } from "../../src/cli/output.ts";

const obs: Record<string, Cell[]> = {
  perturbation: ["GATA1", "non-targeting", null, "TAL1", "GATA1"],
  n_genes: [150, 900, 300, NaN as unknown as number, 50],
  ok: [true, false, true, true, false],
  "guide id": ["a", "b", "c", "d", "e"],
};
const names = ["c0", "c1", "c2", "c3", "c4"];
const get = (c: string | null) => (c === null ? names : obs[c]!);

function sel(text: string): number[] {
  const s = parseSelection(text, "obs");
  return Array.from(s.evaluate(get, 5));
}

test("comparisons, and/or/not, parentheses, in-lists", () => {
  assert.deepEqual(sel("obs.perturbation != 'non-targeting'"), [1, 0, 1, 1, 1]); // missing != x is true, as in pandas
  assert.deepEqual(sel("obs.perturbation == 'GATA1'"), [1, 0, 0, 0, 1]);
  assert.deepEqual(sel("obs.n_genes >= 150"), [1, 1, 1, 0, 0]); // NaN compares false
  assert.deepEqual(sel("obs.n_genes >= 150 and obs.ok == true"), [1, 0, 1, 0, 0]);
  assert.deepEqual(sel('obs.n_genes < 100 or obs.perturbation == "TAL1"'), [0, 0, 0, 1, 1]);
  assert.deepEqual(sel("not (obs.n_genes < 100 || obs.perturbation = 'TAL1')"), [1, 1, 1, 0, 0]);
  assert.deepEqual(sel("obs.perturbation in ['GATA1', 'TAL1',]"), [1, 0, 0, 1, 1]);
  assert.deepEqual(sel("obs.perturbation not in ['GATA1']"), [0, 1, 1, 1, 0]);
  assert.deepEqual(sel("obs['guide id'] == 'c' & !obs.ok == false"), [0, 0, 1, 0, 0]);
  assert.deepEqual(sel("obs_names in ['c1', 'c4']"), [0, 1, 0, 0, 1]);
  assert.deepEqual(sel("obs.n_genes > .5e3"), [0, 1, 0, 0, 0]);
  assert.deepEqual(sel("obs.n_genes > -1 and obs.n_genes < inf"), [1, 1, 1, 0, 1]);
  assert.deepEqual(parseSelection("obs.a > 1 and (obs.b == 'x' or obs_names == 'y') and obs.a < 3", "obs").columns, [
    "a",
    "b",
    null,
  ]);
});

test("mistakes are explained with the position and a hint", () => {
  const err = (text: string, axis: "obs" | "var" = "obs") => {
    try {
      parseSelection(text, axis).evaluate(get, 5);
    } catch (e) {
      return `${(e as Error).message} | ${(e as { hint?: string }).hint}`;
    }
    return "no error";
  };
  assert.match(
    err("obs.perturbation != non-targeting"),
    /'non-targeting' is not a value; quote text values: 'non-targeting'/,
  );
  assert.match(err("obs.perturbation == 'GATA1"), /a quoted text is not closed at character 21/);
  assert.match(
    err("obs.n_genes >= '3'"),
    /obs\.n_genes holds numbers, but is compared with '3' \| compare with a number/,
  );
  assert.match(
    err("obs.perturbation == 3"),
    /obs\.perturbation holds text, but is compared with 3 \| quote the value: '3'/,
  );
  assert.match(err("var.n_cells >= 3"), /uses var \(genes\) but selects cells \| select genes with --genes/);
  assert.match(err("perturbation == 'x'"), /'perturbation' is not a column reference; write obs\.perturbation/);
  assert.match(err("obs.a == 1 obs.b == 2"), /unexpected 'obs' \(join conditions with 'and' \/ 'or'\)/);
  assert.match(err("(obs.a == 1"), /expected '\)' but the expression ended/);
  assert.match(err(""), /the expression is empty/);
  assert.match(err("obs.a ~ 1"), /unexpected '~' at character 7/);
});
