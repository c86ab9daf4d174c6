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
