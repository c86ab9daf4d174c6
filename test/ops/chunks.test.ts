// iterMatrixChunks: every chunk equals the matching slice of the whole matrix, for CSR/CSC/dense storage,
// both axes, any budget; the expensive direction reads the matrix once per band, not once per chunk.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { H5File } from "../../src/io/h5/file.ts";
import { MatrixReader } from "../../src/io/anndata/matrixReader.ts";
import { SparseMatrixWriter, DenseMatrixWriter } from "../../src/io/anndata/matrixWriter.ts";
import type { NdArray, SparseMatrix } from "../../src/io/anndata/model.ts";
import { switchCompression, sparseToDense, denseToCsr } from "../../src/core/sparse.ts";
import { iterMatrixChunks, normalizeTotalBlock } from "../../src/ops/chunks.ts";

const dir = mkdtempSync(join(tmpdir(), "crispyx-chunks-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

const NR = 203,
  NC = 57;
// Deterministic, skewed: low columns are dense, high columns sparse; some empty rows and columns.
const full = new Float32Array(NR * NC);
let s = 7;
const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
for (let i = 0; i < NR; i++) {
  if (i % 17 === 5) continue;
  for (let j = 0; j < NC; j++) if (j !== 40 && rnd() < 0.9 / (1 + j / 5)) full[i * NC + j] = 1 + Math.floor(rnd() * 20);
}
const dense: NdArray = { type: "array", dtype: "float32", shape: [NR, NC], data: full };
const csr = denseToCsr(dense);

function writeFile(format: "csr" | "csc" | "dense"): string {
  const path = join(dir, `${format}.h5`);
  const f = H5File.open(path, "w");
  if (format === "dense") {
    const w = DenseMatrixWriter.create(f, "/X", { shape: [NR, NC] });
    w.append(full);
    w.finish();
  } else {
    const m = format === "csr" ? csr : switchCompression(csr);
    const w = SparseMatrixWriter.create(f, "/X", { format, shape: [NR, NC] });
    w.append(m);
    w.finish();
  }
  f.close();
  return path;
}

function sliceDense(axis: 0 | 1, start: number, end: number): number[] {
  const out: number[] = [];
  if (axis === 0) for (let i = start; i < end; i++) for (let j = 0; j < NC; j++) out.push(full[i * NC + j]!);
  else for (let i = 0; i < NR; i++) for (let j = start; j < end; j++) out.push(full[i * NC + j]!);
  return out;
}

/** Count the major-axis elements the reader hands out, to measure passes over the file. */
function countingReader(path: string): { reader: MatrixReader; majorRead: () => number; close: () => void } {
  const f = H5File.open(path);
  const reader = new MatrixReader(f, "/X");
  let n = 0;
  const rows = reader.rows.bind(reader),
    cols = reader.cols.bind(reader);
  reader.rows = (a, b, l) => ((n += reader.format === "csr" ? b - a : 0), rows(a, b, l));
  reader.cols = (a, b, l) => ((n += reader.format === "csc" ? b - a : 0), cols(a, b, l));
  // Dense storage is read straight from the dataset: count the rows of each 2-D read.
  const read = f.read.bind(f);
  f.read = (p, start, count, out) => (
    (n += p === "/X" && count?.length === 2 ? count[0]! : 0), read(p, start, count, out)
  );
  return { reader, majorRead: () => n, close: () => f.close() };
}

for (const format of ["csr", "csc", "dense"] as const) {
  const path = writeFile(format);
  for (const axis of [0, 1] as const) {
    for (const [chunkSize, budget] of [
      [7, 2048],
      [16, 1 << 20],
      [1000, 100],
    ] as const) {
      test(`${format}, axis ${axis}, chunk ${chunkSize}, budget ${budget}: chunks equal slices, dense and sparse`, () => {
        const { reader, close } = countingReader(path);
        try {
          const n = axis === 0 ? NR : NC;
          let next = 0;
          for (const { start, end, block } of iterMatrixChunks(reader, { axis, chunkSize, memoryBudget: budget })) {
            assert.equal(start, next);
            assert.equal(end, Math.min(n, start + chunkSize));
            assert.equal(block.type, "array");
            assert.deepEqual(Array.from((block as NdArray).data as Float32Array), sliceDense(axis, start, end));
            next = end;
          }
          assert.equal(next, n);
          for (const layout of [undefined, "csr", "csc"] as const) {
            for (const { start, end, block } of iterMatrixChunks(reader, {
              axis,
              chunkSize,
              memoryBudget: budget,
              dense: false,
              layout,
            })) {
              assert.notEqual(block.type, "array");
              if (layout) assert.equal(block.type, layout);
              else assert.equal(block.type, format === "dense" ? "csr" : format);
              assert.deepEqual(
                Array.from(sparseToDense(block as SparseMatrix).data as Float32Array),
                sliceDense(axis, start, end),
              );
            }
          }
        } finally {
          close();
        }
      });
    }
  }
}

test("expensive direction: one pass when the band fits, several bands (not one pass per chunk) when not", () => {
  for (const format of ["csr", "csc", "dense"] as const) {
    const path = join(dir, `${format}.h5`);
    const axis = format === "csc" ? 0 : 1;
    const nMajor = format === "csc" ? NC : NR;
    const nChunks = Math.ceil((axis === 0 ? NR : NC) / 2);
    const big = countingReader(path);
    for (const _ of iterMatrixChunks(big.reader, { axis, chunkSize: 2, memoryBudget: 64 << 20 })) void _;
    assert.equal(big.majorRead(), nMajor, `${format}: one pass`);
    big.close();
    const small = countingReader(path);
    for (const _ of iterMatrixChunks(small.reader, { axis, chunkSize: 2, memoryBudget: 40_000 })) void _;
    const passes = small.majorRead() / nMajor;
    assert.ok(passes > 1 && passes < nChunks / 2, `${format}: ${passes} passes for ${nChunks} chunks`);
    small.close();
  }
});

test("bad axis or chunk size", () => {
  const { reader, close } = countingReader(join(dir, "csr.h5"));
  assert.throws(() => iterMatrixChunks(reader, { axis: 2 as 0 }).next(), /axis must be 0/);
  assert.throws(() => iterMatrixChunks(reader, { chunkSize: 0 }).next(), /chunk size/);
  close();
});

test("normalizeTotalBlock: rows scaled to the target sum, zero rows stay zero, given library sizes used", () => {
  const block = denseToCsr({
    type: "array",
    dtype: "float32",
    shape: [3, 3],
    data: Float32Array.of(1, 3, 0, 0, 0, 0, 2, 2, 4),
  });
  const { normalized, librarySize } = normalizeTotalBlock(block);
  assert.deepEqual(Array.from(librarySize), [4, 0, 8]);
  assert.deepEqual(Array.from(normalized.data as Float64Array), [2500, 7500, 0, 0, 0, 0, 2500, 2500, 5000]);
  const r = normalizeTotalBlock(block, { librarySize: [2, 1, 1], targetSum: 1, dtype: "float32" });
  assert.ok(r.normalized.data instanceof Float32Array);
  assert.deepEqual(Array.from(r.normalized.data), [0.5, 1.5, 0, 0, 0, 0, 2, 2, 4]);
  assert.throws(() => normalizeTotalBlock(block, { librarySize: [1] }), /library size has 1 entries/);
});
