// The encoding registry (src/io/anndata/registry.ts) is a table: reads keyed by (encoding-type,
// encoding-version), writes by element type, the encoding attributes stamped in one place. Unknown types and
// versions are one clear error; every (type, version) pair in the test fixtures (real files included) is read.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { H5File } from "../../src/io/h5/file.ts";
import { openStore } from "../../src/io/openStore.ts";
import type { ReadStore } from "../../src/io/store.ts";
import { FileFormatError } from "../../src/errors.ts";
import { openH5ad } from "../../src/io/anndata/handle.ts";
import { writeH5ad } from "../../src/io/anndata/anndata.ts";
import { describeMatrix } from "../../src/io/anndata/matrixReader.ts";
import {
  ENCODING_TABLE,
  KNOWN_ENCODINGS,
  elementKind,
  encodingOf,
  isMatrixElement,
  isReadable,
  matrixFormat,
  readElem,
  writeElem,
  type WriterTable,
} from "../../src/io/anndata/registry.ts";
import {
  bools,
  categorical,
  dataframe,
  dict,
  emptyAnnData,
  ndarray,
  scalar,
  strings,
  type Element,
} from "../../src/io/anndata/model.ts";

const REPO = join(import.meta.dirname, "..", "..");
const FIXTURES = join(REPO, "test", "fixtures");
const dir = mkdtempSync(join(tmpdir(), "registry-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function smallFile(name: string): string {
  const p = join(dir, name);
  const ad = emptyAnnData(4, 3);
  ad.X = ndarray(Float32Array.of(1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0), [4, 3]);
  ad.obs.columns.guide = categorical(["a", "b", "a", "b"]);
  ad.obs.columns.n = ndarray(Float64Array.of(1, 2, 3, 4));
  ad.obs.columnOrder = ["guide", "n"];
  writeH5ad(p, ad);
  return p;
}

function tamper(p: string, path: string, attrs: Record<string, string | null>): void {
  const f = H5File.open(p, "r+");
  for (const [k, v] of Object.entries(attrs)) v === null ? f.deleteAttr(path, k) : f.setAttr(path, k, v);
  f.close();
}

function expectFormatError(fn: () => unknown, file: string, message: RegExp, hint: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FileFormatError, `a FileFormatError, got ${String(e)}`);
    assert.ok(e.message.includes(file), `names the file: ${e.message}`);
    assert.doesNotMatch(e.message, /\n/, "one line");
    assert.match(e.message, message);
    assert.match(String(e.hint), hint);
    return true;
  });
}

test("the accepted versions are the ones anndata has written (0.7 to 0.12)", () => {
  const reads = Object.fromEntries(Object.entries(ENCODING_TABLE).map(([t, e]) => [t, [...e.reads]]));
  assert.deepEqual(reads, {
    array: ["0.2.0"],
    "string-array": ["0.2.0"],
    "numeric-scalar": ["0.2.0"],
    string: ["0.2.0"],
    csr_matrix: ["0.1.0"],
    csc_matrix: ["0.1.0"],
    categorical: ["0.2.0"],
    // 0.1.0 is anndata 0.7's data frame (its categoricals have no attributes: the implied form below).
    dataframe: ["0.1.0", "0.2.0"],
    "nullable-integer": ["0.1.0"],
    "nullable-boolean": ["0.1.0"],
    "nullable-string-array": ["0.1.0"],
    dict: ["0.1.0"],
    "rec-array": ["0.2.0"],
    null: ["0.1.0"],
    anndata: ["0.1.0"],
    raw: ["0.1.0"],
  });
  // What crispyx writes is one of what it reads, and the public KNOWN_ENCODINGS says the same.
  for (const [t, e] of Object.entries(ENCODING_TABLE)) {
    assert.ok((e.reads as readonly string[]).includes(e.writes), t);
    assert.equal(KNOWN_ENCODINGS[t], e.writes);
  }
  assert.ok(
    isReadable({ type: "categorical", version: "0.1.0", implied: true }),
    "anndata 0.7's attribute-less categorical",
  );
  assert.ok(!isReadable({ type: "categorical", version: "0.1.0" }), "no anndata stamped categorical 0.1.0");
  assert.ok(!isReadable({ type: "csr_matrix", version: "" }), "a missing version is refused, as anndata does");
});

