/**
 * The zarr backend (src/io/zarr/): stores written by anndata 0.8 (zarr v2, Blosc lz4) and 0.13.4 (zarr v3,
 * sharded + zstd; and zarr v2 written by zarr-python 3) read element for element as the same data in
 * .h5ad; every codec and layout zarr-python writes for the arrays of test/fixtures/zarr/codecs_v*.zarr;
 * damaged stores give one FileFormatError naming store and element.
 * Fixtures: scripts/reference/make_zarr_fixtures.py.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { H5File } from "../../src/io/h5/file.ts";
import { isZarrStore, openZarrStore } from "../../src/io/zarr/index.ts";
import { openStore, openWriteStore } from "../../src/io/openStore.ts";
import { readElem } from "../../src/io/anndata/registry.ts";
import { readAnnData } from "../../src/io/anndata/anndata.ts";
import type { ReadStore } from "../../src/io/store.ts";
import { FileFormatError, InvalidArgumentError } from "../../src/errors.ts";

const DIR = fileURLToPath(new URL("../fixtures/zarr/", import.meta.url));
const PAIRS: [string, string][] = [
  ["v2_counts.zarr", "counts.h5ad"],
  ["v3_counts.zarr", "counts.h5ad"],
  ["v2z3_counts.zarr", "counts.h5ad"],
  ["v2_lognorm.zarr", "lognorm.h5ad"],
  ["v3_lognorm.zarr", "lognorm.h5ad"],
];

function plain(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number | bigint>, plain);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** Every dataset path under `p`, depth first. */
function datasets(f: ReadStore, p = "/"): string[] {
  const out: string[] = [];
  for (const k of f.keys(p)) {
    const q = p === "/" ? `/${k}` : `${p}/${k}`;
    if (f.isGroup(q)) out.push(q, ...datasets(f, q));
    else out.push(q);
  }
  return out;
}

for (const [zarr, h5ad] of PAIRS) {
  test(`${zarr}: same tree, attributes, dtypes and values as ${h5ad}`, () => {
    using h = H5File.open(join(DIR, h5ad), "r");
    using z = openZarrStore(join(DIR, zarr));
    assert.equal(z.format, "zarr");
    assert.deepEqual(z.capabilities, { hardLinks: false, directIO: false, writable: false });
    const paths = datasets(h);
    assert.deepEqual(datasets(z), paths);
    for (const p of paths) {
      assert.deepEqual(plain(z.attrs(p)), plain(h.attrs(p)), `attributes of ${p}`);
      if (h.isGroup(p)) continue;
      const hi = h.info(p);
      const zi = z.info(p);
      assert.equal(zi.dtype, hi.dtype, `dtype of ${p}`);
      assert.deepEqual(zi.shape, hi.shape, `shape of ${p}`);
      if (hi.dtype === "other") {
        // Record arrays (rank_genes_groups): same fields; values compared through readElem below.
        assert.deepEqual(
          z.compoundInfo(p).members.map((m) => m.name),
          h.compoundInfo(p).members.map((m) => m.name),
          `fields of ${p}`,
        );
        assert.equal(z.compoundInfo(p).length, h.compoundInfo(p).length);
        continue;
      }
      assert.deepEqual(plain(z.readValue(p)), plain(h.readValue(p)), `value of ${p}`);
    }
  });

  test(`${zarr}: readElem of every element and readAnnData equal the .h5ad's`, () => {
    using h = H5File.open(join(DIR, h5ad), "r");
    using z = openZarrStore(join(DIR, zarr));
    for (const k of h.keys("/"))
      assert.deepEqual(plain(readElem(z, `/${k}`)), plain(readElem(h, `/${k}`)), `element /${k}`);
    assert.deepEqual(plain(readAnnData(z)), plain(readAnnData(h)));
  });

  test(`${zarr}: hyperslabs across chunk borders and a caller's buffer`, () => {
    using h = H5File.open(join(DIR, h5ad), "r");
    using z = openZarrStore(join(DIR, zarr));
    const X = h.isGroup("/X") ? "/X/data" : "/X";
    const shape = h.info(X).shape;
    for (const frac of [0, 0.2, 0.5]) {
      const s = shape.map((d) => Math.floor(d * frac));
      const c = shape.map((d, i) => Math.max(1, Math.floor((d - s[i]!) * 0.7)));
      assert.deepEqual(z.read(X, s, c), h.read(X, s, c));
    }
    const n = shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    assert.equal(z.read(X, undefined, undefined, out), out);
    assert.deepEqual(out, h.read(X));
    assert.deepEqual(z.readStrings("/obs/_index", 100, 30), h.readStrings("/obs/_index", 100, 30));
    assert.throws(
      () =>
        z.read(
          X,
          shape.map(() => 0),
          shape.map((d) => d + 1),
        ),
      /outside its shape/,
    );
    assert.throws(() => z.read("/obs/_index"), /not numbers/);
  });
}

