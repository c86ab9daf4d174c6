// Files in anndata 0.7's layout: categorical columns are their codes with an object reference to the
// categories (no encoding attributes), and uns record arrays may hold variable-length strings. crispyx
// reads them as anndata 0.8 does (expected/v07_categoricals.json is anndata's reading, made by
// scripts/reference/make_v07_fixtures.py) and every operator writes them back in the current encoding.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openH5ad, previewElement } from "../../src/io/anndata/handle.ts";
import { H5File } from "../../src/io/h5/file.ts";
import { categoricalValues } from "../../src/io/anndata/encodings/categorical.ts";
import { normalizeTotalLog1p } from "../../src/ops/normalize.ts";
import { convertToCsc } from "../../src/ops/convert.ts";
import { writeFilteredSubset } from "../../src/ops/subset.ts";
import { sortByPerturbation } from "../../src/ops/sort.ts";
import type { Categorical, RecArray } from "../../src/io/anndata/model.ts";
import { h5adOpenFailures, skipWithoutAnndata } from "../helpers/anndataChecker.ts";

const FILE = join(import.meta.dirname, "..", "fixtures", "h5ad-legacy", "v07_categoricals.h5ad");
const expected = JSON.parse(
  readFileSync(join(import.meta.dirname, "..", "fixtures", "h5ad-legacy", "expected", "v07_categoricals.json"), "utf8"),
);

function categorical(path: string, table: "obs" | "var", column: string): Categorical {
  const h = openH5ad(path);
  try {
    const c = (table === "obs" ? h.obs : h.var).column(column);
    assert.equal(c.type, "categorical", `${path}: ${table}['${column}'] is read as a categorical`);
    return c as Categorical;
  } finally {
    h.close();
  }
}

test("v0.7 layout: categorical columns decode to anndata's labels, order flag included", () => {
  for (const col of ["perturbation", "dose"]) {
    const c = categorical(FILE, "obs", col);
    assert.deepEqual(categoricalValues(c), expected.obs[col]);
    assert.deepEqual(Array.from(c.categories.data as string[]), expected.obs_categories[col]);
    assert.equal(c.ordered, expected.ordered[col]);
  }
  assert.deepEqual(categoricalValues(categorical(FILE, "var", "kind")), expected.var_kind);
});

test("v0.7 layout: info previews a categorical, and a record array with variable-length strings is read", () => {
  const h = openH5ad(FILE);
  try {
    const p = previewElement(h.file, "/obs/perturbation", "perturbation");
    assert.equal(p.encoding, "categorical");
    assert.equal(p.nCategories, 4);
    const rec = h.uns.get("ranked") as RecArray;
    assert.deepEqual(rec.fields.find((f) => f.name === "names")!.data, expected.uns_ranked.names);
  } finally {
    h.close();
  }
});

test("v0.7 layout: normalize, convert, filter and sort write the categoricals and record arrays in the current encoding", async () => {
  const dir = mkdtempSync(join(tmpdir(), "crispyx-v07-"));
  try {
    const outs = {
      norm: (await normalizeTotalLog1p(FILE, { output: join(dir, "norm.h5ad") })).output,
      csc: (await convertToCsc(FILE, { output: join(dir, "csc.h5ad") })).path,
      filt: (
        await writeFilteredSubset(FILE, {
          output: join(dir, "filt.h5ad"),
          cellMask: expected.obs.perturbation.map((v: string | null) => v === "control" || v === "KD B"),
        })
      ).output,
      sort: await sortByPerturbation(FILE, {
        column: "perturbation",
        controlLabel: "control",
        output: join(dir, "sort.h5ad"),
      }),
    };
    for (const [name, path] of Object.entries(outs)) {
      const f = H5File.open(path);
      try {
        assert.equal(
          f.attr("/obs/perturbation", "encoding-type"),
          "categorical",
          `${name}: obs.perturbation is a categorical group`,
        );
        assert.equal(f.exists("/obs/__categories"), false, `${name}: no __categories group left`);
        assert.equal(f.attr("/uns/ranked", "encoding-type"), "rec-array", `${name}: uns.ranked is a rec-array`);
      } finally {
        f.close();
      }
      const c = categorical(path, "obs", "dose");
      assert.equal(c.ordered, true, `${name}: dose stays ordered`);
    }
    // The filter keeps control and 'KD B' cells; unused categories are dropped, as anndata's subset does.
    const filtered = categorical(outs.filt, "obs", "perturbation");
    assert.deepEqual(Array.from(filtered.categories.data as string[]), ["control", "KD B"]);
    assert.deepEqual(
      categoricalValues(filtered),
      expected.obs.perturbation.filter((v: string | null) => v === "control" || v === "KD B"),
    );
    const sorted = categoricalValues(categorical(outs.sort, "obs", "perturbation"));
    assert.deepEqual(sorted.slice(0, 11), new Array(11).fill("control"), "sort puts the 11 control cells first");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("v0.7 layout: every output opens in Python anndata with the labels intact", skipWithoutAnndata(), async () => {
  const dir = mkdtempSync(join(tmpdir(), "crispyx-v07-py-"));
  try {
    const paths = [
      (await normalizeTotalLog1p(FILE, { output: join(dir, "norm.h5ad") })).output,
      (await convertToCsc(FILE, { output: join(dir, "csc.h5ad") })).path,
      await sortByPerturbation(FILE, {
        column: "perturbation",
        controlLabel: "control",
        output: join(dir, "sort.h5ad"),
      }),
    ];
    assert.deepEqual(h5adOpenFailures(paths), []); // in anndata 0.8 and the newest
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
