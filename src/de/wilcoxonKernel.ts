/**
 * The Wilcoxon rank-sum statistic of each perturbation against the control, for the genes of one chunk,
 * without ranking control + group cells again for every perturbation:
 *
 * - zeros (most values) are never stored: in each group they form one tie block at value 0;
 * - a gene's control non-zeros are sorted once into their distinct values D with, for each, the number
 *   of control values below it (P); a table over D's range finds a value's place in D in O(1);
 * - a group's rank sum needs, per group value v, only (#control < v) + (#control = v)/2: the ranks
 *   among the group itself always add up to n₁(n₁+1)/2 (mid-ranks included), so the group's values
 *   need no sorting. Each value adds 3e(e+1) to the tie sum, e = the values equal to it already placed
 *   (control and earlier group values), which sums to (t³ − t) − (c³ − c) per tie block;
 * - z = (R − n₁(N+1)/2) / √(tc · n₁n₂(N+1)/12), two-sided normal p-value, as Scanpy (NaN z → 0).
 *
 * Every rank sum and tie sum is a sum of integers and halves, exact in float64 (for N³ < 2⁵³, N ≲ 208,000
 * cells compared; beyond, within an ulp), so the order in which the values are visited does not change
 * the result.
 *
 * Runs on the main thread or in worker threads (plain typed arrays in, plain typed arrays out).
 */
import { normalTwoSidedP } from "../stats/distributions.ts";
import { tieTerm } from "../stats/ties.ts";

/** One gene chunk's values, grouped by gene then by slot (slot 0 = control). */
export interface GeneChunk {
  /** Non-zero values, slot-major: those of slot s and gene j (chunk-local) are values[ptr[s·count+j] .. ptr[s·count+j+1]). */
  values: Float32Array | Float64Array;
  ptr: Int32Array;
  /** First gene of the chunk (global index) and its number of genes. */
  g0: number;
  count: number;
}

export interface KernelContext {
  /** Slots = tested groups + 1. */
  nSlots: number;
  nGenes: number;
  /** Cells per slot. */
  sizes: Int32Array;
  tieCorrect: boolean;
  /** Outputs, [group × gene] over all genes (group k is slot k+1). */
  scores: Float64Array;
  pvals: Float64Array;
}

/** Above every float32 key but NaN's (the input is finite). */
const KEY_END = 0x7fffffff;
/**
 * Group values at most this many are placed one by one (duplicates counted in a hash table); more are radix
 * sorted first, whose three 2,048-bucket histograms cost as much as placing a few thousand values.
 */
const LARGE_GROUP = 8192;
/** The hash table's largest size: ≥ 2 · LARGE_GROUP. */
const HASH_BITS = 14;
/** Genes gathered and finished together (float32): each group's results of a block fill one cache line. */
const BLOCK = 8;

/**
 * One gene's control non-zeros: distinct values D[0..nd) ascending (float32: order-preserving int32
 * keys; float64: the values), P[d] = control values below D[d] (P[nd] = mc), the table T over the keys'
 * range (float32) and the control's tie sum with its zero block.
 */
class ControlState {
  /** float32: D and P interleaved, DP[2d] = D[d], DP[2d+1] = P[d] (one cache line for both). */
  DP = new Int32Array(2 * 1026);
  Df = new Float64Array(1025);
  P = new Float64Array(1026);
  T = new Int32Array(1024);
  nd = 0;
  base = 0;
  shift = 0;
  tableSize = 0;
  mc = 0;
  zc = 0;
  negC = 0;
  ties = 0;

  ensure(mc: number, float32: boolean): void {
    if (float32 && this.DP.length < 2 * mc + 4) this.DP = new Int32Array(Math.max(2 * mc + 4, this.DP.length * 2));
    if (!float32 && this.Df.length < mc + 1) this.Df = new Float64Array(Math.max(mc + 1, this.Df.length * 2));
    if (this.P.length < mc + 2) this.P = new Float64Array(Math.max(mc + 2, this.P.length * 2));
  }
}

