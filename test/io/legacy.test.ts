// Files written by anndata < 0.7 (no encoding attributes): crispyx reads them as anndata 0.11.4 does
// (expected/*.json are anndata's own dumps, made by scripts/reference/make_legacy_fixtures.py), and an
// element it cannot read gets one clear error naming the file and the element.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { H5File } from "../../src/io/h5/file.ts";
import { convertToCsr } from "../../src/ops/convert.ts";
import { sortByPerturbation } from "../../src/ops/sort.ts";
import { categoricalValues } from "../../src/io/anndata/encodings/categorical.ts";
import { standardizeDataset } from "../../src/ops/standardize.ts";
import { planGroups } from "../../src/de/groups.ts";
import { writeObsColumns, writeVar } from "../../src/io/anndata/fileHelpers.ts";
import { carryOver, copyMatrix, startAnnData, type CarryOverOptions } from "../../src/io/anndata/carryOver.ts";
import { dumpH5ad, findPython } from "../helpers/anndataChecker.ts";
import { FileFormatError } from "../../src/errors.ts";
import { readH5ad } from "../../src/io/anndata/anndata.ts";
import { openH5ad, previewElement } from "../../src/io/anndata/handle.ts";
import { sparseToDense } from "../../src/core/sparse.ts";
import type { Categorical, Column } from "../../src/io/anndata/model.ts";
import { canonicalDump, diffDumps, dumpElement } from "../helpers/canonicalDump.ts";

const DIR = join(import.meta.dirname, "..", "fixtures", "h5ad-legacy");
const expected = (name: string) => JSON.parse(readFileSync(join(DIR, "expected", `${name}.json`), "utf8"));
const plain = (x: unknown) => JSON.parse(JSON.stringify(x));

/**
 * anndata reads pre-0.7 fixed-length byte strings as numpy fixed-width unicode ('<U2', np.str_); crispyx has
 * one string type (written back as anndata's variable-length strings, read as object). Only that spelling
 * of the dtype is normalised here; values are compared as they are.
 */
function normaliseStringDtypes(x: any): any {
  if (Array.isArray(x)) return x.map(normaliseStringDtypes);
  if (x === null || typeof x !== "object") return x;
  const out: any = {};
  for (const [k, v] of Object.entries(x)) {
    if (k === "dtype" && typeof v === "string") out[k] = /^<U\d+$/.test(v) ? "object" : v.replace(/'<U\d+'/g, "'O'");
    else if (k === "type" && v === "str_") out[k] = "str";
    else out[k] = normaliseStringDtypes(v);
  }
  return out;
}

/** The dump of one obs/var column, as it appears in anndata's dump of the table. */
function dumpColumn(col: Column): unknown {
  return plain(
    dumpElement({ type: "dataframe", indexName: "i", index: [], columnOrder: ["c"], columns: { c: col } }) as any,
  ).data.c;
}

/** X as nested number arrays, whatever its storage (anndata's dump has values for dense, data/indptr for sparse). */
function expectedRows(x: any): number[][] {
  if (x.kind === "ndarray") return x.values;
  const [n, m] = x.shape as [number, number];
  const rows = Array.from({ length: n }, () => new Array<number>(m).fill(0));
  for (let r = 0; r < n; r++) for (let k = x.indptr[r]; k < x.indptr[r + 1]; k++) rows[r]![x.indices[k]] = x.data[k];
  return rows;
}

