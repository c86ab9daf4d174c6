// X written straight into the file (src/io/anndata/directSparseWriter.ts) is the same matrix, in a file
// HDF5, crispyx and anndata read exactly like one written through HDF5.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { H5File } from "../../src/io/h5/file.ts";
import {
  startAnnData,
  carryOver,
  SparseMatrixWriter,
  type SparseWriterOptions,
} from "../../src/io/anndata/matrixWriter.ts";
import {
  DirectSparseWriter,
  canWriteDirect,
  createDirectPlaceholders,
} from "../../src/io/anndata/directSparseWriter.ts";
import { openH5ad } from "../../src/io/anndata/handle.ts";
import type { SparseMatrix } from "../../src/io/anndata/model.ts";
import { compareH5ad, findPython, readersOf, skipWithoutAnndata } from "../helpers/anndataChecker.ts";
import { DirectArrays } from "../../src/io/anndata/directArrays.ts";
import { execFileSync } from "node:child_process";
import { skipWithoutDirectIO } from "../helpers/directIO.ts";

/** These tests exercise the byte-level writers themselves, which the switch turns off. */
const DIRECT_OFF = skipWithoutDirectIO("these tests exercise the direct sparse writer and DirectArrays").skip;

const dir = mkdtempSync(join(tmpdir(), "crispyx-direct-"));
const SOURCE = join(import.meta.dirname, "..", "fixtures", "h5ad", "full_csr.h5ad");

/** A random sparse matrix with some empty lines, as major-axis blocks of uneven sizes. */
function randomBlocks(major: number, minor: number, seed: number): { blocks: SparseMatrix[]; nnz: number } {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const blocks: SparseMatrix[] = [];
  let nnz = 0;
  for (let m0 = 0; m0 < major; ) {
    const m = Math.min(major - m0, 1 + Math.floor(rand() * 7));
    const ptr = [0];
    const idx: number[] = [];
    const val: number[] = [];
    for (let i = 0; i < m; i++) {
      if (rand() > 0.2)
        for (let j = 0; j < minor; j++)
          if (rand() < 0.3) {
            idx.push(j);
            val.push(Math.floor(rand() * 20) + 0.5);
          }
      ptr.push(idx.length);
    }
    blocks.push({
      type: "csr",
      shape: [m, minor],
      indptr: Int32Array.from(ptr),
      indices: Int32Array.from(idx),
      data: Float32Array.from(val),
    });
    nnz += idx.length;
    m0 += m;
  }
  return { blocks, nnz };
}

function skeleton(path: string, fill: (f: H5File) => void): void {
  const f = H5File.open(path, "w");
  try {
    startAnnData(f);
    const src = H5File.open(SOURCE, "r");
    try {
      carryOver(src, f, {});
    } finally {
      src.close();
    }
    fill(f);
  } finally {
    f.close();
  }
}

function writeBoth(
  name: string,
  opts: SparseWriterOptions,
  blocks: SparseMatrix[],
): { direct: string; viaHdf5: string } {
  const direct = join(dir, `${name}_direct.h5ad`);
  const viaHdf5 = join(dir, `${name}_hdf5.h5ad`);
  skeleton(direct, (f) => createDirectPlaceholders(f, "/X", opts));
  const w = DirectSparseWriter.open(direct, "/X", opts);
  for (const b of blocks) w.appendParts(b.indptr, b.indices, b.data);
  assert.deepEqual(w.finish(), { nnz: opts.nnz });
  skeleton(viaHdf5, (f) => {
    const h = SparseMatrixWriter.create(f, "/X", opts);
    for (const b of blocks) h.appendParts(b.indptr, b.indices, b.data);
    h.finish();
  });
  return { direct, viaHdf5 };
}

function readX(path: string): SparseMatrix {
  const h = openH5ad(path);
  try {
    return h.X.readAll() as SparseMatrix;
  } finally {
    h.close();
  }
}

test("direct CSR X equals the HDF5-written one (crispyx read; int32 indices)", { skip: DIRECT_OFF }, () => {
  const shape: [number, number] = [20, 12];
  const { blocks, nnz } = randomBlocks(shape[0], shape[1], 7);
  const opts: SparseWriterOptions = { format: "csr", shape, dtype: "float32", nnz };
  assert.ok(canWriteDirect(opts));
  const { direct, viaHdf5 } = writeBoth("csr", opts, blocks);
  const a = readX(direct);
  const b = readX(viaHdf5);
  assert.deepEqual(a.shape, shape);
  assert.deepEqual(a, b);
  assert.ok(a.indices instanceof Int32Array && a.indices.length === nnz);
  const h = H5File.open(direct, "r");
  try {
    assert.deepEqual(h.info("/X/data").shape, [nnz]);
    assert.equal(h.info("/X/data").chunks, null, "contiguous storage");
    assert.equal(h.readsDirectly("/X/data"), true);
  } finally {
    h.close();
  }
});

