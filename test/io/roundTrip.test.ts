// Round trip: each golden fixture read and written again by crispyx reads back identically, in crispyx and in anndata.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readH5ad, writeH5ad } from "../../src/io/anndata/anndata.ts";
import { writeSettings } from "../../src/io/anndata/settings.ts";
import { canonicalDump, diffDumps } from "../helpers/canonicalDump.ts";
import {
  compareH5ad,
  dumpH5adMany,
  readersOf,
  referencePythons,
  skipWithoutAnndata,
} from "../helpers/anndataChecker.ts";

const DIR = join(import.meta.dirname, "..", "fixtures", "h5ad");
const UNSUPPORTED = new Set<string>([]);
const NAMES = readdirSync(DIR)
  .filter((f) => f.endsWith(".h5ad"))
  .map((f) => f.slice(0, -5))
  .filter((n) => !UNSUPPORTED.has(n))
  .sort();
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

// One Python process per reference anndata for all copies it can read: anndata's reading of each crispyx copy
// equals anndata's reading of the original (the committed expected dump, from anndata 0.11.4; check_h5ad.py dumps
// scalars and layers the same way in 0.8 and 0.13). Copies with nullable strings are read from anndata 0.11 on.
test("round trip: anndata reads every crispyx copy with identical contents", skipWithoutAnndata(), (t) => {
  let checked = 0;
  for (const ref of referencePythons()) {
    const names = NAMES.filter((n) => {
      const { readers, skipped } = readersOf(join(OUT, `${n}.h5ad`));
      if (!readers.includes(ref))
        skipped.filter((s) => s.includes(ref.anndataVersion)).forEach((s) => t.diagnostic(`${n}: ${s}`));
      return readers.includes(ref);
    });
    const results = dumpH5adMany(
      names.map((n) => join(OUT, `${n}.h5ad`)),
      ref.python,
    );
    assert.equal(results.length, names.length);
    results.forEach((r, i) => {
      assert.equal(
        r.error,
        undefined,
        `anndata ${ref.anndataVersion} could not read crispyx's copy of ${names[i]}: ${r.error}`,
      );
      const diffs = diffDumps(r.result, expected(names[i]!));
      assert.deepEqual(
        diffs,
        [],
        `${names[i]}: anndata ${ref.anndataVersion} reads crispyx's copy differently:\n${diffs.join("\n")}`,
      );
      checked++;
    });
  }
  assert.ok(
    checked >= NAMES.length,
    `${checked} readings for ${NAMES.length} copies: every copy is read by some anndata`,
  );
});

const FULL = readersOf(join(DIR, "full_csr.h5ad"));
test("round trip: check_h5ad.py compare says original and crispyx copy are identical (full_csr)", {
  skip: FULL.skip,
}, (t) => {
  FULL.skipped.forEach((s) => t.diagnostic(s));
  for (const ref of FULL.readers) {
    const r = compareH5ad(join(DIR, "full_csr.h5ad"), join(OUT, "full_csr.h5ad"), ref.python);
    assert.deepEqual(r.differences, [], `anndata ${ref.anndataVersion}`);
    assert.equal(r.same, true);
  }
});
