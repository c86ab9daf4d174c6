// The seed's file helpers on copies of the golden fixtures: every edited file is re-read by crispyx and by
// Python anndata with the expected contents, and X's bytes never change.
import { writeSettings } from "../../src/io/anndata/settings.ts";
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  getMatrixStorageFormat,
  isDenseStorage,
  loadObs,
  loadVar,
  resolveDataPath,
  resolveOutputPath,
  writeObs,
  writeObsColumns,
  writeObsm,
  writeObsp,
  writeUnsDict,
  writeVar,
  writeVarColumns,
  writeVarm,
} from "../../src/io/anndata/fileHelpers.ts";
import { readH5ad } from "../../src/io/anndata/anndata.ts";
import { openH5ad } from "../../src/io/anndata/handle.ts";
import { categorical, dataframe, ndarray, strings } from "../../src/io/anndata/model.ts";
import { FileFormatError, InvalidArgumentError } from "../../src/errors.ts";
import { canonicalDump, diffDumps, dumpElement } from "../helpers/canonicalDump.ts";
import { dumpH5adEach, findPython } from "../helpers/anndataChecker.ts";
import { copyFixture, datasetDigest, FIXTURES, py, tempDir } from "./editSupport.ts";

const DIR = tempDir("filehelpers");
test.after(() => rmSync(DIR, { recursive: true, force: true }));
const expected = (name: string) => JSON.parse(readFileSync(join(FIXTURES, "expected", `${name}.json`), "utf8"));
const json = (x: unknown) => JSON.parse(JSON.stringify(x));

/** Read with crispyx, check anndata reads the same, and check the rest equals `want`. */
function assertFile(path: string, want: any): any {
  const ours = json(canonicalDump(readH5ad(path)));
  // in each reference anndata able to read the file (copies of full_csr keep its nullable strings: >= 0.11)
  for (const { ref, dump } of dumpH5adEach(path)) {
    const d = diffDumps(ours, dump);
    assert.deepEqual(d, [], `anndata ${ref.anndataVersion} reads ${path} differently:\n${d.join("\n")}`);
  }
  const d = diffDumps(ours, want);
  assert.deepEqual(d, [], d.join("\n"));
  return ours;
}

/** Run `edit`, expecting it to throw `re` and leave the file byte-for-byte as it was. */
function rejects(path: string, edit: () => void, re: RegExp): void {
  const before = readFileSync(path);
  assert.throws(edit, (e: unknown) => e instanceof InvalidArgumentError && re.test((e as Error).message));
  assert.ok(readFileSync(path).equals(before), "a rejected edit changed the file");
}

test("getMatrixStorageFormat / isDenseStorage", () => {
  assert.equal(getMatrixStorageFormat(join(FIXTURES, "full_csr.h5ad")), "csr");
  assert.equal(getMatrixStorageFormat(join(FIXTURES, "x_csc.h5ad")), "csc");
  assert.equal(getMatrixStorageFormat(join(FIXTURES, "x_dense_f64.h5ad")), "dense");
  assert.equal(isDenseStorage(join(FIXTURES, "x_dense_int.h5ad")), true);
  assert.equal(isDenseStorage(join(FIXTURES, "x_csr_int32.h5ad")), false);
  assert.throws(() => getMatrixStorageFormat(join(FIXTURES, "no_x.h5ad")), /no_x\.h5ad/);
  assert.throws(() => getMatrixStorageFormat(join(DIR, "missing.h5ad")), FileFormatError);
});

test("loadObs / loadVar read the tables as anndata does", () => {
  const want = expected("full_csr");
  assert.deepEqual(diffDumps(json(dumpElement(loadObs(join(FIXTURES, "full_csr.h5ad")))), want.obs), []);
  assert.deepEqual(diffDumps(json(dumpElement(loadVar(join(FIXTURES, "full_csr.h5ad")))), want.var), []);
});

test("writeObs replaces obs without touching X; a row-count mismatch is rejected before any change", () => {
  const p = copyFixture("full_csr", DIR, "obs");
  const x = datasetDigest(p);
  const obs = loadObs(p);
  obs.columns.perturbation = categorical(obs.index.map((_, i) => (i % 2 ? "KD_B" : "NTC")));
  obs.columns.fresh = ndarray(Float64Array.from(obs.index, (_, i) => i / 3));
  obs.columnOrder = [...obs.columnOrder, "fresh"];
  // An exact replacement: the fixture's nullable strings stay nullable-string-array (settings.ts).
  writeSettings.writeNullableStrings = true;
  try {
    writeObs(p, obs);
  } finally {
    writeSettings.writeNullableStrings = false;
  }
  assert.equal(datasetDigest(p), x);
  const want = expected("full_csr");
  want.obs = json(dumpElement(obs));
  assertFile(p, want);
  rejects(p, () => writeObs(p, dataframe(["a", "b"])), /new obs table has 2 rows but the file has 20 cells/);
});