test("direct CSC X with int64 indices and float64 values, converted from other input types", {
  skip: DIRECT_OFF,
}, () => {
  const shape: [number, number] = [20, 12];
  const { blocks, nnz } = randomBlocks(12, 20, 11);
  const csc = blocks.map((b) => ({
    ...b,
    type: "csc" as const,
    shape: [20, b.shape[0]] as [number, number],
    data: Float64Array.from(b.data as Float32Array),
  }));
  const opts: SparseWriterOptions = { format: "csc", shape, dtype: "float64", nnz, indexDtype: "int64" };
  const { direct, viaHdf5 } = writeBoth("csc64", opts, csc);
  const a = readX(direct);
  const b = readX(viaHdf5);
  assert.deepEqual(a, b);
  const h = H5File.open(direct, "r");
  try {
    assert.equal(h.info("/X/indices").dtype, "int64");
    assert.equal(h.info("/X/indptr").dtype, "int64");
    assert.equal(h.info("/X/data").dtype, "float64");
  } finally {
    h.close();
  }
});

// The files carry full_csr.h5ad's obs, with its nullable strings: compared in each anndata able to read them (>= 0.11).
const SOURCE_READERS = readersOf(SOURCE);
test("direct X files read in anndata exactly as the HDF5-written ones", {
  skip: DIRECT_OFF || SOURCE_READERS.skip,
}, (t) => {
  SOURCE_READERS.skipped.forEach((s) => t.diagnostic(s));
  const { blocks, nnz } = randomBlocks(20, 12, 3);
  const { direct, viaHdf5 } = writeBoth("anndata", { format: "csr", shape: [20, 12], dtype: "float32", nnz }, blocks);
  for (const ref of readersOf(viaHdf5).readers) {
    const r = compareH5ad(direct, viaHdf5, ref.python);
    assert.deepEqual(r.differences, [], `anndata ${ref.anndataVersion}`);
    assert.equal(r.same, true);
  }
});

test("direct writer refuses incomplete or oversized input with a clear error", { skip: DIRECT_OFF }, () => {
  const { blocks, nnz } = randomBlocks(10, 5, 5);
  const opts: SparseWriterOptions = { format: "csr", shape: [10, 5], dtype: "float32", nnz };
  const p = join(dir, "short.h5ad");
  skeleton(p, (f) => createDirectPlaceholders(f, "/X", opts));
  const w = DirectSparseWriter.open(p, "/X", opts);
  w.appendParts(blocks[0]!.indptr, blocks[0]!.indices, blocks[0]!.data);
  assert.throws(() => w.finish(), /only \d+ of 10 rows were written/);
  const p2 = join(dir, "over.h5ad");
  const small = { ...opts, nnz: 1 };
  skeleton(p2, (f) => createDirectPlaceholders(f, "/X", small));
  const w2 = DirectSparseWriter.open(p2, "/X", small);
  const big = blocks.find((b) => b.indices.length > 1)!;
  assert.throws(() => w2.appendParts(big.indptr, big.indices, big.data), /more than the declared 1 stored elements/);
  w2.abort();
  assert.equal(canWriteDirect({ shape: [3, 3] }), false, "unknown nnz");
  assert.equal(canWriteDirect({ shape: [3, 3], nnz: 0 }), false, "empty");
  assert.equal(canWriteDirect({ shape: [3, 3], nnz: 4, gzip: 4 }), false, "compressed");
});

test(
  "DirectArrays on a file with a v3 superblock (h5py libver='latest'): checksummed end-of-file update, N-D data",
  DIRECT_OFF ? { skip: DIRECT_OFF } : skipWithoutAnndata(),
  () => {
    const p = join(dir, "latest.h5");
    const python = findPython()!;
    execFileSync(python, [
      "-c",
      `import h5py, numpy as np
with h5py.File(${JSON.stringify(p)}, "w", libver="latest") as f:
    f.create_dataset("m", data=np.zeros((1, 1), dtype="<f8"))
    f.attrs["note"] = "placeholder"`,
    ]);
    const values = Float64Array.from({ length: 30 * 7 }, (_, i) => i / 7);
    const d = DirectArrays.open(p);
    d.write(d.add("/m", [30, 7], 8), 0, new Uint8Array(values.buffer));
    d.finish();
    const out = execFileSync(
      python,
      [
        "-c",
        `import h5py, json
with h5py.File(${JSON.stringify(p)}, "r") as f:
    m = f["m"][()]
    print(json.dumps({"shape": list(m.shape), "sum": float(m.sum()), "last": float(m[-1, -1]), "sb": f.id.get_create_plist().get_version()[0]}))`,
      ],
      { encoding: "utf8" },
    );
    const r = JSON.parse(out);
    assert.deepEqual(r.shape, [30, 7]);
    assert.ok(Math.abs(r.sum - values.reduce((a, b) => a + b, 0)) < 1e-9);
    assert.equal(r.last, values.at(-1));
    assert.ok(r.sb >= 2, `superblock version ${r.sb}`);
    const h = H5File.open(p, "r");
    try {
      assert.deepEqual(h.read("/m"), values);
    } finally {
      h.close();
    }
  },
);
