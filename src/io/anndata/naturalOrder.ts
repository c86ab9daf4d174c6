/**
 * The order anndata gives the categories it makes from strings (`strings_to_categoricals`, natsort's
 * default): strings in Unicode NFD form, runs of digits compared as whole numbers, everything else by
 * code point — 's2' < 's10', 'e10' < 'é2'.
 * Ties (e.g. 's07' and 's7') fall back to plain code-point order, so the order is total.
 */
const CHUNK = /(\d+)/;

export function naturalCompare(a: string, b: string): number {
  const x = a.normalize("NFD").split(CHUNK),
    y = b.normalize("NFD").split(CHUNK);
  for (let k = 0; k < Math.min(x.length, y.length); k++) {
    const p = x[k]!,
      q = y[k]!;
    if (p === q) continue;
    // split() puts digit runs at odd positions.
    const c = k % 2 === 1 ? compareDigits(p, q) : codePoints(p, q);
    if (c !== 0) return c;
  }
  return x.length !== y.length ? x.length - y.length : codePoints(a, b);
}

function compareDigits(p: string, q: string): number {
  const u = BigInt(p),
    v = BigInt(q);
  return u < v ? -1 : u > v ? 1 : 0;
}

function codePoints(a: string, b: string): number {
  const x = [...a],
    y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}
