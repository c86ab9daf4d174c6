/**
 * h5py booleans (src/io/h5/booleans.ts): boolean attributes and datasets read back in h5py as numpy.bool_
 * with the FALSE/TRUE enum type, and in anndata 0.8 (a categorical's `ordered`); the patch works whatever
 * the header layout (room in the chunk, no room: a new continuation chunk, v2 "OHDR" headers), and refuses
 * with one clear line when the address holds no well-formed header.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { openSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { H5File } from "../../src/io/h5/file.ts";
import { finishBooleans } from "../../src/io/h5/booleans.ts";
import { objectAddress, openCtx } from "../../src/io/h5/links.ts";
import { readObjectHeader } from "../../src/io/h5/objectHeader.ts";
import { writeH5ad } from "../../src/io/anndata/anndata.ts";
import { replaceElement } from "../../src/io/anndata/edit.ts";
import { writeElem } from "../../src/io/anndata/registry.ts";
import { categorical, dataframe, emptyAnnData } from "../../src/io/anndata/model.ts";
import { findPython } from "../helpers/anndataChecker.ts";

const work = mkdtempSync(join(tmpdir(), "crispyx-bool-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));
const py = findPython();
const noPython = py ? {} : { skip: "no Python with h5py/anndata (set CRISPYX_PYTHON)" };

function python(code: string): any {
  const r = spawnSync(py!, ["-c", code], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Every attribute and dataset of the file as h5py sees it: value, Python type, HDF5 type class. */
function h5pyView(path: string): Record<string, { value: unknown; type: string; enum: boolean }> {
  return python(`
import h5py, json, numpy as np
out = {}
def add(name, v, tid):
    out[name] = {"value": v.tolist() if hasattr(v, "tolist") else v, "type": type(v).__name__ if np.ndim(v) == 0 else "array:" + str(v.dtype), "enum": tid.get_class() == h5py.h5t.ENUM}
with h5py.File(${JSON.stringify(path)}, "r") as f:
    def visit(name, obj):
        for k in obj.attrs:
            add(obj.name + "@" + k, obj.attrs[k], obj.attrs.get_id(k).get_type())
        if isinstance(obj, h5py.Dataset) and obj.dtype.names is None and obj.dtype.kind != "O":
            add(obj.name, obj[()], obj.id.get_type())
    visit("/", f)
    f.visititems(visit)
print(json.dumps(out))
`);
}

test("boolean attributes (scalar, array, on groups, datasets and the root; replaced, deleted) are h5py booleans", {
  ...noPython,
}, () => {
  const path = join(work, "attrs.h5");
  const f = H5File.open(path, "w");
  f.createGroup("/g");
  f.setAttr("/g", "ordered", false);
  f.setAttr("/g", "flag", true);
  f.setAttr("/g", "arr", [true, false, true]);
  f.setAttr("/", "rootflag", true);
  f.createDataset("/b", { dtype: "bool", shape: [3], data: [true, false, true] });
  f.setAttr("/b", "z", true);
  f.setAttr("/b", "z", false); // replaced by another boolean
  f.setAttr("/g", "gone", true);
  f.deleteAttr("/g", "gone");
  f.setAttr("/g", "changed", true);
  f.setAttr("/g", "changed", "text"); // replaced by a string
  assert.deepEqual(f.attrNames("/g").sort(), ["arr", "changed", "flag", "ordered"], "placeholders are not listed");
  f.close();
  const r = H5File.open(path, "r");
  assert.deepEqual(r.attrs("/g"), { arr: [true, false, true], changed: "text", flag: true, ordered: false });
  assert.deepEqual(r.attrs("/b"), { z: false });
  assert.deepEqual(r.attrs("/"), { rootflag: true });
  assert.equal(r.info("/b").dtype, "bool");
  r.close();
  const v = h5pyView(path);
  assert.deepEqual(v["/g@ordered"], { value: false, type: "bool_", enum: true });
  assert.deepEqual(v["/g@flag"], { value: true, type: "bool_", enum: true });
  assert.deepEqual(v["/g@arr"], { value: [true, false, true], type: "array:bool", enum: true });
  assert.deepEqual(v["//@rootflag"] ?? v["/@rootflag"], { value: true, type: "bool_", enum: true });
  assert.deepEqual(v["/b@z"], { value: false, type: "bool_", enum: true });
  assert.deepEqual(v["/b"], { value: [true, false, true], type: "array:bool", enum: true });
  assert.equal(v["/g@changed"]!.value, "text");
  assert.ok(!Object.keys(v).some((k) => k.includes("placeholder") || k.endsWith("@gone")), Object.keys(v).join(", "));
});