/** Every file or zarr directory under test/fixtures that openStore reads. */
function fixtureStores(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (name.endsWith(".h5ad") || name.endsWith(".h5")) out.push(p);
      else if (name.endsWith(".zarr")) out.push(p);
      else if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(FIXTURES);
  return out;
}

function walkEncodings(store: ReadStore, path: string, seen: Map<string, string>): void {
  const enc = encodingOf(store, path);
  if (enc) {
    const key = `${enc.type} ${enc.version}${enc.implied ? " (implied)" : ""}`;
    if (!seen.has(key)) seen.set(key, `${relative(REPO, store.path)}:${path}`);
  }
  if (store.isGroup(path))
    for (const k of store.keys(path)) walkEncodings(store, path === "/" ? `/${k}` : `${path}/${k}`, seen);
}

test("every encoding in the fixtures (real files included) is one the registry reads", () => {
  const seen = new Map<string, string>();
  const stores = fixtureStores();
  // The real-file corpus is all there (its manifest names each file).
  const manifest = JSON.parse(readFileSync(join(FIXTURES, "real", "manifest.json"), "utf8")) as
    | { name: string }[]
    | { files: { name: string }[] };
  const names = (Array.isArray(manifest) ? manifest : manifest.files).map((e) => e.name);
  for (const n of names)
    assert.ok(
      stores.some((s) => s.endsWith(`/real/${n}`)),
      `real fixture ${n} is scanned`,
    );
  for (const p of stores) {
    const store = openStore(p);
    try {
      walkEncodings(store, "/", seen);
    } finally {
      store.close();
    }
  }
  const unreadable = [...seen].filter(([key]) => {
    const [type, version] = key.split(" ");
    return !isReadable({
      type: type!,
      version: version!,
      ...(key.endsWith("(implied)") ? { implied: true as const } : {}),
    });
  });
  assert.deepEqual(unreadable, [], "pairs the registry would refuse");
  // The scan did see the old forms the table accepts on their account.
  assert.ok(seen.has("dataframe 0.1.0"), "an anndata 0.7 data frame is among the fixtures");
  assert.ok(seen.has("categorical 0.1.0 (implied)"), "an anndata 0.7 categorical is among the fixtures");
});

test("an unknown encoding-type is one error naming file, element, type and version, listing the known ones", () => {
  const p = smallFile("unknown-type.h5ad");
  tamper(p, "/obs/n", { "encoding-type": "arrray" });
  using h = openH5ad(p);
  expectFormatError(
    () => h.obs.column("n"),
    p,
    /element \/obs\/n has encoding-type 'arrray' \(version '0\.2\.0'\), which crispyx cannot read/,
    /known encodings: array 0\.2\.0, .*dataframe 0\.1\.0\/0\.2\.0/,
  );
});

test("an unknown version of a known type is one error naming the versions crispyx reads", () => {
  const p = smallFile("unknown-version.h5ad");
  tamper(p, "/obs/guide", { "encoding-version": "0.3.0" });
  tamper(p, "/X", { "encoding-version": "0.9.0" });
  using h = openH5ad(p);
  expectFormatError(
    () => h.obs.column("guide"),
    p,
    /element \/obs\/guide has encoding-type 'categorical' with version '0\.3\.0', which crispyx cannot read/,
    /categorical version 0\.2\.0/,
  );
  expectFormatError(() => h.toMemory(), p, /\/X .*'0\.9\.0'/, /version 0\.2\.0/);
  expectFormatError(
    () => describeMatrix(h.file, "/X"),
    p,
    /element \/X has encoding-type 'array' with version '0\.9\.0'/,
    /array version 0\.2\.0/,
  );
  const q = smallFile("no-version.h5ad");
  tamper(q, "/obs/n", { "encoding-version": null });
  using g = openH5ad(q);
  expectFormatError(
    () => g.obs.column("n"),
    q,
    /\/obs\/n has encoding-type 'array' with no encoding-version/,
    /array version 0\.2\.0/,
  );
  const r = smallFile("root-version.h5ad");
  tamper(r, "/", { "encoding-version": "0.2.0" });
  expectFormatError(
    () => openH5ad(r),
    r,
    /element \/ has encoding-type 'anndata' with version '0\.2\.0'/,
    /anndata version 0\.1\.0/,
  );
});

