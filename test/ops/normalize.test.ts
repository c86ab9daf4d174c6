// normalizeTotalLog1p: same numbers as the seed's normalize_total_log1p on every fixture; outputs open in
// anndata; failures (abort, throwing callback, SIGKILL) leave no output and the input untouched.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { normalizeLog1pBlock, normalizeTotalLog1p } from "../../src/ops/normalize.ts";
import { openH5ad } from "../../src/io/anndata/handle.ts";
import { CrispyxError, InvalidArgumentError, FileFormatError } from "../../src/errors.ts";
import { h5adOpenFailures, skipWithoutAnndata } from "../helpers/anndataChecker.ts";
import {
  CASES,
  ROOT,
  assertSameTables,
  assertSameX,
  checkFailuresLeaveNothing,
  checkKillLeavesNothing,
  filesNamed,
  scratchDir,
  sha256,
} from "./opsTestHelpers.ts";

const dir = scratchDir("crispyx-normalize-");
const outputs: string[] = [];

/**
 * Inputs that are not counts: the seed scales them and writes NaN (its golden output is kept as the record of
 * that), crispyx refuses them naming the first bad cell and gene (issue 20 item 2).
 */
const NOT_COUNTS: Record<string, RegExp> = {
  "test/fixtures/h5ad/x_dense_f64.h5ad": /X holds a negative value \(-0\.327\d*\) at cell 0, gene 2$/,
};

for (const [i, c] of (CASES.normalize as any[]).entries()) {
  for (const chunkSize of [1, 64, undefined]) {
    const refused = NOT_COUNTS[c.input];
    test(`${c.expected.split("/").pop()} (chunk ${chunkSize ?? "auto"}${chunkSize === 64 ? ", worker-thread writer" : ""}): ${refused ? "refused: X is not counts" : "same X, obs, var as the seed"}`, async () => {
      const input = join(ROOT, c.input);
      const before = sha256(input);
      const output = join(dir, `n${i}_${chunkSize}.h5ad`);
      if (refused) {
        await assert.rejects(normalizeTotalLog1p(input, { output, ...c.options, chunkSize }), (err: unknown) => {
          assert.ok(err instanceof FileFormatError);
          assert.match(err.message, refused);
          return true;
        });
        assert.equal(existsSync(output), false);
        assert.equal(sha256(input), before, "input unchanged");
        return;
      }
      const r = await normalizeTotalLog1p(input, {
        output,
        ...c.options,
        chunkSize,
        memoryBudget: chunkSize === 1 ? 4096 : undefined,
        background: chunkSize === 64,
      });
      assertSameX(output, join(ROOT, c.expected));
      assertSameTables(output, join(ROOT, c.expected));
      assert.equal(sha256(input), before, "input unchanged");
      using h = openH5ad(output);
      assert.equal(h.X.format, "csr");
      assert.equal(h.X.info.dtype, "float32");
      assert.equal(r.nnz, h.X.info.nnz);
      outputs.push(output);
    });
  }
}

test("uns, obsm, varm, obsp, varp, layers and raw are carried over (as Scanpy's normalize_total leaves them); progress reaches every cell", async () => {
  const input = join(ROOT, "test/fixtures/h5ad/full_csr.h5ad");
  const output = join(dir, "carry.h5ad");
  const seen: number[] = [];
  await normalizeTotalLog1p(input, { output, chunkSize: 3, onProgress: (p) => seen.push(p.done) });
  assert.equal(seen.at(-1), 20);
  assert.deepEqual(
    seen,
    [...seen].sort((a, b) => a - b),
  );
  using a = openH5ad(input);
  using b = openH5ad(output);
  assert.deepEqual(b.uns.keys(), a.uns.keys());
  for (const k of ["obsm", "varm", "obsp", "varp", "layers"] as const) {
    assert.deepEqual(b.mapping(k).keys(), a.mapping(k).keys(), k);
    for (const key of a.mapping(k).keys())
      assert.deepEqual(b.mapping(k).get(key), a.mapping(k).get(key), `${k}/${key}`);
  }
  assert.ok(a.layers.keys().length > 0, "the fixture has layers (the test is real)");
  assert.equal(b.file.exists("/raw/X"), a.file.exists("/raw/X"), "raw");
});

test("every output opens in Python anndata", skipWithoutAnndata(), () => {
  assert.ok(outputs.length > 0);
  assert.deepEqual(h5adOpenFailures(outputs), []); // in anndata 0.8 and the newest
});

