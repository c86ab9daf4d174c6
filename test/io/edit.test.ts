// In-place edits: replaceElement/deleteElement on golden fixtures (read back by crispyx and anndata, X
// untouched), and the byte-level link patches of src/io/h5/links.ts on every group layout HDF5 writes,
// checked by the HDF5 C library through h5py (lookups, inserts and deletes after our patches).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { deleteElement, removeLeftoverStaging, replaceElement, STAGING_NAME } from "../../src/io/anndata/edit.ts";
import { readH5ad, writeH5ad } from "../../src/io/anndata/anndata.ts";
import { writeElem } from "../../src/io/anndata/registry.ts";
import { categorical, dataframe, dict, ndarray, scalar, strings } from "../../src/io/anndata/model.ts";
import { H5File } from "../../src/io/h5/file.ts";
import { deleteLink, listLinks, lookup3, retargetLink } from "../../src/io/h5/links.ts";
import { CrispyxError } from "../../src/errors.ts";
import { canonicalDump, diffDumps } from "../helpers/canonicalDump.ts";
import { dumpH5adEach, findPython, SKIP_MESSAGE } from "../helpers/anndataChecker.ts";
import { copyFixture, datasetDigest, FIXTURES, h5pyWalk, py, tempDir } from "./editSupport.ts";
import { DIRECT_IO } from "../helpers/directIO.ts";

const DIR = tempDir("edit");
test.after(() => rmSync(DIR, { recursive: true, force: true }));
const noPython = findPython() ? undefined : SKIP_MESSAGE;
const expected = (name: string) => JSON.parse(readFileSync(join(FIXTURES, "expected", `${name}.json`), "utf8"));

/** crispyx's and anndata's readings of `path` agree; returns crispyx's dump. */
function bothReaders(path: string): any {
  const ours = JSON.parse(JSON.stringify(canonicalDump(readH5ad(path))));
  // in each reference anndata able to read the file (the copies of full_csr keep its nullable strings: >= 0.11)
  for (const { ref, dump } of dumpH5adEach(path)) {
    const diffs = diffDumps(ours, dump);
    assert.deepEqual(
      diffs,
      [],
      `crispyx and anndata ${ref.anndataVersion} read ${path} differently:\n${diffs.join("\n")}`,
    );
  }
  return ours;
}

function assertNoStaging(path: string): void {
  for (const g of ["/obs", "/var"]) assert.ok(!listLinks(path, g).includes(STAGING_NAME), `staging group left in ${g}`);
}

function newObs(n: number, tag: string) {
  return dataframe(
    Array.from({ length: n }, (_, i) => `cell_${i}`),
    {
      tag: strings(Array.from({ length: n }, () => tag)),
      group: categorical(Array.from({ length: n }, (_, i) => (i % 3 === 0 ? "ctrl" : `g${i % 4}`))),
      value: ndarray(Float64Array.from({ length: n }, (_, i) => i / 7)),
    },
  );
}

test("lookup3 matches the published test vectors", () => {
  assert.equal(lookup3(new Uint8Array(0)), 0xdeadbeef);
  assert.equal(lookup3(Buffer.from("Four score and seven years ago")), 0x17770551);
});

test("replaceElement swaps obs: both readers see the new table, everything else and X unchanged", () => {
  const p = copyFixture("full_csr", DIR, "replace_obs");
  const xBefore = datasetDigest(p, "/X");
  const layersBefore = datasetDigest(p, "/layers");
  replaceElement(p, "/obs", (f, at) => writeElem(f, at, newObs(20, "c")));
  assert.equal(datasetDigest(p, "/X"), xBefore);
  assert.equal(datasetDigest(p, "/layers"), layersBefore);
  assertNoStaging(p);
  const got = bothReaders(p);
  const want = expected("full_csr");
  want.obs = JSON.parse(JSON.stringify(canonicalDump({ ...readH5ad(p), obs: newObs(20, "c") }).obs));
  assert.deepEqual(diffDumps(got, want), []);
  assert.deepEqual(got.obs.columns, ["tag", "group", "value"]);
  assert.equal(got.obs.data.tag.values[0], "c");
});

