// Direct reads of uncompressed datasets (src/io/h5/rawStorage.ts) return exactly what HDF5 returns,
// for anndata's contiguous datasets and crispyx's own chunked ones; anything else goes through HDF5.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import h5wasm from "h5wasm/node";
await h5wasm.ready;
import { H5File } from "../../src/io/h5/file.ts";
import { isNumericDtype } from "../../src/io/h5/types.ts";
import { execFileSync } from "node:child_process";
import { findPython, skipWithoutAnndata } from "../helpers/anndataChecker.ts";
import { DIRECT_IO, skipWithoutDirectIO } from "../helpers/directIO.ts";

const dir = mkdtempSync(join(tmpdir(), "crispyx-raw-"));
/** These tests compare the direct reads themselves with HDF5's; with the switch off every read is HDF5's. */
const DIRECT_READS = skipWithoutDirectIO("the direct reads are what these tests compare with HDF5's");

function numericDatasets(h: H5File, g = "/"): string[] {
  const out: string[] = [];
  for (const name of h.keys(g)) {
    const p = (g === "/" ? "" : g) + "/" + name;
    const k = h.kind(p);
    if (k === "group") out.push(...numericDatasets(h, p));
    else if (k === "dataset") {
      const info = h.info(p);
      if (isNumericDtype(info.dtype) && info.shape.length > 0 && info.size > 0) out.push(p);
    }
  }
  return out;
}

/** Every numeric dataset of `file`, whole and without its first and last rows, against h5wasm's own read. */
function compareWithHdf5(file: string): { direct: number; viaHdf5: number } {
  const h = H5File.open(file, "r");
  const ref = new h5wasm.File(file, "r");
  let direct = 0;
  let viaHdf5 = 0;
  try {
    for (const p of numericDatasets(h)) {
      if (h.readsDirectly(p)) direct++;
      else viaHdf5++;
      const info = h.info(p);
      const expected = (ref.get(p) as { value: unknown }).value as ArrayLike<number | bigint>;
      assert.deepEqual(Array.from(h.read(p) as ArrayLike<number | bigint>), Array.from(expected), `${file} ${p}`);
      if (info.shape[0]! > 2) {
        const rowElems = info.shape.slice(1).reduce((a, b) => a * b, 1);
        const part = h.read(p, [1, ...info.shape.slice(1).map(() => 0)], [info.shape[0]! - 2, ...info.shape.slice(1)]);
        assert.deepEqual(
          Array.from(part as ArrayLike<number | bigint>),
          Array.from(expected).slice(rowElems, rowElems * (info.shape[0]! - 1)),
          `${file} ${p} rows 1..-1`,
        );
      }
    }
  } finally {
    h.close();
    ref.close();
  }
  return { direct, viaHdf5 };
}

test("anndata-written golden files: contiguous datasets are read directly, identically to HDF5", DIRECT_READS, () => {
  const folder = join(import.meta.dirname, "..", "fixtures", "h5ad");
  let direct = 0;
  for (const f of readdirSync(folder).filter((f) => f.endsWith(".h5ad"))) {
    if (!statSync(join(folder, f)).isFile()) continue;
    direct += compareWithHdf5(join(folder, f)).direct;
  }
  assert.ok(direct > 50, `expected most golden datasets to be read directly, got ${direct}`);
});

