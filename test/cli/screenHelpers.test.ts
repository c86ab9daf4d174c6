/** detect, labels, genes: the screen-aware helpers through the real CLI. */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { crispyx, referencePython, smallScreen, tempDir, withAnndata, NO_PYTHON } from "./helpers.ts";

const tmp = tempDir();
let file: string;
before(async () => {
  file = await smallScreen(tmp.path);
});
after(() => tmp.cleanup());

function copy(name: string): string {
  const p = join(tmp.path, name);
  copyFileSync(file, p);
  return p;
}

test("detect: names the perturbation column, control label and gene-symbol column; --json parses", async () => {
  const [text, json] = await Promise.all([crispyx(["detect", file]), crispyx(["detect", file, "--json"])]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(
    text.stdout,
    /^perturbation column: 'perturbation' \(score \d+; 5 groups\)\ncontrol label: +'non-targeting'\ngene-symbol column: +'gene_symbols' \(score 6\)\n/,
  );
  assert.match(text.stdout, /^ +column +score +known_name +text +distinct_ok +has_control$/m);
  const s = JSON.parse(json.stdout);
  assert.equal(s.perturbation_column, "perturbation");
  assert.equal(s.gene_symbol_column, "gene_symbols");
  assert.equal(s.control_label, "non-targeting");
  assert.equal(s.n_perturbation_groups, 5);
  assert.deepEqual(
    s.perturbation_scores.map((c: { column: string }) => c.column),
    ["perturbation", "guide_id", "gem_group"],
  );
});

test("labels: dry run by default (file unchanged), --in-place writes; anndata sees the new labels", async (t) => {
  const f = copy("labels.h5ad");
  const bytes = readFileSync(f);
  const args = ["labels", f, "-p", "guide_id", "--strip-regex", "_sg[0-9]+$"];
  const dry = await crispyx([...args, "--json"]);
  assert.equal(dry.code, 0, dry.stderr);
  const s = JSON.parse(dry.stdout);
  assert.equal(s.written, false);
  assert.equal(s.changed_cells, 300);
  assert.equal(s.groups, 5); // 4 targets + NTC
  assert.equal(s.mapping["non-targeting_sg1"], "NTC");
  assert.ok(readFileSync(f).equals(bytes), "a dry run must not touch the file");
  const text = await crispyx(args);
  assert.match(text.stdout, /^label +becomes\n/);
  assert.match(text.stderr, /dry run: .* was not changed; pass --in-place/);
  const wet = await crispyx([...args, "--in-place"]);
  assert.equal(wet.code, 0, wet.stderr);
  assert.match(wet.stderr, /^updated obs\['guide_id'\] of .*labels\.h5ad: 300 of 300 cells relabelled/m);
  const py = referencePython();
  if (!py) return t.skip(NO_PYTHON);
  const ref = withAnndata(
    py,
    f,
    "out = dict(same=bool((adata.obs.guide_id.astype(str).replace('NTC', 'non-targeting') == adata.obs.perturbation.astype(str)).all()), cat=str(adata.obs.guide_id.dtype))",
  ) as { same: boolean; cat: string };
  assert.deepEqual(ref, { same: true, cat: "category" });
});

test("genes: strips Ensembl versions (dry run, then --in-place); anndata reads the new var_names", async (t) => {
  const f = copy("genes.h5ad");
  const dry = await crispyx(["genes", f, "--json"]);
  assert.equal(dry.code, 0, dry.stderr);
  const s = JSON.parse(dry.stdout);
  assert.equal(s.changed, 200);
  assert.equal(s.written, false);
  assert.match(s.examples[0].gene, /^ENSG\d{11}\.\d+$/);
  assert.equal(s.examples[0].becomes, s.examples[0].gene.replace(/\.\d+$/, ""));
  const wet = await crispyx(["genes", f, "--in-place"]);
  assert.equal(wet.code, 0, wet.stderr);
  assert.match(wet.stderr, /^updated var_names of .*genes\.h5ad: 200 of 200 names in var_names changed/m);
  const py = referencePython();
  if (!py) return t.skip(NO_PYTHON);
  const ref = withAnndata(py, f, "out = bool(adata.var_names.str.match(r'^ENSG\\d{11}$').all())");
  assert.equal(ref, true);
});

test("labels/genes: unknown columns and bad choices are one-line errors", async () => {
  const [lab, gen, choice] = await Promise.all([
    crispyx(["labels", file, "-p", "guide"]),
    crispyx(["genes", file, "--column", "symbols"]),
    crispyx(["genes", file, "--unmapped", "ignore"]),
  ]);
  assert.equal(lab.code, 1);
  assert.match(
    lab.stderr,
    /^crispyx: error: .*: obs has no column 'guide' \(--perturbation-column\)\nhint: did you mean 'guide_id'\?/,
  );
  assert.equal(gen.code, 1);
  assert.match(
    gen.stderr,
    /^crispyx: error: .*: var has no column 'symbols' \(--column\)\nhint: did you mean 'gene_symbols'\?/,
  );
  assert.equal(choice.code, 2);
  assert.match(choice.stderr, /Allowed choices are keep, warn, error/);
});