test("bad input is refused before any work: same path, missing file, not AnnData, bad options", async () => {
  const input = join(dir, "in.h5ad");
  copyFileSync(join(ROOT, "test/fixtures/ops/screen.h5ad"), input);
  const out = join(dir, "never.h5ad");
  await assert.rejects(
    normalizeTotalLog1p(input, { output: input }),
    (e: Error) => e instanceof InvalidArgumentError && /is the input file/.test(e.message),
  );
  await assert.rejects(
    normalizeTotalLog1p(join(dir, "missing.h5ad"), { output: out }),
    (e: Error) => e instanceof FileFormatError && /missing\.h5ad: data file not found/.test(e.message),
  );
  writeFileSync(join(dir, "text.h5ad"), "not hdf5");
  await assert.rejects(
    normalizeTotalLog1p(join(dir, "text.h5ad"), { output: out }),
    (e: Error) => e instanceof CrispyxError && /text\.h5ad/.test(e.message),
  );
  await assert.rejects(
    normalizeTotalLog1p(input, { output: out, normalize: false, log1p: false }),
    /at least one of normalize or log1p/,
  );
  await assert.rejects(
    normalizeTotalLog1p(input, { output: out, targetSum: 0 }),
    /target sum must be a positive number/,
  );
  await assert.rejects(
    normalizeTotalLog1p(join(ROOT, "test/fixtures/h5ad/no_x.h5ad"), { output: out }),
    /has no X matrix/,
  );
  assert.equal(existsSync(out), false);
  assert.deepEqual(filesNamed(dir, "never.h5ad"), []);
});

test("abort and a throwing progress callback leave no output and the input byte-identical", async () => {
  const { input, out } = await checkFailuresLeaveNothing(dir, (i, o) => normalizeTotalLog1p(i, o));
  const before = sha256(input);
  // A timer-driven abort is seen between blocks too.
  const ac2 = new AbortController();
  setTimeout(() => ac2.abort(), 5);
  await assert.rejects(normalizeTotalLog1p(input, { output: out, chunkSize: 1, signal: ac2.signal }));
  assert.deepEqual(filesNamed(dir, "aborted.h5ad"), []);
  assert.equal(sha256(input), before);
});

test("SIGKILL in the middle leaves no file under the output name and the input byte-identical", () =>
  checkKillLeavesNothing(dir, "normalize"));

test("float32 kernel: the integer-row table path gives bit-identical values to the element-by-element path", () => {
  // Rows: small counts, a count ≥ 256, a fractional value, an empty row, all zeros, a total above 2^24,
  // a negative value.
  const rows = [[1, 2, 2, 7, 1], [3, 300, 1], [0.5, 2, 4], [], [0, 0], [2 ** 24, 5, 1], [-1, 3, 2]];
  const indptr = Int32Array.from([0, ...rows.map((_, i) => rows.slice(0, i + 1).flat().length)]);
  const values = Float32Array.from(rows.flat());
  const block = (ptr: Int32Array | Float64Array) => ({
    type: "csr" as const,
    shape: [rows.length, 400] as [number, number],
    indptr: ptr,
    indices: new Int32Array(values.length),
    data: values.slice(),
  });
  for (const [normalize, log1p, target] of [
    [true, true, 1e4],
    [true, false, 1e4],
    [false, true, 1e4],
    [true, true, 1e6],
  ] as const) {
    // A Float64Array indptr takes the general path: the reference.
    const expected = normalizeLog1pBlock(block(Float64Array.from(indptr)) as never, normalize, log1p, target);
    const actual = normalizeLog1pBlock(block(indptr) as never, normalize, log1p, target, true);
    assert.deepEqual(
      Array.from(actual),
      Array.from(expected),
      `normalize=${normalize} log1p=${log1p} target=${target}`,
    );
  }
});

test("non-integer float32 counts: library sizes summed in float64, within 2e-7 of the float64 formula (Scanpy)", () => {
  // One long row of small non-integer values after a large one: each float32 addition then rounds the
  // same way and a float32 running sum drifts far beyond 1e-7 relative.
  const n = 50000;
  let seed = 12345;
  const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  const data = Float32Array.from({ length: n }, (_, k) => Math.fround(k === 0 ? 1e4 : 0.01 + rand() * 0.04));
  const block = {
    type: "csr" as const,
    shape: [1, n] as [number, number],
    data,
    indices: Int32Array.from({ length: n }, (_, j) => j),
    indptr: Int32Array.of(0, n),
  };
  let lib = 0;
  for (const v of data) lib += v;
  const out = normalizeLog1pBlock(block, true, true, 1e4);
  let worst = 0;
  for (let k = 0; k < n; k++) {
    const ref = Math.log1p((data[k]! * 1e4) / lib);
    worst = Math.max(worst, Math.abs(out[k]! - ref) / ref);
  }
  assert.ok(worst < 2e-7, `largest relative difference ${worst}`);
  let f32 = 0;
  for (const v of data) f32 = Math.fround(f32 + v);
  assert.ok(
    Math.abs(f32 - lib) / lib > 1e-6,
    `the float32 running sum would have drifted (${Math.abs(f32 - lib) / lib}): the case is a real test`,
  );
});
