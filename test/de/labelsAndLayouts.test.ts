/**
 * DE results whatever the group labels and however many groups (issue 18 items 4 and 6):
 * - labels with '/', '.', spaces, non-ASCII, 300 characters, '' and names HDF5 would misread ('.',
 *   '_index', '%2F', 'a' beside 'a/b') survive exactly in obs and Scanpy's record arrays, and as the
 *   documented keys (src/de/labelKeys.ts) of the pts data frame; the file opens in anndata 0.8;
 * - more groups than a data frame's column-order attribute can list (> ~4,000; the report had 10,000):
 *   pts is left out with a warning instead of a failed write that surfaced as "object header version 0";
 * - the small reproduction: a 200 × 459, 3-group file written by anndata 0.8, normalized, then DE.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rankGenesGroups } from "../../src/de/rankGenesGroups.ts";
import { normalizeTotalLog1p } from "../../src/ops/normalize.ts";
import { columnKeys, decodeLabelKey, escapeLabel } from "../../src/de/labelKeys.ts";
import { writeH5ad, readH5ad } from "../../src/io/anndata/anndata.ts";
import {
  categorical,
  dataframe,
  emptyAnnData,
  ndarray,
  type Dict,
  type NdArray,
  type RecArray,
} from "../../src/io/anndata/model.ts";
import { checkH5ad, findPython } from "../helpers/anndataChecker.ts";

const work = mkdtempSync(join(tmpdir(), "crispyx-de-labels-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));
const py = findPython();
const noPython = py ? {} : { skip: "no Python with anndata (set CRISPYX_PYTHON)" };

/** A log-normalised-looking screen: `perCell` cells per label, deterministic non-integer values. */
function screen(path: string, labels: string[], perCell: number, genes: number, column = "perturbation"): void {
  const n = labels.length * perCell;
  const X = new Float32Array(n * genes);
  let s = 12345;
  for (let i = 0; i < X.length; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    X[i] = s % 3 === 0 ? 0 : Math.log1p((s % 1000) / 37 + (Math.floor(i / genes) % labels.length) * ((i % genes) % 3));
  }
  const ad = emptyAnnData(n, genes);
  ad.X = ndarray(X, [n, genes]);
  ad.obs = dataframe(
    Array.from({ length: n }, (_, i) => `c${i}`),
    {
      [column]: categorical(Array.from({ length: n }, (_, i) => labels[i % labels.length]!)),
    },
  );
  ad.var = dataframe(Array.from({ length: genes }, (_, j) => `g${j}`));
  writeH5ad(path, ad);
}

test("label keys: nested where HDF5 can, escaped (reversibly, without collisions) where it cannot", () => {
  const labels = [
    "CD4+/CD25 T Reg",
    "a.b",
    " x ",
    "",
    ".",
    "..",
    "_index",
    "%2F",
    "a",
    "a/b",
    "b/c",
    "/lead",
    "trail/",
    "d//e",
  ];
  const keys = columnKeys(labels);
  assert.deepEqual(keys, [
    "CD4+/CD25 T Reg",
    "a.b",
    " x ",
    "%",
    "%2E",
    "%2E%2E",
    "%5Findex",
    "%252F",
    "a",
    "a%2Fb",
    "b/c",
    "%2Flead",
    "trail%2F",
    "d%2F%2Fe",
  ]);
  assert.equal(new Set(keys).size, keys.length);
  keys.forEach((k, i) => assert.equal(decodeLabelKey(k), labels[i]));
  assert.equal(decodeLabelKey(escapeLabel("100%/x")), "100%/x");
});

test("labels with '/', '.', spaces, non-ASCII, 300 characters and '' survive DE and open in anndata 0.8", {
  ...noPython,
}, async () => {
  const control = "non-targeting";
  const odd = ["CD4+/CD25 T Reg", "a.b", " x ", "Ünïcødé", "L".repeat(300), "", "a", "a/b", ".", "_index", "%2F"];
  const input = join(work, "odd.h5ad");
  screen(input, [control, ...odd], 6, 12);
  const out = join(work, "odd_de.h5ad");
  const res = await rankGenesGroups(input, {
    perturbationColumn: "perturbation",
    controlLabel: control,
    output: out,
    workers: 1,
  });
  assert.deepEqual([...res.groups].sort(), [...odd].sort());

  // crispyx's own reading: obs and the record arrays hold the labels exactly ('' as its key '%').
  const a = readH5ad(out);
  assert.deepEqual(a.obs.index, res.groups);
  const rgg = (a.uns.rank_genes_groups as Dict).items;
  const names = rgg.names as RecArray;
  assert.deepEqual(
    names.fields.map((f) => f.name),
    res.groups.map((g) => (g === "" ? "%" : g)),
  );

  checkH5ad(out); // anndata 0.8 reads the whole file
  const got = JSON.parse(
    spawnSync(
      py!,
      [
        "-c",
        `
import anndata, json, numpy as np
a = anndata.read_h5ad(${JSON.stringify(out)})
r = a.uns["rank_genes_groups"]
print(json.dumps({"obs": list(a.obs_names), "fields": list(r["names"].dtype.names),
  "names": {k: [str(x) for x in r["names"][k]] for k in r["names"].dtype.names},
  "pts_columns": list(r["pts"].columns), "pts": {c: r["pts"][c].tolist() for c in r["pts"].columns},
  "layer_pts": a.layers["pts"].tolist()}))
`,
      ],
      { encoding: "utf8" },
    ).stdout,
  );
  assert.deepEqual(got.obs, res.groups, "obs names exact in anndata 0.8");
  assert.deepEqual(
    got.fields,
    names.fields.map((f) => f.name),
  );
  for (const f of names.fields) assert.deepEqual(got.names[f.name], f.data, `ranked names of '${f.name}'`);
  // pts: one column per slot (control first), keyed as labelKeys.ts says, equal to layers['pts'].
  assert.deepEqual(got.pts_columns.map(decodeLabelKey), [control, ...res.groups]);
  assert.deepEqual(got.pts_columns, columnKeys([control, ...res.groups]));
  res.groups.forEach((g, i) => {
    const col: number[] = got.pts[columnKeys([control, ...res.groups])[i + 1]!];
    col.forEach((v, j) => assert.ok(Math.abs(v - got.layer_pts[i][j]) < 1e-7, `pts of '${g}'`));
  });
  assert.ok(got.pts_columns.includes("CD4+/CD25 T Reg"), "a label with '/' is a nested path, as anndata 0.8 writes it");
});