for (const name of ["legacy_dense", "legacy_sparse"]) {
  test(`legacy ${name}: readH5ad equals anndata's reading`, () => {
    const diffs = diffDumps(
      plain(canonicalDump(readH5ad(join(DIR, `${name}.h5ad`)))),
      normaliseStringDtypes(expected(name)),
    );
    assert.deepEqual(diffs, [], `${name} differs from anndata:\n${diffs.join("\n")}`);
  });

  test(`legacy ${name}: openH5ad gives shape, obs/var, uns keys and X rows as anndata`, () => {
    const exp = expected(name);
    using h = openH5ad(join(DIR, `${name}.h5ad`));
    assert.deepEqual(h.shape, exp.shape);
    assert.deepEqual(h.obs.columns, exp.obs.columns);
    assert.deepEqual(h.var.columns, exp.var.columns);
    assert.deepEqual(h.obsNames, exp.obs.index);
    assert.deepEqual(h.varNames, exp.var.index);
    for (const c of exp.obs.columns) assert.deepEqual(dumpColumn(h.obs.column(c)), exp.obs.data[c], `obs.${c}`);
    for (const c of exp.var.columns) assert.deepEqual(dumpColumn(h.var.column(c)), exp.var.data[c], `var.${c}`);
    const head = h.obs.head(2);
    assert.deepEqual(head.index, exp.obs.index.slice(0, 2));
    assert.equal(head.columns["louvain"]!.type, "categorical");
    // the categories anndata moved into obs/var are not left in uns
    assert.deepEqual(h.uns.keys().sort(), Object.keys(exp.uns.items).sort());
    const x = h.X;
    assert.equal(x.format, exp.X.kind === "ndarray" ? "dense" : "csr");
    const block = x.rows(1, 4, "dense");
    const got = block.type === "array" ? block : sparseToDense(block);
    const [, m] = h.shape;
    const rows = Array.from({ length: 3 }, (_, i) =>
      Array.from((got.data as Float32Array).subarray(i * m, (i + 1) * m)),
    );
    assert.deepEqual(rows, expectedRows(exp.X).slice(1, 4));
  });
}

test("legacy_dense: categories are restored only where every code fits (phase stays numeric, as in anndata)", () => {
  using h = openH5ad(join(DIR, "legacy_dense.h5ad"));
  assert.equal(h.obs.column("louvain").type, "categorical");
  assert.equal(h.var.column("chrom").type, "categorical");
  assert.equal(h.obs.column("phase").type, "array");
  assert.ok(h.uns.has("phase_categories"));
  assert.ok(!h.uns.has("louvain_categories"));
});

test("legacy_unreadable: the rest opens; the unreadable element gives one error naming the file and element", () => {
  const p = join(DIR, "legacy_unreadable.h5ad");
  using h = openH5ad(p);
  assert.deepEqual(h.shape, [6, 4]);
  assert.equal(h.obs.column("louvain").type, "categorical");
  for (const fn of [() => h.uns.get("ragged"), () => readH5ad(p)]) {
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof FileFormatError, `expected FileFormatError, got ${String(err)}`);
      assert.ok(err.message.includes(p), `names the file: ${err.message}`);
      assert.match(err.message, /\/uns\/ragged/);
      assert.match(err.message, /cannot read/);
      assert.ok(!err.message.includes("\n"), "one line");
      return true;
    });
  }
});

test("legacy_dense: info previews of obs columns (no per-column datasets on disk)", () => {
  using h = openH5ad(join(DIR, "legacy_dense.h5ad"));
  assert.deepEqual(previewElement(h.file, "/obs/louvain", "louvain"), {
    key: "louvain",
    encoding: "categorical",
    shape: [6],
    dtype: "category",
    nCategories: 3,
  });
  assert.deepEqual(previewElement(h.file, "/obs/n_counts", "n_counts"), {
    key: "n_counts",
    encoding: "array",
    shape: [6],
    dtype: "float32",
  });
  assert.deepEqual(previewElement(h.file, "/var/gene_ids", "gene_ids"), {
    key: "gene_ids",
    encoding: "string-array",
    shape: [4],
    dtype: "string",
  });
});

/** A new file with the fixture's `cells`: carryOver (default or `include`) plus X's rows; returns its path. */
function carryCellSubset(fixture: string, cells: Int32Array, include?: CarryOverOptions["include"]): string {
  const out = join(mkdtempSync(join(tmpdir(), "crispyx-legacy-")), "subset.h5ad");
  const src = H5File.open(join(DIR, `${fixture}.h5ad`), "r");
  const dst = H5File.open(out, "w");
  try {
    startAnnData(dst);
    carryOver(src, dst, { cells, ...(include ? { include } : {}) });
    copyMatrix(src, "/X", dst, "/X", cells, undefined);
  } finally {
    dst.close();
    src.close();
  }
  return out;
}