test("writeVar replaces var without touching X; a row-count mismatch is rejected", () => {
  const p = copyFixture("x_csc", DIR, "var");
  const x = datasetDigest(p);
  const v = loadVar(p);
  const symbols = v.index.map((g) => `SYM_${g}`);
  const newVar = dataframe(v.index, { gene_symbols: strings(symbols) }, v.indexName);
  writeVar(p, newVar);
  assert.equal(datasetDigest(p), x);
  const want = expected("x_csc");
  want.var = json(dumpElement(newVar));
  assertFile(p, want);
  rejects(p, () => writeVar(p, dataframe(["g"])), /new var table has 1 rows but the file has \d+ genes/);
});

test("writeObsm / writeVarm / writeObsp: new and replaced entries, shape checks", () => {
  const p = copyFixture("full_csr", DIR, "axis");
  const x = datasetDigest(p);
  const emb = ndarray(
    Float32Array.from({ length: 40 }, (_, i) => i * 0.5),
    [20, 2],
  );
  writeObsm(p, "X_umap", emb);
  const pcs = ndarray(
    Float64Array.from({ length: 60 }, (_, i) => -i),
    [20, 3],
  );
  writeObsm(p, "X_pca", pcs); // replaces the fixture's X_pca
  const loadings = ndarray(
    Float64Array.from({ length: 24 }, (_, i) => i),
    [12, 2],
  );
  writeVarm(p, "PCs", loadings);
  const dense = ndarray(
    Float64Array.from({ length: 400 }, (_, i) => (i % 21 === 0 ? 1 : i % 7 === 0 ? 0.5 : 0)),
    [20, 20],
  );
  writeObsp(p, "connectivities", dense);
  assert.equal(datasetDigest(p), x);
  const want = expected("full_csr");
  want.obsm.X_umap = json(dumpElement(emb));
  want.obsm.X_pca = json(dumpElement(pcs));
  want.varm.PCs = json(dumpElement(loadings));
  const got = json(canonicalDump(readH5ad(p)));
  assert.equal(got.obsp.connectivities.format, "csr", "obsp is stored as CSR, as the seed does");
  want.obsp.connectivities = got.obsp.connectivities;
  assertFile(p, want);
  // The CSR holds exactly the dense values.
  const c = got.obsp.connectivities;
  const back = new Float64Array(400);
  for (let r = 0; r < 20; r++)
    for (let k = c.indptr[r]; k < c.indptr[r + 1]; k++) back[r * 20 + c.indices[k]] = c.data[k];
  assert.deepEqual(Array.from(back), Array.from(dense.data as Float64Array));

  rejects(
    p,
    () => writeObsm(p, "bad", ndarray(new Float64Array(12), [12, 1])),
    /obsm\['bad'\] must have 20 rows; got shape \[12, 1\]/,
  );
  rejects(p, () => writeVarm(p, "bad", ndarray(new Float64Array(20), [20, 1])), /varm\['bad'\] must have 12 rows/);
  rejects(
    p,
    () => writeObsp(p, "bad", ndarray(new Float64Array(20 * 12), [20, 12])),
    /obsp\['bad'\] must have 20 × 20/,
  );
  rejects(p, () => writeObsp(p, "bad", ndarray(new Float64Array(20))), /must be a 2-D matrix/);
  rejects(p, () => writeObsm(p, "a/b", emb), /not a valid key/);
  rejects(
    p,
    () =>
      writeObsm(
        p,
        "df",
        dataframe(
          Array.from({ length: 20 }, (_, i) => `x${i}`),
          { v: ndarray(new Float64Array(20)) },
        ),
      ),
    /index differs from the obs names at row 0/,
  );
});