test("replaceElement creates a new element (new name, new parent group)", () => {
  const p = copyFixture("x_dense_f32", DIR, "create");
  const xBefore = datasetDigest(p);
  replaceElement(p, "/uns/made/here", (f, at) => writeElem(f, at, strings(["a", "b"])));
  replaceElement(p, "/uns/answer", (f, at) => writeElem(f, at, scalar(42)));
  assert.equal(datasetDigest(p), xBefore);
  const got = bothReaders(p);
  assert.deepEqual(got.uns.items.made.items.here.values, ["a", "b"]);
  assert.equal(got.uns.items.answer.value, 42);
});

test("deleteElement removes uns, obsm and obsp entries for both readers; absent paths are a no-op", () => {
  const p = copyFixture("full_csr", DIR, "delete");
  const xBefore = datasetDigest(p);
  deleteElement(p, "/uns/nested");
  deleteElement(p, "/obsm/X_pca");
  deleteElement(p, "/obsp/distances");
  deleteElement(p, "/uns/not_there");
  for (const [bad, re] of [
    ["/obs", /every AnnData file needs it/],
    ["/var", /every AnnData file needs it/],
    ["/obs/score", /part of the obs table/],
    ["/var/gene_id", /part of the var table/],
  ] as const) {
    assert.throws(() => deleteElement(p, bad), re);
  }
  assert.equal(datasetDigest(p), xBefore);
  const got = bothReaders(p);
  const want = expected("full_csr");
  delete want.uns.items.nested;
  delete want.obsm.X_pca;
  delete want.obsp.distances;
  assert.deepEqual(diffDumps(got, want), []);
});

test("ten edits in a row keep the file readable and correct (and h5py can still walk it)", () => {
  const p = copyFixture("full_csr", DIR, "repeat");
  const xBefore = datasetDigest(p);
  for (let i = 0; i < 10; i++) {
    if (i % 3 === 0) replaceElement(p, "/obs", (f, at) => writeElem(f, at, newObs(20, `r${i}`)));
    else if (i % 3 === 1)
      replaceElement(p, `/uns/step`, (f, at) => writeElem(f, at, dict({ i: scalar(i), name: scalar(`s${i}`) })));
    else
      replaceElement(p, `/obsm/emb`, (f, at) =>
        writeElem(
          f,
          at,
          ndarray(
            Float32Array.from({ length: 40 }, (_, j) => i + j),
            [20, 2],
          ),
        ),
      );
    const a = readH5ad(p);
    assert.equal(a.obs.index.length, 20);
  }
  assert.equal(datasetDigest(p), xBefore);
  const got = bothReaders(p);
  assert.equal(got.obs.data.tag.values[0], "r9");
  assert.equal(got.uns.items.step.items.i.value, 7);
  assert.deepEqual(got.obsm.emb.values[0], [8, 9]);
  if (!noPython) assert.ok(h5pyWalk(p).includes("obs/group/codes"));
});

test("a leftover staging group is ignored by anndata and removed by the next edit", () => {
  const p = copyFixture("full_csr", DIR, "leftover");
  const f = H5File.open(p, "r+");
  f.createGroup(`/obs/${STAGING_NAME}`);
  writeElem(f, `/obs/${STAGING_NAME}/uns`, newObs(3, "half"));
  f.createGroup(`/var/${STAGING_NAME}`);
  f.close();
  const want = expected("full_csr");
  assert.deepEqual(diffDumps(bothReaders(p), want), []);
  replaceElement(p, "/uns/x", (g, at) => writeElem(g, at, scalar(1)));
  assertNoStaging(p);
  assert.equal(bothReaders(p).uns.items.x.value, 1);
  removeLeftoverStaging(p); // nothing left: no-op
});

test("an exception while writing the new element leaves the old one and no staging group", () => {
  const p = copyFixture("full_csr", DIR, "throws");
  assert.throws(
    () =>
      replaceElement(p, "/obs", (f, at) => {
        f.createGroup(at);
        writeElem(f, `${at}/half`, strings(["x"]));
        throw new Error("disk on fire");
      }),
    /disk on fire/,
  );
  assertNoStaging(p);
  assert.deepEqual(diffDumps(bothReaders(p), expected("full_csr")), []);
});