test("categoricals with ordered false and true open in anndata 0.8; an in-place edit writes them the same way", {
  ...noPython,
}, () => {
  const path = join(work, "cats.h5ad");
  const ad = emptyAnnData(4, 2);
  ad.obs = dataframe(["a", "b", "c", "d"], {
    plain: categorical(["x", "y", "x", "y"], { ordered: false }),
    ranked: categorical(["lo", "hi", "hi", "lo"], { categories: ["lo", "hi"], ordered: true }),
  });
  writeH5ad(path, ad);
  replaceElement(path, "/var", (file, at) =>
    writeElem(file, at, dataframe(["g1", "g2"], { kind: categorical(["u", "v"], { ordered: true }) })),
  );
  const got = python(`
import anndata, json, h5py
a = anndata.read_h5ad(${JSON.stringify(path)})
with h5py.File(${JSON.stringify(path)}, "r") as f:
    types = [type(f[p].attrs["ordered"]).__name__ for p in ("obs/plain", "obs/ranked", "var/kind")]
print(json.dumps({"plain": bool(a.obs["plain"].cat.ordered), "ranked": bool(a.obs["ranked"].cat.ordered),
  "kind": bool(a.var["kind"].cat.ordered), "values": list(a.obs["ranked"].astype(str)), "types": types,
  "version": anndata.__version__}))
`);
  assert.deepEqual(got.types, ["bool_", "bool_", "bool_"]);
  assert.equal(got.plain, false);
  assert.equal(got.ranked, true);
  assert.equal(got.kind, true);
  assert.deepEqual(got.values, ["lo", "hi", "hi", "lo"]);
});

/** The largest NIL message (total bytes) in the chunk holding the datatype message of `objPath`. */
function datatypeChunkRoom(path: string, objPath: string): { room: number; chunks: number } {
  const fd = openSync(path, "r");
  try {
    const ctx = openCtx(fd, path);
    const h = readObjectHeader(ctx, objectAddress(path, objPath), true);
    const dt = h.messages.find((m) => m.type === 3)!;
    const nils = h.messages.filter((m) => m.type === 0 && m.chunk === dt.chunk).map((m) => m.body.length + 8);
    return { room: Math.max(0, ...nils), chunks: h.chunks.length };
  } finally {
    closeSync(fd);
  }
}

test("no room beside the datatype: the enum goes to a new continuation chunk (v1 header)", { ...noPython }, () => {
  const path = join(work, "full.h5");
  let f = H5File.open(path, "w");
  f.createDataset("/d", { dtype: "int8", shape: [3], data: Int8Array.of(1, 0, 1) });
  f.close();
  // Fill the chunk's free space exactly with one int8 attribute (48 bytes + its name padded to 8).
  const { room } = datatypeChunkRoom(path, "/d");
  assert.ok(room >= 56, `free space ${room}`);
  f = H5File.open(path, "r+");
  f.setAttr("/d", "p".repeat(room - 48 - 1), 7, "int8");
  f.setAttr("/d", "after", 1.5); // lands in a continuation chunk HDF5 makes
  f.close();
  const before = datatypeChunkRoom(path, "/d");
  assert.ok(
    before.room < 24,
    `the datatype's chunk still has ${before.room} free bytes: the test would not reach the fallback`,
  );
  finishBooleans(path, [{ header: objectAddress(path, "/d") }]);
  const after = datatypeChunkRoom(path, "/d");
  assert.equal(after.chunks, before.chunks + 1, "one new continuation chunk");
  const r = H5File.open(path, "r");
  assert.equal(r.info("/d").dtype, "bool");
  assert.deepEqual(r.readValue("/d"), [true, false, true]);
  assert.equal(r.attr("/d", "after"), 1.5);
  r.close();
  const v = h5pyView(path);
  assert.deepEqual(v["/d"], { value: [true, false, true], type: "array:bool", enum: true });
  assert.equal(v["/d@after"]!.value, 1.5);
});

