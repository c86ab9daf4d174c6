import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { crispyx, referencePython, smallScreen, tempDir, withAnndata, NO_PYTHON } from "./helpers.ts";

const tmp = tempDir();
let file: string;
before(async () => {
  file = await smallScreen(tmp.path);
});
after(() => tmp.cleanup());

test("normalize: X is log1p(counts / total × 1e4) as scanpy computes it (checked in anndata/numpy)", async (t) => {
  const r = await crispyx(["normalize", file, "--chunk-size", "64", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  const out = join(tmp.path, "screen_normalized.h5ad");
  assert.equal(s.output, out);
  assert.deepEqual([s.nObs, s.nVars], [300, 200]);
  assert.match(
    r.stderr,
    /^wrote .*screen_normalized\.h5ad: 300 cells × 200 genes scaled to 10000 counts per cell, then log1p \([\d.]+ s\)$/m,
  );
  const py = referencePython();
  if (!py) return t.skip(NO_PYTHON);
  const ref = withAnndata(
    py,
    out,
    [
      "orig = ad.read_h5ad(sys.argv[1].replace('_normalized.h5ad', '.h5ad'))",
      "C = orig.X.toarray().astype(np.float64)",
      "expected = np.log1p(C / C.sum(1, keepdims=True) * 1e4)",
      "got = adata.X.toarray()",
      "out = dict(fmt=adata.X.format, dtype=str(adata.X.dtype), err=float(np.abs(got - expected).max()), obs=bool(adata.obs.equals(orig.obs)))",
    ].join("\n"),
  ) as { fmt: string; dtype: string; err: number; obs: boolean };
  assert.equal(ref.fmt, "csr");
  assert.equal(ref.dtype, "float32");
  assert.ok(ref.err < 1e-5, `max error ${ref.err}`);
  assert.equal(ref.obs, true);
});

test("normalize --no-log1p --target-sum 100: totals are 100 per cell", async (t) => {
  const out = join(tmp.path, "scaled.h5ad");
  const r = await crispyx(["--quiet", "normalize", file, "--no-log1p", "--target-sum", "100", "-o", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  const py = referencePython();
  if (!py) return t.skip(NO_PYTHON);
  const ref = withAnndata(
    py,
    out,
    "s = np.asarray(adata.X.sum(1)).ravel(); out = float(np.abs(s[s > 0] - 100).max())",
  ) as number;
  assert.ok(ref < 1e-3, String(ref));
});

test("normalize: bad values are usage errors, nothing written", async () => {
  const [neg, none] = await Promise.all([
    crispyx(["normalize", file, "--target-sum", "-5", "-o", join(tmp.path, "x.h5ad")]),
    crispyx(["normalize", file, "--no-log1p", "--no-normalize", "-o", join(tmp.path, "y.h5ad")]),
  ]);
  assert.equal(neg.code, 2);
  assert.match(
    neg.stderr,
    /^crispyx: error: option '--target-sum <x>' argument '-5' is invalid\. '-5' is not a positive number/,
  );
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^crispyx: error: --no-normalize and --no-log1p together leave nothing to do/);
});

test("large outputs (written on a worker thread) work when the TypeScript loader was registered in code, as bin/crispyx.js does", async () => {
  const { spawnSync } = await import("node:child_process");
  const { writeFileSync, existsSync } = await import("node:fs");
  const { REPO } = await import("./helpers.ts");
  const out = join(tmp.path, "background.h5ad");
  const script = join(tmp.path, "background.mjs");
  writeFileSync(
    script,
    [
      `await import(${JSON.stringify(join(REPO, "bin", "register.mjs"))});`,
      `const { normalizeTotalLog1p } = await import(${JSON.stringify(join(REPO, "src", "ops", "normalize.ts"))});`,
      `await normalizeTotalLog1p(${JSON.stringify(file)}, { output: ${JSON.stringify(out)}, background: true });`,
    ].join("\n"),
  );
  const r = spawnSync(process.execPath, [script], { encoding: "utf8" }); // no --import: like the CLI
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(out));
});
