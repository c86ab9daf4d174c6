// normalizePerturbationLabels: the label rules (Python string/regex semantics), in-place edits compared with what the
// seed writes (categorical stays categorical with the same categories; object stays text), X untouched, bad input.
import { categoricalValues } from "../../src/io/anndata/encodings/categorical.ts";
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { InvalidArgumentError } from "../../src/errors.ts";
import {
  labelNormalizer,
  normalizeLabels,
  normalizePerturbationLabels,
  type NormalizeLabelOptions,
} from "../../src/helpers/perturbationLabels.ts";
import { DEFAULT_CONTROL_ALIASES } from "../../src/helpers/controlLabel.ts";
import { writeH5ad } from "../../src/io/anndata/anndata.ts";
import { loadObs } from "../../src/io/anndata/fileHelpers.ts";
import { categorical, dataframe, emptyAnnData, ndarray, strings } from "../../src/io/anndata/model.ts";
import { dumpH5adMany, findPython, SKIP_MESSAGE } from "./anndataChecker.ts";
import { assertOnlyChanged, fileBytes, scratchDir, xDatasets } from "./editCheck.ts";

const DIR = join(import.meta.dirname, "..", "fixtures", "helpers-b");
const expected = JSON.parse(readFileSync(join(DIR, "expected.json"), "utf8"));
const file = (name: string) => join(DIR, `${name}.h5ad`);
const scratch = scratchDir("crispyx-labels-");
test.after(() => scratch.cleanup());
const quiet = { log: () => {} };

function labelOptions(py: Record<string, unknown>): NormalizeLabelOptions {
  return {
    stripPrefixes: py.strip_prefixes as string[] | undefined,
    stripSuffixes: py.strip_suffixes as string[] | undefined,
    stripSuffixRegex: py.strip_suffix_regex as string | undefined,
    controlAliases: py.control_aliases as string[] | undefined,
    canonicalControl: py.canonical_control as string | undefined,
  };
}

test("label rules: prefixes once at the start, suffixes once at the end (Python $), regex, case-insensitive controls", () => {
  const f = labelNormalizer({ stripPrefixes: ["sg-", "sg"], stripSuffixes: ["_KO", "_KD"] });
  assert.equal(f("sg-sgTP53_KO"), "TP53"); // "sg-" then "sg", each once
  assert.equal(f("sgsgTP53"), "sgTP53");
  assert.equal(f("TP53_KD_KO"), "TP53"); // "_KO" then "_KD"
  assert.equal(f("TP53_KO_KD"), "TP53_KO"); // "_KD" is removed after "_KO" was tried
  assert.equal(f("TP53_KO\n"), "TP53\n"); // Python's $ matches before a final newline
  assert.equal(f("xsg-TP53"), "xsg-TP53");
  assert.equal(f("Non-Targeting"), "NTC");
  assert.equal(f("sg-NTC_KO"), "NTC"); // controls are matched after stripping
  const r = labelNormalizer({ stripSuffixRegex: "_\\d+$", canonicalControl: "control" });
  assert.equal(r("TP53_12"), "TP53");
  assert.equal(r("TP53_1_2"), "TP53_1");
  assert.equal(r("SCRAMBLED"), "control");
  assert.equal(labelNormalizer({ stripSuffixRegex: "(?i)_ko$" })("A_KO"), "A");
  assert.equal(labelNormalizer({ stripSuffixRegex: "[0-9]" })("A1B2"), "AB"); // every match, as re.sub
  assert.equal(labelNormalizer({ stripSuffixes: ["."] })("A.B."), "A.B"); // suffixes are literal text
  assert.equal(labelNormalizer({ controlAliases: ["NegCtrl"] })("NEGCTRL"), "NTC");
  assert.equal(labelNormalizer({ stripPrefixes: [""] })("A"), "A");
  for (const a of DEFAULT_CONTROL_ALIASES) assert.equal(labelNormalizer()(a.toUpperCase()), "NTC", a);
  assert.deepEqual(normalizeLabels(["ctrl", "A", "ctrl"]), ["NTC", "A", "NTC"]);
  assert.deepEqual(normalizeLabels([]), []);
});

test("label rules: a bad or unsupported regular expression is refused before any label is read", () => {
  assert.throws(
    () => labelNormalizer({ stripSuffixRegex: "(" }),
    (e: unknown) => e instanceof InvalidArgumentError && /not a valid regular expression/.test(e.message),
  );
  assert.throws(() => labelNormalizer({ stripSuffixRegex: "(?x) a" }), InvalidArgumentError);
  const path = scratch.copy(file("norman_like"));
  const before = fileBytes(path);
  assert.throws(
    () => normalizePerturbationLabels(path, "guide_identity", { stripSuffixRegex: "[", inplace: true }),
    InvalidArgumentError,
  );
  assert.ok(fileBytes(path).equals(before));
});

