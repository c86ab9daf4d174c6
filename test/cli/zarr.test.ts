/**
 * `crispyx info`, `normalize` and `de` on zarr stores written by anndata (v2 by anndata 0.8, v3 by 0.13.4;
 * test/fixtures/zarr/, scripts/reference/make_zarr_fixtures.py) give what they give on the same data in
 * .h5ad; their .h5ad outputs are equal and open in anndata.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { crispyx, referencePython, tempDir, NO_PYTHON } from "./helpers.ts";
import { readH5ad } from "../../src/io/anndata/anndata.ts";
import { canonicalDump, diffDumps } from "../helpers/canonicalDump.ts";
import { compareH5ad, h5adOpenFailures } from "../helpers/anndataChecker.ts";

const DIR = fileURLToPath(new URL("../fixtures/zarr/", import.meta.url));
const tmp = tempDir("crispyx-zarr-cli-");
after(() => tmp.cleanup());

const COUNTS = ["v2_counts.zarr", "v3_counts.zarr", "v2z3_counts.zarr"];
const LOGNORM = ["v2_lognorm.zarr", "v3_lognorm.zarr"];

function sameFile(ours: string, expected: string): void {
  const diff = diffDumps(canonicalDump(readH5ad(ours)), canonicalDump(readH5ad(expected)));
  assert.deepEqual(diff, [], `${ours} differs from ${expected}`);
}

test("info --json: a zarr store reports what the same data in .h5ad does (file_bytes: the store's files)", async () => {
  const ref = await crispyx(["info", join(DIR, "counts.h5ad"), "--json"]);
  assert.equal(ref.code, 0, ref.stderr);
  const want = JSON.parse(ref.stdout);
  for (const store of [...COUNTS, ...LOGNORM]) {
    const h5ad = store.includes("counts")
      ? want
      : JSON.parse((await crispyx(["info", join(DIR, "lognorm.h5ad"), "--json"])).stdout);
    const r = await crispyx(["info", join(DIR, store), "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout);
    assert.ok(got.file_bytes > 10_000, `${store}: ${got.file_bytes} bytes`);
    for (const s of [got, h5ad]) {
      delete s.path;
      delete s.file_bytes;
    }
    assert.deepEqual(got, h5ad, store);
  }
});

test("normalize: a zarr store in, the same .h5ad out as from the .h5ad; anndata reads it as equal", async (t) => {
  const expected = join(tmp.path, "from_h5ad.h5ad");
  const r0 = await crispyx(["normalize", join(DIR, "counts.h5ad"), "-o", expected]);
  assert.equal(r0.code, 0, r0.stderr);
  const outs: string[] = [];
  for (const store of COUNTS) {
    const out = join(tmp.path, `norm_${store}.h5ad`);
    const r = await crispyx(["normalize", join(DIR, store), "-o", out]);
    assert.equal(r.code, 0, r.stderr);
    sameFile(out, expected);
    outs.push(out);
  }
  if (!referencePython()) return t.skip(NO_PYTHON);
  assert.deepEqual(h5adOpenFailures(outs), []);
  for (const out of outs) assert.deepEqual(compareH5ad(out, expected).differences, [], out);
});

test("de: t-test and Wilcoxon on a zarr store give the .h5ad's results, summary and output file", async (t) => {
  const outs: string[] = [];
  for (const method of ["t-test", "wilcoxon"]) {
    const expected = join(tmp.path, `de_${method}_h5ad.h5ad`);
    const r0 = await crispyx([
      "de",
      join(DIR, "lognorm.h5ad"),
      "--method",
      method,
      "-o",
      expected,
      "--json",
      "--workers",
      "1",
    ]);
    assert.equal(r0.code, 0, r0.stderr);
    const want = JSON.parse(r0.stdout);
    for (const store of LOGNORM) {
      const out = join(tmp.path, `de_${method}_${store}.h5ad`);
      const r = await crispyx(["de", join(DIR, store), "--method", method, "-o", out, "--json", "--workers", "1"]);
      assert.equal(r.code, 0, r.stderr);
      const got = JSON.parse(r.stdout);
      for (const s of [got, want]) {
        delete s.output;
        delete s.csv;
        delete s.seconds;
        delete s.elapsed_seconds;
      }
      assert.deepEqual(got, want, `${method} on ${store}`);
      sameFile(out, expected);
      outs.push(out);
    }
  }
  if (!referencePython()) return t.skip(NO_PYTHON);
  assert.deepEqual(h5adOpenFailures(outs), []);
});

test("a zarr input's default output is <stem>_<suffix>.h5ad beside it; other directories are still an error", async () => {
  const dir = join(tmp.path, "named");
  mkdirSync(dir);
  cpSync(join(DIR, "v3_counts.zarr"), join(dir, "screen.zarr"), { recursive: true });
  const r = await crispyx(["normalize", join(dir, "screen.zarr")]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(join(dir, "screen_normalized.h5ad")), r.stdout);
  const plain = join(tmp.path, "not_a_store");
  mkdirSync(plain);
  const bad = await crispyx(["normalize", plain, "-o", join(tmp.path, "x.h5ad")]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /is a directory, not an \.h5ad file or a zarr store/);
  const out = await crispyx(["normalize", join(DIR, "v3_counts.zarr"), "-o", join(dir, "screen.zarr"), "--force"]);
  assert.notEqual(out.code, 0, "a zarr store is never an output");
  assert.match(out.stderr, /is a directory/);
});