test("v2 (OHDR) headers with creation order (h5py libver='latest'): booleans written into them, with and without room beside the type", {
  ...noPython,
}, () => {
  const path = join(work, "latest.h5");
  const addrs = python(`
import h5py, json, numpy as np
with h5py.File(${JSON.stringify(path)}, "w", libver="latest", track_order=True) as f:
    d = f.create_dataset("d", data=np.array([1, 0, 1], dtype=np.int8), track_order=True)
    g = f.create_group("g", track_order=True)
    for i in range(6):
        d.attrs["x%d" % i] = np.arange(i + 1)
        g.attrs["y%d" % i] = "v" * (i + 3)
    addrs = {"d": h5py.h5o.get_info(d.id).addr}
print(json.dumps(addrs))
`);
  // Booleans added to this file get their room from placeholders, in v1 and v2 headers alike.
  const f = H5File.open(path, "r+");
  f.createDataset("/g/b", { dtype: "bool", shape: [2], data: [false, true] });
  f.setAttr("/g", "ordered", true);
  f.setAttr("/g/b", "flag", false);
  f.close();
  const fd = openSync(path, "r");
  try {
    // h5py's group keeps its v2 header (the attribute goes into it); new datasets get v1 headers (bounds 'earliest').
    assert.equal(
      readObjectHeader(openCtx(fd, path), objectAddress(path, "/g"), true).version,
      2,
      "the group has a v2 header",
    );
  } finally {
    closeSync(fd);
  }
  const v = h5pyView(path);
  assert.deepEqual(v["/g/b"], { value: [false, true], type: "array:bool", enum: true });
  assert.deepEqual(v["/g@ordered"], { value: true, type: "bool_", enum: true });
  assert.deepEqual(v["/g/b@flag"], { value: false, type: "bool_", enum: true });
  for (let i = 0; i < 6; i++) assert.equal(v[`/g@y${i}`]!.value, "v".repeat(i + 3));
  const r = H5File.open(path, "r");
  assert.deepEqual(r.readValue("/g/b"), [false, true]);
  assert.equal(r.attr("/g", "ordered"), true);
  r.close();
  // An int8 dataset h5py packed without room beside its type (v2 chunk with an end gap): a new OCHK chunk.
  const chunksOf = () => {
    const d = openSync(path, "r");
    try {
      return readObjectHeader(openCtx(d, path), addrs.d, true).chunks.length;
    } finally {
      closeSync(d);
    }
  };
  const before = chunksOf();
  finishBooleans(path, [{ header: addrs.d }]);
  assert.equal(chunksOf(), before + 1, "the datatype moved to a new continuation chunk");
  const v2 = h5pyView(path);
  assert.deepEqual(v2["/d"], { value: [true, false, true], type: "array:bool", enum: true });
  for (let i = 0; i < 6; i++)
    assert.deepEqual(
      v2[`/d@x${i}`]!.value,
      Array.from({ length: i + 1 }, (_, k) => k),
    );
  const r2 = H5File.open(path, "r"); // HDF5 2.0 (h5wasm) too
  assert.deepEqual(r2.readValue("/d"), [true, false, true]);
  r2.close();
});

test("a file HDF5 left unfinished after an error is one clear error at close; an address holding no object header is refused before any write", () => {
  const path = join(work, "unfinished.h5");
  const f = H5File.open(path, "w");
  f.createGroup("/g");
  f.createDataset("/g/b", { dtype: "bool", shape: [2], data: [true, false] });
  f.setAttr("/g", "ordered", true);
  // An attribute too large for an object header: HDF5 fails and, its ids leaked, does not finish the file.
  assert.throws(
    () =>
      f.setAttr(
        "/g",
        "big",
        Array.from({ length: 10_000 }, (_, i) => `name${i}`),
      ),
    /object header message is too large/,
  );
  assert.throws(
    () => f.close(),
    (err: Error) => {
      assert.match(
        err.message,
        /^[^\n]*unfinished\.h5: HDF5 did not finish writing the file \(no object header at \d+.*\) after an earlier error: cannot write attribute big of \/g/,
      );
      assert.ok(!err.message.includes("\n"), "one line");
      return true;
    },
  );
  // A plain wrong address in a good file: refused, nothing written.
  const good = join(work, "good.h5");
  const g = H5File.open(good, "w");
  g.createDataset("/d", { dtype: "int8", shape: [1], data: Int8Array.of(1) });
  g.close();
  assert.throws(
    () => finishBooleans(good, [{ header: 3 }]),
    /cannot store a boolean dataset \(object header at 3\): no object header at 3/,
  );
  assert.throws(() => finishBooleans(good, [{ header: 1 << 30 }]), /outside the file/);
  const r = H5File.open(good, "r");
  assert.equal(r.info("/d").dtype, "int8");
  r.close();
});
