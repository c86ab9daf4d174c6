// Column detection and gene-symbol validation beyond the seed-parity fixtures: the explain / verbose options, open
// handles, the seed's prefix quirks, and the errors a user sees.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { InvalidArgumentError } from "../../src/errors.ts";
import {
  detectGeneSymbolColumn,
  detectPerturbationColumn,
  inferColumns,
  scorePerturbationColumn,
} from "../../src/helpers/columnDetection.ts";
import {
  anyEnsemblPrefix,
  countEnsemblLike,
  ensureGeneSymbolColumn,
  looksLikeEnsemblId,
  scoreGeneSymbolColumn,
  validateGeneSymbols,
} from "../../src/helpers/geneSymbols.ts";
import { openH5ad } from "../../src/io/anndata/handle.ts";
import { categorical, dataframe, emptyAnnData, ndarray, strings } from "../../src/io/anndata/model.ts";
import { writeH5ad } from "../../src/io/anndata/anndata.ts";
import { scratchDir } from "./editCheck.ts";

const DIR = join(import.meta.dirname, "..", "fixtures", "helpers-b");
const file = (name: string) => join(DIR, `${name}.h5ad`);
const scratch = scratchDir("crispyx-detect-");
test.after(() => scratch.cleanup());

test("explain: every column's score with its parts, in obs order; verbose logs the choice once", () => {
  const logs: string[] = [];
  const det = detectPerturbationColumn(file("norman_like"), { explain: true, verbose: true, log: (m) => logs.push(m) });
  assert.equal(det.column, "perturbation");
  assert.equal(det.score, 8);
  assert.deepEqual(
    det.scores.map((s) => s.column),
    [
      "guide_identity",
      "read_count",
      "UMI_count",
      "coverage",
      "gemgroup",
      "good_coverage",
      "number_of_cells",
      "perturbation",
    ],
  );
  assert.deepEqual(det.scores.at(-1)!.parts, { nameAlias: 3, textDtype: 2, uniqueCount: 1, controlValue: 2 });
  assert.deepEqual(det.scores[0]!.parts, { nameAlias: 3, textDtype: 2, uniqueCount: 1, controlValue: 0 });
  for (const s of det.scores)
    assert.equal(
      s.score,
      Object.values(s.parts).reduce((a, b) => a + b, 0),
    );
  assert.deepEqual(logs, ["Detected perturbation column: 'perturbation' (score=8)."]);
  // Not verbose: silent.
  const quiet: string[] = [];
  detectPerturbationColumn(file("norman_like"), { log: (m) => quiet.push(m) });
  assert.deepEqual(quiet, []);
});

test("inferColumns with explain: both detections and their scores, from one open handle", () => {
  const r = inferColumns(file("replogle_like"), { explain: true });
  assert.equal(r.perturbationColumn, "gene");
  assert.equal(r.geneNameColumn, "gene_name");
  assert.equal(r.perturbation.column, "gene");
  assert.deepEqual(r.geneName.scores.find((s) => s.column === "gene_name")!.parts, {
    nameAlias: 3,
    symbolLike: 2,
    noEnsemblPrefix: 1,
  });
  const h = openH5ad(file("replogle_like"));
  try {
    assert.deepEqual(inferColumns(h), { perturbationColumn: "gene", geneNameColumn: "gene_name" });
    assert.equal(h.nObs, 60, "the caller's handle stays open");
  } finally {
    h.close();
  }
});

test("no column scores above zero: null, and verbose says so", () => {
  const logs: string[] = [];
  assert.equal(detectGeneSymbolColumn(file("many_genes"), { verbose: true, log: (m) => logs.push(m) }), null);
  assert.deepEqual(logs, ["No gene symbol column detected."]);
});

test("scorePerturbationColumn: categorical scored from the categories in use; missing values read as 'nan'", () => {
  const col = categorical(["A", "B", null], { categories: ["A", "B", "ctrl"] }); // 'ctrl' is an unused category
  assert.deepEqual(scorePerturbationColumn("x", col).parts, {
    nameAlias: 0,
    textDtype: 2,
    uniqueCount: 1,
    controlValue: 0,
  });
  assert.equal(scorePerturbationColumn("x", col, { controlLabel: "NaN" }).parts.controlValue, 2);
  assert.equal(scorePerturbationColumn("Perturbation", strings(["NTC", "A"])).score, 8);
  assert.equal(scorePerturbationColumn("n", ndarray(Float64Array.from([1, 2, NaN]))).parts.uniqueCount, 1);
  assert.equal(scorePerturbationColumn("n", ndarray(Float64Array.from([1, 1, NaN]))).parts.uniqueCount, 0);
  assert.equal(
    scorePerturbationColumn("n", ndarray(Float64Array.from([0.5, 1])), { controlLabel: "0.5" }).parts.controlValue,
    2,
  );
  assert.throws(() => detectPerturbationColumn(file("ties"), { minUnique: -1 }), /minUnique/);
});