test("what is at a path: the registry's queries", () => {
  const p = join(dir, "kinds.h5ad");
  const f = H5File.open(p, "w");
  writeElem(f, "/csr", {
    type: "csr",
    shape: [2, 2],
    data: Float32Array.of(1),
    indices: Int32Array.of(0),
    indptr: Int32Array.of(0, 1, 1),
  });
  writeElem(f, "/dense", ndarray(Float64Array.of(1, 2, 3, 4), [2, 2]));
  writeElem(f, "/names", strings(["a", "b"]));
  writeElem(f, "/df", dataframe(["x", "y"]));
  f.createDataset("/legacy", { dtype: "float32", shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) });
  f.close();
  using s = openStore(p);
  assert.equal(elementKind(s, "/csr"), "csr");
  assert.equal(elementKind(s, "/df"), "dataframe");
  assert.equal(elementKind(s, "/legacy"), null);
  assert.deepEqual(
    ["/csr", "/dense", "/names", "/df", "/legacy"].map((q) => matrixFormat(s, q)),
    ["csr", "dense", null, null, "dense"],
  );
  assert.deepEqual(
    ["/csr", "/dense", "/names", "/df", "/legacy"].map((q) => isMatrixElement(s, q)),
    [true, true, false, false, true],
  );
});

test("writeElem stamps every element type with the table's version, and reads it back", () => {
  const p = join(dir, "stamped.h5ad");
  const elements: Record<string, Element> = {
    array: ndarray(Int32Array.of(1, 2)),
    strings: strings(["a"]),
    flag: bools([true]),
    num: scalar(3.5),
    text: scalar("t"),
    cat: categorical(["a", null]),
    df: dataframe(["r0"]),
    d: dict({ inner: scalar("x") }),
    nint: { type: "nullable-integer", values: ndarray(Int32Array.of(1, 2)), mask: Uint8Array.of(0, 1) },
    rec: { type: "rec-array", length: 1, fields: [{ name: "a", dtype: "float64", data: Float64Array.of(1) }] },
    csc: {
      type: "csc",
      shape: [1, 1],
      data: Float32Array.of(1),
      indices: Int32Array.of(0),
      indptr: Int32Array.of(0, 1),
    },
  };
  const f = H5File.open(p, "w");
  for (const [k, e] of Object.entries(elements)) writeElem(f, `/${k}`, e);
  writeElem(f, "/none", { type: "null" });
  f.close();
  using s = openStore(p);
  assert.equal(s.exists("/none"), false, "a None is left out (anndata < 0.12 cannot read it)");
  for (const [k, e] of Object.entries(elements)) {
    const enc = encodingOf(s, `/${k}`)!;
    assert.equal(enc.version, KNOWN_ENCODINGS[enc.type], `${k}: ${enc.type}`);
    assert.deepEqual(readElem(s, `/${k}`), e, k);
  }
});

test("a writer table without a row for every element type does not compile", () => {
  // registry.ts's WRITERS `satisfies WriterTable`; test/core/typecheck.test.ts fails if this stops being an error.
  // @ts-expect-error: no writers for scalar, csr, …, null
  const incomplete: WriterTable = { array: () => {} };
  assert.equal(Object.keys(incomplete).length, 1);
});

/** Every .ts file under src/. */
function sources(d = join(REPO, "src")): string[] {
  return readdirSync(d).flatMap((n) => {
    const p = join(d, n);
    return statSync(p).isDirectory() ? sources(p) : n.endsWith(".ts") ? [p] : [];
  });
}

test("the encoding attributes are set in one place, and version strings appear only in the table", () => {
  const registry = join(REPO, "src", "io", "anndata", "registry.ts");
  const offenders: string[] = [];
  for (const p of sources()) {
    if (p === registry) continue;
    readFileSync(p, "utf8")
      .split("\n")
      .forEach((line, i) => {
        const where = `${relative(REPO, p)}:${i + 1}: ${line.trim()}`;
        if (/setAttr\([^)]*["'`]encoding-(type|version)["'`]/.test(line)) offenders.push(where);
        if (/["'`]0\.\d+\.\d+["'`]/.test(line)) offenders.push(where);
      });
  }
  assert.deepEqual(offenders, [], "stamp with stampEncoding/createEncodedGroup (registry.ts) instead");
});