/** Scratch buffers reused across genes (one per thread). */
export class RankSumScratch {
  readonly control = new ControlState();
  keys = new Int32Array(1024);
  tmp = new Int32Array(1024);
  grp = new Float64Array(64);
  readonly count = new Int32Array(3 * 2048);
  /** Hash table of the group values seen in the current test: slot h is in use when stamp[h] === call. */
  readonly stamp = new Int32Array(1 << HASH_BITS);
  readonly hashKey = new Int32Array(1 << HASH_BITS);
  readonly hashCount = new Int32Array(1 << HASH_BITS);
  call = 0;
  /** The current block of genes: its groups' keys, gene-major (see gatherBlock32), and their z scores. */
  K = new Int32Array(1024);
  start = new Int32Array(1024);
  lp = new Int32Array(1024);
  z = new Float64Array(1024);

  ensureKeys(n: number): void {
    if (this.keys.length < n) {
      this.keys = new Int32Array(Math.max(n, this.keys.length * 2));
      this.tmp = new Int32Array(this.keys.length);
    }
  }
}

/** Order-preserving int32 key of a float32's bits (as int32): negatives' magnitude bits flipped. */
function key32(u: number): number {
  return u ^ ((u >> 31) & 0x7fffffff);
}

/**
 * keys[0..n) sorted ascending (signed): an LSD radix sort of 3 passes of 11 bits, the three histograms
 * taken in one read; a pass whose digit is the same for every key is skipped. Returns the array that
 * holds the result (keys or tmp).
 */
function radixSortKeys(s: RankSumScratch, n: number): Int32Array {
  let a = s.keys,
    b = s.tmp;
  const count = s.count;
  count.fill(0);
  for (let i = 0; i < n; i++) {
    const k = (a[i]! ^ 0x80000000) >>> 0;
    count[k & 2047]!++;
    count[2048 + ((k >>> 11) & 2047)]!++;
    count[4096 + (k >>> 22)]!++;
  }
  for (let pass = 0; pass < 3; pass++) {
    const off = pass * 2048,
      shift = pass * 11;
    // Exclusive prefix sums; skip the pass when one digit holds every key.
    let sum = 0,
      single = false;
    for (let d = 0; d < 2048; d++) {
      const c = count[off + d]!;
      if (c === n) single = true;
      count[off + d] = sum;
      sum += c;
    }
    if (single) continue;
    for (let i = 0; i < n; i++) {
      const k = a[i]!;
      b[count[off + ((((k ^ 0x80000000) >>> 0) >>> shift) & 2047)]!++] = k;
    }
    const t = a;
    a = b;
    b = t;
  }
  return a;
}

/** Prepare gene j's control (float32 values given as their bits). */
function prepareControl32(bits: Int32Array, c0: number, mc: number, n2: number, s: RankSumScratch): void {
  const c = s.control;
  c.ensure(mc, true);
  s.ensureKeys(mc);
  const keys = s.keys;
  for (let i = 0; i < mc; i++) keys[i] = key32(bits[c0 + i]!);
  const sorted = mc > 32 ? radixSortKeys(s, mc) : insertionSortInt32(keys, mc);
  const DP = c.DP;
  let nd = 0,
    ties = tieTerm(n2 - mc),
    negC = 0;
  for (let i = 0; i < mc; ) {
    const k = sorted[i]!;
    let e = i + 1;
    while (e < mc && sorted[e] === k) e++;
    DP[2 * nd] = k;
    DP[2 * nd + 1] = i;
    nd++;
    ties += tieTerm(e - i);
    if (k < 0) negC = e;
    i = e;
  }
  DP[2 * nd] = KEY_END;
  DP[2 * nd + 1] = mc;
  DP[2 * nd + 2] = KEY_END;
  DP[2 * nd + 3] = mc;
  c.nd = nd;
  c.mc = mc;
  c.zc = n2 - mc;
  c.negC = negC;
  c.ties = ties;
  // T[b] = first d whose key is in bucket b or above: bucket b holds keys base + [b, b+1)·2^shift.
  if (nd === 0) {
    c.base = KEY_END;
    c.tableSize = 0;
    return;
  }
  const base = DP[0]!;
  const range = DP[2 * nd - 2]! - base; // < 2³², exact in float64
  let cap = 1;
  while (cap < nd) cap *= 2;
  let shift = 0;
  while (Math.floor(range / 2 ** shift) >= cap) shift++;
  const size = Math.floor(range / 2 ** shift) + 1;
  if (c.T.length < size) c.T = new Int32Array(Math.max(size, c.T.length * 2));
  const T = c.T;
  let d = 0;
  for (let b = 0; b < size; b++) {
    while (d < nd && (DP[2 * d]! - base) >>> shift < b) d++;
    T[b] = d;
  }
  c.base = base;
  c.shift = shift;
  c.tableSize = size;
}

