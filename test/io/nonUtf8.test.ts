// Strings whose bytes are not UTF-8 are refused at the HDF5 boundary, naming the element, the row and the byte
// (issue 20, item 4), instead of being decoded with replacements and copied, changed, into outputs. Valid text —
// multi-byte, empty, fixed-length, in attributes, LZF-compressed — reads as before.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { H5File } from "../../src/io/h5/file.ts";
import { firstBadByte } from "../../src/io/h5/utf8.ts";
import { FileFormatError } from "../../src/errors.ts";
import { CLI, tempDir } from "../cli/helpers.ts";
import { findPython, SKIP_MESSAGE } from "../helpers/anndataChecker.ts";

const python = findPython();
const skip = python ? false : SKIP_MESSAGE;

/** One HDF5 file with good and bad strings of every kind, written by h5py from raw bytes. */
function makeFile(path: string): void {
  const script = `
import sys, h5py, numpy as np
good = ["a", "", "é", "日本", "😀x"]
bad = [b"ok", b"\\xc3(", b"z"]
with h5py.File(sys.argv[1], "w") as f:
    vs = h5py.string_dtype("utf-8")
    f.create_dataset("good_vlen", data=np.array(good, dtype=object), dtype=vs)
    f.create_dataset("good_fixed", data=np.array([s.encode() for s in good], dtype="S8"))
    f.create_dataset("good_lzf", data=np.array(good * 50, dtype=object), dtype=vs, compression="lzf", chunks=(40,))
    f.create_dataset("bad_vlen", data=np.array(bad, dtype=object), dtype=vs)
    f.create_dataset("bad_fixed", data=np.array([b"aa", b"bb", b"c\\xff"], dtype="S4"))
    f.create_dataset("bad_lzf", data=np.array(bad * 50, dtype=object), dtype=vs, compression="lzf", chunks=(40,))
    f.create_dataset("bad_scalar", data=b"\\xed\\xa0\\x80", dtype=vs)
    rec = np.dtype([("name", vs), ("code", "S6"), ("score", "<f4")])
    f.create_dataset("good_rec", data=np.array([("日本", "é".encode(), 1.5), ("", b"ab", 2)], dtype=rec))
    f.create_dataset("bad_rec", data=np.array([("ok", b"ab", 1), ("fine", b"x\\xc3(", 2)], dtype=rec))
    f["good_vlen"].attrs["names"] = np.array(good, dtype=object)
    f["good_vlen"].attrs.create("bad_scalar_attr", b"x\\xfey", dtype=vs)
    f["good_vlen"].attrs.create("bad_array_attr", np.array([b"a", b"b\\x80"], dtype=object), dtype=vs)
`;
  const r = spawnSync(python!, ["-c", script, path], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
}

function refuses(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FileFormatError, String(err));
    assert.equal(err.code, "FILE_FORMAT");
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes("\n"), "one line");
    return true;
  });
}

