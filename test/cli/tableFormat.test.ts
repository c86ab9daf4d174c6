import { test } from "node:test";
import assert from "node:assert/strict";
import { dataFrameTable, writeTable, formatFromPath, formatTextTable, recordsTable } from "../../src/cli/output.ts";
import { columnFromCells, parseDelimited, parseTable, tableToDataFrame } from "../../src/cli/tableInput.ts";
import {
  bools,
  categorical,
  dataframe,
  ndarray,
  strings,
  type Categorical,
  type NdArray,
} from "../../src/io/anndata/model.ts";
import { InvalidArgumentError } from "../../src/errors.ts";

function render(df: ReturnType<typeof dataframe>, format: "csv" | "tsv" | "json"): string {
  let s = "";
  writeTable(dataFrameTable(df, "obs_names"), format, (c) => {
    s += c;
  });
  return s;
}

const df = dataframe(["c1", "c2", "c3"], {
  label: categorical(["a", null, 'say "hi", ok']),
  n: ndarray(BigInt64Array.from([1n, -2n, 3n])),
  x: ndarray(Float64Array.from([0.5, NaN, Infinity])),
  ok: bools([true, false, true]),
  note: strings(["tab\there", "line\nbreak", ""]),
});

test("CSV quoting follows RFC 4180; missing values are empty; booleans are True/False", () => {
  assert.equal(
    render(df, "csv"),
    "obs_names,label,n,x,ok,note\n" +
      "c1,a,1,0.5,True,tab\there\n" +
      'c2,,-2,,False,"line\nbreak"\n' +
      'c3,"say ""hi"", ok",3,inf,True,\n',
  );
  assert.deepEqual(parseDelimited(render(df, "csv"), ",", "t")[3], ["c3", 'say "hi", ok', "3", "inf", "True", ""]);
  assert.deepEqual(parseDelimited(render(df, "tsv"), "\t", "t")[1], ["c1", "a", "1", "0.5", "True", "tab\there"]);
});

test("JSON records: row name first, null for missing, infinities as strings", () => {
  const recs = JSON.parse(render(df, "json"));
  assert.deepEqual(recs[1], { obs_names: "c2", label: null, n: -2, x: null, ok: false, note: "line\nbreak" });
  assert.equal(recs[2].x, "inf");
});

test("export → import round-trips every column type", () => {
  for (const format of ["csv", "tsv", "json"] as const) {
    const t = parseTable(render(df, format), format, "t");
    const back = tableToDataFrame(t, df, "t");
    assert.deepEqual(back.index, df.index);
    assert.deepEqual((back.columns.label as Categorical).codes, (df.columns.label as Categorical).codes, format);
    assert.deepEqual(back.columns.n, df.columns.n, format);
    const x = (back.columns.x as NdArray).data as Float64Array;
    assert.equal(x[0], 0.5);
    assert.ok(Number.isNaN(x[1]));
    assert.equal(x[2], Infinity);
    assert.deepEqual(back.columns.ok, df.columns.ok, format);
    assert.deepEqual(back.columns.note, df.columns.note, format);
  }
});

test("type inference for new columns", () => {
  assert.equal((columnFromCells(["1", "2", "-3"]) as NdArray).dtype, "int64");
  assert.equal((columnFromCells(["1", "", "3"]) as NdArray).dtype, "float64"); // gaps → NaN, as pandas
  assert.equal((columnFromCells(["1.5", "1e-3", "nan"]) as NdArray).dtype, "float64");
  assert.equal((columnFromCells(["true", "False"]) as NdArray).dtype, "bool");
  const nb = columnFromCells(["true", ""]);
  assert.equal(nb.type, "nullable-boolean");
  const cat = columnFromCells(["b", "a", "b", ""]) as Categorical;
  assert.equal(cat.type, "categorical");
  assert.deepEqual(Array.from(cat.codes as Int8Array), [1, 0, 1, -1]);
  // Existing column types are kept: int32 stays int32, a categorical keeps its category order.
  assert.equal((columnFromCells(["4", "5"], ndarray(Int32Array.from([1, 2]))) as NdArray).dtype, "int32");
  const kept = columnFromCells(["z", "a"], categorical(["a", "z"], { categories: ["z", "a"] })) as Categorical;
  assert.deepEqual(kept.categories.data, ["z", "a"]);
  assert.deepEqual(Array.from(kept.codes as Int8Array), [0, 1]);
  // Numbers in a categorical column stay categories.
  assert.equal(columnFromCells(["1", "2"], categorical(["x"])).type, "categorical");
});

test("malformed tables are clear errors", () => {
  assert.throws(
    () => parseDelimited('a,"b\nc', ",", "f.csv"),
    /f\.csv: a quoted field starting before line 2 is never closed/,
  );
  assert.throws(() => parseTable("", "csv", "e.csv"), /e\.csv: is empty/);
  assert.throws(() => parseTable("{", "json", "j.json"), InvalidArgumentError);
  assert.throws(() => parseTable('{"a":1}', "json", "j.json"), /expected a JSON array of records/);
  assert.throws(() => parseTable('[{"a":[1]}]', "json", "j.json"), /row 1, 'a' holds an array/);
  assert.throws(
    () => tableToDataFrame({ columns: ["i", "a", "a"], values: [["x"], ["1"], ["2"]] }, df, "d.csv"),
    /column 'a' appears twice/,
  );
  assert.throws(
    () => tableToDataFrame({ columns: ["i", "a"], values: [[""], ["1"]] }, df, "d.csv"),
    /row 1 has an empty row name/,
  );
});

test("format from file name; text tables align numbers right", () => {
  assert.equal(formatFromPath("a/b.TSV"), "tsv");
  assert.equal(formatFromPath("x.json"), "json");
  assert.equal(formatFromPath("x.csv"), "csv");
  assert.equal(formatFromPath("x.h5ad"), undefined);
  assert.equal(
    formatTextTable(
      recordsTable([
        { name: "a", v: 1.5 },
        { name: "bbb", v: 10 },
      ]),
    ),
    "name    v\na     1.5\nbbb    10",
  );
});