test("the seed's prefix rules: upper-cased first three characters; FlyBase never counts when validating", () => {
  assert.ok(looksLikeEnsemblId("ENSG00000141510"));
  assert.ok(looksLikeEnsemblId("ensmusg0001")); // upper-cased first
  assert.ok(looksLikeEnsemblId("YAL001C"));
  assert.ok(!looksLikeEnsemblId("FBgn0000001")); // the seed compares "FBG" with "FBg"
  assert.ok(anyEnsemblPrefix(["FBgn0000001"])); // ...but its column scoring upper-cases both
  assert.ok(looksLikeEnsemblId("ENſG1")); // "ſ".upper() is "S" in Python too
  assert.ok(!looksLikeEnsemblId("EN"));
  assert.equal(countEnsemblLike(["ENSG1", "TP53", "YBL002W"]), 2);
  assert.equal(scoreGeneSymbolColumn("SYMBOL", strings(["TP53", "ENSG1"])).score, 3 + 2 + 0);
});

test("validateGeneSymbols: exactly half Ensembl-like passes, more fails with a hint naming candidate columns", () => {
  validateGeneSymbols(["ENSG1", "TP53"]);
  assert.throws(
    () =>
      validateGeneSymbols(["ENSG1", "ENSG2", "TP53"], { file: "f.h5ad", source: "var_names", candidates: ["symbol"] }),
    (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.equal(
        e.message,
        "f.h5ad: 2 of 3 gene identifiers in var_names look like Ensembl-style IDs (e.g. 'ENSG1'), not gene symbols",
      );
      assert.equal(e.hint, "pick a column of gene symbols (best match first): 'symbol'");
      return true;
    },
  );
  assert.throws(() => validateGeneSymbols([]), /no gene names were provided/);
});

test("ensureGeneSymbolColumn: an Ensembl index names the symbol columns, best first; 'gene_symbols' falls back to var_names", () => {
  assert.throws(
    () => ensureGeneSymbolColumn(file("replogle_like")),
    (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.match(
        e.message,
        /20 of 20 gene identifiers in var_names look like Ensembl-style IDs \(e\.g\. 'ENSG00000010000\.1'\)/,
      );
      assert.equal(e.hint, "pick a column of gene symbols (best match first): 'gene_name', 'chr'");
      return true;
    },
  );
  assert.throws(
    () => ensureGeneSymbolColumn(file("many_genes")),
    (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.match(e.hint ?? "", /standardizeGeneNames \(lookupSymbols or mappingFile\)/);
      return true;
    },
  );
  const logs: string[] = [];
  const names = ensureGeneSymbolColumn(file("norman_like"), "gene_symbols", { log: (m) => logs.push(m) });
  assert.equal(names[0], "CEBPE");
  assert.deepEqual(logs, ["Column 'gene_symbols' not found in var; using var_names as gene identifiers."]);
  assert.throws(
    () => ensureGeneSymbolColumn(file("norman_like"), "symbols"),
    (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.equal(e.hint, "available var columns: 'gene_ids', 'feature_types'");
      return true;
    },
  );
});

test("a missing or non-h5ad file is one clear error", () => {
  assert.throws(() => detectPerturbationColumn(join(DIR, "nope.h5ad")), /data file not found/);
  assert.throws(() => inferColumns(join(DIR, "README.md")));
});

test("text columns are streamed in chunks with the same scores as in memory (controls late, >5000 distinct, early stop)", () => {
  const n = 300_000; // more than one read chunk (2^18 rows)
  const late = Array.from({ length: n }, (_, i) => (i === n - 1 ? "NTC" : i % 2 ? "A" : "B"));
  const barcodes = Array.from({ length: n }, (_, i) => (i === 5 ? "ctrl" : `BC${i}`));
  const many = Array.from({ length: n }, (_, i) => `G${i % 6000}`);
  const exactCap = Array.from({ length: n }, (_, i) => `G${i % 5000}`);
  const a = emptyAnnData(n, 2);
  a.obs = dataframe(
    Array.from({ length: n }, (_, i) => `c${i}`),
    {
      late: strings(late),
      barcodes: strings(barcodes),
      many: strings(many),
      exactCap: strings(exactCap),
    },
  );
  const path = join(scratch.dir, "streamed.h5ad");
  writeH5ad(path, a);
  const det = detectPerturbationColumn(path, { explain: true });
  const inMemory = Object.entries(a.obs.columns).map(([name, col]) => scorePerturbationColumn(name, col));
  assert.deepEqual(det.scores, inMemory);
  assert.deepEqual(
    det.scores.map((s) => s.score),
    [5, 4, 2, 3],
  );
  const withLabel = detectPerturbationColumn(path, { explain: true, controlLabel: "bc7" });
  assert.deepEqual(
    withLabel.scores.map((s) => s.parts.controlValue),
    [0, 2, 0, 0],
  );
});