function insertionSortInt32(a: Int32Array, n: number): Int32Array {
  for (let k = 1; k < n; k++) {
    const v = a[k]!;
    let i = k - 1;
    while (i >= 0 && a[i]! > v) {
      a[i + 1] = a[i]!;
      i--;
    }
    a[i + 1] = v;
  }
  return a;
}

/** Index in D of the first distinct control key ≥ key. */
function place32(c: ControlState, key: number): number {
  if (key < c.base) return 0;
  const b = (key - c.base) >>> c.shift;
  if (b >= c.tableSize) return c.nd;
  const DP = c.DP;
  let d = c.T[b]!;
  while (DP[2 * d]! < key) d++;
  return d;
}

/**
 * Genes [j0, j0+B) of the chunk's groups, gene-major, as order-preserving keys: K[start[jj·(S+1)+slot] ..
 * start[jj·(S+1)+slot+1]) for slot 1..S−1. Slot-major, one gene's groups lie in a thousand places (a cache
 * and TLB miss each, for every gene); gathered per block of genes, each place is visited once per block.
 */
function gatherBlock32(bits: Int32Array, chunk: GeneChunk, S: number, j0: number, B: number, s: RankSumScratch): void {
  const { ptr, count } = chunk;
  const W = B + 1;
  if (s.lp.length < S * W) s.lp = new Int32Array(S * W * 2);
  if (s.start.length < B * (S + 1)) s.start = new Int32Array(B * (S + 1) * 2);
  const lp = s.lp,
    start = s.start;
  for (let slot = 1; slot < S; slot++) {
    const o = slot * count + j0;
    for (let jj = 0; jj <= B; jj++) lp[slot * W + jj] = ptr[o + jj]!;
  }
  let at = 0;
  for (let jj = 0; jj < B; jj++) {
    const row = jj * (S + 1);
    for (let slot = 1; slot < S; slot++) {
      start[row + slot] = at;
      at += lp[slot * W + jj + 1]! - lp[slot * W + jj]!;
    }
    start[row + S] = at;
  }
  if (s.K.length < at) s.K = new Int32Array(Math.max(at, s.K.length * 2));
  const K = s.K;
  for (let slot = 1; slot < S; slot++) {
    let src = lp[slot * W]!;
    for (let jj = 0; jj < B; jj++) {
      const end = lp[slot * W + jj + 1]!;
      let dst = start[jj * (S + 1) + slot]!;
      for (; src < end; src++) {
        const u = bits[src]!;
        K[dst++] = u ^ ((u >> 31) & 0x7fffffff);
      }
    }
  }
}

