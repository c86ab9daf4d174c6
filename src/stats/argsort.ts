/**
 * Stable argsort of float64 values by radix sort on their bit patterns (11-bit digits, 6 passes): linear
 * time, ~20× faster than a comparison sort for the 10⁴–10⁵ genes of one group, which DE does once per
 * group for ranking and again for Benjamini–Hochberg. NaN sorts last; −0 equals 0; ties keep index order.
 */
const DIGIT = 11;
const RADIX = 1 << DIGIT;
const MASK = RADIX - 1;

export function argsortFloat64(values: ArrayLike<number>, descending = false, out: Int32Array = new Int32Array(values.length)): Int32Array {
  const n = values.length;
  const hi = new Uint32Array(n), lo = new Uint32Array(n);
  const f = new Float64Array(1), u = new Uint32Array(f.buffer);
  for (let j = 0; j < n; j++) {
    const x = values[j]!;
    if (Number.isNaN(x)) { hi[j] = 0xffffffff; lo[j] = 0xffffffff; continue; }
    f[0] = (descending ? -x : x) + 0; // + 0 turns −0 into 0
    let h = u[1]!, l = u[0]!;
    // IEEE order → unsigned order: flip all bits of negatives, the sign bit of positives.
    if (h & 0x80000000) { h = ~h >>> 0; l = ~l >>> 0; } else h = (h | 0x80000000) >>> 0;
    hi[j] = h; lo[j] = l;
  }
  let order: Int32Array = out, tmp: Int32Array = new Int32Array(n);
  for (let j = 0; j < n; j++) order[j] = j;
  const count = new Int32Array(RADIX + 1);
  // Digits: lo bits 0–10, 11–21, 22–31; hi bits 0–10, 11–21, 22–31.
  for (let pass = 0; pass < 6; pass++) {
    const key = pass < 3 ? lo : hi;
    const shift = (pass % 3) * DIGIT;
    count.fill(0);
    for (let i = 0; i < n; i++) count[((key[order[i]!]! >>> shift) & MASK) + 1]++;
    if (count[1] === n) continue; // every key has this digit equal: the pass would not move anything
    for (let d = 0; d < RADIX; d++) count[d + 1] += count[d]!;
    for (let i = 0; i < n; i++) {
      const j = order[i]!;
      tmp[count[(key[j]! >>> shift) & MASK]!++] = j;
    }
    [order, tmp] = [tmp, order];
  }
  if (order !== out) out.set(order);
  return out;
}