test("writeUnsDict: nested dicts, scalars, strings, arrays; replacing an existing key replaces it whole", () => {
  const p = copyFixture("full_csr", DIR, "uns");
  const x = datasetDigest(p);
  writeUnsDict(p, "pca", {
    n_comps: 50,
    variance_ratio: Float32Array.of(0.5, 0.25, 0.125),
    method: "arpack",
    zero_center: true,
    scale: 1.5,
    genes: ["A", "B"],
    params: { seed: 0, nested: { deep: "yes", values: [1, 2, 3] } },
  });
  writeUnsDict(p, "nested", { replaced: 1 }); // the fixture's uns['nested'] had other keys
  assert.equal(datasetDigest(p), x);
  const got = json(canonicalDump(readH5ad(p)));
  const pca = got.uns.items.pca.items;
  assert.equal(pca.n_comps.value, 50);
  assert.equal(pca.n_comps.type, "int64");
  assert.deepEqual(pca.variance_ratio.values, [0.5, 0.25, 0.125]);
  assert.equal(pca.variance_ratio.dtype, "float32");
  assert.equal(pca.method.value, "arpack");
  assert.equal(pca.zero_center.value, true);
  assert.equal(pca.scale.value, 1.5);
  assert.deepEqual(pca.genes.values, ["A", "B"]);
  assert.equal(pca.params.items.seed.value, 0);
  assert.equal(pca.params.items.nested.items.deep.value, "yes");
  assert.deepEqual(pca.params.items.nested.items.values.values, [1, 2, 3]);
  assert.deepEqual(Object.keys(got.uns.items.nested.items), ["replaced"]);
  const want = expected("full_csr");
  want.uns.items.pca = got.uns.items.pca;
  want.uns.items.nested = { kind: "dict", items: { replaced: { kind: "scalar", type: "int64", value: 1 } } };
  assertFile(p, want);
  rejects(p, () => writeUnsDict(p, "", { a: 1 }), /not a valid key/);
  rejects(p, () => writeUnsDict(p, "k", [1, 2] as never), /needs an object of named values \(a dict\); got an array/);
  rejects(p, () => writeUnsDict(p, "k", ndarray(Float64Array.of(1)) as never), /got array/);
});

test("edits also work on a file with dense X and on one with no X", () => {
  for (const name of ["x_dense_f64", "no_x"]) {
    const p = copyFixture(name, DIR, `more_${name}`);
    const x = datasetDigest(p);
    writeUnsDict(p, "info", { ok: true });
    const obs = loadObs(p);
    writeObs(p, dataframe(obs.index, { label: strings(obs.index.map((s) => `L${s}`)) }, obs.indexName));
    assert.equal(datasetDigest(p), x);
    const want = expected(name);
    want.uns.items.info = { kind: "dict", items: { ok: { kind: "scalar", type: "bool", value: true } } };
    want.obs = json(dumpElement(loadObs(p)));
    assert.deepEqual(want.obs.data.label.values[0], `L${obs.index[0]}`);
    assertFile(p, want);
  }
});

test("resolveDataPath: path, handle, {path}; missing file, directory and in-memory AnnData are clear errors", () => {
  const p = join(FIXTURES, "full_csr.h5ad");
  assert.equal(resolveDataPath(p), p);
  const h = openH5ad(p);
  try {
    assert.equal(resolveDataPath(h), p);
  } finally {
    h.close();
  }
  assert.equal(resolveDataPath({ path: p }), p);
  assert.throws(
    () => resolveDataPath(join(DIR, "nope.h5ad")),
    (e: unknown) => e instanceof FileFormatError && /nope\.h5ad: data file not found/.test(String(e)),
  );
  assert.equal(resolveDataPath(join(DIR, "nope.h5ad"), { requireExists: false }), join(DIR, "nope.h5ad"));
  assert.throws(() => resolveDataPath(DIR), /is a directory/);
  assert.throws(
    () => resolveDataPath(readH5ad(p)),
    (e: unknown) => e instanceof InvalidArgumentError && /in memory.*writeH5ad/.test(String(e)),
  );
  assert.throws(
    () => resolveDataPath(42 as never),
    /expected a path to an \.h5ad file or an open handle; received number/,
  );
  assert.throws(() => resolveDataPath(null as never), /received null/);
});

