/**
 * numpy's legacy random generator (`np.random.seed(s)`, `RandomState(s)`): Mersenne Twister MT19937
 * with numpy's integer seeding, and `choice(n, k, replace=False)`, which numpy implements as the first
 * k entries of `permutation(n)` (a Fisher–Yates shuffle drawing bounded integers by masked rejection).
 * Reproducing it bit for bit lets a seeded crispyx run sample exactly the cells a seeded Python run does.
 */
import { InvalidArgumentError } from "../errors.ts";

const N = 624;
const M = 397;

export class Mt19937 {
  private readonly mt = new Uint32Array(N);
  private pos = N;

  /** numpy's `mt19937_seed`: the reference init_genrand(seed). `seed` must be in [0, 2^32). */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new InvalidArgumentError(`seed must be an integer between 0 and 2^32 - 1, got ${seed}`);
    }
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      // 1812433253 * prev (mod 2^32) without losing bits to double rounding.
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i]! & 0x80000000) | (mt[(i + 1) % N]! & 0x7fffffff);
      mt[i] = mt[(i + M) % N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.pos = 0;
  }

  /** The next 32-bit output. */
  nextUint32(): number {
    if (this.pos >= N) this.twist();
    let y = this.mt[this.pos++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** numpy's `random_interval(max)`: uniform in [0, max] by masking and rejection (max < 2^32). */
  interval(max: number): number {
    if (max === 0) return 0;
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let v: number;
    do v = (this.nextUint32() & mask) >>> 0;
    while (v > max);
    return v;
  }
}

/**
 * `np.random.seed(seed); np.random.choice(n, k, replace=False)`, sorted ascending (the order the seed
 * uses). Memory: one 4-byte slot per candidate for the shuffle (n < 2^32), freed on return.
 */
export function legacyChoiceWithoutReplacement(n: number, k: number, seed: number): Uint32Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new InvalidArgumentError(`population size must be an integer in [0, 2^32), got ${n}`);
  if (!Number.isInteger(k) || k < 0 || k > n)
    throw new InvalidArgumentError(`cannot take ${k} distinct items out of ${n}`);
  const rng = new Mt19937(seed);
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = n - 1; i >= 1; i--) {
    const j = rng.interval(i);
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return perm.slice(0, k).sort();
}