test("unknown column: the error lists the available obs columns; an empty column name is refused", () => {
  assert.throws(
    () => normalizePerturbationLabels(file("norman_like"), "pert"),
    (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.equal(err.message, `${file("norman_like")}: obs has no column 'pert'`);
      assert.equal(
        err.hint,
        "available obs columns: 'guide_identity', 'read_count', 'UMI_count', 'coverage', 'gemgroup', 'good_coverage', 'number_of_cells', 'perturbation'",
      );
      return true;
    },
  );
  assert.throws(() => normalizePerturbationLabels(file("norman_like"), ""), /name the obs column/);
});

test("empty label list: a file without cells, and options that would empty every label, are errors", () => {
  const a = emptyAnnData(0, 3);
  a.obs = dataframe([], { perturbation: categorical([]) });
  const empty = join(scratch.dir, "no_cells.h5ad");
  writeH5ad(empty, a);
  assert.throws(() => normalizePerturbationLabels(empty, "perturbation"), /has no labels \(the file has no cells\)/);
  const b = emptyAnnData(3, 2);
  b.obs = dataframe(["c0", "c1", "c2"], { guide: strings(["sgA", "sgB", "sgA"]) });
  const p = join(scratch.dir, "all_empty.h5ad");
  writeH5ad(p, b);
  assert.throws(
    () => normalizePerturbationLabels(p, "guide", { stripSuffixRegex: ".*" }),
    /would leave every label empty/,
  );
  const warnings: string[] = [];
  const r = normalizePerturbationLabels(p, "guide", { stripPrefixes: ["sgA"], log: (m) => warnings.push(m) });
  assert.deepEqual(r.labels, ["", "sgB", ""]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /2 cells in obs\['guide'\] have an empty label/);
});

test("result: per-cell labels, what changed, the control count; inplace false leaves the file byte-identical", () => {
  const path = scratch.copy(file("mouse_object"));
  const before = fileBytes(path);
  const r = normalizePerturbationLabels(path, "target_gene", quiet);
  assert.equal(r.written, false);
  assert.deepEqual(r.mapping, { ctrl: "NTC" });
  const seed = expected.datasets.mouse_object.labels.find((l: any) => l.column === "target_gene").results[0].labels;
  assert.deepEqual(r.labels, seed);
  assert.equal(r.nControl, seed.filter((l: string) => l === "NTC").length);
  const original = loadObs(path).columns.target_gene!;
  assert.equal(original.type, "array");
  assert.equal(
    r.changed,
    seed.filter((l: string, i: number) => original.type === "array" && l !== original.data[i]).length,
  );
  assert.ok(r.changed > 0);
  assert.ok(fileBytes(path).equals(before));
});

test("inplace: written labels, dtype and categories equal what the seed writes, for every fixture column and option set", () => {
  let n = 0;
  for (const [name, ds] of Object.entries(expected.datasets as Record<string, any>)) {
    for (const lab of ds.labels) {
      for (const r of lab.results) {
        const path = scratch.copy(file(name), "inplace.h5ad");
        const got = normalizePerturbationLabels(path, lab.column, {
          ...labelOptions(r.options),
          inplace: true,
          ...quiet,
        });
        assert.equal(got.written, true);
        const col = loadObs(path).columns[lab.column]!;
        const label = `${name} obs['${lab.column}'] ${JSON.stringify(r.options)}`;
        if (r.dtype_after === "category") {
          assert.equal(col.type, "categorical", label);
          if (col.type !== "categorical") continue;
          // The seed turns missing labels into a "nan" category; crispyx keeps them missing.
          const hadMissing = got.labels.includes(null);
          const seedCats =
            hadMissing && !got.labels.includes("nan")
              ? r.categories_after.filter((c: string) => c !== "nan")
              : r.categories_after;
          assert.deepEqual(col.categories.data, seedCats, label);
          const values = Array.from(col.codes as ArrayLike<number>, (k) =>
            k < 0 ? "nan" : (col.categories.data[k] as string),
          );
          assert.deepEqual(values, r.labels, label);
        } else {
          assert.equal(r.dtype_after, "object", label);
          assert.equal(col.type, "array", label);
          assert.deepEqual(col.type === "array" ? col.data : null, r.labels, label);
        }
        n++;
      }
    }
  }
  assert.ok(n >= 90, `${n} in-place runs`);
});

