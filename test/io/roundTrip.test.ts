// Round trip: each golden fixture read and written again by crispyx reads back identically, in crispyx and in anndata.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readH5ad, writeH5ad } from "../../src/io/anndata/anndata.ts";
import { writeSettings } from "../../src/io/anndata/settings.ts";
import { canonicalDump, diffDumps } from "../helpers/canonicalDump.ts";
import { compareH5ad, dumpH5adMany, findPython, SKIP_MESSAGE } from "../helpers/anndataChecker.ts";

const DIR = join(import.meta.dirname, "..", "fixtures", "h5ad");
const UNSUPPORTED = new Set<string>([]);
const NAMES = readdirSync(DIR).filter((f) => f.endsWith(".h5ad")).map((f) => f.slice(0, -5)).filter((n) => !UNSUPPORTED.has(n)).sort();
const OUT = mkdtempSync(join(tmpdir(), "crispyx-roundtrip-"));
const expected = (name: string) => JSON.parse(readFileSync(join(DIR, "expected", `${name}.json`), "utf8"));

test.after(() => rmSync(OUT, { recursive: true, force: true }));

// An exact copy: nullable strings written back as nullable-string-array (the fixtures were written by
// anndata 0.11 with nullable strings allowed); by default they would become categoricals (settings.ts).
writeSettings.writeNullableStrings = true;
test.after(() => void (writeSettings.writeNullableStrings = false));

for (const name of NAMES) {
  test(`round trip (crispyx reads its own copy identically): ${name}`, () => {
    writeH5ad(join(OUT, `${name}.h5ad`), readH5ad(join(DIR, `${name}.h5ad`)));
    const again = JSON.parse(JSON.stringify(canonicalDump(readH5ad(join(OUT, `${name}.h5ad`)))));
    const diffs = diffDumps(again, expected(name));
    assert.deepEqual(diffs, [], diffs.join("\n"));
  });
}

// One Python process for all copies: anndata's reading of each crispyx copy equals anndata's reading of the original
// (the committed expected dump), which is what `check_h5ad.py compare original copy` checks element by element.
test("round trip: anndata reads every crispyx copy with identical contents", { skip: findPython() ? undefined : SKIP_MESSAGE }, () => {
  const results = dumpH5adMany(NAMES.map((n) => join(OUT, `${n}.h5ad`)));
  assert.equal(results.length, NAMES.length);
  results.forEach((r, i) => {
    assert.equal(r.error, undefined, `anndata could not read crispyx's copy of ${NAMES[i]}: ${r.error}`);
    const diffs = diffDumps(r.result, expected(NAMES[i]!));
    assert.deepEqual(diffs, [], `${NAMES[i]}: anndata reads crispyx's copy differently:\n${diffs.join("\n")}`);
  });
});

test("round trip: check_h5ad.py compare says original and crispyx copy are identical (full_csr)", { skip: findPython() ? undefined : SKIP_MESSAGE }, () => {
  const r = compareH5ad(join(DIR, "full_csr.h5ad"), join(OUT, "full_csr.h5ad"));
  assert.deepEqual(r.differences, []);
  assert.equal(r.same, true);
});
