// The public API spells -ize (as Scanpy: normalize_total); the old -ise names stay as deprecated aliases of the same functions.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as api from "../../src/index.ts";

const DEPRECATED: Record<string, string> = {
  standardiseGeneNames: "standardizeGeneNames",
  normaliseGeneId: "normalizeGeneId",
  normalisePerturbationLabels: "normalizePerturbationLabels",
  normaliseLabels: "normalizeLabels",
  labelNormaliser: "labelNormalizer",
};

test("API: one spelling (-ize); the -ise names are aliases of the same functions", () => {
  const names = Object.keys(api);
  const british = names.filter(
    (n) => /(is(e|ed|er|ing|ation)s?)([A-Z]|$)/.test(n) && !/^(precise|noise|raise|promise|otherwise|wise)/i.test(n),
  );
  assert.deepEqual(british.sort(), Object.keys(DEPRECATED).sort());
  const table = api as unknown as Record<string, unknown>;
  for (const [old, now] of Object.entries(DEPRECATED)) {
    assert.equal(typeof table[now], "function", now);
    assert.equal(table[old], table[now], `${old} is ${now}`);
  }
});