/** z of every group against the prepared control of block gene jj (keys gathered by gatherBlock32) into s.z[slot·B + jj]. */
function groups32(jj: number, B: number, ctx: KernelContext, s: RankSumScratch): void {
  const c = s.control;
  const { DP, T, zc, negC, nd, shift, tableSize } = c;
  const base = c.base;
  const sizes = ctx.sizes;
  const n2 = sizes[0]!;
  const { stamp, hashKey, hashCount } = s;
  const K = s.K,
    start = s.start,
    zOut = s.z;
  const S = ctx.nSlots;
  const row = jj * (S + 1);
  for (let slot = 1; slot < S; slot++) {
    const n1 = sizes[slot]!;
    const g0 = start[row + slot]!,
      g1 = start[row + slot + 1]!;
    const kg = g1 - g0;
    // Σ over group values of (#control below) + (#control equal)/2, counted twice (integers); positives; tie change.
    let below2 = 0,
      pos = 0,
      dties = 0;
    if (kg <= LARGE_GROUP) {
      // Each value placed in D in O(1); its earlier equal group values counted in an open-addressing
      // table of (key, count) sized ≥ 2·kg and cleared by stamping (no sort, no histogram to clear).
      let call = ++s.call;
      if (call === 0x7fffffff) {
        stamp.fill(0);
        s.call = call = 1;
      }
      let bits = 4;
      while (1 << bits < 2 * kg) bits++;
      const mask = (1 << bits) - 1,
        down = 32 - bits;
      for (let k = g0; k < g1; k++) {
        const key = K[k]!;
        let d: number;
        if (key < base) d = 0;
        else {
          const b = (key - base) >>> shift;
          if (b >= tableSize) d = nd;
          else {
            d = T[b]!;
            while (DP[2 * d]! < key) d++;
          }
        }
        const lb = DP[2 * d + 1]!;
        const eq = DP[2 * d] === key ? DP[2 * d + 3]! - lb : 0;
        below2 += 2 * lb + eq;
        if (key >= 0) pos++;
        let h = Math.imul(key, 0x9e3779b1) >>> down;
        while (stamp[h] === call && hashKey[h] !== key) h = (h + 1) & mask;
        let e = eq;
        if (stamp[h] === call) e += hashCount[h]++;
        else {
          stamp[h] = call;
          hashKey[h] = key;
          hashCount[h] = 1;
        }
        dties += 3 * e * (e + 1);
      }
    } else {
      // Very many values: sorted (the radix sort's histograms pay off), each run of equal values placed once.
      s.ensureKeys(kg);
      const keys = s.keys;
      for (let k = 0; k < kg; k++) keys[k] = K[g0 + k]!;
      const sorted = radixSortKeys(s, kg);
      for (let k = 0; k < kg; ) {
        const key = sorted[k]!;
        let e = k + 1;
        while (e < kg && sorted[e] === key) e++;
        const g = e - k;
        const d = place32(c, key);
        const lb = DP[2 * d + 1]!;
        const eq = DP[2 * d] === key ? DP[2 * d + 3]! - lb : 0;
        below2 += g * (2 * lb + eq);
        if (key >= 0) pos += g;
        dties += tieTerm(eq + g) - tieTerm(eq);
        k = e;
      }
    }
    zOut[slot * B + jj] = zScore(ctx.tieCorrect, n1, n2, kg, below2, pos, dties, zc, negC, c.ties);
  }
}

/** Rank sum, tie correction and z of one test (NaN → 0). */
function zScore(
  tieCorrect: boolean,
  n1: number,
  n2: number,
  kg: number,
  below2: number,
  pos: number,
  dties: number,
  zc: number,
  negC: number,
  controlTies: number,
): number {
  const zg = n1 - kg;
  // Group zeros: negC control values below, zc equal; group positives: zc control zeros below them.
  const rankSum = (n1 * (n1 + 1)) / 2 + zg * negC + (zg * zc) / 2 + below2 / 2 + zc * pos;
  const ties = controlTies + (zg > 0 ? tieTerm(zc + zg) - tieTerm(zc) : 0) + dties;
  const N = n1 + n2;
  const tc = tieCorrect && N >= 2 ? 1 - ties / (N * N * N - N) : 1;
  const z = (rankSum - (n1 * (N + 1)) / 2) / Math.sqrt((tc * n1 * n2 * (N + 1)) / 12);
  return Number.isNaN(z) ? 0 : z;
}

/** Prepare gene j's control (float64 values). */
function prepareControl64(values: Float64Array, c0: number, mc: number, n2: number, s: RankSumScratch): void {
  const c = s.control;
  c.ensure(mc, false);
  if (s.grp.length < mc) s.grp = new Float64Array(Math.max(mc, s.grp.length * 2));
  const sorted = s.grp;
  for (let i = 0; i < mc; i++) sorted[i] = values[c0 + i]!;
  sorted.subarray(0, mc).sort();
  const { Df, P } = c;
  let nd = 0,
    ties = tieTerm(n2 - mc),
    negC = 0;
  for (let i = 0; i < mc; ) {
    const v = sorted[i]!;
    let e = i + 1;
    while (e < mc && sorted[e] === v) e++;
    Df[nd] = v;
    P[nd] = i;
    nd++;
    ties += tieTerm(e - i);
    if (v < 0) negC = e;
    i = e;
  }
  Df[nd] = Infinity;
  P[nd] = mc;
  P[nd + 1] = mc;
  c.nd = nd;
  c.mc = mc;
  c.zc = n2 - mc;
  c.negC = negC;
  c.ties = ties;
}