test("inplace: X's stored values and every other element unchanged; anndata reads the edited files", {
  skip: findPython() ? undefined : SKIP_MESSAGE,
}, () => {
  const cases: Array<[string, string, NormalizeLabelOptions]> = [
    ["replogle_like", "gene", {}],
    ["norman_like", "guide_identity", { stripSuffixRegex: "__.*$", controlAliases: ["NegCtrl0_NegCtrl0"] }],
    ["mouse_object", "sgRNA", { stripPrefixes: ["sg"], stripSuffixRegex: "_\\d+$" }],
    ["controls_mixed", "perturbation", { stripPrefixes: ["sg-", "sg"], stripSuffixes: ["_KO", "_KD", "_P1P2"] }],
  ];
  const originals = cases.map(([name]) => file(name));
  const edited = cases.map(([name, column, opts], i) => {
    const path = scratch.copy(file(name), `edited${i}.h5ad`);
    const x = xDatasets(path);
    normalizePerturbationLabels(path, column, { ...opts, inplace: true, ...quiet });
    assert.deepEqual(xDatasets(path), x, `${name}: X changed`);
    return path;
  });
  const dumps = dumpH5adMany([...originals, ...edited]);
  cases.forEach(([name, column, opts], i) => {
    const before = dumps[i]!;
    const after = dumps[cases.length + i]!;
    assert.equal(after.error, undefined, `anndata cannot read the edited ${name}: ${after.error}`);
    assertOnlyChanged(before.result, after.result, { obs: [column] });
    const col = after.result.obs.data[column];
    const want = normalizePerturbationLabels(originals[i]!, column, { ...opts, ...quiet }).labels;
    const values =
      col.kind === "categorical" ? col.codes.map((k: number) => (k < 0 ? null : col.categories[k])) : col.values;
    assert.deepEqual(values, want, name);
    assert.equal(col.kind, before.result.obs.data[column].kind, `${name}: column kind changed`);
  });
});

test("inplace: a nullable string column keeps its missing values; a numeric column becomes text", () => {
  const a = emptyAnnData(4, 2);
  a.obs = dataframe(["c0", "c1", "c2", "c3"], {
    guide: {
      type: "nullable-string",
      values: strings(["sgA_KO", "", "ctrl", "sgB"]),
      mask: Uint8Array.from([0, 1, 0, 0]),
    },
    plate: ndarray(Int32Array.from([1, 2, 1, 3])),
  });
  const path = join(scratch.dir, "nullable.h5ad");
  writeH5ad(path, a);
  const r = normalizePerturbationLabels(path, "guide", {
    stripPrefixes: ["sg"],
    stripSuffixes: ["_KO"],
    inplace: true,
    ...quiet,
  });
  assert.deepEqual(r.labels, ["A", null, "NTC", "B"]);
  // Written as anndata < 0.11 can read it: a categorical with the missing value kept (writeSettings).
  const col = loadObs(path).columns.guide!;
  assert.equal(col.type, "categorical");
  if (col.type === "categorical") assert.deepEqual(categoricalValues(col), ["A", null, "NTC", "B"]);
  const n = normalizePerturbationLabels(path, "plate", {
    controlAliases: ["2"],
    canonicalControl: "ctrl",
    inplace: true,
    ...quiet,
  });
  assert.deepEqual(n.labels, ["1", "ctrl", "1", "3"]);
  const plate = loadObs(path).columns.plate!;
  assert.equal(plate.type, "array");
  assert.deepEqual(plate.type === "array" ? plate.data : null, ["1", "ctrl", "1", "3"]);
});

test("options of the wrong type are refused; labels named like object properties are plain data", () => {
  assert.throws(() => labelNormalizer({ stripPrefixes: "sg" as never }), /stripPrefixes must be a list of strings/);
  assert.throws(() => labelNormalizer({ controlAliases: [1] as never }), /controlAliases must be a list of strings/);
  assert.throws(() => labelNormalizer({ canonicalControl: 0 as never }), /canonicalControl must be a string/);
  const b = emptyAnnData(2, 1);
  const p = join(scratch.dir, "proto.h5ad");
  b.obs = dataframe(["c0", "c1"], { guide: strings(["__proto__", "constructor"]) });
  writeH5ad(p, b);
  const r = normalizePerturbationLabels(p, "guide", { controlAliases: ["__proto__", "constructor"], ...quiet });
  assert.deepEqual(Object.keys(r.mapping), ["__proto__", "constructor"]);
  assert.equal(Object.getOwnPropertyDescriptor(r.mapping, "__proto__")?.value, "NTC");
  assert.equal(Object.getPrototypeOf(r.mapping), Object.prototype);
});

test("inplace on an ordered categorical: new categories sorted and unordered, as the seed's pandas.Categorical", () => {
  const a = emptyAnnData(3, 1);
  a.obs = dataframe(["c0", "c1", "c2"], {
    guide: categorical(["sgZ", "sgA", "ctrl"], { categories: ["sgZ", "sgA", "ctrl"], ordered: true }),
  });
  const p = join(scratch.dir, "ordered.h5ad");
  writeH5ad(p, a);
  normalizePerturbationLabels(p, "guide", { stripPrefixes: ["sg"], inplace: true, ...quiet });
  const col = loadObs(p).columns.guide!;
  assert.equal(col.type, "categorical");
  if (col.type === "categorical") {
    assert.deepEqual(col.categories.data, ["A", "NTC", "Z"]);
    assert.equal(col.ordered, false);
    assert.deepEqual(Array.from(col.codes as Int8Array), [2, 0, 1]);
  }
});
