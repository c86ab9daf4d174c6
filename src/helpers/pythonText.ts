/**
 * Text rules of Python and pandas that the seed's heuristics depend on, reproduced in JavaScript so that
 * crispyx reaches the same labels, names and scores: `str.lower()`, `str(float)`, `Series.astype(str)`,
 * code-point string ordering, and Python's `re` anchors (`$` also matches before a final newline).
 */
import type { Column, NdArray } from "../io/anndata/model.ts";
import { InvalidArgumentError } from "../errors.ts";

/**
 * Python's `str.lower()`. Both Python and JavaScript apply Unicode full case mapping including the
 * Final_Sigma rule (Σ → ς at the end of a word), checked against CPython 3 on Greek, Turkish İ and ẞ.
 */
export function pyLower(s: string): string {
  return s.toLowerCase();
}

/** Python's `str.upper()` (full case mapping, as JavaScript's toUpperCase, which has no context rules). */
export function pyUpper(s: string): string {
  return s.toUpperCase();
}

/**
 * Compare strings by Unicode code point, as Python does (JavaScript's default compares UTF-16 units,
 * which orders astral characters before U+E000–U+FFFF).
 */
export function codePointCompare(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i),
      y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (D800–DFFF) encode code points above FFFF: move them above E000–FFFF.
    x = x >= 0xd800 && x <= 0xdfff ? x + 0x2000 : x >= 0xe000 ? x - 0x800 : x;
    y = y >= 0xd800 && y <= 0xdfff ? y + 0x2000 : y >= 0xe000 ? y - 0x800 : y;
    return x - y;
  }
  return a.length - b.length;
}

/** Shortest decimal digits that read back as `v` in the given precision, and the decimal exponent. */
function shortestDigits(v: number, bits: 32 | 64): { digits: string; exp: number } {
  let text: string;
  if (bits === 64) {
    text = Math.abs(v).toExponential(); // shortest round-trip digits (ECMAScript Number::toString rule)
  } else {
    const a = Math.fround(Math.abs(v)); // the float32 value numpy holds
    text = a.toExponential(8);
    for (let p = 0; p <= 8; p++) {
      const t = a.toExponential(p);
      if (Math.fround(Number(t)) === a) {
        text = t;
        break;
      }
    }
  }
  const [mant, e] = text.split("e") as [string, string];
  return { digits: mant.replace(".", ""), exp: Number(e) };
}

/**
 * `str()` of a float as Python (float64) or numpy (float32) writes it: shortest round-trip digits,
 * positional between 1e-4 and 1e16 (float32: 1e6), otherwise scientific with a two-digit exponent.
 */
export function pyFloatStr(v: number, bits: 32 | 64 = 64): string {
  if (Number.isNaN(v)) return "nan";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  const sign = v < 0 || Object.is(v, -0) ? "-" : "";
  if (v === 0) return `${sign}0.0`;
  const { digits, exp } = shortestDigits(v, bits);
  const a = Math.abs(v);
  const positional = bits === 64 ? exp >= -4 && exp < 16 : a >= 1e-4 && a < 1e6;
  if (positional) {
    if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
    const intPart = digits.length > exp + 1 ? digits.slice(0, exp + 1) : digits + "0".repeat(exp + 1 - digits.length);
    const frac = digits.length > exp + 1 ? digits.slice(exp + 1) : "0";
    return `${sign}${intPart}.${frac}`;
  }
  const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const e = Math.abs(exp) < 10 ? `0${Math.abs(exp)}` : String(Math.abs(exp));
  return `${sign}${mant}e${exp < 0 ? "-" : "+"}${e}`;
}

/** `str()` of one element of a numeric or string array, as numpy writes it. */
function arrayItemStr(a: NdArray, i: number): string {
  const x = a.data[i]!;
  switch (a.dtype) {
    case "string":
      return x as string;
    case "bool":
      return x ? "True" : "False";
    case "float64":
      return pyFloatStr(x as number, 64);
    case "float32":
      return pyFloatStr(x as number, 32);
    default:
      return String(x);
  }
}

/**
 * pandas `Series.astype(str)` of a column as anndata reads it: numbers as numpy prints them, booleans
 * as True/False, a categorical's missing values as "nan", nullable arrays' missing values as "<NA>".
 */
export function columnAsStrings(col: Column): string[] {
  if (col.type === "array") {
    if (col.shape.length > 1) throw new InvalidArgumentError("a 2-D array is not a table column");
    return Array.from({ length: col.data.length }, (_, i) => arrayItemStr(col, i));
  }
  if (col.type === "categorical") {
    const cats = Array.from({ length: col.categories.data.length }, (_, i) => arrayItemStr(col.categories, i));
    return Array.from(col.codes as ArrayLike<number | bigint>, (k) => (Number(k) < 0 ? "nan" : cats[Number(k)]!));
  }
  const n = col.mask.length;
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    if (col.mask[i]) out[i] = "<NA>";
    else if (col.type === "nullable-boolean") out[i] = col.values.data[i] ? "True" : "False";
    else out[i] = arrayItemStr(col.values, i);
  }
  return out;
}

