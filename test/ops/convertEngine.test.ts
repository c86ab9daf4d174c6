// The external-memory engine behind conversion and sorting: any buffer size, spilled or not, compact
// run encodings or not, gives exactly a stable sort of the elements by destination line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExternalScatter } from "../../src/ops/externalScatter.ts";
import type { TypedArray, TypedArrayConstructor } from "../../src/io/h5/types.ts";

const dir = mkdtempSync(join(tmpdir(), "crispyx-engine-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

let seed = 12345;
const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;

/** Finish the scatter, collecting its elements and line ends in order (the lines come in order, from 0). */
function collect(s: ExternalScatter): { minor: number[]; values: number[]; ends: number[] } {
  const minor: number[] = [],
    values: number[] = [],
    ends: number[] = [];
  s.finish({
    elements(m: Int32Array, v: TypedArray, n: number) {
      for (let k = 0; k < n; k++) {
        minor.push(m[k]!);
        values.push(Number(v[k]!));
      }
    },
    lineEnds(start: number, e: Float64Array, n: number) {
      assert.equal(start, ends.length);
      for (let k = 0; k < n; k++) ends.push(e[k]!);
    },
  });
  return { minor, values, ends };
}

function run(
  nDest: number,
  elems: { dest: number; minor: number; value: number }[],
  Values: TypedArrayConstructor,
  bufferElements: number,
) {
  const spillPath = join(dir, `runs-${bufferElements}-${Values.name}-${nDest}`);
  const s = new ExternalScatter({ nDest, values: Values, memoryBudget: 1 << 20, spillPath, bufferElements });
  for (const e of elems) {
    s.makeRoom(1);
    s.dest[s.n] = e.dest;
    s.minor[s.n] = e.minor;
    (s.values as unknown as number[])[s.n] = e.value;
    s.n++;
  }
  const { minor, values, ends } = collect(s);
  assert.equal(existsSync(spillPath), false, "spill file removed");
  return { minor, values, ends, spilled: s.spilledRuns };
}

function reference(nDest: number, elems: { dest: number; minor: number; value: number }[]) {
  const order = elems.map((_, i) => i).sort((a, b) => elems[a]!.dest - elems[b]!.dest || a - b);
  const ends: number[] = new Array(nDest).fill(0);
  for (const e of elems) ends[e.dest]!++;
  for (let j = 1; j < nDest; j++) ends[j]! += ends[j - 1]!;
  return { minor: order.map((i) => elems[i]!.minor), values: order.map((i) => elems[i]!.value), ends };
}

const cases: [string, () => number, number][] = [
  ["small counts (uint8 runs)", () => Math.floor(rand() * 5), 100],
  ["larger counts (uint16 runs)", () => Math.floor(rand() * 3000), 100],
  ["fractions, negatives, -0 and NaN (raw runs)", () => [0.5, -3, -0, NaN, 1e9, 7][Math.floor(rand() * 6)]!, 200000],
];

function checkAll(nDest: number, value: () => number, minorSpan: number, Values: TypedArrayConstructor): void {
  const elems = Array.from({ length: 1500 }, (_, i) => ({
    dest: Math.floor(rand() * nDest),
    minor: Math.floor((i / 1500) * minorSpan),
    value: value(),
  }));
  const want = reference(nDest, elems);
  const cast = (x: number) => Number(new (Values as Float64ArrayConstructor)([x])[0]!);
  want.values = want.values.map(cast);
  for (const buf of [1500, 700, 97, 5]) {
    const got = run(nDest, elems, Values, buf);
    if (buf < 1500) assert.ok(got.spilled >= 2);
    assert.deepEqual(got.ends, want.ends, `ends, ${nDest} lines, buffer ${buf}`);
    assert.deepEqual(got.minor, want.minor, `minor, ${nDest} lines, buffer ${buf}`);
    // Object.is distinguishes -0 from 0 and matches NaN.
    got.values.forEach((v, k) =>
      assert.ok(Object.is(v, want.values[k]), `value ${k}: ${v} vs ${want.values[k]} (${nDest} lines, buffer ${buf})`),
    );
  }
}

for (const [name, value, minorSpan] of cases) {
  for (const Values of [Float32Array, Float64Array, Int32Array] as TypedArrayConstructor[]) {
    if (Values === Int32Array && name.startsWith("fractions")) continue;
    // 37 lines: one counting pass; 5000 and 70000: two radix passes of different widths.
    test(`${name}, ${Values.name}: every buffer size and line count gives the stable sort`, () => {
      for (const nDest of [37, 5000, 70000]) checkAll(nDest, value, minorSpan, Values);
    });
  }
}

test("lines mode (whole lines moved as blocks, split across runs when needed) gives the stable sort", () => {
  for (const nDest of [7, 300]) {
    // 200 lines of 0..12 elements, each line to one destination (a permutation when nDest is large).
    const lines = Array.from({ length: 200 }, (_, l) => ({
      dest: Math.floor(rand() * nDest),
      len: Math.floor(rand() * 13),
      l,
    }));
    const elems = lines.flatMap(({ dest, len, l }) =>
      Array.from({ length: len }, (_, t) => ({ dest, minor: t * 3, value: l + t / 8 })),
    );
    const want = reference(nDest, elems);
    for (const buf of [elems.length, 50, 11]) {
      const spillPath = join(dir, `lines-${nDest}-${buf}`);
      const s = new ExternalScatter({
        nDest,
        values: Float64Array,
        memoryBudget: 1 << 20,
        spillPath,
        bufferElements: buf,
        mode: "lines",
      });
      for (const { dest, len, l } of lines) {
        let t = 0;
        while (t < len) {
          const take = Math.min(s.makeRoom(len - t), len - t);
          for (let q = 0; q < take; q++, t++) {
            s.minor[s.n] = t * 3;
            (s.values as Float64Array)[s.n++] = l + t / 8;
          }
          s.markLine(dest);
        }
      }
      const { minor, values, ends } = collect(s);
      assert.deepEqual(
        { minor, values, ends },
        { minor: want.minor, values: want.values, ends: want.ends },
        `${nDest} lines, buffer ${buf}`,
      );
      if (buf < elems.length) assert.ok(s.spilledRuns >= 2);
    }
  }
});

test("spilled runs store only the lines they touch: line-stream bytes and merge pieces do not grow with lines × runs", () => {
  // 2 million destination lines, ~40 runs each touching ~150 lines (clustered, so gaps need 1- to
  // 3-byte varints), plus one hot line with 300+ elements per run (counts >= 255). Dense per-run counts
  // would be 4 bytes × 2M × 40 = 320 MB spilled and 80M (line, run) visits in the merge.
  const nDest = 2_000_000;
  const elems: { dest: number; minor: number; value: number }[] = [];
  for (let i = 0; i < 12000; i++) {
    const hot = i % 40 < 13;
    elems.push({ dest: hot ? 777_777 : Math.floor(rand() * rand() * nDest), minor: i, value: i % 7 });
  }
  const want = reference(nDest, elems);
  const spillPath = join(dir, "sparse-lines");
  const s = new ExternalScatter({ nDest, values: Float32Array, memoryBudget: 1 << 20, spillPath, bufferElements: 300 });
  for (const e of elems) {
    s.makeRoom(1);
    s.dest[s.n] = e.dest;
    s.minor[s.n] = e.minor;
    (s.values as Float32Array)[s.n++] = e.value;
  }
  const minor: number[] = [],
    values: number[] = [];
  const ends = new Float64Array(nDest);
  let next = 0;
  s.finish({
    elements(m: Int32Array, v: TypedArray, n: number) {
      for (let k = 0; k < n; k++) {
        minor.push(m[k]!);
        values.push(Number(v[k]!));
      }
    },
    lineEnds(start: number, e: Float64Array, n: number) {
      assert.equal(start, next);
      ends.set(e.subarray(0, n), start);
      next += n;
    },
  });
  assert.equal(next, nDest);
  assert.ok(s.spilledRuns >= 40, `${s.spilledRuns} runs`);
  assert.deepEqual(minor, want.minor);
  assert.deepEqual(values, want.values);
  for (let j = 0; j < nDest; j += 997) assert.equal(ends[j], want.ends[j], `end of line ${j}`);
  assert.equal(ends[nDest - 1], elems.length);
  const { lineStreamBytes, mergePieces, mergeWindows } = s.stats;
  assert.ok(lineStreamBytes <= 8 * elems.length, `line streams: ${lineStreamBytes} bytes for ${elems.length} elements`);
  assert.ok(mergePieces <= elems.length, `merge pieces: ${mergePieces}`);
  assert.ok(mergeWindows <= 2 * (nDest / 65536 + elems.length / 300 + 1), `merge windows: ${mergeWindows}`);
});

test("lines longer than the merge window and than the buffer are merged whole and in arrival order", () => {
  // A buffer above the merge window (65536 elements): line 0 (75 000 elements) alone exceeds the window
  // and must still be taken whole; line 1 (250 000) exceeds the buffer and is streamed through it.
  const elems: { dest: number; minor: number; value: number }[] = [];
  for (let i = 0; i < 400_000; i++)
    elems.push({ dest: i < 250_000 ? 1 : i % 2 === 0 ? 0 : 2 + (i % 5), minor: i, value: i % 11 });
  const got = run(7, elems, Float32Array, 100_000);
  const want = reference(7, elems);
  assert.ok(got.spilled >= 4);
  assert.deepEqual(got.ends, want.ends);
  assert.ok(
    got.minor.every((m, k) => m === want.minor[k]),
    "minor indices in stable order",
  );
  assert.ok(
    got.values.every((v, k) => v === want.values[k]),
    "values in stable order",
  );
});

test("ascending runs of destinations (a CSC input read gene by gene) take the block sort and give the stable sort", () => {
  for (const nDest of [5000, 70000, 300000]) {
    // 60 "genes", each an ascending subset of the lines: dense, sparse or a narrow band (buckets of
    // every size: empty, below and above the insertion-sort limit).
    const elems: { dest: number; minor: number; value: number }[] = [];
    for (let g = 0; g < 60; g++) {
      const p = [0.3, 0.02, 0.001][g % 3]!;
      const lo = g % 5 === 4 ? Math.floor(rand() * nDest * 0.9) : 0;
      const hi = g % 5 === 4 ? lo + Math.floor(nDest / 10) : nDest;
      for (let c = lo; c < hi; c++) if (rand() < p) elems.push({ dest: c, minor: g, value: (g * 7 + c) % 13 });
    }
    const want = reference(nDest, elems);
    for (const buf of [elems.length, 20011, 4099]) {
      const spillPath = join(dir, `blocks-${nDest}-${buf}`);
      const s = new ExternalScatter({
        nDest,
        values: Float64Array,
        memoryBudget: 1 << 20,
        spillPath,
        bufferElements: buf,
      });
      for (const e of elems) {
        s.makeRoom(1);
        s.dest[s.n] = e.dest;
        s.minor[s.n] = e.minor;
        (s.values as Float64Array)[s.n++] = e.value;
      }
      const { minor, values, ends } = collect(s);
      assert.ok(s.stats.blockSorts >= 1, `block sort used (${nDest} lines, buffer ${buf})`);
      assert.deepEqual(ends, want.ends, `ends, ${nDest} lines, buffer ${buf}`);
      assert.ok(
        minor.every((m, k) => m === want.minor[k]),
        `minor, ${nDest} lines, buffer ${buf}`,
      );
      assert.ok(
        values.every((v, k) => v === want.values[k]),
        `values, ${nDest} lines, buffer ${buf}`,
      );
    }
  }
});
