// resolveControlLabel answers as the seed's resolve_control_label on label lists
// (test/fixtures/helpers/control_labels.json) and fails clearly where the seed raises.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolveControlLabel } from "../../src/helpers/controlLabel.ts";
import { InvalidArgumentError } from "../../src/errors.ts";

interface Case {
  labels: string[];
  control_label: string | null;
  result?: string;
  error?: string;
}
const cases = JSON.parse(
  readFileSync(new URL("../fixtures/helpers/control_labels.json", import.meta.url), "utf8"),
) as Case[];

/** Lists where the seed gives up but crispyx knows the control spelling (its label normaliser's NTC, scramble…). */
const EXTENDED: Record<string, string> = {
  '["GENE1","GENE2","NTC"]': "NTC",
  '["scramble","GENE1"]': "scramble",
};

test("same label as the seed on every fixture list, errors where the seed raises (but for crispyx's own control spellings)", () => {
  assert.ok(cases.some((c) => c.error) && cases.some((c) => c.result));
  for (const c of cases) {
    const extended = c.control_label === null ? EXTENDED[JSON.stringify(c.labels)] : undefined;
    if (extended !== undefined) {
      assert.ok(c.error !== undefined, "the seed raises on this list");
      assert.equal(resolveControlLabel(c.labels, c.control_label), extended, JSON.stringify(c));
    } else if (c.error !== undefined) {
      assert.throws(() => resolveControlLabel(c.labels, c.control_label), InvalidArgumentError, JSON.stringify(c));
    } else {
      assert.equal(resolveControlLabel(c.labels, c.control_label), c.result, JSON.stringify(c));
    }
  }
});

test("errors say what is wrong and how to fix it", () => {
  assert.throws(() => resolveControlLabel([]), /no perturbation labels were given/);
  assert.throws(
    () => resolveControlLabel(["KD_A", "KD_B"]),
    (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.match(err.message, /none of the labels looks like a control \('KD_A', 'KD_B'\)/);
      assert.match(err.hint ?? "", /control label/);
      return true;
    },
  );
});

test("accepts any iterable, logs the inference only when verbose", () => {
  const logs: string[] = [];
  assert.equal(
    resolveControlLabel(new Set(["A", "Non-Targeting"]), undefined, { verbose: true, log: (m) => logs.push(m) }),
    "Non-Targeting",
  );
  assert.deepEqual(logs, ["Inferred control label 'Non-Targeting' from perturbation labels."]);
  assert.equal(resolveControlLabel(["A", "ctrl"]), "ctrl");
  assert.equal(logs.length, 1);
});