test("resolveOutputPath: the seed's {module}_{dataName}_{suffix}.h5ad rule; names cannot leave the directory", () => {
  const input = join(DIR, "in", "screen.h5ad");
  const inDir = resolve(DIR, "in");
  mkdirSync(inDir, { recursive: true });
  assert.equal(resolveOutputPath(input, { suffix: "qc" }), join(inDir, "crispyx_qc.h5ad"));
  assert.equal(resolveOutputPath(input, { suffix: "qc", dataName: "screen" }), join(inDir, "crispyx_screen_qc.h5ad"));
  assert.equal(
    resolveOutputPath(input, { suffix: "qc", dataName: "crispyx_screen_qc" }),
    join(inDir, "crispyx_screen_qc.h5ad"),
  );
  assert.equal(
    resolveOutputPath(input, { suffix: "norm", dataName: "crispyx_screen" }),
    join(inDir, "crispyx_screen_norm.h5ad"),
  );
  assert.equal(
    resolveOutputPath(input, { suffix: "de", dataName: "screen", module: "edger" }),
    join(inDir, "edger_screen_de.h5ad"),
  );
  assert.equal(
    resolveOutputPath(input, { suffix: "qc", outputDir: join(DIR, "out") }),
    join(DIR, "out", "crispyx_qc.h5ad"),
  );
  for (const bad of [
    { suffix: "../qc" },
    { suffix: "qc", dataName: "../../etc/passwd" },
    { suffix: "qc", dataName: "a/b" },
    { suffix: "qc", dataName: "/abs" },
    { suffix: "qc", module: ".." },
    { suffix: "a\\b" },
    { suffix: "x\0y" },
  ]) {
    assert.throws(() => resolveOutputPath(input, bad), InvalidArgumentError, JSON.stringify(bad));
  }
  // A name made of dots stays inside the directory.
  assert.equal(resolveOutputPath(input, { suffix: "qc", dataName: "..." }), join(inDir, "crispyx_..._qc.h5ad"));
});

test("a file without obsm/uns groups: the helpers create them as anndata dicts", {
  skip: findPython() ? undefined : "needs h5py to remove the groups",
}, () => {
  const p = copyFixture("x_dense_f32", DIR, "no_groups");
  py(`import h5py, sys\nwith h5py.File(sys.argv[1], "r+") as f:\n    del f["obsm"]\n    del f["uns"]`, p);
  const x = datasetDigest(p);
  const n = loadObs(p).index.length;
  const emb = ndarray(
    Float64Array.from({ length: n * 2 }, (_, i) => i),
    [n, 2],
  );
  writeObsm(p, "X_pca", emb);
  writeUnsDict(p, "pca", { params: { n: 2 } });
  assert.equal(datasetDigest(p), x);
  const want = expected("x_dense_f32");
  want.obsm = { X_pca: json(dumpElement(emb)) };
  want.uns = {
    kind: "dict",
    items: {
      pca: {
        kind: "dict",
        items: { params: { kind: "dict", items: { n: { kind: "scalar", type: "int64", value: 2 } } } },
      },
    },
  };
  assertFile(p, want);
  const attrs = JSON.parse(
    py(
      `import h5py, sys, json\nf = h5py.File(sys.argv[1])\nprint(json.dumps([dict(f[k].attrs) for k in ("obsm", "uns")]))`,
      p,
    ),
  );
  assert.deepEqual(attrs, [
    { "encoding-type": "dict", "encoding-version": "0.1.0" },
    { "encoding-type": "dict", "encoding-version": "0.1.0" },
  ]);
});

test("writeObsColumns / writeVarColumns add and replace columns, keep the others (not rewritten) and X", () => {
  const p = copyFixture("full_csr", DIR, "columns");
  const x = datasetDigest(p);
  const sizeBefore = readFileSync(p).length;
  const score = ndarray(Float64Array.from({ length: 20 }, (_, i) => -i));
  const qc = categorical(Array.from({ length: 20 }, (_, i) => (i % 4 ? "pass" : "fail")));
  writeObsColumns(p, { score, qc_flag: qc });
  const symbols = strings(Array.from({ length: 12 }, (_, j) => `S${j}`));
  writeVarColumns(p, { symbol: symbols });
  assert.equal(datasetDigest(p), x);
  const want = expected("full_csr");
  const colDump = (cols: Record<string, any>, n: number) =>
    json(dumpElement(dataframe(Array.from({ length: n }, String), cols))).data;
  Object.assign(want.obs.data, colDump({ score, qc_flag: qc }, 20));
  want.obs.columns = [...want.obs.columns, "qc_flag"];
  Object.assign(want.var.data, colDump({ symbol: symbols }, 12));
  want.var.columns = [...want.var.columns, "symbol"];
  assertFile(p, want);
  // The unchanged columns were linked, not copied: the file grew by far less than a copy of obs.
  assert.ok(
    readFileSync(p).length - sizeBefore < 64 * 1024,
    `file grew by ${readFileSync(p).length - sizeBefore} bytes`,
  );
  rejects(
    p,
    () => writeObsColumns(p, { short: ndarray(new Float64Array(3)) }),
    /obs column 'short' has 3 values but the file has 20 cells/,
  );
  rejects(p, () => writeVarColumns(p, { m: ndarray(new Float64Array(24), [12, 2]) }), /must be a 1-D array/);
  rejects(
    p,
    () => writeObsColumns(p, { barcode: strings(Array.from({ length: 20 }, String)) }),
    /'barcode' is the name of obs's index/,
  );
});
