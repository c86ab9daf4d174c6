import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { crispyx, referencePython, smallScreen, tempDir, withAnndata, NO_PYTHON } from "./helpers.ts";
import { parseDelimited } from "../../src/cli/tableInput.ts";

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

test("obs export: CSV to stdout with obs_names first, one row per cell", async () => {
  const r = await crispyx(["obs", "export", file]);
  assert.equal(r.code, 0, r.stderr);
  const rows = parseDelimited(r.stdout, ",", "stdout");
  assert.deepEqual(rows[0], ["obs_names", "perturbation", "guide_id", "gem_group"]);
  assert.equal(rows.length, 301);
  for (const row of rows.slice(1)) {
    assert.match(row[0]!, /^[ACGT]{16}-[1-4]$/);
    assert.ok(row[2]!.startsWith(row[1] + "_sg"), `${row[2]} is a guide of ${row[1]}`);
    assert.equal(row[3], row[0]!.slice(-1)); // gem group matches the barcode suffix
  }
});

test("var export: TSV and JSON agree with each other; -o writes a file and says so", async () => {
  const out = join(tmp.path, "var.tsv");
  const [tsv, json] = await Promise.all([
    crispyx(["var", "export", file, "-o", out]),
    crispyx(["var", "export", file, "--format", "json"]),
  ]);
  assert.equal(tsv.code, 0, tsv.stderr);
  assert.match(tsv.stderr, /wrote var: 200 genes × 2 columns/);
  const rows = parseDelimited(readFileSync(out, "utf8"), "\t", out);
  assert.deepEqual(rows[0], ["var_names", "gene_symbols", "feature_types"]);
  const records = JSON.parse(json.stdout) as Record<string, string>[];
  assert.equal(records.length, 200);
  records.forEach((rec, i) => {
    assert.deepEqual(Object.values(rec), rows[i + 1]);
    assert.match(rec.var_names!, /^ENSG\d{11}\.\d+$/);
  });
  assert.ok(records.some((r) => r.gene_symbols!.startsWith("MT-")));
  assert.equal(readdirSync(tmp.path).filter((f) => f.startsWith(".crispyx-tmp")).length, 0);
});

test("obs export --columns: an unknown column is exit 1 with the available columns", async () => {
  const r = await crispyx(["obs", "export", file, "--columns", "perturbation,batch"]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^crispyx: error: .*screen\.h5ad: obs has no column 'batch'\nhint: available columns: perturbation, guide_id, gem_group\n$/,
  );
  assert.equal(r.stdout, "");
});

