import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { formatSignificant } from "../../src/de/formatNumber.ts";
import { findPython, skipWithoutAnndata } from "../helpers/anndataChecker.ts";

test("formatSignificant: 9 significant digits, Python's '.9g' spelling on fixed cases", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [1, "1"],
    [-2.5, "-2.5"],
    [0.1, "0.1"],
    [1 / 3, "0.333333333"],
    [123456789, "123456789"],
    [1234567890, "1.23456789e+09"],
    [0.0001234, "0.0001234"],
    [0.00001234, "1.234e-05"],
    [1e-300, "1e-300"],
    [5e-324, "4.94065646e-324"],
    [0.9999999999, "1"],
    [99999999.96, "100000000"],
    [NaN, "nan"],
    [Infinity, "inf"],
    [-Infinity, "-inf"],
    [1.7976931348623157e308, "1.79769313e+308"],
    [2.2250738585072014e-308, "2.22507386e-308"],
  ];
  for (const [x, s] of cases) assert.equal(formatSignificant(x), s, String(x));
});

test(
  "formatSignificant equals Python format(x, '.9g') on 2000 random doubles across the range",
  skipWithoutAnndata(),
  () => {
    let s = 11;
    const xs = Array.from({ length: 2000 }, () => {
      s = (s * 48271) % 2147483647;
      return (s / 2147483647 - 0.3) * 10 ** ((s % 600) - 310);
    });
    const py = execFileSync(
      findPython()!,
      ["-c", "import sys,json\nfor x in json.load(sys.stdin): print(format(x, '.9g'))"],
      { input: JSON.stringify(xs), encoding: "utf8" },
    );
    const expected = py.trim().split("\n");
    xs.forEach((x, i) => assert.equal(formatSignificant(x), expected[i], String(x)));
  },
);
