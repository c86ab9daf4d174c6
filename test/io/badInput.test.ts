// Bad input gets one clear error naming the file and the problem — never an HDF5 stack or a wasm trap.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { H5File } from "../../src/io/h5/file.ts";
import { openH5ad } from "../../src/io/anndata/handle.ts";
import { writeH5ad } from "../../src/io/anndata/anndata.ts";
import { emptyAnnData, ndarray } from "../../src/io/anndata/model.ts";
import { FileFormatError } from "../../src/errors.ts";

const dir = mkdtempSync(join(tmpdir(), "crispyx-bad-"));

function expectError(fn: () => unknown, file: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FileFormatError, `expected FileFormatError, got ${String(err)}`);
    assert.match(err.message, pattern);
    assert.ok(err.message.includes(file), `message should name the file: ${err.message}`);
    assert.ok(!err.message.includes("HDF5-DIAG"), "no HDF5 error stack in the message");
    assert.ok(!err.message.includes("\n"), "one line");
    return true;
  });
}

function goodFile(name: string): string {
  const p = join(dir, name);
  const ad = emptyAnnData(3, 2);
  ad.X = ndarray(Float32Array.of(1, 2, 3, 4, 5, 6), [3, 2]);
  writeH5ad(p, ad);
  return p;
}

test("missing file", () => {
  const p = join(dir, "nope.h5ad");
  expectError(() => openH5ad(p), p, /no such file/);
});

test("directory", () => {
  const p = join(dir, "adir.h5ad");
  mkdirSync(p);
  expectError(() => openH5ad(p), p, /is a directory/);
});

test("non-HDF5 file", () => {
  const p = join(dir, "text.h5ad");
  writeFileSync(p, "cell,gene\n1,2\n");
  expectError(() => openH5ad(p), p, /not an HDF5 file/);
});

test("empty file", () => {
  const p = join(dir, "empty.h5ad");
  writeFileSync(p, "");
  expectError(() => openH5ad(p), p, /empty/);
});

test("truncated file", () => {
  const src = goodFile("whole.h5ad");
  const p = join(dir, "truncated.h5ad");
  const bytes = readFileSync(src);
  writeFileSync(p, bytes.subarray(0, Math.floor(bytes.length / 2)));
  expectError(() => openH5ad(p), p, /truncated/);
});

test("HDF5 file that is not AnnData", () => {
  const p = join(dir, "plain.h5");
  const f = H5File.open(p, "w");
  f.createDataset("/numbers", { dtype: "float64", shape: [3], data: Float64Array.of(1, 2, 3) });
  f.close();
  expectError(() => openH5ad(p), p, /not an AnnData file/);
});

test("missing obs / var", () => {
  for (const missing of ["obs", "var"]) {
    const p = join(dir, `no-${missing}.h5ad`);
    const f = H5File.open(p, "w");
    f.setAttr("/", "encoding-type", "anndata");
    f.setAttr("/", "encoding-version", "0.1.0");
    f.createGroup(missing === "obs" ? "/var" : "/obs");
    f.close();
    expectError(() => openH5ad(p), p, new RegExp(`no /${missing}`));
  }
});

test("missing X is an error only when X is needed", () => {
  const p = join(dir, "nox.h5ad");
  writeH5ad(p, emptyAnnData(4, 3));
  using h = openH5ad(p);
  assert.equal(h.nObs, 4);
  expectError(() => h.X, p, /has no X matrix/);
});

test("unknown encoding names the element", () => {
  const p = goodFile("weird.h5ad");
  const f = H5File.open(p, "r+");
  f.setAttr("/X", "encoding-type", "weird_matrix");
  f.close();
  using h = openH5ad(p);
  expectError(() => h.X, p, /\/X.*weird_matrix/);
  expectError(() => h.toMemory(), p, /\/X.*weird_matrix/);
});

test("reads outside a dataset are refused, not clamped", () => {
  const p = goodFile("range.h5ad");
  using h = openH5ad(p);
  assert.throws(() => h.X.rows(2, 5), /outside/);
  assert.throws(() => h.X.takeRows([0, 3]), /outside/);
});

test("a group whose link index is damaged: one line naming the element, never HDF5's error stack", async () => {
  const { headerAddress } = await import("../../src/io/h5/attributes.ts");
  const { validate } = await import("../../src/io/anndata/validate.ts");
  const p = goodFile("damaged-group.h5ad");
  let at: number;
  {
    using f = H5File.open(p, "r");
    at = headerAddress(f, "/obs");
  }
  // Byte 42 of obs's object header lies in its symbol-table message (the B-tree address): the fuzz corpus's header_4.
  const bytes = readFileSync(p);
  bytes[at + 42]! ^= 1;
  writeFileSync(p, bytes);
  const report = validate(p);
  assert.equal(report.valid, false);
  const text = report.problems.map((q) => q.message).join("\n");
  assert.doesNotMatch(text, /HDF5-DIAG|__w\/|#\d{3}:/);
  assert.match(text, /obs/);
  expectError(() => openH5ad(p).describe(), p, /obs/);
});

test("an element with encoding-type but no encoding-version (anndata cannot read it) is a problem, and operators refuse it", async () => {
  const { validate } = await import("../../src/io/anndata/validate.ts");
  const p = join(dir, "no-version.h5ad");
  const ad = emptyAnnData(3, 2);
  ad.X = ndarray(Float32Array.of(1, 2, 3, 4, 5, 6), [3, 2]);
  ad.uns = { arr: ndarray(Float64Array.of(1, 2), [2]) };
  writeH5ad(p, ad);
  assert.equal(validate(p).valid, true);
  {
    using f = H5File.open(p, "r+");
    f.deleteAttr("/uns/arr", "encoding-version");
  }
  const report = validate(p);
  assert.equal(report.valid, false);
  assert.match(
    report.problems.map((q) => q.message).join("\n"),
    /uns\/arr has encoding-type 'array' but no encoding-version/,
  );
  const { normalizeTotalLog1p } = await import("../../src/ops/normalize.ts");
  await assert.rejects(normalizeTotalLog1p(p, { output: join(dir, "no-version-out.h5ad") }), (err: unknown) => {
    assert.ok(err instanceof FileFormatError);
    assert.match(err.message, /uns\/arr has encoding-type 'array' but no encoding-version/);
    return true;
  });
  // A version outside the registry's table: the same rule the readers apply (isReadable), before any copy.
  {
    using f = H5File.open(p, "r+");
    f.setAttr("/uns/arr", "encoding-version", "9.9.9");
  }
  const v9 = validate(p);
  assert.equal(v9.valid, false);
  assert.match(
    v9.problems.map((q) => q.message).join("\n"),
    /uns\/arr has encoding-type 'array' with encoding-version '9\.9\.9', which crispyx cannot read \(crispyx reads array version 0\.2\.0/,
  );
  await assert.rejects(normalizeTotalLog1p(p, { output: join(dir, "v9-out.h5ad") }), /encoding-version '9\.9\.9'/);
});