test("anndata 0.13's zarr raw = None (a null element) reads as no raw, as its .h5ad does", () => {
  using z = openZarrStore(join(DIR, "v3_counts.zarr"));
  assert.equal(z.exists("/raw"), false);
  assert.ok(!z.keys("/").includes("raw"));
});

test("openStore: a zarr directory opens read-only with the zarr backend; writing it is an InvalidArgumentError", () => {
  const path = join(DIR, "v3_counts.zarr");
  assert.equal(isZarrStore(path), true);
  assert.equal(isZarrStore(join(DIR, "counts.h5ad")), false);
  using s = openStore(path);
  assert.equal(s.format, "zarr");
  assert.throws(() => openStore(path, "r+"), InvalidArgumentError);
  assert.throws(() => openWriteStore(path, "w"), InvalidArgumentError);
});

// ---- codecs and layouts ---------------------------------------------------------------------------

const expected = JSON.parse(readFileSync(join(DIR, "codecs_expected.json"), "utf8")) as Record<string, unknown> & {
  shapes: Record<string, number[]>;
};
const flat = (v: unknown): unknown[] => (Array.isArray(v) ? v.flatMap(flat) : [v]);

function expectArray(z: ReadStore, path: string, name: string): void {
  const want = flat(expected[name]);
  const info = z.info(path);
  assert.deepEqual(info.shape, expected.shapes[name], `shape of ${path}`);
  if (name === "s") {
    assert.equal(info.dtype, "string");
    assert.deepEqual(z.readStrings(path), want, path);
    return;
  }
  const got = z.readValue(path);
  if (name === "i8") assert.deepEqual(Array.from(got as BigInt64Array, String), want, path);
  else if (name === "b1") assert.deepEqual(got, want, path);
  else if (name === "f4")
    assert.deepEqual(Array.from(got as Float32Array), Array.from(Float32Array.from(want as number[])), path);
  else assert.deepEqual(Array.from(got as ArrayLike<number>), want, path);
}

for (const version of ["v2", "v3"] as const) {
  test(`codecs_${version}.zarr: every compressor zarr-python writes, for every dtype`, () => {
    using z = openZarrStore(join(DIR, `codecs_${version}.zarr`));
    const compressors = z.keys("/").filter((k) => k !== "layout");
    assert.ok(compressors.length >= 5, compressors.join(","));
    for (const c of compressors) {
      for (const name of ["f4", "f8", "i8", "i4", "u1", "b1", "s"]) expectArray(z, `/${c}/${name}`, name);
    }
  });
}

test("codecs_v2.zarr layouts: big-endian, F order, '/' keys, missing chunks, fixed strings; unsupported Blosc says which", () => {
  using z = openZarrStore(join(DIR, "codecs_v2.zarr"));
  for (const name of ["big_endian", "f_order", "slash"]) expectArray(z, `/layout/${name}`, "f4");
  // A slab of the F-order array crossing chunks.
  const f4 = flat(expected.f4) as number[];
  const slab = z.read("/layout/f_order", [7, 3], [12, 5]);
  for (let i = 0; i < 12; i++)
    for (let j = 0; j < 5; j++) assert.equal(slab[i * 5 + j], Math.fround(f4[(7 + i) * 11 + 3 + j]!));
  const missing = Array.from(z.read("/layout/missing") as Float64Array);
  assert.deepEqual(
    missing,
    Array.from({ length: 40 }, (_, i) => (i >= 10 && i < 20 ? i - 10 : -1.5)),
  );
  const nan = Array.from(z.read("/layout/missing_nan") as Float32Array);
  assert.deepEqual(nan.slice(0, 5), [1, 1, 1, 1, 1]);
  assert.ok(nan.slice(5).every(Number.isNaN));
  assert.equal(z.info("/layout/fixed_S").dtype, "fixed-string:3");
  assert.deepEqual(z.readStrings("/layout/fixed_S"), ["ab", "", "xyz", "q"]);
  assert.deepEqual(z.readStrings("/layout/fixed_U"), ["ab", "", "xÿz", "q"]);
  assert.throws(
    () => z.read("/layout/bitshuffle"),
    (e: Error) => e instanceof FileFormatError && /codecs_v2\.zarr.*\/layout\/bitshuffle.*bit shuffle/.test(e.message),
  );
  assert.throws(
    () => z.read("/layout/blosclz"),
    (e: Error) => e instanceof FileFormatError && /\/layout\/blosclz.*blosclz is not supported/.test(e.message),
  );
});