test("more groups than a column-order attribute can list: DE completes, pts left out with a warning, anndata 0.8 opens it", {
  ...noPython,
}, async () => {
  const labels = ["non-targeting", ...Array.from({ length: 4_100 }, (_, i) => `P${i}`)];
  const input = join(work, "many.h5ad");
  screen(input, labels, 2, 3);
  const out = join(work, "many_de.h5ad");
  const res = await rankGenesGroups(input, {
    perturbationColumn: "perturbation",
    controlLabel: "non-targeting",
    output: out,
    workers: 1,
  });
  assert.equal(res.groups.length, 4_100);
  assert.ok(
    res.warnings.some((w) => /too many for Scanpy's pts data frame/.test(w)),
    res.warnings.join("\n"),
  );
  const a = readH5ad(out);
  const rgg = (a.uns.rank_genes_groups as Dict).items;
  assert.equal(rgg.pts, undefined);
  assert.equal((a.layers.pts as NdArray).shape[0], 4_100);
  const summary = checkH5ad(out);
  assert.ok(JSON.stringify(summary).includes("4100"), "anndata 0.8 reads 4,100 perturbations");
});

test("a 200-cell × 459-gene, 3-group file written by anndata 0.8: normalize, then DE, then anndata 0.8 opens the result", {
  ...noPython,
}, async () => {
  const input = join(work, "ad08.h5ad");
  const r = spawnSync(
    py!,
    [
      "-c",
      `
import numpy as np, anndata as ad, pandas as pd, scipy.sparse as sp
X = sp.random(200, 459, density=0.1, format="csr", random_state=1, dtype=np.float32)
X.data = np.floor(X.data * 10) + 1
labels = np.array(["non-targeting", "CD4+/CD25 T Reg", "GATA1"])[np.arange(200) % 3]
obs = pd.DataFrame({"perturbation": pd.Categorical(labels), "is_control": labels == "non-targeting"}, index=[f"c{i}" for i in range(200)])
ad.AnnData(X, obs=obs, var=pd.DataFrame(index=[f"ENSG{i:011d}" for i in range(459)])).write_h5ad(${JSON.stringify(input)})
`,
    ],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  const norm = join(work, "ad08_norm.h5ad");
  await normalizeTotalLog1p(input, { output: norm });
  const out = join(work, "ad08_de.h5ad");
  const res = await rankGenesGroups(norm, {
    perturbationColumn: "perturbation",
    controlLabel: "non-targeting",
    output: out,
    workers: 1,
  });
  assert.deepEqual([...res.groups].sort(), ["CD4+/CD25 T Reg", "GATA1"]);
  checkH5ad(norm);
  checkH5ad(out);
});

test("a perturbation column named with '/' (anndata 0.8 nests it): DE reads it and names its output column by the escaped key", {
  ...noPython,
}, async () => {
  const input = join(work, "slashcol.h5ad");
  const r = spawnSync(
    py!,
    [
      "-c",
      `
import numpy as np, anndata as ad, pandas as pd
X = np.log1p(np.arange(60, dtype=np.float32).reshape(15, 4) % 7 / 3)
obs = pd.DataFrame({"guide/target": pd.Categorical(np.array(["non-targeting", "A", "B"])[np.arange(15) % 3])}, index=[f"c{i}" for i in range(15)])
ad.AnnData(X, obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(4)])).write_h5ad(${JSON.stringify(input)})
`,
    ],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  const out = join(work, "slashcol_de.h5ad");
  const res = await rankGenesGroups(input, {
    perturbationColumn: "guide/target",
    controlLabel: "non-targeting",
    output: out,
    workers: 1,
  });
  assert.deepEqual(res.groups, ["A", "B"]);
  const a = readH5ad(out);
  assert.deepEqual(a.obs.columnOrder, ["n_cells", "guide%2Ftarget"]);
  assert.deepEqual((a.obs.columns["guide%2Ftarget"] as NdArray).data, ["A", "B"]);
  checkH5ad(out);
});
