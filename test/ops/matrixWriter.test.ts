// Streaming writers + carry-over: a file rebuilt block by block equals the original in anndata's eyes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { H5File } from "../../src/io/h5/file.ts";
import { MatrixReader } from "../../src/io/anndata/matrixReader.ts";
import { readH5ad } from "../../src/io/anndata/anndata.ts";
import { SparseMatrixWriter, DenseMatrixWriter, startAnnData, carryOver } from "../../src/io/anndata/matrixWriter.ts";
import { copyMatrix } from "../../src/io/anndata/carryOver.ts";
import type { NdArray, SparseMatrix } from "../../src/io/anndata/model.ts";
import { dataframe, ndarray } from "../../src/io/anndata/model.ts";
import { writeElem } from "../../src/io/anndata/registry.ts";
import { writeSettings } from "../../src/io/anndata/settings.ts";
import { compareH5ad, readersOf } from "../helpers/anndataChecker.ts";

const FIX = "test/fixtures/h5ad";
const dir = mkdtempSync(join(tmpdir(), "crispyx-writer-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

// Rebuilds are exact copies: nullable strings written back as nullable-string-array (by default they would
// become categoricals so that anndata 0.8 can read them, src/io/anndata/settings.ts).
writeSettings.writeNullableStrings = true;
process.on("exit", () => void (writeSettings.writeNullableStrings = false));

/** Rebuild `name` with X streamed in blocks of `rows` and everything else carried over. */
function rebuild(name: string, rows: number): string {
  const src = H5File.open(join(FIX, `${name}.h5ad`));
  const out = join(dir, `${name}-${rows}.h5ad`);
  const dst = H5File.open(out, "w");
  try {
    startAnnData(dst);
    carryOver(src, dst, {
      include: ["obs", "var", "uns", "obsm", "varm", "obsp", "varp", "layers", "raw"],
      memoryBudget: 1024,
    });
    const x = new MatrixReader(src, "/X");
    const [nr, nc] = x.shape;
    if (x.format === "dense") {
      const w = DenseMatrixWriter.create(dst, "/X", { shape: x.shape, dtype: x.info.dtype as never });
      for (let r = 0; r < nr; r += rows) w.append((x.rows(r, Math.min(nr, r + rows)) as NdArray).data as never);
      w.finish();
    } else {
      const csr = x.format === "csr";
      const major = csr ? nr : nc;
      const w = SparseMatrixWriter.create(dst, "/X", {
        format: x.format,
        shape: x.shape,
        dtype: x.info.dtype as never,
        nnz: x.info.nnz,
      });
      for (let r = 0; r < major; r += rows) {
        const e = Math.min(major, r + rows);
        w.append((csr ? x.rows(r, e) : x.cols(r, e)) as SparseMatrix);
      }
      assert.equal(w.finish().nnz, x.info.nnz);
    }
  } finally {
    dst.close();
    src.close();
  }
  return out;
}

for (const name of ["full_csr", "x_csc", "x_dense_f32", "x_csr_int32", "zero_cells"]) {
  test(`${name}: rebuilt with streamed X (blocks of 3) + carry-over reads identically in crispyx`, () => {
    const out = rebuild(name, 3);
    assert.deepEqual(readH5ad(out), readH5ad(join(FIX, `${name}.h5ad`)));
  });
  // in each reference anndata able to read the original (full_csr and x_csc hold nullable strings: >= 0.11)
  const original = readersOf(join(FIX, `${name}.h5ad`));
  test(`${name}: rebuilt file equals the original in anndata`, { skip: original.skip }, (t) => {
    original.skipped.forEach((s) => t.diagnostic(s));
    const out = rebuild(name, 2);
    for (const ref of original.readers) {
      const r = compareH5ad(join(FIX, `${name}.h5ad`), out, ref.python);
      assert.deepEqual(r.differences, [], `anndata ${ref.anndataVersion}`);
      assert.equal(r.same, true);
    }
  });
}

test("appending past the shape or finishing early is an error", () => {
  const f = H5File.open(join(dir, "bad.h5ad"), "w");
  try {
    const w = SparseMatrixWriter.create(f, "/X", { shape: [2, 3] });
    w.appendParts(Int32Array.of(0, 1), Int32Array.of(2), Float32Array.of(1));
    assert.throws(() => w.finish(), /only 1 of 2 rows/);
    w.appendParts(Int32Array.of(5, 5), new Int32Array(0), new Float32Array(0));
    assert.throws(() => w.appendParts(Int32Array.of(0, 1), Int32Array.of(2), Float32Array.of(1)), /more than 2 rows/);
    assert.equal(w.finish().nnz, 1);
    const m = new MatrixReader(f, "/X").readAll() as SparseMatrix;
    assert.deepEqual(Array.from(m.indptr as Int32Array), [0, 1, 1]);
    assert.ok(m.indptr instanceof Int32Array);
  } finally {
    f.close();
  }
});

test("int64 index arrays when the matrix may hold more than 2^31-1 elements", () => {
  const f = H5File.open(join(dir, "wide.h5ad"), "w");
  try {
    const w = SparseMatrixWriter.create(f, "/X", { shape: [2, 3], maxNnz: 2 ** 31 });
    w.appendParts(Int32Array.of(0, 1, 3), Int32Array.of(2, 0, 1), Float32Array.of(1, 2, 3));
    w.finish();
    assert.equal(f.info("/X/indptr").dtype, "int64");
    assert.equal(f.info("/X/indices").dtype, "int64");
    const m = new MatrixReader(f, "/X").readAll("dense") as NdArray;
    assert.deepEqual(Array.from(m.data as Float32Array), [0, 0, 1, 2, 3, 0]);
  } finally {
    f.close();
  }
});

test("copyMatrix restricts rows and columns of dense, CSR and CSC matrices", () => {
  const src = H5File.open(join(FIX, "full_csr.h5ad"));
  const dst = H5File.open(join(dir, "sub.h5ad"), "w");
  try {
    const rows = Int32Array.of(0, 2, 3, 7);
    const cols = Int32Array.of(1, 4);
    for (const p of ["/X", "/layers/sparse_csc", "/layers/dense"]) {
      if (!src.exists(p)) continue;
      copyMatrix(src, p, dst, p.replace(/\//g, "_"), rows, cols, 64);
      const full = new MatrixReader(src, p).readAll("dense") as NdArray;
      const got = new MatrixReader(dst, p.replace(/\//g, "_")).readAll("dense") as NdArray;
      const nc = full.shape[1]!;
      const want = Array.from(rows).flatMap((r) =>
        Array.from(cols, (c) => Number((full.data as Float64Array)[r * nc + c])),
      );
      assert.deepEqual(Array.from(got.data as Float64Array, Number), want, p);
    }
  } finally {
    dst.close();
    src.close();
  }
});

test("a long obs index (more than one slice) is copied in slices, with and without a selection", () => {
  const n = 150_001;
  const srcPath = join(dir, "longindex.h5ad");
  const f = H5File.open(srcPath, "w");
  startAnnData(f);
  writeElem(
    f,
    "/obs",
    dataframe(
      Array.from({ length: n }, (_, i) => `cell_é${i}`),
      { k: ndarray(Int32Array.from({ length: n }, (_, i) => i)) },
    ),
  );
  writeElem(f, "/var", dataframe(["g0", "g1"]));
  f.close();
  const src = H5File.open(srcPath);
  const sel = Int32Array.from({ length: n }, (_, i) => i).filter(
    (i) => i % 7 === 3 || (i > 70000 && i < 140000 && i % 2 === 0),
  );
  for (const cells of [undefined, sel]) {
    const outPath = join(dir, `longindex-out-${cells ? "sel" : "all"}.h5ad`);
    const dst = H5File.open(outPath, "w");
    startAnnData(dst);
    carryOver(src, dst, { cells, include: ["obs", "var"] });
    dst.close();
    const obs = readH5ad(outPath).obs;
    const want = cells ? Array.from(cells) : Array.from({ length: n }, (_, i) => i);
    assert.equal(obs.index.length, want.length);
    assert.ok(
      obs.index.every((name, t) => name === `cell_é${want[t]}`),
      "index names in order",
    );
    assert.deepEqual(Array.from(obs.columns.k!.type === "array" ? (obs.columns.k!.data as Int32Array) : []), want);
  }
  src.close();
});