test("codecs_v3.zarr layouts: big-endian bytes codec, sharding (also with missing inner chunks), v2 chunk keys, fixed UTF-32", () => {
  using z = openZarrStore(join(DIR, "codecs_v3.zarr"));
  for (const name of ["big_endian", "sharded", "v2_keys"]) expectArray(z, `/layout/${name}`, "f4");
  assert.deepEqual(z.info("/layout/sharded").chunks, [5, 4]);
  const part = Array.from(z.read("/layout/sharded_missing") as Float64Array);
  assert.deepEqual(
    part,
    Array.from({ length: 40 }, (_, i) => (i >= 20 && i < 25 ? i - 20 : -1.5)),
  );
  const missing = Array.from(z.read("/layout/missing") as Float64Array);
  assert.deepEqual(
    missing,
    Array.from({ length: 40 }, (_, i) => (i >= 10 && i < 20 ? i - 10 : -1.5)),
  );
  assert.deepEqual(z.readStrings("/layout/fixed_U"), ["ab", "", "xÿz", "q"]);
});

// ---- damaged stores ---------------------------------------------------------------------------------

function damaged(store: string, damage: (dir: string) => void): string {
  const tmp = mkdtempSync(join(tmpdir(), "crispyx-zarr-"));
  const dir = join(tmp, store);
  cpSync(join(DIR, store), dir, { recursive: true });
  damage(dir);
  return dir;
}

test("damaged metadata or chunks: one FileFormatError naming the store and the element", (t) => {
  const dirs: string[] = [];
  t.after(() => {
    for (const d of dirs) rmSync(join(d, ".."), { recursive: true, force: true });
  });
  const check = (store: string, damage: (d: string) => void, use: (z: ReadStore) => unknown, pattern: RegExp) => {
    const dir = damaged(store, damage);
    dirs.push(dir);
    assert.throws(
      () => {
        using z = openZarrStore(dir);
        use(z);
      },
      (e: Error) => {
        assert.ok(e instanceof FileFormatError, `${e.name}: ${e.message}`);
        assert.ok(e.message.includes(dir), e.message);
        assert.match(e.message, pattern);
        assert.equal(e.message.split("\n").length, 1);
        return true;
      },
    );
  };
  check(
    "v2_counts.zarr",
    (d) => writeFileSync(join(d, "X/data/.zarray"), "{ not json"),
    (z) => z.info("/X/data"),
    /\/X\/data.*not valid JSON/,
  );
  check(
    "v2_counts.zarr",
    (d) =>
      writeFileSync(
        join(d, "X/indptr/.zarray"),
        JSON.stringify({
          zarr_format: 2,
          shape: [241],
          chunks: [241],
          dtype: "<f2",
          compressor: null,
          fill_value: 0,
          order: "C",
          filters: null,
        }),
      ),
    (z) => z.read("/X/indptr"),
    /\/X\/indptr.*float16|\/X\/indptr.*other values/,
  );
  check(
    "v2_counts.zarr",
    (d) =>
      writeFileSync(
        join(d, "X/indices/.zarray"),
        JSON.stringify({
          zarr_format: 2,
          shape: [3],
          chunks: [3],
          dtype: "<i4",
          compressor: { id: "lzma" },
          fill_value: 0,
          order: "C",
          filters: null,
        }),
      ),
    (z) => z.info("/X/indices"),
    /\/X\/indices.*codec "lzma" is not supported/,
  );
  check(
    "v2_counts.zarr",
    (d) => truncateSync(join(d, "X/data/0"), 40),
    (z) => z.read("/X/data"),
    /cannot read \/X\/data \(chunk 0\)/,
  );
  check(
    "v3_counts.zarr",
    (d) => {
      const root = JSON.parse(readFileSync(join(d, "zarr.json"), "utf8"));
      root.consolidated_metadata.metadata["X/data"].chunk_grid = { name: "rectilinear" };
      writeFileSync(join(d, "zarr.json"), JSON.stringify(root));
    },
    (z) => z.info("/X/data"),
    /damaged zarr metadata of \/X\/data: chunk_grid/,
  );
  check(
    "v3_counts.zarr",
    (d) => truncateSync(join(d, "X/data/c/0"), 10),
    (z) => z.read("/X/data"),
    /cannot read \/X\/data/,
  );
  check(
    "v3_counts.zarr",
    (d) => writeFileSync(join(d, "zarr.json"), "[]"),
    (z) => z.keys("/"),
    /damaged zarr metadata of \/: zarr.json is not a JSON object/,
  );
});
