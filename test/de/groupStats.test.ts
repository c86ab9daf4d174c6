/**
 * The statistics pass split over slot ranges (as the worker threads run it) adds up to the single pass,
 * and the ranges split the cells evenly.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { addBandSlots, slotBounds, type CsrBand } from "../../src/de/groupStats.ts";

test("slotBounds: increasing, covers every slot, about equal cells per range, one slot may be a range", () => {
  // Slot 0 (the control) holds half the cells; slots 1..9 the rest; -1 = not compared.
  const cellSlot = Int32Array.from({ length: 2000 }, (_, i) => (i % 2 === 0 ? 0 : i % 7 === 0 ? -1 : 1 + (i % 9)));
  const b = slotBounds(cellSlot, 10, 4);
  assert.equal(b[0], 0);
  assert.equal(b.at(-1), 10);
  for (let k = 1; k < b.length; k++) assert.ok(b[k]! > b[k - 1]!, `bounds ${Array.from(b)}`);
  assert.equal(b[1], 1, "the control alone is the first range (half the cells)");
  assert.deepEqual(Array.from(slotBounds(cellSlot, 1, 4)), [0, 1]);
  assert.deepEqual(Array.from(slotBounds(new Int32Array([0, 1, 2]), 3, 8)), [0, 1, 2, 3]);
});

test("addBandSlots over disjoint slot ranges equals one pass over all slots", () => {
  let s = 3;
  const rnd = () => (s = (s * 16807) % 2147483647) / 2147483647;
  const rows = 300,
    genes = 40,
    slots = 6;
  const cellSlot = Int32Array.from({ length: rows + 10 }, () => Math.floor(rnd() * (slots + 1)) - 1);
  const indptr = new Int32Array(rows + 1),
    idx: number[] = [],
    data: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < genes; j++)
      if (rnd() < 0.3) {
        idx.push(j);
        data.push(rnd() < 0.1 ? 0 : rnd() * 5);
      }
    indptr[r + 1] = idx.length;
  }
  const band: CsrBand = { data: Float32Array.from(data), indices: Int32Array.from(idx), indptr, r0: 10, rows };
  const fresh = () => ({
    sums: new Float64Array(slots * genes),
    sumsq: new Float64Array(slots * genes),
    nnz: new Int32Array(slots * genes),
  });
  const one = fresh(),
    split = fresh();
  addBandSlots(band, cellSlot, genes, one.sums, one.sumsq, one.nnz, 0, slots);
  const bounds = slotBounds(cellSlot, slots, 3);
  for (let k = bounds.length - 2; k >= 0; k--)
    addBandSlots(band, cellSlot, genes, split.sums, split.sumsq, split.nnz, bounds[k]!, bounds[k + 1]!);
  assert.deepEqual(split, one);
  assert.ok(one.nnz.some((v) => v > 0));
});

test("deResultBytes equals what a DE run holds for its statistics and results (both tests)", async () => {
  const { allocateResults, allocateScores, deResultBytes } = await import("../../src/de/finishGroups.ts");
  for (const squares of [true, false]) {
    const G = 7,
      n = 13,
      S = G + 1;
    const shared = (bytes: number) => new SharedArrayBuffer(bytes);
    const stats = {
      nSlots: S,
      nGenes: n,
      sums: new Float64Array(shared(S * n * 8)),
      sumsq: squares ? new Float64Array(shared(S * n * 8)) : null,
      nnz: new Int32Array(shared(S * n * 4)),
    };
    const r = allocateResults(stats, allocateScores(G, n));
    const buffers = new Set<ArrayBufferLike>();
    for (const o of [stats, r, r.ranked])
      for (const v of Object.values(o)) if (ArrayBuffer.isView(v)) buffers.add(v.buffer);
    const held = [...buffers].reduce((a, b) => a + b.byteLength, 0);
    assert.equal(held, deResultBytes(G, n, squares ? "t-test" : "wilcoxon"), squares ? "t-test" : "Wilcoxon");
  }
});
