// writeFilteredSubset against anndata's own subset (`adata[cells, genes].copy()` written by anndata):
// every element equal — unused categories dropped from obs and var with their uns colours, layers
// restricted, raw kept for the selected cells, a pre-0.7 file's cell × cell neighbour matrices moved to
// obsp and restricted, and X's dtype kept when the selection holds no stored value.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFilteredSubset } from "../../src/ops/subset.ts";
import { openH5ad } from "../../src/io/anndata/handle.ts";
import { categoricalValues } from "../../src/io/anndata/encodings/categorical.ts";
import { compareH5ad, findPython, skipWithoutAnndata } from "../helpers/anndataChecker.ts";
import type { Categorical } from "../../src/io/anndata/model.ts";

const REAL = join(import.meta.dirname, "..", "fixtures", "real");

/** anndata's subset of `input` to the cells / genes at these positions, written to `output`. */
function anndataSubset(input: string, output: string, cells: number[], genes: number[] | null): void {
  const code = [
    "import sys, json, warnings, anndata as ad",
    "warnings.simplefilter('ignore')",
    "a = ad.read_h5ad(sys.argv[1])",
    "cells, genes = json.loads(sys.argv[3]), json.loads(sys.argv[4])",
    "s = (a[cells, genes] if genes is not None else a[cells]).copy()",
    // The seed's rule, kept by crispyx: a subset's X is CSR whatever the input's storage.
    "import scipy.sparse as sp",
    "s.X = sp.csr_matrix(s.X)",
    "s.write_h5ad(sys.argv[2])",
  ].join("\n");
  const r = spawnSync(findPython()!, ["-c", code, input, output, JSON.stringify(cells), JSON.stringify(genes)], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
}

function obsLabels(path: string, column: string): (string | null)[] {
  const h = openH5ad(path);
  try {
    return categoricalValues(h.obs.column(column) as Categorical);
  } finally {
    h.close();
  }
}

const CASES: { file: string; column: string; keep: string[]; genes?: (n: number) => boolean; what: string }[] = [
  {
    file: "anndata_v0.5.0.h5ad",
    column: "bulk_labels",
    keep: ["CD14+ Monocyte", "CD19+ B"],
    what: "pre-0.7 layout, colours, uns neighbours → obsp",
  },
  {
    file: "gen_unused_categories.h5ad",
    column: "perturbation",
    keep: ["control", "KLF1"],
    genes: (j) => j % 3 !== 0,
    what: "unused categories and colours",
  },
  {
    file: "gen_raw_layers.h5ad",
    column: "perturbation",
    keep: ["control", "GATA1"],
    genes: (j) => j < 25,
    what: "layers and raw",
  },
  {
    file: "scanpy_pbmc68k_reduced.h5ad",
    column: "bulk_labels",
    keep: ["CD4+/CD25 T Reg", "CD56+ NK", "Dendritic"],
    what: "Scanpy's dataset",
  },
];

for (const c of CASES) {
  test(`filter = anndata's subset: ${c.file} (${c.what})`, skipWithoutAnndata(), async () => {
    const dir = mkdtempSync(join(tmpdir(), "crispyx-subset-parity-"));
    try {
      const input = join(REAL, c.file);
      const labels = obsLabels(input, c.column);
      const cellMask = labels.map((l) => l !== null && c.keep.includes(l));
      const h = openH5ad(input);
      const nVars = h.nVars;
      h.close();
      const geneMask = c.genes ? Array.from({ length: nVars }, (_, j) => c.genes!(j)) : undefined;
      const ours = join(dir, "crispyx.h5ad");
      await writeFilteredSubset(input, { output: ours, cellMask, ...(geneMask ? { geneMask } : {}) });
      const theirs = join(dir, "anndata.h5ad");
      const pick = (m: boolean[]) => m.flatMap((v, i) => (v ? [i] : []));
      anndataSubset(input, theirs, pick(cellMask), geneMask ? pick(geneMask) : null);
      const cmp = compareH5ad(ours, theirs);
      assert.deepEqual(cmp.differences, [], `${c.file}: crispyx's subset differs from anndata's`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("filter keeps X's dtype when no selected cell has a stored value (float64 stays float64)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "crispyx-subset-zero-"));
  try {
    const input = join(REAL, "gen_csr_f64_zeros.h5ad");
    const h = openH5ad(input);
    const n = h.nObs;
    h.close();
    // Every ninth cell is all zeros in this fixture (scripts/reference/make_real_variants.py).
    const out = join(dir, "zeros.h5ad");
    const r = await writeFilteredSubset(input, {
      output: out,
      cellMask: Array.from({ length: n }, (_, i) => i % 9 === 0),
    });
    assert.equal(r.nnz, 0);
    const o = openH5ad(out);
    try {
      assert.equal(o.X.info.dtype, "float64");
    } finally {
      o.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
