/**
 * The in-memory sorts of ./externalScatter.ts's buffer: stable counting-sort passes by a digit of the
 * destination line (radix, least significant digit first), and the most-significant-digit block scatter
 * for buffers made of long ascending runs of lines (permuting whole cells), which moves runs as blocks.
 *
 * Cost model: O(n + digits) per pass; the block scatter O(n + blocks).
 */
import type { TypedArray } from "../io/dtypes.ts";
import type { LineStreamWriter } from "./scatterRuns.ts";

/**
 * Stable scatter by the high digit d >>> shift (`hist` holds their counts), moving each run of
 * consecutive elements with the same high digit as one block. Returns the buckets' ends.
 */
export function blockScatter(
  d: Uint32Array,
  m: Int32Array,
  v: TypedArray,
  outD: Uint32Array,
  outM: Int32Array,
  outV: TypedArray,
  n: number,
  shift: number,
  hist: Uint32Array,
): Float64Array {
  const nBuckets = hist.length;
  const start = new Float64Array(nBuckets);
  let acc = 0;
  for (let b = 0; b < nBuckets; b++) {
    start[b] = acc;
    acc += hist[b]!;
  }
  const vi = v as unknown as number[];
  const vo = outV as unknown as number[];
  let k = 0;
  while (k < n) {
    const b = d[k]! >>> shift;
    let e = k + 1;
    while (e < n && d[e]! >>> shift === b) e++;
    const q = start[b]!;
    start[b] = q + (e - k);
    if (e - k < 256) {
      for (let i = k, o = q; i < e; i++, o++) {
        outD[o] = d[i]!;
        outM[o] = m[i]!;
        vo[o] = vi[i]!;
      }
    } else {
      outD.set(d.subarray(k, e), q);
      outM.set(m.subarray(k, e), q);
      (outV as unknown as { set(a: TypedArray, o: number): void }).set(v.subarray(k, e), q);
    }
    k = e;
  }
  return start; // now each bucket's end
}

/**
 * Stage B of the buffer sort: the elements are grouped by high digit, group b ending at ends[b]; sort
 * each group by the low `shift` bits (stable) into out*: insertion sort for small groups, else a
 * counting sort (which leaves outD unset: only minor and values are needed). Tells `w` the elements
 * per line, in line order.
 */
export function sortBuckets(
  d: Uint32Array,
  m: Int32Array,
  v: TypedArray,
  outD: Uint32Array,
  outM: Int32Array,
  outV: TypedArray,
  ends: Float64Array,
  shift: number,
  w: LineStreamWriter,
): void {
  const lowMask = shift === 0 ? 0 : (2 ** shift - 1) >>> 0;
  const hist = new Uint32Array(lowMask + 1);
  const vi = v as unknown as number[];
  const vo = outV as unknown as number[];
  let s = 0;
  for (let b = 0; b < ends.length; b++) {
    const e = ends[b]!;
    const len = e - s;
    if (len < 48) {
      // Insertion sort by destination into out* (stable: only strictly greater elements move).
      for (let i = s; i < e; i++) {
        const key = d[i]!,
          mi = m[i]!,
          vv = vi[i]!;
        let o = i;
        while (o > s && outD[o - 1]! > key) {
          outD[o] = outD[o - 1]!;
          outM[o] = outM[o - 1]!;
          vo[o] = vo[o - 1]!;
          o--;
        }
        outD[o] = key;
        outM[o] = mi;
        vo[o] = vv;
      }
      w.putSorted(outD, e, s);
    } else {
      hist.fill(0);
      for (let i = s; i < e; i++) hist[d[i]! & lowMask]!++;
      const base = b * (lowMask + 1);
      let acc = s;
      for (let j = 0; j <= lowMask; j++) {
        const c = hist[j]!;
        if (c !== 0) w.put(base + j, c);
        hist[j] = acc;
        acc += c;
      }
      for (let i = s; i < e; i++) {
        const key = d[i]!;
        const q = hist[key & lowMask]!++;
        outM[q] = m[i]!;
        vo[q] = vi[i]!;
      }
    }
    s = e;
  }
}

/** One stable counting-sort pass by the digit (d >>> shift) & mask; `hist` holds the digit counts. */
export function scatterPass(
  d: Uint32Array,
  m: Int32Array,
  v: TypedArray,
  outD: Uint32Array | null,
  outM: Int32Array,
  outV: TypedArray,
  n: number,
  shift: number,
  mask: number,
  hist: Uint32Array,
): void {
  let acc = 0;
  for (let b = 0; b < hist.length; b++) {
    const c = hist[b]!;
    hist[b] = acc;
    acc += c;
  }
  const vi = v as unknown as number[];
  const vo = outV as unknown as number[];
  if (outD) {
    for (let k = 0; k < n; k++) {
      const key = d[k]!;
      const p = hist[(key >>> shift) & mask]!++;
      outD[p] = key;
      outM[p] = m[k]!;
      vo[p] = vi[k]!;
    }
  } else {
    for (let k = 0; k < n; k++) {
      const p = hist[(d[k]! >>> shift) & mask]!++;
      outM[p] = m[k]!;
      vo[p] = vi[k]!;
    }
  }
}