test("legacy_sparse: carry-over of a cell subset writes obs/var/uns in the current layout, as anndata would subset", (t) => {
  const cells = Int32Array.of(0, 2, 3);
  const out = carryCellSubset("legacy_sparse", cells);
  const exp = expected("legacy_sparse");
  const got = plain(canonicalDump(readH5ad(out)));
  assert.deepEqual(
    got.obs.index,
    [...cells].map((i) => exp.obs.index[i]),
  );
  for (const c of exp.obs.columns) {
    const e = exp.obs.data[c];
    const want =
      e.kind === "categorical"
        ? { ...e, codes: [...cells].map((i) => e.codes[i]) }
        : { ...e, values: [...cells].map((i) => e.values[i]) };
    assert.deepEqual(got.obs.data[c], want, `obs.${c}`);
  }
  assert.deepEqual(got.var, exp.var);
  assert.deepEqual(Object.keys(got.uns.items).sort(), Object.keys(exp.uns.items).sort());
  if (!findPython()) return t.skip("Python anndata not found: written file not opened in anndata");
  const dump = dumpH5ad(out);
  assert.deepEqual(dump.obs.index, got.obs.index);
  assert.deepEqual(dump.obs.data.louvain.categories, ["T", "B", "NK"]);
});

test("legacy_dense: obsm/varm compound datasets and raw.X/raw.var through the lazy handle, as anndata reads them", () => {
  const exp = expected("legacy_dense");
  using h = openH5ad(join(DIR, "legacy_dense.h5ad"));
  assert.deepEqual(h.obsm.keys().sort(), Object.keys(exp.obsm).sort());
  for (const k of h.obsm.keys()) assert.deepEqual(plain(dumpElement(h.obsm.get(k))), exp.obsm[k], `obsm.${k}`);
  assert.deepEqual(plain(dumpElement(h.varm.get("PCs"))), exp.varm.PCs);
  assert.deepEqual(h.obsm.preview("X_pca"), { key: "X_pca", encoding: "array", shape: [6, 3], dtype: "float32" });
  assert.ok(h.hasRaw);
  const raw = h.matrix("raw");
  assert.deepEqual(raw.shape, exp.raw.shape);
  const block = raw.rows(2, 4, "dense");
  assert.equal(block.type, "array");
  assert.deepEqual(Array.from(block.data as Float32Array), exp.raw.X.values.slice(2, 4).flat());
  assert.match(h.describe(), /raw: 5 vars/);
});

test("legacy_dense: carry-over of a cell subset keeps obsm rows and raw, written in the current layout", () => {
  const cells = Int32Array.of(1, 4);
  const out = carryCellSubset("legacy_dense", cells, ["obs", "var", "uns", "obsm", "varm", "raw"]);
  const exp = expected("legacy_dense");
  const got = plain(canonicalDump(readH5ad(out)));
  assert.deepEqual(
    got.obsm.X_pca.values,
    [...cells].map((i) => exp.obsm.X_pca.values[i]),
  );
  assert.deepEqual(got.varm, exp.varm);
  assert.deepEqual(
    got.raw.X.values,
    [...cells].map((i) => exp.raw.X.values[i]),
  );
  assert.deepEqual(got.raw.var, exp.raw.var);
});

test("legacy_dense: convert (copies root elements as stored) writes obs/var/obsm/varm/uns/raw in the current layout", async () => {
  const out = join(mkdtempSync(join(tmpdir(), "crispyx-legacy-")), "csr.h5ad");
  await convertToCsr(join(DIR, "legacy_dense.h5ad"), { output: out });
  const exp = normaliseStringDtypes(expected("legacy_dense"));
  const got = plain(canonicalDump(readH5ad(out)));
  for (const key of ["obs", "var", "obsm", "varm", "uns"]) assert.deepEqual(diffDumps(got[key], exp[key]), [], key);
  assert.deepEqual(got.raw.var, exp.raw.var);
  assert.deepEqual(got.raw.X, exp.raw.X);
  using h = openH5ad(out);
  assert.equal(h.file.attr("/obs", "encoding-type"), "dataframe");
  assert.equal(h.X.format, "csr");
});

