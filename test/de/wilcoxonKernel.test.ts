// The Wilcoxon kernel (sorted control + bucket index + merged group values) against a plain rank-sum:
// every value of control and group ranked together, mid-ranks for ties, scipy's tie correction.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rankSumGenes, RankSumScratch, type GeneChunk, type KernelContext } from "../../src/de/wilcoxonKernel.ts";
import { normalTwoSidedP } from "../../src/stats/distributions.ts";

/** z of the group's rank sum (all values, zeros included), as scipy.stats.ranksums with tie correction. */
function naiveZ(ctrl: number[], grp: number[], tieCorrect = true): number {
  const all = [...ctrl.map((v) => ({ v, g: false })), ...grp.map((v) => ({ v, g: true }))].sort((a, b) => a.v - b.v);
  const N = all.length;
  let rankSum = 0,
    ties = 0;
  for (let i = 0; i < N; ) {
    let j = i + 1;
    while (j < N && all[j]!.v === all[i]!.v) j++;
    const mid = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (all[k]!.g) rankSum += mid;
    const t = j - i;
    ties += t * t * t - t;
    i = j;
  }
  const n1 = grp.length,
    n2 = ctrl.length;
  const tc = tieCorrect ? 1 - ties / (N * N * N - N) : 1;
  const z = (rankSum - (n1 * (N + 1)) / 2) / Math.sqrt((tc * n1 * n2 * (N + 1)) / 12);
  return Number.isNaN(z) ? 0 : z;
}

test("kernel equals a plain rank-sum for large controls (bucket index), heavy ties, negatives and outliers", () => {
  let s = 17;
  const rand = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const S = 4; // control + 3 groups
  const sizes = Int32Array.of(3000, 40, 25, 60);
  const genes = 6;
  // Per gene a different value pattern: continuous, few distinct values (ties), negatives, a huge outlier.
  const draw = (gene: number): number => {
    switch (gene) {
      case 0:
        return rand() * 5;
      case 1:
        return Math.log1p(1 + Math.floor(rand() * 3)); // three distinct values: long tie runs
      case 2:
        return rand() * 4 - 2; // negatives and positives
      case 3:
        return rand() < 0.01 ? 1e6 : rand(); // an outlier stretches the buckets
      case 4:
        return 1; // every non-zero equal
      default:
        return Math.round(rand() * 50) / 10;
    }
  };
  const perSlot: number[][][] = []; // [gene][slot] non-zero values
  for (let j = 0; j < genes; j++) {
    perSlot.push(
      Array.from({ length: S }, (_, slot) => {
        const n = sizes[slot]!;
        const nz = Math.floor(n * (0.3 + 0.6 * rand()));
        return Array.from({ length: nz }, () => draw(j)).filter((v) => v !== 0);
      }),
    );
  }
  // Slot-major chunk layout (see GeneChunk).
  const ptr = new Int32Array(genes * S + 1);
  const flat: number[] = [];
  for (let slot = 0; slot < S; slot++)
    for (let j = 0; j < genes; j++) {
      ptr[slot * genes + j] = flat.length;
      flat.push(...perSlot[j]![slot]!);
    }
  ptr[genes * S] = flat.length;
  // float32 storage (the usual case, radix-sorted controls) and float64 storage (TypedArray sort).
  for (const Values of [Float32Array, Float64Array]) {
    const stored = Array.from(Values.from(flat));
    const chunk: GeneChunk = { values: Values.from(flat), ptr, g0: 0, count: genes };
    const ctx: KernelContext = {
      nSlots: S,
      nGenes: genes,
      sizes,
      tieCorrect: true,
      scores: new Float64Array((S - 1) * genes),
      pvals: new Float64Array((S - 1) * genes),
    };
    rankSumGenes(chunk, 0, genes, ctx, new RankSumScratch());
    // The plain rank-sum sees the values as stored.
    for (let slot = 0; slot < S; slot++)
      for (let j = 0; j < genes; j++)
        perSlot[j]![slot] = stored.slice(ptr[slot * genes + j]!, ptr[slot * genes + j + 1]!);
    for (let j = 0; j < genes; j++) {
      const withZeros = (slot: number) => [
        ...perSlot[j]![slot]!,
        ...new Array(sizes[slot]! - perSlot[j]![slot]!.length).fill(0),
      ];
      const ctrl = withZeros(0);
      for (let g = 1; g < S; g++) {
        const z = naiveZ(ctrl, withZeros(g));
        const at = (g - 1) * genes + j;
        assert.ok(
          Math.abs(ctx.scores[at]! - z) <= 1e-9 * Math.max(1, Math.abs(z)),
          `gene ${j} group ${g}: ${ctx.scores[at]} vs ${z}`,
        );
        assert.ok(Math.abs(ctx.pvals[at]! - normalTwoSidedP(z)) <= 1e-12, `gene ${j} group ${g} p`);
      }
    }
  }
});

