/**
 * Fast text for the DE table's numbers: 9 significant digits (the float32 precision Scanpy stores scores
 * and fold changes in; ample for p-values), like Python's `format(x, '.9g')`. V8's shortest round-trip
 * `String(x)` costs ~0.5 µs per double, which made the 10⁷-row CSV of a large screen take most of the run;
 * this works on a 9-digit integer instead (integer → text is cheap).
 */
const DIGITS = 9;
const LIMIT = 10 ** DIGITS;
const LOW = 10 ** (DIGITS - 1);

/** a · 10^k without overflow/underflow in the intermediate power (|k| can exceed 308 for subnormals). */
function scale(a: number, k: number): number {
  if (k > 300) return a * 1e300 * 10 ** (k - 300);
  if (k < -300) return a * 1e-300 * 10 ** (k + 300);
  return a * 10 ** k;
}

export function formatSignificant(x: number): string {
  if (x === 0) return "0";
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  const sign = x < 0 ? "-" : "";
  const a = Math.abs(x);
  let e = Math.floor(Math.log10(a));
  let m = Math.round(scale(a, DIGITS - 1 - e));
  if (m < LOW) { e--; m = Math.round(scale(a, DIGITS - 1 - e)); } // log10 rounded up
  if (m >= LIMIT) { e++; m = Math.round(scale(a, DIGITS - 1 - e)); } // rounding carried to a new digit
  let s = String(m);
  let end = s.length;
  while (end > 1 && s.charCodeAt(end - 1) === 48) end--;
  s = s.slice(0, end);
  if (e >= -4 && e < DIGITS) {
    if (e < 0) return `${sign}0.${"0".repeat(-e - 1)}${s}`;
    if (s.length <= e + 1) return sign + s + "0".repeat(e + 1 - s.length);
    return `${sign}${s.slice(0, e + 1)}.${s.slice(e + 1)}`;
  }
  const exp = Math.abs(e);
  return `${sign}${s[0]}${s.length > 1 ? "." + s.slice(1) : ""}e${e < 0 ? "-" : "+"}${exp < 10 ? "0" : ""}${exp}`;
}