test("editing a file that this process has open is refused", () => {
  const p = copyFixture("x_dense_f32", DIR, "open");
  const f = H5File.open(p, "r");
  try {
    assert.throws(() => replaceElement(p, "/uns/a", (g, at) => writeElem(g, at, scalar(1))), /is open in this process/);
    assert.throws(() => deleteElement(p, "/obs"), /is open in this process/);
  } finally {
    f.close();
  }
});

// ---- byte-level links on layouts made by h5py -------------------------------------------------

/** Make an HDF5 file with h5py: `layout` is "old" (symbol tables), "compact" (link messages, v1 headers) or "v2". */
function h5pyFile(path: string, layout: "old" | "userblock" | "compact" | "v2" | "dense", n: number): void {
  py(
    `
import h5py, numpy as np, sys
path, layout, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
kw = {"libver": "latest"} if layout == "v2" else {"userblock_size": 1024} if layout == "userblock" else {}
with h5py.File(path, "w", **kw) as f:
    g = f.create_group("g", track_order=(layout in ("compact", "dense")))
    for i in range(n):
        g.create_dataset(f"d{i:03d}", data=np.arange(3) + i)
    sub = g.create_group("sub")
    sub.create_dataset("v", data=np.array([7, 7]))
    f.create_group("staging").create_dataset("new", data=np.array([-1, -2]))
`,
    path,
    layout,
    String(n),
  );
}

/** h5py: names in /g, the value of each dataset, then inserts and deletes through HDF5 itself. */
function h5pyCheckAndMutate(
  path: string,
  add: string[],
  remove: string[],
): { names: string[]; values: Record<string, number[]> } {
  return JSON.parse(
    py(
      `
import h5py, json, sys, numpy as np
path, add, remove = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
with h5py.File(path, "r+") as f:
    g = f["g"]
    names = list(g.keys())
    values = {k: g[k][()].tolist() for k in names if isinstance(g[k], h5py.Dataset)}
    for k in names:
        assert k in g
    for k in add:
        g.create_dataset(k, data=np.array([0]))
    for k in remove:
        del g[k]
with h5py.File(path, "r") as f:
    g = f["g"]
    after = sorted(g.keys())
    for k in after:
        g[k]
    assert set(after) == (set(names) | set(add)) - set(remove), (after, names, add, remove)
print(json.dumps({"names": names, "values": values}))
`,
      path,
      JSON.stringify(add),
      JSON.stringify(remove),
    ),
  );
}

for (const [layout, n] of [
  ["old", 5],
  ["old", 40],
  ["old", 300],
  ["userblock", 6],
  ["compact", 5],
  ["v2", 5],
  ["v2", 7],
] as const) {
  test(`links: retarget and delete in a ${layout}-style group of ${n} links, then HDF5 inserts/deletes still work`, {
    skip: noPython,
  }, () => {
    const p = join(DIR, `links_${layout}_${n}.h5`);
    h5pyFile(p, layout, n);
    const before = h5pyCheckAndMutate(p, [], []);
    // Retarget: g/d001 now holds staging/new's data, staging/new holds the old d001.
    retargetLink(p, "/g", "d001", "/staging/new");
    // Delete the first, the last and (for big groups) a whole run of names, so symbol nodes empty out.
    const gone = ["d000", `d${String(n - 1).padStart(3, "0")}`];
    if (n >= 40) for (let i = 8; i < 24; i++) gone.push(`d${String(i).padStart(3, "0")}`);
    for (const k of gone) deleteLink(p, "/g", k);
    deleteLink(p, "/", "staging");
    const f = H5File.open(p, "r");
    const keys = f.keys("/g");
    assert.deepEqual(Array.from(f.read("/g/d001"), Number), [-1, -2]);
    assert.deepEqual(Array.from(f.read("/g/sub/v"), Number), [7, 7]);
    assert.deepEqual(f.keys("/"), ["g"]);
    f.close();
    const want = before.names.filter((k) => !gone.includes(k));
    assert.deepEqual([...keys].sort(), [...want].sort());
    assert.deepEqual(listLinks(p, "/g").sort(), [...want].sort());
    // HDF5 itself: every remaining name found with the right value; then inserts (before, between, after
    // the remaining names, and into the emptied ranges) and deletes work and leave a consistent group.
    const after = h5pyCheckAndMutate(p, ["a_first", "d000", "d010", "d0105", "zz_last"], ["d002", "sub"]);
    assert.deepEqual(after.names.sort(), [...want].sort());
    assert.deepEqual(after.values.d001, [-1, -2]);
    for (const k of want.filter((k) => k.startsWith("d") && k !== "d001"))
      assert.deepEqual(
        after.values[k],
        [0, 1, 2].map((x) => x + Number(k.slice(1))),
      );
    h5pyWalk(p);
    // And crispyx's reader again after HDF5's own changes.
    const g = H5File.open(p, "r");
    assert.ok(g.keys("/g").includes("zz_last") && !g.keys("/g").includes("sub"));
    g.close();
  });
}