test("a bad --format is a usage error (exit 2)", async () => {
  const r = await crispyx(["obs", "export", file, "--format", "xlsx"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^crispyx: error: option '-f, --format <format>' argument 'xlsx' is invalid/);
  assert.match(r.stderr, /hint: run 'crispyx obs export --help'/);
});

test("obs import: edited CSV round-trips; new and changed columns land with the right types", async (t) => {
  const target = copy("edit.h5ad");
  const exported = (await crispyx(["obs", "export", target])).stdout;
  const rows = parseDelimited(exported, ",", "x");
  // Add a numeric column, a text column with a missing value, and drop gem_group.
  const edited =
    [
      [...rows[0]!.slice(0, 3), "score", "note"],
      ...rows.slice(1).map((r, i) => [...r.slice(0, 3), String(i / 4), i === 5 ? "" : i % 2 ? "odd, really" : "even"]),
    ]
      .map((r) => r.map((f) => (f.includes(",") ? `"${f}"` : f)).join(","))
      .join("\n") + "\n";
  const csv = join(tmp.path, "edited.csv");
  writeFileSync(csv, edited);
  const r = await crispyx(["obs", "import", target, csv]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /replaced obs of .*: 300 cells × 4 columns; added score, note; removed gem_group/);
  const back = await crispyx(["obs", "export", target, "-f", "json"]);
  const recs = JSON.parse(back.stdout) as Record<string, unknown>[];
  assert.equal(recs[7]!.score, 1.75);
  assert.equal(recs[5]!.note, null);
  assert.equal(recs[3]!.note, "odd, really");
  const py = referencePython();
  if (!py) return t.skip(NO_PYTHON);
  const ref = withAnndata(
    py,
    target,
    [
      "o = adata.obs",
      "out = dict(cols=list(o.columns), dtypes=[str(o[c].dtype) for c in o.columns], n=int(o.shape[0]),",
      "  score7=float(o.score.iloc[7]), note_na=bool(pd.isna(o.note.iloc[5])), nnz=int(adata.X.nnz), first=o.index[0])",
    ].join("\n"),
  ) as Record<string, unknown>;
  assert.deepEqual(ref.cols, ["perturbation", "guide_id", "score", "note"]);
  assert.deepEqual(ref.dtypes, ["category", "category", "float64", "category"]);
  assert.equal(ref.score7, 1.75);
  assert.equal(ref.note_na, true);
  assert.equal(ref.first, rows[1]![0]);
});

test("var import from stdin (JSON) with rows in another order is matched by var_names", async () => {
  const target = copy("reorder.h5ad");
  const recs = JSON.parse((await crispyx(["var", "export", target, "-f", "json"])).stdout) as Record<string, string>[];
  const shuffled = recs.map((r, i) => ({ ...r, rank: i })).reverse();
  const r = await crispyx(["var", "import", target, "-", "--format", "json"], { input: JSON.stringify(shuffled) });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /another order; rows were matched by var_names/);
  const back = JSON.parse((await crispyx(["var", "export", target, "-f", "json"])).stdout) as Record<string, unknown>[];
  back.forEach((rec, i) => {
    assert.equal(rec.rank, i);
    assert.equal(rec.var_names, recs[i]!.var_names);
  });
});

test("import with the wrong row count: exit 1 naming both files, the file unchanged", async () => {
  const target = copy("short.h5ad");
  const before = readFileSync(target);
  const csv = join(tmp.path, "short.csv");
  writeFileSync(csv, "obs_names,x\nA,1\nB,2\n");
  const r = await crispyx(["obs", "import", target, csv]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^crispyx: error: .*short\.csv: has 2 rows but .*short\.h5ad has 300 cells\nhint: /);
  assert.ok(readFileSync(target).equals(before), "the .h5ad file must not change");
});

test("import with unknown row names needs --rename-index", async () => {
  const target = copy("rename.h5ad");
  const csv = join(tmp.path, "rename.csv");
  writeFileSync(csv, "obs_names,x\n" + Array.from({ length: 300 }, (_, i) => `cell${i},${i}`).join("\n") + "\n");
  const r = await crispyx(["obs", "import", target, csv]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /row names do not match the obs_names .* \(row 1: 'cell0', file has '[ACGT]+-\d'\)\nhint: .*--rename-index/,
  );
  const ok = await crispyx(["obs", "import", target, csv, "--rename-index"]);
  assert.equal(ok.code, 0, ok.stderr);
  const names = (await crispyx(["obs", "export", target])).stdout.split("\n").slice(1, 3);
  assert.deepEqual(names, ["cell0,0", "cell1,1"]);
});

test("import: a missing table file is exit 1 naming it; a malformed CSV names the line", async () => {
  const target = copy("bad.h5ad");
  const missing = await crispyx(["obs", "import", target, join(tmp.path, "none.csv")]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^crispyx: error: .*none\.csv: cannot read the table: no such file\n$/);
  const csv = join(tmp.path, "ragged.csv");
  writeFileSync(csv, "obs_names,a,b\nx,1,2\ny,1\n");
  const ragged = await crispyx(["obs", "import", target, csv]);
  assert.equal(ragged.code, 1);
  assert.match(ragged.stderr, /ragged\.csv: line 3 has 2 fields but the header has 3/);
  assert.ok(!existsSync(join(tmp.path, "none.csv")));
});