/** z and p of every group against the prepared control of gene j (float64 values): group values sorted, binary search. */
function groups64(values: Float64Array, chunk: GeneChunk, j: number, ctx: KernelContext, s: RankSumScratch): void {
  const c = s.control;
  const { ptr, count } = chunk;
  const { Df, P, zc, negC, nd } = c;
  const sizes = ctx.sizes;
  const n2 = sizes[0]!;
  const out = chunk.g0 + j;
  for (let slot = 1; slot < ctx.nSlots; slot++) {
    const n1 = sizes[slot]!;
    const g0 = ptr[slot * count + j]!,
      g1 = ptr[slot * count + j + 1]!;
    const kg = g1 - g0;
    // The control's sorted copy is no longer needed once D is made: the group's values are sorted in it.
    if (s.grp.length < kg) s.grp = new Float64Array(Math.max(kg, s.grp.length * 2));
    const V = s.grp;
    for (let k = 0; k < kg; k++) V[k] = values[g0 + k]!;
    if (kg > 32) V.subarray(0, kg).sort();
    else
      for (let k = 1; k < kg; k++) {
        const v = V[k]!;
        let i = k - 1;
        while (i >= 0 && V[i]! > v) {
          V[i + 1] = V[i]!;
          i--;
        }
        V[i + 1] = v;
      }
    let below2 = 0,
      pos = 0,
      dties = 0;
    for (let k = 0; k < kg; ) {
      const v = V[k]!;
      let e = k + 1;
      while (e < kg && V[e] === v) e++;
      const g = e - k;
      let lo = 0,
        hi = nd;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (Df[mid]! < v) lo = mid + 1;
        else hi = mid;
      }
      const lb = P[lo]!;
      const eq = Df[lo] === v ? P[lo + 1]! - lb : 0;
      below2 += g * (2 * lb + eq);
      if (v > 0) pos += g;
      dties += tieTerm(eq + g) - tieTerm(eq);
      k = e;
    }
    const z = zScore(ctx.tieCorrect, n1, n2, kg, below2, pos, dties, zc, negC, c.ties);
    const at = (slot - 1) * ctx.nGenes + out;
    ctx.scores[at] = z;
    ctx.pvals[at] = normalTwoSidedP(z);
  }
}

/** Compute genes [from, to) (chunk-local) of `chunk` into ctx.scores / ctx.pvals. */
export function rankSumGenes(
  chunk: GeneChunk,
  from: number,
  to: number,
  ctx: KernelContext,
  scratch = new RankSumScratch(),
): void {
  // One gene at a time: its control's distinct values and table stay in cache for all the groups.
  const { values, ptr } = chunk;
  const n2 = ctx.sizes[0]!;
  if (values instanceof Float32Array) {
    const bits = new Int32Array(values.buffer, values.byteOffset, values.length);
    const S = ctx.nSlots;
    if (scratch.z.length < S * BLOCK) scratch.z = new Float64Array(S * BLOCK);
    const zb = scratch.z;
    for (let j0 = from; j0 < to; j0 += BLOCK) {
      const B = Math.min(BLOCK, to - j0);
      gatherBlock32(bits, chunk, S, j0, B, scratch);
      for (let jj = 0; jj < B; jj++) {
        const j = j0 + jj;
        prepareControl32(bits, ptr[j]!, ptr[j + 1]! - ptr[j]!, n2, scratch);
        groups32(jj, B, ctx, scratch);
      }
      // Each group's B results are adjacent in the outputs.
      const { scores, pvals, nGenes } = ctx;
      for (let slot = 1; slot < S; slot++) {
        const at = (slot - 1) * nGenes + chunk.g0 + j0;
        for (let jj = 0; jj < B; jj++) {
          const z = zb[slot * B + jj]!;
          scores[at + jj] = z;
          pvals[at + jj] = normalTwoSidedP(z);
        }
      }
    }
  } else {
    for (let j = from; j < to; j++) {
      prepareControl64(values, ptr[j]!, ptr[j + 1]! - ptr[j]!, n2, scratch);
      groups64(values, chunk, j, ctx, scratch);
    }
  }
}
