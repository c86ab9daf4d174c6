/**
 * Fast text for the DE table's numbers: 9 significant digits (the float32 precision Scanpy stores scores
 * and fold changes in; ample for p-values), like Python's `format(x, '.9g')`. V8's shortest round-trip
 * `String(x)` costs ~0.5 µs per double, which made the 10⁷-row CSV of a large screen take most of the run;
 * this works on a 9-digit integer instead and writes its ASCII digits straight into a byte buffer
 * (`writeSignificant`), so a CSV row is built without any intermediate strings.
 */
const DIGITS = 9;
const LIMIT = 10 ** DIGITS;
const LOW = 10 ** (DIGITS - 1);
/** 10^k for k in [-300, 300], computed as `10 ** k` once instead of per number. */
const POW10 = Float64Array.from({ length: 601 }, (_, i) => 10 ** (i - 300));

/** a · 10^k without overflow/underflow in the intermediate power (|k| can exceed 308 for subnormals). */
function scale(a: number, k: number): number {
  if (k > 300) return a * 1e300 * 10 ** (k - 300);
  if (k < -300) return a * 1e-300 * 10 ** (k + 300);
  return a * POW10[k + 300]!;
}

const ZERO = 48;
const DOT = 46;
const SPECIAL: Record<string, Uint8Array> = {
  nan: Buffer.from("nan"),
  inf: Buffer.from("inf"),
  "-inf": Buffer.from("-inf"),
};
const LOG10_2 = Math.log10(2);
const bits = new Float64Array(1);
const hiWord = new Uint32Array(bits.buffer);
/** Digits of the current number, most significant first. */
const digitBuf = new Uint8Array(DIGITS);

function put(out: Uint8Array, pos: number, bytes: Uint8Array): number {
  out.set(bytes, pos);
  return pos + bytes.length;
}

/**
 * Write `x` as Python's `format(x, '.9g')` into `out` at `pos` (at most 16 bytes); returns the new
 * position.
 */
export function writeSignificant(x: number, out: Uint8Array, pos: number): number {
  if (x === 0) {
    out[pos] = ZERO;
    return pos + 1;
  }
  if (Number.isNaN(x)) return put(out, pos, SPECIAL.nan!);
  if (x === Infinity) return put(out, pos, SPECIAL.inf!);
  if (x === -Infinity) return put(out, pos, SPECIAL["-inf"]!);
  if (x < 0) out[pos++] = 45; // "-"
  const a = Math.abs(x);
  // Decimal exponent from the binary one (within 1 of floor(log10 a); the checks below settle it), instead
  // of a log10 call per number. Subnormals (exponent bits 0) take log10.
  bits[0] = a;
  const e2 = (hiWord[1]! >>> 20) - 1023;
  let e = e2 > -1023 ? Math.floor(e2 * LOG10_2) : Math.floor(Math.log10(a));
  let m = Math.round(scale(a, DIGITS - 1 - e));
  if (m < LOW) {
    e--;
    m = Math.round(scale(a, DIGITS - 1 - e));
  } // log10 rounded up
  if (m >= LIMIT) {
    e++;
    m = Math.round(scale(a, DIGITS - 1 - e));
  } // rounding carried to a new digit
  // The 9 digits of m (< 10⁹, so int32 arithmetic), trailing zeros dropped.
  let mi = m | 0;
  let n = DIGITS;
  let q = (mi / 10) | 0;
  while (n > 1 && mi - q * 10 === 0) {
    mi = q;
    q = (mi / 10) | 0;
    n--;
  }
  for (let i = n - 1; i >= 0; i--) {
    q = (mi / 10) | 0;
    digitBuf[i] = ZERO + mi - q * 10;
    mi = q;
  }
  if (e >= -4 && e < DIGITS) {
    if (e < 0) {
      out[pos++] = ZERO;
      out[pos++] = DOT;
      for (let i = 0; i < -e - 1; i++) out[pos++] = ZERO;
      for (let i = 0; i < n; i++) out[pos++] = digitBuf[i]!;
      return pos;
    }
    for (let i = 0; i < n; i++) {
      if (i === e + 1) out[pos++] = DOT;
      out[pos++] = digitBuf[i]!;
    }
    for (let i = n; i < e + 1; i++) out[pos++] = ZERO;
    return pos;
  }
  out[pos++] = digitBuf[0]!;
  if (n > 1) {
    out[pos++] = DOT;
    for (let i = 1; i < n; i++) out[pos++] = digitBuf[i]!;
  }
  out[pos++] = 101; // "e"
  out[pos++] = e < 0 ? 45 : 43;
  const exp = Math.abs(e);
  if (exp >= 100) out[pos++] = ZERO + Math.floor(exp / 100);
  out[pos++] = ZERO + (Math.floor(exp / 10) % 10);
  out[pos++] = ZERO + (exp % 10);
  return pos;
}

const scratch = Buffer.alloc(32);

/** `writeSignificant` as a string. */
export function formatSignificant(x: number): string {
  return scratch.toString("latin1", 0, writeSignificant(x, scratch, 0));
}
