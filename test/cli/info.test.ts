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
