import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { crispyx, referencePython, smallScreen, tempDir, withAnndata, NO_PYTHON } from "./helpers.ts";

const tmp = tempDir();
let file: string;
before(async () => {
  file = await smallScreen(tmp.path);
});
after(() => tmp.cleanup());

test("info prints the anndata-style summary of a file", async () => {
  const r = await crispyx(["info", file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^AnnData object with n_obs × n_vars = 300 × 200$/m);
  assert.match(r.stdout, /obs: 'perturbation', 'guide_id', 'gem_group'/);
  assert.match(r.stdout, /var: 'gene_symbols', 'feature_types'/);
  assert.match(r.stdout, /X: csr_matrix, float32, \d+ stored elements/);
  assert.match(r.stdout, /perturbation \(5\)/); // 4 targets + non-targeting
  assert.equal(r.stderr, "");
});

test("info --json is machine-readable and agrees with anndata", async (t) => {
  const r = await crispyx(["info", "--json", file]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.n_obs, 300);
  assert.equal(s.n_vars, 200);
  assert.equal(s.X.format, "csr");
  assert.equal(s.X.dtype, "float32");
  assert.ok(s.X.nnz > 0 && s.X.nnz < 300 * 200);
  assert.ok(Math.abs(s.X.density - s.X.nnz / 60000) < 1e-12);
  assert.deepEqual(
    s.obs.map((c: { name: string }) => c.name),
    ["perturbation", "guide_id", "gem_group"],
  );
  assert.equal(s.obs[0].n_categories, 5);
  assert.deepEqual(s.uns, ["demo"]);
  assert.equal(s.raw, null);
  const py = referencePython();
  if (!py) return t.skip(NO_PYTHON);
  const ref = withAnndata(
    py,
    file,
    "out = dict(shape=list(adata.shape), nnz=int(adata.X.nnz), ncat=len(adata.obs.perturbation.cat.categories))",
  ) as { shape: number[]; nnz: number; ncat: number };
  assert.deepEqual(ref, { shape: [300, 200], nnz: s.X.nnz, ncat: 5 });
});

test("info on a missing file: exit 1, one error line naming the file", async () => {
  const r = await crispyx(["info", join(tmp.path, "nope.h5ad")]);
  assert.equal(r.code, 1);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^crispyx: error: .*nope\.h5ad: .*no such file/);
  assert.equal(r.stdout, "");
});

test("info on a file that is not HDF5: exit 1, no stack trace", async () => {
  const bad = join(tmp.path, "notes.h5ad");
  writeFileSync(bad, "this is a text file, not HDF5\n".repeat(10));
  const r = await crispyx(["info", bad]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^crispyx: error: .*notes\.h5ad: /);
  assert.doesNotMatch(r.stderr, /\n\s+at /); // no stack frames
});

test("--debug adds the stack trace to an error", async () => {
  const r = await crispyx(["--debug", "info", join(tmp.path, "nope.h5ad")]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^crispyx: error: /);
  assert.match(r.stderr, /\n\s+at /);
});

/** A copy of the small screen with X/indices (or X/indptr) element `at` set to `value`. */
async function damaged(name: string, dataset: "indices" | "indptr", at: number, value: number): Promise<string> {
  const { copyFileSync } = await import("node:fs");
  const { H5File } = await import("../../src/io/h5/file.ts");
  const p = join(tmp.path, name);
  copyFileSync(file, p);
  using f = H5File.open(p, "r+");
  const old = f.read(`/X/${dataset}`, [at], [1]);
  const v = new (old.constructor as new (n: number) => Int32Array)(1);
  v[0] = value;
  f.write(`/X/${dataset}`, [at], [1], v);
  return p;
}

test("info reports a damaged sparse index of X (negative or out-of-range column, decreasing indptr) and exits 1", async () => {
  for (const [name, dataset, at, value, pattern] of [
    ["neg.h5ad", "indices", 3, -1, /X\/indices holds column -1 in row 0/],
    ["big.h5ad", "indices", 5, 200, /X\/indices holds column 200 in row 0/],
    ["dec.h5ad", "indptr", 2, 0, /X\/indptr\[\d+\] = \d+ is less than indptr\[\d+\]/],
  ] as const) {
    const p = await damaged(name, dataset, at, value);
    const r = await crispyx(["info", p]);
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(r.stdout, pattern, name);
    assert.match(r.stderr, pattern, name);
    assert.match(r.stdout, /^AnnData object with n_obs × n_vars = 300 × 200$/m, "the summary is still printed");
  }
});

test("checkSparseIndex: indptr always, indices only up to the limit", async () => {
  const { openStore } = await import("../../src/io/openStore.ts");
  const { checkSparseIndex } = await import("../../src/io/anndata/validate.ts");
  const neg = await damaged("neg2.h5ad", "indices", 3, -1);
  using f = openStore(neg, "r");
  assert.equal(checkSparseIndex(f, "/X").problems.length, 1);
  const skipped = checkSparseIndex(f, "/X", 10);
  assert.deepEqual([skipped.problems, skipped.indicesChecked], [[], false]);
  const dec = await damaged("dec2.h5ad", "indptr", 2, 0);
  using g = openStore(dec, "r");
  assert.match(checkSparseIndex(g, "/X", 10).problems[0]?.message ?? "", /X\/indptr/);
  using ok = openStore(file, "r");
  assert.deepEqual(checkSparseIndex(ok, "/X"), { problems: [], indicesChecked: true });
});