test("kernel equals a plain rank-sum for large groups (sorted path), tiny or empty controls and ties within groups", () => {
  let s = 5;
  const rand = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
  // control (slot 0): 20 cells; groups of 500 (sorted path), 70, 8 and 3 cells.
  const sizes = Int32Array.of(20, 500, 70, 8, 3);
  const S = sizes.length;
  const genes = 5;
  const draw = (gene: number): number => {
    switch (gene) {
      case 0:
        return Math.round(rand() * 20) / 4; // many ties, within groups and with the control
      case 1:
        return rand() * 3 - 1; // negatives
      case 2:
        return rand() < 0.5 ? 2.5 : rand(); // one value shared by half the cells
      default:
        return rand() * 10;
    }
  };
  const perSlot: number[][][] = [];
  for (let j = 0; j < genes; j++)
    perSlot.push(
      Array.from({ length: S }, (_, slot) => {
        // gene 3: no control non-zeros; gene 4: a group (slot 3) without non-zeros
        if ((j === 3 && slot === 0) || (j === 4 && slot === 3)) return [];
        const n = sizes[slot]!;
        const nz = Math.floor(n * (0.2 + 0.8 * rand()));
        return Array.from({ length: nz }, () => draw(j)).filter((v) => v !== 0);
      }),
    );
  const ptr = new Int32Array(genes * S + 1);
  const flat: number[] = [];
  for (let slot = 0; slot < S; slot++)
    for (let j = 0; j < genes; j++) {
      ptr[slot * genes + j] = flat.length;
      flat.push(...perSlot[j]![slot]!);
    }
  ptr[genes * S] = flat.length;
  for (const Values of [Float32Array, Float64Array]) {
    const stored = Array.from(Values.from(flat));
    for (const tieCorrect of [true, false]) {
      const ctx: KernelContext = {
        nSlots: S,
        nGenes: genes + 2,
        sizes,
        tieCorrect,
        scores: new Float64Array((S - 1) * (genes + 2)),
        pvals: new Float64Array((S - 1) * (genes + 2)),
      };
      // A chunk placed at gene 1 of 7, computed in two calls (as worker threads split it).
      const chunk: GeneChunk = { values: Values.from(flat), ptr, g0: 1, count: genes };
      const scratch = new RankSumScratch();
      rankSumGenes(chunk, 0, 2, ctx, scratch);
      rankSumGenes(chunk, 2, genes, ctx, scratch);
      for (let j = 0; j < genes; j++) {
        const withZeros = (slot: number) => {
          const nz = stored.slice(ptr[slot * genes + j]!, ptr[slot * genes + j + 1]!);
          return [...nz, ...new Array(sizes[slot]! - nz.length).fill(0)];
        };
        for (let g = 1; g < S; g++) {
          let z = naiveZ(withZeros(0), withZeros(g), tieCorrect);
          const at = (g - 1) * (genes + 2) + 1 + j;
          assert.ok(
            Math.abs(ctx.scores[at]! - z) <= 1e-12 * Math.max(1, Math.abs(z)),
            `${Values.name} tieCorrect=${tieCorrect} gene ${j} group ${g}: ${ctx.scores[at]} vs ${z}`,
          );
          z = ctx.scores[at]!;
          assert.equal(ctx.pvals[at], normalTwoSidedP(z));
        }
      }
      for (let g = 1; g < S; g++) {
        assert.equal(ctx.scores[(g - 1) * (genes + 2)], 0, "genes outside the chunk untouched");
        assert.equal(ctx.scores[(g - 1) * (genes + 2) + genes + 1], 0);
      }
    }
  }
});