test("links: a group in dense link storage (fractal heap) is refused without changing a byte", {
  skip: noPython,
}, () => {
  const p = join(DIR, "links_dense.h5");
  h5pyFile(p, "dense", 30);
  const bytes = readFileSync(p);
  assert.throws(
    () => deleteLink(p, "/g", "d003"),
    (e: unknown) => e instanceof CrispyxError && /dense storage/.test((e as Error).message),
  );
  assert.throws(() => retargetLink(p, "/g", "d003", "/staging/new"), /dense storage/);
  assert.ok(readFileSync(p).equals(bytes));
});

test("links: missing names are clear errors", () => {
  const p = copyFixture("x_dense_f32", DIR, "missing");
  assert.throws(() => deleteLink(p, "/", "nope"), /no link nope in \//);
  assert.throws(() => deleteLink(p, "/nope", "x"), /no group \/nope/);
});

test("files written by crispyx's own writer are edited the same way", () => {
  const src = readH5ad(join(FIXTURES, "full_csr.h5ad"));
  const p = join(DIR, "crispyx_written.h5ad");
  writeH5ad(p, src);
  const xBefore = datasetDigest(p);
  replaceElement(p, "/obs", (f, at) => writeElem(f, at, newObs(20, "w")));
  replaceElement(p, "/uns/added", (f, at) => writeElem(f, at, dict({ a: scalar(1) })));
  deleteElement(p, "/obsm/X_pca");
  assert.equal(datasetDigest(p), xBefore);
  assertNoStaging(p);
  const got = bothReaders(p);
  assert.equal(got.obs.data.tag.values[0], "w");
  assert.equal(got.uns.items.added.items.a.value, 1);
  assert.ok(!("X_pca" in got.obsm));
});

test("an h5ad whose uns keeps links in dense storage: link edits are refused before any byte changes; the library route rewrites it", {
  skip: noPython,
}, () => {
  const p = copyFixture("x_dense_f32", DIR, "dense_uns");
  py(
    `
import h5py, sys
with h5py.File(sys.argv[1], "r+") as f:
    del f["uns"]
    g = f.create_group("uns", track_order=True)
    g.attrs["encoding-type"] = "dict"
    g.attrs["encoding-version"] = "0.1.0"
    for i in range(12):
        g[f"k{i:02d}"] = i
`,
    p,
  );
  const bytes = readFileSync(p);
  const edits = [
    () => replaceElement(p, "/uns/k01", (f, at) => writeElem(f, at, scalar(5))),
    () => replaceElement(p, "/uns/new", (f, at) => writeElem(f, at, scalar(5))),
    () => deleteElement(p, "/uns/k02"),
  ];
  if (DIRECT_IO) {
    for (const edit of edits) {
      assert.throws(
        edit,
        (e: unknown) =>
          e instanceof CrispyxError && /\/uns keeps its links in dense storage/.test((e as Error).message),
      );
      assert.ok(readFileSync(p).equals(bytes), "a refused edit changed the file");
    }
  } else {
    // Direct I/O off: the edit copies the file through HDF5 (editByRewrite.ts), which reads any link storage.
    for (const edit of edits) edit();
    const uns = bothReaders(p).uns.items;
    assert.equal(uns.k01.value, 5);
    assert.equal(uns.new.value, 5);
    assert.ok(!("k02" in uns));
  }
  // Other parts of the same file can still be edited.
  const n = readH5ad(p).obs.index.length; // an n × 1 obsm entry (anndata 0.13 reads a 1-D one as n × 1, 0.8 as n)
  replaceElement(p, "/obsm/e", (f, at) => writeElem(f, at, ndarray(new Float64Array(n), [n, 1])));
  assert.equal(bothReaders(p).uns.items.k03.value, 3);
});
