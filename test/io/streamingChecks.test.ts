// The fast paths of the checks made while X streams and on open (issue 19: their cost within 5% of a pass) must
// judge exactly as the plain checks did: sorted rows skip the duplicate marks, float32 values are screened by
// their bits, normalize checks values in its own loop, and ASCII string columns are judged without decoding.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import {
  checkIndicesBlock,
  checkValueRange,
  checkValues,
  DuplicateMarks,
  type SparseContext,
  type ValueCheck,
} from "../../src/io/anndata/sparseInvariants.ts";
import { normalizeLog1pBlock } from "../../src/ops/normalize.ts";
import { H5File } from "../../src/io/h5/file.ts";
import type { TypedArray } from "../../src/io/dtypes.ts";
import { tempDir } from "../cli/helpers.ts";
import { findPython, SKIP_MESSAGE } from "../helpers/anndataChecker.ts";

/** A small deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The message of what fn throws, or null. */
function thrown(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The plain check the fast path replaced: every element against the range and the row's marks. */
function referenceIndices(idx: Int32Array, ptr: Int32Array, minor: number): string | null {
  for (let i = 0; i + 1 < ptr.length; i++) {
    const seen = new Set<number>();
    for (let k = ptr[i]!; k < ptr[i + 1]!; k++) {
      const j = idx[k]!;
      if (j < 0 || j >= minor) return `range ${i} ${j}`;
      if (seen.has(j)) return `twice ${i} ${j}`;
      seen.add(j);
    }
  }
  return null;
}

test("indices: sorted rows take the fast path and every damage is still found, first one first", () => {
  const r = rng(19);
  const minor = 50;
  const ctx: SparseContext = { file: "f.h5ad", path: "/X", format: "csr", major: 40, minor, nnz: 0 };
  const kinds = { clean: 0, range: 0, twice: 0 };
  for (let trial = 0; trial < 3000; trial++) {
    const rows = 1 + Math.floor(r() * 6);
    const ptr = new Int32Array(rows + 1);
    const all: number[] = [];
    for (let i = 0; i < rows; i++) {
      const n = Math.floor(r() * 8);
      const row = [...new Set(Array.from({ length: n }, () => Math.floor(r() * minor)))];
      if (r() < 0.7) row.sort((a, b) => a - b); // sorted, as anndata writes; else unsorted (legal)
      all.push(...row);
      ptr[i + 1] = all.length;
    }
    const idx = Int32Array.from(all);
    // Damage some blocks: an index out of range (below 0 or ≥ minor, at a row's start, middle or end) or a repeat.
    const d = r();
    if (idx.length > 0 && d < 0.5) {
      const k = Math.floor(r() * idx.length);
      if (d < 0.2) idx[k] = r() < 0.5 ? -1 - Math.floor(r() * 3) : minor + Math.floor(r() * 3);
      else if (k > 0) idx[k] = idx[k - 1]!;
    }
    const ref = referenceIndices(idx, ptr, minor);
    const got = thrown(() => checkIndicesBlock(idx, ptr, 0, new DuplicateMarks(minor), { ...ctx, nnz: idx.length }));
    if (ref === null) assert.equal(got, null, `trial ${trial}`);
    else {
      const [what, row, j] = ref.split(" ");
      assert.ok(got !== null, `trial ${trial}: ${ref} not found`);
      const pattern = what === "range" ? `holds column ${j} in row ${row} ` : `holds column ${j} twice in row ${row} `;
      assert.ok(got.includes(pattern), `trial ${trial}: expected '${pattern}', got '${got}'`);
    }
    kinds[ref === null ? "clean" : (ref.split(" ")[0] as "range" | "twice")]++;
  }
  assert.ok(kinds.clean > 500 && kinds.range > 200 && kinds.twice > 200, JSON.stringify(kinds));
});

/** The values check, plainly: one float comparison per value (NaN, ±Inf always; any negative value for counts). */
function referenceValues(data: ArrayLike<number>, s: number, e: number, need: ValueCheck): number {
  for (let k = s; k < e; k++) {
    const v = data[k]!;
    if (need === "finite" ? v - v !== 0 : !(v >= 0 && v < Infinity)) return k;
  }
  return -1;
}

test("values: float32 bits, float64 and integers refuse exactly what the plain comparison refused", () => {
  const r = rng(20);
  const odd = [Number.NaN, Infinity, -Infinity, -1, -3, -0.5, -0, 0, 2.5, 1e30, -1e-30];
  const where = { file: "f.h5ad", path: "/X", locate: { cellGene: (k: number): [number, number] => [k, 0] } };
  for (let trial = 0; trial < 400; trial++) {
    const n = trial % 2 === 0 ? 1500 + Math.floor(r() * 3000) : Math.floor(r() * 40); // long (bit view) and short
    const plain = Array.from({ length: n }, () => Math.floor(r() * 20));
    for (let t = Math.floor(r() * 3); t > 0 && n > 0; t--)
      plain[Math.floor(r() * n)] = odd[Math.floor(r() * odd.length)]!;
    const s = Math.floor(r() * (n / 4)),
      e = n - Math.floor(r() * (n / 4));
    const arrays: TypedArray[] = [Float32Array.from(plain), Float64Array.from(plain), Int32Array.from(plain)];
    for (const data of arrays) {
      for (const need of ["counts", "finite"] as const) {
        const ref = referenceValues(data as ArrayLike<number>, s, e, need);
        const got = thrown(() => checkValueRange(data, s, e, need, where));
        if (ref < 0) assert.equal(got, null, `trial ${trial} ${data.constructor.name} ${need}`);
        else assert.match(got ?? "", new RegExp(`at cell ${ref}, gene 0$`), `trial ${trial} ${data.constructor.name}`);
        if (s === 0 && e === n)
          assert.equal(
            thrown(() => checkValues(data, need, where)),
            got,
            "checkValues is the whole range",
          );
      }
    }
  }
  // A float32 array that starts inside its buffer (a recycled read buffer's subarray): the bit view follows it.
  const buf = new Float32Array(3000).fill(1);
  buf[10] = Number.NaN;
  assert.equal(
    thrown(() => checkValues(buf.subarray(20), "counts", where)),
    null,
  );
  assert.match(thrown(() => checkValues(buf.subarray(5), "counts", where)) ?? "", /NaN at cell 5,/);
});

test("normalize checks a row's values from its first value that is not a small whole count", () => {
  // Rows: table path (small counts), a large count (element path, valid), a negative fraction, -2 (the
  // callback, not this kernel, refuses them).
  const data = Float32Array.from([1, 2, 3, 5, 300, 1, 2, -0.5, 4, 1, -2, 7]);
  const indptr = Int32Array.from([0, 3, 5, 8, 12]);
  const indices = Int32Array.from([0, 1, 2, 0, 1, 0, 1, 2, 0, 1, 2, 3]);
  const calls: [number, number, number][] = [];
  normalizeLog1pBlock(
    { type: "csr", shape: [4, 4], data: data.slice(), indices, indptr },
    true,
    true,
    1e4,
    true,
    (s, e, i) => void calls.push([s, e, i]),
  );
  // Row 0 is proven counts by the table path's own test; row 1 only leaves it for its size (no check needed).
  assert.deepEqual(calls, [
    [7, 8, 2],
    [10, 12, 3],
  ]);
  // Non-float32 input takes the general path: every row is checked.
  const all: number[] = [];
  normalizeLog1pBlock(
    { type: "csr", shape: [4, 4], data: Float64Array.from(data), indices, indptr },
    true,
    true,
    1e4,
    false,
    (_s, _e, i) => void all.push(i),
  );
  assert.deepEqual(all, [0, 1, 2, 3]);
});

const python = findPython();

test("stringsAreAscii: true only for plain ASCII text, read in slices; anything else is left to readStrings", {
  skip: python ? false : SKIP_MESSAGE,
}, () => {
  const tmp = tempDir("ascii-");
  try {
    const p = join(tmp.path, "s.h5");
    const script = `
import sys, h5py, numpy as np
vs = h5py.string_dtype("utf-8")
with h5py.File(sys.argv[1], "w") as f:
    f.create_dataset("ascii", data=np.array(["AAAC-1", "", "x y"], dtype=object), dtype=vs)
    f.create_dataset("ascii_fixed", data=np.array([b"ab", b"c", b""], dtype="S4"))
    f.create_dataset("utf8", data=np.array(["a", "\\u00e9"], dtype=object), dtype=vs)
    f.create_dataset("bad", data=np.array([b"a", b"\\xc3("], dtype=object), dtype=vs)
    f.create_dataset("lzf", data=np.array(["a"] * 100, dtype=object), dtype=vs, compression="lzf", chunks=(40,))
    big = np.array(["c%d" % i for i in range(300000)], dtype=object)
    f.create_dataset("big", data=big, dtype=vs)
    big[299999] = "\\u00e9"
    f.create_dataset("big_last", data=big, dtype=vs)
    f.create_dataset("numbers", data=np.arange(3))
`;
    const r = spawnSync(python!, ["-c", script, p], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    using f = H5File.open(p, "r");
    assert.equal(f.stringsAreAscii("ascii"), true);
    assert.equal(f.stringsAreAscii("ascii_fixed"), true);
    assert.equal(f.stringsAreAscii("big"), true, "300,000 names: more than one slice");
    assert.equal(f.stringsAreAscii("big_last"), false, "the last name of the last slice is looked at");
    assert.equal(f.stringsAreAscii("utf8"), false);
    assert.equal(f.stringsAreAscii("bad"), false);
    assert.equal(f.stringsAreAscii("lzf"), false, "our own chunk reader: left to readStrings");
    assert.equal(f.stringsAreAscii("numbers"), false);
    // The handle is sound afterwards: strings read as before.
    assert.deepEqual(f.readStrings("ascii"), ["AAAC-1", "", "x y"]);
  } finally {
    tmp.cleanup();
  }
});

test("a reader checks each block's structure and values once, and never skips a block it has not checked", async () => {
  const { writeH5ad } = await import("../../src/io/anndata/anndata.ts");
  const { emptyAnnData } = await import("../../src/io/anndata/model.ts");
  const { openH5ad } = await import("../../src/io/anndata/handle.ts");
  const tmp = tempDir("crispyx-once-");
  const dir = tmp.path;
  // 40 rows × 10 columns, 3 stored elements per row; damaged: row `bad` repeats a column.
  const make = (name: string, bad: number, negative: number): string => {
    const ad = emptyAnnData(40, 10);
    const indices = new Int32Array(120);
    const data = new Float32Array(120).fill(1);
    const indptr = Int32Array.from({ length: 41 }, (_, i) => 3 * i);
    for (let i = 0; i < 40; i++) indices.set([0, 4, 7], 3 * i);
    if (bad >= 0) indices[3 * bad + 1] = 0;
    if (negative >= 0) data[3 * negative] = -1;
    ad.X = { type: "csr", shape: [40, 10], data, indices, indptr };
    const p = join(dir, name);
    writeH5ad(p, ad);
    return p;
  };
  const firstPass = (p: string, kind: ValueCheck | null, ranges: [number, number][]): string | null => {
    const h = openH5ad(p);
    try {
      const x = h.X;
      x.values = kind;
      for (const [a, b] of ranges) {
        const m = thrown(() => x.rows(a, b));
        if (m) return m;
      }
      return null;
    } finally {
      h.close();
    }
  };
  const dup = make("dup25.h5ad", 25, -1);
  // A damaged row is found whichever blocks came before: after a block that skipped it, and after a later
  // block (a checked prefix only grows from row 0).
  assert.match(
    firstPass(dup, null, [
      [0, 10],
      [0, 40],
    ]) ?? "",
    /column 0 .*twice|twice|more than once/,
  );
  assert.match(
    firstPass(dup, null, [
      [30, 40],
      [20, 30],
    ]) ?? "",
    /twice|more than once/,
  );
  assert.match(
    firstPass(dup, null, [
      [0, 20],
      [10, 30],
    ]) ?? "",
    /twice|more than once/,
  );
  // Values: a negative count is found on a pass that checks counts even after a pass that checked nothing
  // or only finiteness.
  const neg = make("neg25.h5ad", -1, 25);
  assert.equal(
    firstPass(neg, "finite", [
      [0, 40],
      [0, 40],
    ]),
    null,
  );
  assert.match(firstPass(neg, null, [[0, 40]]) ?? "ok", /ok/);
  {
    const h = openH5ad(neg);
    try {
      const x = h.X;
      x.values = "finite";
      x.rows(0, 40);
      x.values = "counts";
      assert.match(thrown(() => x.rows(0, 40)) ?? "", /negative|-1/);
    } finally {
      h.close();
    }
  }
  // A clean file read twice in full gives the same blocks (the second read unchecked).
  const clean = make("clean.h5ad", -1, -1);
  const h = openH5ad(clean);
  try {
    h.X.values = "counts";
    const a = h.X.rows(0, 40);
    const b = h.X.rows(0, 40);
    assert.deepEqual(b, a);
  } finally {
    h.close();
    tmp.cleanup();
  }
});
