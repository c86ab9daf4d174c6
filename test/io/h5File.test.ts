// H5File's attribute bookkeeping for objects it created (setAttr skips HDF5's lookup for them).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { H5File } from "../../src/io/h5/file.ts";

test("setAttr on objects this handle created: overwrite, delete and set again, after a hard link, after reopening", () => {
  const dir = mkdtempSync(join(tmpdir(), "crispyx-h5file-"));
  try {
    const path = join(dir, "a.h5");
    const f = H5File.open(path, "w");
    f.createGroup("/g");
    f.createDataset("/g/d", { dtype: "float64", shape: [3], data: Float64Array.of(1, 2, 3) });
    f.createDataset("/b", { dtype: "bool", shape: [2], data: [true, false] });
    f.setAttr("/g/d", "x", "one");
    f.setAttr("/g/d", "x", "two"); // exists: replaced, not an error
    f.setAttr("/g/d", "y", 5);
    f.deleteAttr("/g/d", "y");
    f.setAttr("/g/d", "y", 6);
    f.setAttr("/b", "z", 1);
    f.hardLink("/g/d", "/alias");
    f.setAttr("/alias", "x", "three"); // through the second name
    f.setAttr("/g/d", "x", "four"); // and the first again
    f.setAttr("/g", "encoding-type", "dict");
    f.setAttr("/g", "encoding-type", "dict");
    assert.deepEqual(f.attrs("/g/d"), { x: "four", y: 6 });
    f.close();
    const r = H5File.open(path, "r+");
    r.setAttr("/g/d", "x", "five"); // not created by this handle: looked up
    assert.deepEqual(r.attrs("/alias"), { x: "five", y: 6 });
    assert.deepEqual(r.attrs("/b"), { z: 1 });
    assert.deepEqual(r.attrs("/g"), { "encoding-type": "dict" });
    r.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("exists/kind: the same answers as walking the parents, from one HDF5 path check (uns nested 64 levels)", () => {
  const dir = mkdtempSync(join(tmpdir(), "crispyx-h5file-"));
  try {
    const path = join(dir, "deep.h5");
    let deep = "/uns";
    {
      using f = H5File.open(path, "w");
      f.createGroup("/uns");
      for (let i = 0; i < 64; i++) f.createGroup((deep += "/d"));
      f.createDataset("/uns/x", { dtype: "float64", shape: [1], data: Float64Array.of(1) });
    }
    using f = H5File.open(path, "r");
    assert.equal(f.kind("/"), "group");
    assert.equal(f.kind(deep), "group");
    assert.equal(f.kind("/uns/x"), "dataset");
    assert.equal(f.exists("/uns/x/below"), false); // a dataset as parent: HDF5 throws, the walk answers
    assert.equal(f.kind("/uns/x/below"), null);
    assert.equal(f.exists(`${deep}/missing`), false);
    assert.equal(f.exists("/nope/deeper"), false);
    // One path check inside HDF5 against the walk over the parents' name lists it replaced (0.4 s per call here).
    const best = (fn: () => void) => {
      let t = Infinity;
      for (let rep = 0; rep < 3; rep++) {
        const t0 = performance.now();
        fn();
        t = Math.min(t, performance.now() - t0);
      }
      return t;
    };
    const now = best(() => f.exists(deep));
    const walk = best(() => (f as any).existsByWalk(deep));
    assert.ok(now * 5 < walk, `exists at depth 65: ${now.toFixed(1)} ms, the parent walk ${walk.toFixed(1)} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