test("strings not UTF-8 are refused naming the element, row and byte; valid ones read as before", { skip }, () => {
  const tmp = tempDir("nonutf8-");
  try {
    const p = join(tmp.path, "strings.h5");
    makeFile(p);
    const good = ["a", "", "é", "日本", "😀x"];
    using f = H5File.open(p, "r");
    assert.deepEqual(f.readStrings("good_vlen"), good);
    assert.deepEqual(f.readStrings("good_vlen", 2, 2), ["é", "日本"]);
    assert.deepEqual(f.readStrings("good_fixed"), good);
    assert.ok(f.readsWithOwnFilters("good_lzf"));
    assert.deepEqual(f.readStrings("good_lzf", 195, 5), good);
    assert.deepEqual(f.attr("good_vlen", "names"), good);
    refuses(() => f.readStrings("bad_vlen"), /bad_vlen\[1\] is not valid UTF-8 text \(byte 0 of the value: C3 28\)/);
    // A slice reports the row in the whole dataset; a slice without the bad row reads.
    refuses(() => f.readStrings("bad_vlen", 1, 2), /bad_vlen\[1\] /);
    assert.deepEqual(f.readStrings("bad_vlen", 2, 1), ["z"]);
    refuses(() => f.readStrings("bad_fixed"), /bad_fixed\[2\] is not valid UTF-8 text \(byte 1 of the value: FF\)/);
    refuses(() => f.readStrings("bad_lzf"), /bad_lzf\[1\] is not valid UTF-8 text/);
    refuses(
      () => f.readStrings("bad_scalar"),
      /bad_scalar\[0\] is not valid UTF-8 text \(byte 0 of the value: ED A0 80\)/,
    );
    refuses(
      () => f.attr("good_vlen", "bad_scalar_attr"),
      /good_vlen attribute 'bad_scalar_attr' is not valid UTF-8 text \(byte 1/,
    );
    refuses(() => f.attr("good_vlen", "bad_array_attr"), /good_vlen attribute 'bad_array_attr'\[1\] is not valid/);
    assert.deepEqual(f.readCompound("good_rec").columns, [
      ["日本", ""],
      ["é", "ab"],
      [1.5, 2],
    ]);
    refuses(
      () => f.readCompound("bad_rec"),
      /bad_rec\[1\]\.code is not valid UTF-8 text \(byte 1 of the value: C3 28\)/,
    );
    // Reading again after a refusal works (the variable-length strings HDF5 allocated were freed, the handle is sound).
    assert.deepEqual(f.readStrings("good_vlen"), good);
  } finally {
    tmp.cleanup();
  }
});

test("firstBadByte: where Python's strict decoder stops", () => {
  const at = (...b: number[]) => firstBadByte(Uint8Array.from(b));
  assert.equal(at(0x61, 0xc3, 0xa9), -1); // é
  assert.equal(at(0xf0, 0x9f, 0x98, 0x80), -1); // 😀
  assert.equal(at(0x61, 0xc3, 0x28), 1); // lead byte without its continuation
  assert.equal(at(0xc0, 0x80), 0); // overlong NUL
  assert.equal(at(0xe0, 0x80, 0x80), 0); // overlong
  assert.equal(at(0xed, 0xa0, 0x80), 0); // a surrogate
  assert.equal(at(0xf4, 0x90, 0x80, 0x80), 0); // above U+10FFFF
  assert.equal(at(0x61, 0x62, 0xe2, 0x82), 2); // cut inside a sequence
  assert.equal(at(0x80), 0); // a lone continuation byte
});

test("validate and info report a category that is not UTF-8; normalize refuses it", { skip }, () => {
  const tmp = tempDir("nonutf8-cli-");
  try {
    const src = join(tmp.path, "demo");
    const demo = spawnSync(
      process.execPath,
      [CLI, "demo", "--cells", "40", "--genes", "20", "--perturbations", "3", "-o", src],
      {
        encoding: "utf8",
      },
    );
    assert.equal(demo.status, 0, demo.stderr);
    const p = join(src, "demo.h5ad");
    const edit = spawnSync(
      python!,
      [
        "-c",
        `import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    d = f["obs/perturbation/categories"]
    a = list(d[...]); a[1] = b"\\xc3("; attrs = dict(d.attrs); del f["obs/perturbation/categories"]
    n = f.create_dataset("obs/perturbation/categories", (len(a),), dtype=h5py.string_dtype("utf-8"))
    n[...] = np.array(a, dtype=object)
    for k, v in attrs.items(): n.attrs[k] = v`,
        p,
      ],
      { encoding: "utf8" },
    );
    assert.equal(edit.status, 0, edit.stderr);
    const expected = /obs\/perturbation\/categories\[1\] is not valid UTF-8 text \(byte 0 of the value: C3 28\)/;
    for (const args of [
      ["validate", p],
      ["info", p],
      ["normalize", p, "-o", join(tmp.path, "n.h5ad")],
    ]) {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
      assert.equal(r.status, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stdout + r.stderr, expected, args[0]);
    }
  } finally {
    tmp.cleanup();
  }
});
