import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { crispyx, referencePython, smallScreen, tempDir, withAnndata, NO_PYTHON } from "./helpers.ts";

const tmp = tempDir();
let file: string;
before(async () => {
  file = await smallScreen(tmp.path);
});
after(() => tmp.cleanup());

test("convert --to csc writes <name>_csc.h5ad beside the input; anndata reads the same matrix as CSC", async (t) => {
  const r = await crispyx(["convert", file, "--to", "csc", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = join(tmp.path, "screen_csc.h5ad");
  const s = JSON.parse(r.stdout);
  assert.equal(s.path, out);
  assert.equal(s.converted, true);
  assert.deepEqual([s.from, s.to], ["csr", "csc"]);
  assert.match(r.stderr, /^wrote .*screen_csc\.h5ad: X csr → csc, [\d,]+ non-zeros \([\d.]+ s\)$/m);
  const py = referencePython();
  if (!py) return t.skip(NO_PYTHON);
  const ref = withAnndata(
    py,
    out,
    [
      "import scipy.sparse as sp",
      "orig = ad.read_h5ad(sys.argv[1].replace('_csc.h5ad', '.h5ad'))",
      "out = dict(fmt=adata.X.format, same=bool((adata.X != orig.X).nnz == 0), obs=bool(adata.obs.equals(orig.obs)), var=bool(adata.var.equals(orig.var)), uns=list(adata.uns.keys()))",
    ].join("\n"),
  ) as Record<string, unknown>;
  assert.deepEqual(ref, { fmt: "csc", same: true, obs: true, var: true, uns: ["demo"] });
});

test("convert: existing output needs --force; -o on an already-CSR file copies it", async () => {
  const out = join(tmp.path, "again.h5ad");
  const first = await crispyx(["convert", file, "--to", "csc", "-o", out]);
  assert.equal(first.code, 0, first.stderr);
  const second = await crispyx(["convert", file, "--to", "csc", "-o", out]);
  assert.equal(second.code, 1);
  assert.match(second.stderr, /^crispyx: error: .*again\.h5ad: already exists\nhint: pass --force to overwrite it/);
  const forced = await crispyx(["convert", file, "--to", "csc", "-o", out, "--force"]);
  assert.equal(forced.code, 0, forced.stderr);
  const copy = join(tmp.path, "copy.h5ad");
  const same = await crispyx(["convert", file, "--to", "csr", "-o", copy]);
  assert.equal(same.code, 0, same.stderr);
  assert.match(same.stderr, /X is already CSR; copied to/);
  assert.ok(existsSync(copy));
});

test("convert: bad input is one error line (missing file exit 1; missing or wrong --to exit 2)", async () => {
  const [missing, noTo, badTo] = await Promise.all([
    crispyx(["convert", join(tmp.path, "nope.h5ad"), "--to", "csc"]),
    crispyx(["convert", file]),
    crispyx(["convert", file, "--to", "coo"]),
  ]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^crispyx: error: .*nope\.h5ad: no such file\n$/);
  assert.equal(noTo.code, 2);
  assert.match(noTo.stderr, /^crispyx: error: required option '--to <format>' not specified/);
  assert.equal(badTo.code, 2);
  assert.match(badTo.stderr, /argument 'coo' is invalid\. Allowed choices are csr, csc/);
});