test("crispyx-written chunked datasets (several chunks, several B-tree nodes) are read directly", DIRECT_READS, () => {
  const p = join(dir, "chunked.h5");
  const n = 100_003; // not a multiple of the chunk size: the last chunk is partial
  const f = H5File.open(p, "w");
  const values = Float32Array.from({ length: n }, (_, i) => i * 0.5 - 7);
  const ints = BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 3_000_000_000n);
  const rows = Float64Array.from({ length: 5000 * 7 }, (_, i) => Math.sin(i));
  f.createDataset("/a", { dtype: "float32", shape: [n], chunks: [97], maxshape: [null], data: values });
  f.createDataset("/b", { dtype: "int64", shape: [n], chunks: [4096], data: ints });
  f.createDataset("/m", { dtype: "float64", shape: [5000, 7], chunks: [64, 7], data: rows });
  f.createDataset("/narrow", { dtype: "float64", shape: [5000, 7], chunks: [64, 3], data: rows });
  f.createDataset("/z", { dtype: "float32", shape: [n], chunks: [1000], gzip: 4, data: values });
  f.close();
  const h = H5File.open(p, "r");
  try {
    assert.equal(h.readsDirectly("/a"), true);
    assert.equal(h.readsDirectly("/b"), true);
    assert.equal(h.readsDirectly("/m"), true);
    assert.equal(h.readsDirectly("/narrow"), false, "chunks narrower than a row go through HDF5");
    assert.equal(h.readsDirectly("/z"), false, "compressed data goes through HDF5");
    assert.deepEqual(h.read("/a", [96], [99]), values.subarray(96, 195));
    assert.deepEqual(h.read("/b", [n - 10], [10]), ints.subarray(n - 10));
    assert.deepEqual(h.read("/m", [63, 0], [3, 7]), rows.subarray(63 * 7, 66 * 7));
    assert.deepEqual(
      h.read("/m", [10, 2], [5, 3]),
      Float64Array.from({ length: 15 }, (_, i) => rows[(10 + Math.floor(i / 3)) * 7 + 2 + (i % 3)]!),
    );
  } finally {
    h.close();
  }
  assert.deepEqual(compareWithHdf5(p), { direct: 3, viaHdf5: 2 });
});

test("files opened for writing read through HDF5 (its caches may hold unwritten data)", () => {
  const p = join(dir, "rw.h5");
  const f = H5File.open(p, "w");
  f.createDataset("/a", { dtype: "int32", shape: [10], data: Int32Array.from({ length: 10 }, (_, i) => i) });
  assert.equal(f.readsDirectly("/a"), false);
  assert.deepEqual(f.read("/a", [2], [3]), Int32Array.of(2, 3, 4));
  f.close();
});

test("a read-only handle reads through HDF5 while the same file is open for writing in this process", () => {
  const p = join(dir, "both.h5");
  const w = H5File.open(p, "w");
  w.createDataset("/a", { dtype: "int32", shape: [4], data: Int32Array.of(1, 2, 3, 4) });
  w.close();
  const writer = H5File.open(p, "r+");
  writer.write("/a", [0], [2], Int32Array.of(7, 8)); // may sit in HDF5's caches
  const reader = H5File.open(p, "r");
  try {
    assert.equal(reader.readsDirectly("/a"), false);
    assert.deepEqual(reader.read("/a"), Int32Array.of(7, 8, 3, 4));
  } finally {
    reader.close();
    writer.close();
  }
  const after = H5File.open(p, "r");
  try {
    assert.equal(
      after.readsDirectly("/a"),
      DIRECT_IO,
      "once the writer has closed, direct reads (when on) apply again",
    );
    assert.deepEqual(after.read("/a"), Int32Array.of(7, 8, 3, 4));
  } finally {
    after.close();
  }
});

test(
  "files with a user block (HDF5 addresses counted from the superblock) are read directly and correctly",
  DIRECT_IO ? skipWithoutAnndata() : DIRECT_READS,
  () => {
    const p = join(dir, "userblock.h5");
    execFileSync(findPython()!, [
      "-c",
      `import h5py, numpy as np
with h5py.File(${JSON.stringify(p)}, "w", userblock_size=1024) as f:
    f.create_dataset("a", data=np.arange(5000, dtype="<f4") * 0.5)
    f.create_dataset("c", data=np.arange(7000, dtype="<i8"), chunks=(512,))`,
    ]);
    const h = H5File.open(p, "r");
    try {
      assert.equal(h.readsDirectly("/a"), true);
      assert.equal(h.readsDirectly("/c"), true);
      assert.deepEqual(h.read("/a", [10], [3]), Float32Array.of(5, 5.5, 6));
      assert.deepEqual(h.read("/c", [510], [4]), BigInt64Array.of(510n, 511n, 512n, 513n));
    } finally {
      h.close();
    }
  },
);