/** True for the columns pandas holds as `category` or `object` dtype (anndata reads strings as object). */
export function isCategoricalOrObject(col: Column): boolean {
  return col.type === "categorical" || (col.type === "array" && col.dtype === "string");
}

/**
 * pandas `Series.nunique()` (missing values not counted): distinct non-NaN values; for a categorical,
 * the categories that occur; for nullable arrays, distinct unmasked values.
 */
export function columnNunique(col: Column): number {
  if (col.type === "categorical") {
    const seen = new Set<number>();
    const codes = col.codes as ArrayLike<number | bigint>;
    for (let i = 0; i < codes.length; i++) {
      const k = Number(codes[i]);
      if (k >= 0) seen.add(k);
    }
    return seen.size;
  }
  const values = col.type === "array" ? col : col.values;
  const seen = new Set<unknown>();
  for (let i = 0; i < values.data.length; i++) {
    if (col.type !== "array" && col.mask[i]) continue;
    const x = values.data[i]!;
    if (typeof x === "number" && Number.isNaN(x)) continue;
    seen.add(x);
  }
  return seen.size;
}

// ---- Python regular expressions ------------------------------------------------------------------

const END = "(?![\\s\\S])";
const START = "(?<![\\s\\S])";

/** Escape text for use inside a JavaScript regular expression. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/** A JavaScript pattern that matches where Python's `$` does (end, or before a final newline). */
export const PY_END_ANCHOR = `(?=\\n?${END})`;

/**
 * Translate a Python `re` pattern into a JavaScript RegExp with the same matches for the constructs
 * labels use: `$` (end or before a final newline), `^`, `\A`, `\Z`, `(?P<name>…)`, `(?P=name)`,
 * a leading inline flag group `(?ims)`, and a `]` first in a character class. Python-only features
 * JavaScript lacks (verbose mode, scoped flags, possessive quantifiers) are a clear error. `\d`/`\w`
 * match ASCII only here (Python also matches other scripts' digits and letters).
 */
export function pythonRegex(pattern: string, global = true): RegExp {
  let flags = global ? "g" : "";
  let multiline = false;
  let src = pattern;
  const lead = /^\(\?([aiLmsux]+)\)/.exec(src);
  if (lead) {
    for (const f of lead[1]!) {
      if (f === "i") flags += flags.includes("i") ? "" : "i";
      else if (f === "s") flags += flags.includes("s") ? "" : "s";
      else if (f === "m") multiline = true;
      else if (f === "x" || f === "L") throw unsupported(pattern, `the (?${f}) flag`);
    }
    src = src.slice(lead[0].length);
  }
  let out = "";
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === "\\") {
      const n = src[i + 1];
      if (n === undefined) throw unsupported(pattern, "a trailing backslash");
      i++;
      if (!inClass && n === "A") out += START;
      else if (!inClass && n === "Z") out += END;
      else out += c + n;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      out += c;
      continue;
    }
    if (c === "[") {
      // Python reads a "]" right after "[" or "[^" as a literal; JavaScript would close the class.
      inClass = true;
      out += "[";
      if (src[i + 1] === "^") {
        out += "^";
        i++;
      }
      if (src[i + 1] === "]") {
        out += "\\]";
        i++;
      }
      continue;
    }
    if (c === "$") {
      out += multiline ? `(?=\\n|${END})` : PY_END_ANCHOR;
      continue;
    }
    if (c === "^") {
      out += multiline ? `(?<=^|\\n)` : START;
      continue;
    }
    if (c === "(" && src[i + 1] === "?") {
      const rest = src.slice(i + 2);
      if (rest.startsWith("P<")) {
        out += "(?<";
        i += 3;
        continue;
      }
      const back = /^P=(\w+)\)/.exec(rest);
      if (back) {
        out += `\\k<${back[1]}>`;
        i += 2 + back[0].length - 1;
        continue;
      }
      if (/^[aiLmsux-]+[:)]/.test(rest)) throw unsupported(pattern, "inline flags inside the pattern");
      if (rest.startsWith("#")) throw unsupported(pattern, "(?#…) comments");
    }
    if ((c === "+" || c === "*" || c === "?" || c === "}") && src[i + 1] === "+") {
      throw unsupported(pattern, "possessive quantifiers");
    }
    out += c;
  }
  try {
    return new RegExp(out, flags);
  } catch (err) {
    throw new InvalidArgumentError(`'${pattern}' is not a valid regular expression: ${(err as Error).message}`);
  }
}

function unsupported(pattern: string, what: string): InvalidArgumentError {
  return new InvalidArgumentError(`regular expression '${pattern}' uses ${what}, which crispyx does not support`);
}