test("legacy_dense: in-place edits are refused with one clear error naming the file (the file is untouched)", () => {
  const p = join(DIR, "legacy_dense.h5ad");
  const before = readFileSync(p);
  const col: Column = { type: "array", dtype: "float64", shape: [6], data: new Float64Array(6) };
  for (const fn of [() => writeObsColumns(p, { extra: col }), () => writeVar(p, readH5ad(p).var)]) {
    assert.throws(
      fn,
      (err: unknown) => err instanceof FileFormatError && err.message.includes(p) && /pre-0\.7/.test(err.message),
    );
  }
  assert.ok(readFileSync(p).equals(before));
});

test("legacy_dense: DE group planning sees the restored categorical (category order, as Scanpy on anndata's reading)", () => {
  const f = H5File.open(join(DIR, "legacy_dense.h5ad"), "r");
  try {
    // louvain categories are ["T", "B", "NK"]: tested in category order (T before NK), not sorted (NK before T)
    const plan = planGroups(f, { perturbationColumn: "louvain", controlLabel: "B", minCellsPerGroup: 2 });
    assert.deepEqual(plan.groups, ["T", "NK"]);
  } finally {
    f.close();
  }
});

test("legacy_dense: sort and standardize work on a current-layout copy (removed after), recording the input's path", async () => {
  const p = join(DIR, "legacy_dense.h5ad");
  const dir = mkdtempSync(join(tmpdir(), "crispyx-legacy-"));
  const sorted = await sortByPerturbation(p, {
    column: "louvain",
    controlLabel: "T",
    output: join(dir, "sorted.h5ad"),
  });
  const std = await standardizeDataset(p, {
    perturbationColumn: "louvain",
    controlLabel: "T",
    output: join(dir, "std.h5ad"),
  });
  assert.deepEqual(readdirSync(dir).sort(), ["sorted.h5ad", "std.h5ad"], "no scratch copy left");
  const input = readH5ad(p);
  const labels = input.obs.columns.louvain as Categorical;
  const values = categoricalValues(labels);
  const s = readH5ad(sorted);
  const sortedLabels = categoricalValues(s.obs.columns.louvain as Categorical);
  assert.deepEqual([...sortedLabels].sort(), [...values].sort() as (string | null)[], "same cells");
  assert.equal(sortedLabels[0], "T", "control cells first");
  const meta = s.uns.sorting_metadata as { type: "dict"; items: Record<string, { type: string; value?: unknown }> };
  assert.equal(meta.items.original_path!.value, p);
  const t = readH5ad(std);
  assert.deepEqual(
    categoricalValues(t.obs.columns.perturbation as Categorical),
    values.map((v) => (v === "T" ? "control" : v)),
  );
  await assert.rejects(sortByPerturbation(p, { column: "nope", output: join(dir, "x.h5ad") }), (err: unknown) => {
    assert.ok(err instanceof Error && err.message.includes(p) && !err.message.includes(".crispyx-tmp"), String(err));
    return true;
  });
  assert.deepEqual(readdirSync(dir).sort(), ["sorted.h5ad", "std.h5ad"], "no scratch copy left after an error");
});

test("legacy_sparse: convert to the format X already has writes a current-layout copy (anndata reads it without warnings)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "crispyx-legacy-same-"));
  const out = join(dir, "modern.h5ad");
  const r = await convertToCsr(join(DIR, "legacy_sparse.h5ad"), { output: out });
  assert.equal(r.path, out);
  const f = H5File.open(out);
  try {
    assert.equal(f.attr("/", "encoding-type"), "anndata");
    assert.equal(f.attr("/X", "encoding-type"), "csr_matrix");
    assert.equal(f.attr("/obs", "encoding-type"), "dataframe");
  } finally {
    f.close();
  }
  assert.deepEqual(
    plain(canonicalDump(readH5ad(out))).X,
    plain(canonicalDump(readH5ad(join(DIR, "legacy_sparse.h5ad")))).X,
  );
  const py = findPython();
  if (py) {
    const { spawnSync } = await import("node:child_process");
    const res = spawnSync(py, ["-W", "error", "-c", "import sys, anndata; anndata.read_h5ad(sys.argv[1])", out], {
      encoding: "utf8",
    });
    assert.equal(res.status, 0, res.stderr);
  }
  // Without an output the input itself is the answer, as the seed does.
  assert.equal((await convertToCsr(join(DIR, "legacy_sparse.h5ad"))).path, join(DIR, "legacy_sparse.h5ad"));
});
