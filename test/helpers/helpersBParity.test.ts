// Parity with the Python seed on the fixtures of scripts/reference/make_helpers_b_fixtures.py: detected columns
// and every column's score, gene-symbol validation, normalised perturbation labels and standardised gene names.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { InvalidArgumentError } from "../../src/errors.ts";
import {
  detectGeneSymbolColumn,
  detectPerturbationColumn,
  inferColumns,
  type ColumnDetection,
} from "../../src/helpers/columnDetection.ts";
import { ensureGeneSymbolColumn } from "../../src/helpers/geneSymbols.ts";
import { normalizePerturbationLabels, type NormalizeLabelOptions } from "../../src/helpers/perturbationLabels.ts";
import { standardizeGeneNames } from "../../src/helpers/geneNames.ts";

const DIR = join(import.meta.dirname, "..", "fixtures", "helpers-b");
const expected = JSON.parse(readFileSync(join(DIR, "expected.json"), "utf8"));
const datasets = expected.datasets as Record<string, any>;
const file = (name: string) => join(DIR, `${name}.h5ad`);

function scoresOf(det: ColumnDetection): Record<string, number> {
  return Object.fromEntries(det.scores.map((s) => [s.column, s.score]));
}

/** The seed's keyword arguments as crispyx options. */
function labelOptions(py: Record<string, unknown>): NormalizeLabelOptions {
  return {
    stripPrefixes: py.strip_prefixes as string[] | undefined,
    stripSuffixes: py.strip_suffixes as string[] | undefined,
    stripSuffixRegex: py.strip_suffix_regex as string | undefined,
    controlAliases: py.control_aliases as string[] | undefined,
    canonicalControl: py.canonical_control as string | undefined,
  };
}

for (const [name, ds] of Object.entries(datasets)) {
  const path = file(name);

  test(`detectPerturbationColumn matches the seed (column and every score): ${name}`, () => {
    const det = ds.detection;
    const logs: string[] = [];
    const got = detectPerturbationColumn(path, { explain: true, verbose: true, log: (m) => logs.push(m) });
    assert.equal(got.column, det.perturbation.column);
    assert.deepEqual(scoresOf(got), det.perturbation.scores);
    if (det.perturbation.log) assert.deepEqual(logs, [det.perturbation.log]);
    assert.equal(detectPerturbationColumn(path), det.perturbation.column);
    for (const ctrl of ["NTC", "control", "non-targeting", "ctrl", "A"]) {
      const want = det[`perturbation_control=${ctrl}`];
      const g = detectPerturbationColumn(path, { controlLabel: ctrl, explain: true });
      assert.equal(g.column, want.column, `control label ${ctrl}`);
      assert.deepEqual(scoresOf(g), want.scores, `control label ${ctrl}`);
    }
    const mu = detectPerturbationColumn(path, { minUnique: 5, explain: true });
    assert.equal(mu.column, det["perturbation_min_unique=5"].column);
    assert.deepEqual(scoresOf(mu), det["perturbation_min_unique=5"].scores);
  });

  test(`detectGeneSymbolColumn and inferColumns match the seed: ${name}`, () => {
    const det = ds.detection;
    const logs: string[] = [];
    const got = detectGeneSymbolColumn(path, { explain: true, verbose: true, log: (m) => logs.push(m) });
    assert.equal(got.column, det.gene_symbol.column);
    assert.deepEqual(scoresOf(got), det.gene_symbol.scores);
    if (det.gene_symbol.log) assert.deepEqual(logs, [det.gene_symbol.log]);
    else assert.deepEqual(logs, ["No gene symbol column detected."]);
    assert.deepEqual(inferColumns(path), {
      perturbationColumn: det.infer.perturbation_column,
      geneNameColumn: det.infer.gene_name_column,
    });
  });

  test(`ensureGeneSymbolColumn accepts and refuses what the seed does: ${name}`, () => {
    for (const [key, want] of Object.entries(ds.ensure_gene_symbols as Record<string, any>)) {
      const column = key === "<var_names>" ? null : key;
      if (want.ok) {
        assert.deepEqual(ensureGeneSymbolColumn(path, column), want.names, `column ${key}`);
        continue;
      }
      assert.throws(
        () => ensureGeneSymbolColumn(path, column),
        (err: unknown) => {
          assert.ok(err instanceof InvalidArgumentError, `column ${key}: ${err}`);
          assert.ok(err.message.startsWith(`${path}: `), err.message);
          if (want.error === "KeyError") {
            assert.match(err.message, new RegExp(`var has no column '${key}'`));
            assert.match(err.hint ?? "", /available var columns: /);
          } else {
            assert.match(err.message, /look like Ensembl-style IDs/);
          }
          return true;
        },
        `column ${key}`,
      );
    }
  });

  for (const lab of ds.labels as any[]) {
    test(`normalizePerturbationLabels matches the seed: ${name} obs['${lab.column}']`, () => {
      for (const r of lab.results) {
        const got = normalizePerturbationLabels(path, lab.column, { ...labelOptions(r.options), log: () => {} });
        // The seed turns a missing label into the text "nan"; crispyx keeps it missing.
        assert.deepEqual(
          got.labels.map((l) => l ?? "nan"),
          r.labels,
          JSON.stringify(r.options),
        );
        assert.equal(got.written, false);
      }
    });
  }

  if (ds.gene_names) {
    test(`standardizeGeneNames (no lookup) matches the seed: ${name}`, async () => {
      for (const g of ds.gene_names as any[]) {
        const got = await standardizeGeneNames(path, {
          column: g.column,
          stripVersion: g.options.strip_version,
          normaliseMtPrefix: g.options.normalise_mt_prefix,
        });
        assert.deepEqual(got.names, g.names, `column ${g.column} ${JSON.stringify(g.options)}`);
        assert.equal(got.written, false);
      }
    });
  }
}

test("the fixtures exercise what they claim (a test that cannot fail is a defect)", () => {
  const all = Object.values(datasets);
  const detected = new Set(all.map((d) => d.detection.perturbation.column));
  assert.ok(detected.size >= 5, "several different perturbation columns are detected");
  assert.ok(
    all.some((d) => d.detection.gene_symbol.column === null),
    "a file without symbol column",
  );
  const changed = all
    .flatMap((d) => d.labels.flatMap((l: any) => l.results))
    .filter((r: any) => r.labels.includes("NTC"));
  assert.ok(changed.length > 10, "control aliases are mapped in many cases");
});
