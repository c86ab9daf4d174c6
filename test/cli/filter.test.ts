import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { crispyx, referencePython, smallScreen, tempDir, withAnndata, NO_PYTHON } from "./helpers.ts";

const tmp = tempDir();
let file: string;
before(async () => {
  file = await smallScreen(tmp.path);
});
after(() => tmp.cleanup());

test("filter by expressions: the output is exactly adata[cells, genes] of anndata with the same pandas query", async (t) => {
  const out = join(tmp.path, "f.h5ad");
  const r = await crispyx([
    "filter",
    file,
    "--cells",
    "obs.perturbation != 'non-targeting' and obs.gem_group in [1, 2]",
    "--genes",
    "not (var.gene_symbols in ['MT-CO1', 'MT-ND1'])",
    "-o",
    out,
    "--chunk-size",
    "50",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.nVars, 198);
  assert.ok(s.nObs > 0 && s.nObs < 300);
  assert.match(r.stderr, new RegExp(`^wrote .*f\\.h5ad: kept ${s.nObs} of 300 cells × 198 of 200 genes`, "m"));
  const py = referencePython();
  if (!py) return t.skip(NO_PYTHON);
  const ref = withAnndata(
    py,
    out,
    [
      "orig = ad.read_h5ad(sys.argv[1].replace('f.h5ad', 'screen.h5ad'))",
      "cells = (orig.obs.perturbation != 'non-targeting') & orig.obs.gem_group.isin([1, 2])",
      "genes = ~orig.var.gene_symbols.isin(['MT-CO1', 'MT-ND1'])",
      "exp = orig[cells.values, genes.values]",
      "out = dict(shape=list(adata.shape), names=bool((adata.obs_names == exp.obs_names).all() and (adata.var_names == exp.var_names).all()), X=bool((adata.X != exp.X).nnz == 0))",
    ].join("\n"),
  ) as { shape: number[]; names: boolean; X: boolean };
  assert.deepEqual(ref.shape, [s.nObs, 198]);
  assert.equal(ref.names, true);
  assert.equal(ref.X, true);
});

test("filter by lists: cells by obs_names, genes by symbols (var_names are Ensembl IDs); unknown names warned", async () => {
  const exported = await crispyx(["obs", "export", file, "-c", "perturbation"]);
  const cells = exported.stdout
    .split("\n")
    .slice(1, 41)
    .map((l) => l.split(",")[0]);
  const cellList = join(tmp.path, "cells.txt");
  writeFileSync(cellList, `# first 40 cells\n${cells.join("\n")}\n`);
  const geneList = join(tmp.path, "genes.txt");
  writeFileSync(geneList, "MT-CO1\nMT-ND1\nNOT_A_GENE\n");
  const out = join(tmp.path, "l.h5ad");
  const r = await crispyx(["filter", file, "--cells-from", cellList, "--genes-from", geneList, "-o", out, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.deepEqual([s.nObs, s.nVars], [40, 2]);
  assert.match(r.stderr, /genes\.txt: matched against var\['gene_symbols'\]/);
  assert.match(r.stderr, /warning: 1 of 3 names in .*genes\.txt are not genes of this file/);
});

test("filter: bad expressions, unknown columns, empty lists and no selection are one-line errors before any work", async () => {
  const empty = join(tmp.path, "empty.txt");
  writeFileSync(empty, "# nothing\n");
  const out = join(tmp.path, "never.h5ad");
  const cases: [string[], number, RegExp][] = [
    [
      ["filter", file, "-o", out],
      2,
      /^crispyx: error: nothing to select: give --cells, --genes, --cells-from or --genes-from\n/,
    ],
    [
      ["filter", file, "--cells", "obs.perturbaton == 'x'", "-o", out],
      1,
      /^crispyx: error: .*: obs has no column 'perturbaton' \(in "obs\.perturbaton == 'x'"\)\nhint: did you mean 'perturbation'\?/,
    ],
    [
      ["filter", file, "--cells", "obs.perturbation == GATA1", "-o", out],
      1,
      /^crispyx: error: cannot read the selection .*'GATA1' is not a value; quote text values/,
    ],
    [
      ["filter", file, "--cells", "var.gene_symbols == 'x'", "-o", out],
      1,
      /uses var \(genes\) but selects cells\nhint: select genes with --genes/,
    ],
    [["filter", file, "--genes-from", empty, "-o", out], 1, /empty\.txt: lists no genes\n/],
    [["filter", join(tmp.path, "missing.h5ad"), "--cells", "obs.a == 1"], 1, /missing\.h5ad: no such file\n$/],
  ];
  const runs = await Promise.all(cases.map(([args]) => crispyx(args)));
  runs.forEach((r, i) => {
    assert.equal(r.code, cases[i]![1], `${cases[i]![0].join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, cases[i]![2]);
  });
});
