// writeFilteredSubset: same X, obs (unused categories dropped), var (assignments) as the seed's
// write_filtered_subset, for CSR/CSC/dense inputs and empty selections; outputs open in anndata; bad input
// refused up front; abort, throwing callbacks and SIGKILL leave no output and the input untouched.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFilteredSubset } from "../../src/ops/subset.ts";
import { openH5ad } from "../../src/io/anndata/handle.ts";
import { readH5ad } from "../../src/io/anndata/anndata.ts";
import { InvalidArgumentError, FileFormatError } from "../../src/errors.ts";
import type { NdArray } from "../../src/io/anndata/model.ts";
import { h5adOpenFailures, skipWithoutAnndata } from "../helpers/anndataChecker.ts";
import {
  CASES,
  ROOT,
  assertSameTables,
  assertSameX,
  checkFailuresLeaveNothing,
  checkKillLeavesNothing,
  filesNamed,
  scratchDir,
  sha256,
  writeBigInput,
} from "./opsTestHelpers.ts";

const dir = scratchDir("crispyx-subset-");
const outputs: string[] = [];

for (const c of CASES.subset as any[]) {
  for (const chunkSize of [1, 5, undefined]) {
    test(`${c.name} (chunk ${chunkSize ?? "auto"}${chunkSize === 5 ? ", worker-thread writer" : ""}): same X, obs, var as the seed`, async () => {
      const input = join(ROOT, c.input);
      const before = sha256(input);
      const output = join(dir, `${c.name}_${chunkSize}.h5ad`);
      const r = await writeFilteredSubset(input, {
        output,
        cellMask: c.cellMask,
        geneMask: c.geneMask,
        varAssignments: c.varAssignments ?? undefined,
        chunkSize,
        memoryBudget: chunkSize === 1 ? 2048 : undefined,
        background: chunkSize === 5,
      });
      assertSameX(output, join(ROOT, c.expected));
      assertSameTables(output, join(ROOT, c.expected));
      assert.equal(sha256(input), before, "input unchanged");
      assert.equal(r.nObs, c.cellMask.filter(Boolean).length);
      assert.equal(r.nVars, c.geneMask.filter(Boolean).length);
      outputs.push(output);
    });
  }
}

test("categories no kept cell uses are gone, the others keep their order", () => {
  const out = outputs.find((p) => p.includes("screen_drop_categories"))!;
  const obs = readH5ad(out).obs;
  const pert = obs.columns.perturbation!;
  assert.equal(pert.type, "categorical");
  assert.deepEqual((pert as { categories: NdArray }).categories.data, ["NTC", "KO_A", "KO_B", "KO_D", "KO_E", "KO_G"]);
});

test("obsm/varm/obsp/varp and uns follow the selection (as adata[cells, genes])", async () => {
  const input = join(ROOT, "test/fixtures/h5ad/full_csr.h5ad");
  const output = join(dir, "carry.h5ad");
  const cellMask = Array.from({ length: 20 }, (_, i) => i % 3 !== 1);
  const geneMask = Array.from({ length: 12 }, (_, j) => j % 2 === 0);
  await writeFilteredSubset(input, { output, cellMask, geneMask, chunkSize: 4 });
  const a = readH5ad(input),
    b = readH5ad(output);
  const cells = cellMask.flatMap((k, i) => (k ? [i] : []));
  assert.deepEqual(Object.keys(b.uns), Object.keys(a.uns));
  for (const [k, n] of [
    ["obsm", cells.length],
    ["varm", 6],
    ["obsp", cells.length],
    ["varp", 6],
  ] as const) {
    assert.deepEqual(Object.keys(b[k]), Object.keys(a[k]));
    for (const e of Object.values(b[k]))
      assert.equal(
        (e as { shape?: number[]; index?: string[] }).shape?.[0] ?? (e as { index: string[] }).index.length,
        n,
        k,
      );
  }
  outputs.push(output);
});

test("every output, empty ones included, opens in Python anndata with the expected shape", skipWithoutAnndata(), () => {
  assert.ok(outputs.length > 0);
  assert.deepEqual(h5adOpenFailures(outputs), []); // in anndata 0.8 and the newest
});

test("bad input is refused before any work", async () => {
  const input = join(dir, "in.h5ad");
  copyFileSync(join(ROOT, "test/fixtures/ops/screen.h5ad"), input);
  const out = join(dir, "never.h5ad");
  const cells = new Array(400).fill(true),
    genes = new Array(120).fill(true);
  await assert.rejects(
    writeFilteredSubset(input, { output: out, cellMask: cells.slice(1), geneMask: genes }),
    (e: Error) =>
      e instanceof InvalidArgumentError && /cell mask has 399 entries but the file has 400 cells/.test(e.message),
  );
  await assert.rejects(
    writeFilteredSubset(input, { output: out, cellMask: cells, geneMask: [...genes, true] }),
    /gene mask has 121 entries but the file has 120 genes/,
  );
  await assert.rejects(writeFilteredSubset(input, { output: out, cellMask: [2, ...cells.slice(1)] }), /entry 0 is 2/);
  await assert.rejects(
    writeFilteredSubset(input, {
      output: out,
      geneMask: genes.map((_, j) => j < 10),
      varAssignments: { hv: [true, false] },
    }),
    /Length mismatch for var column 'hv': expected 10 \(one per selected gene\), received 2/,
  );
  await assert.rejects(writeFilteredSubset(input, { output: input, cellMask: cells }), /is the input file/);
  await assert.rejects(
    writeFilteredSubset(join(dir, "nope.h5ad"), { output: out }),
    (e: Error) => e instanceof FileFormatError && /nope\.h5ad: data file not found/.test(e.message),
  );
  assert.deepEqual(filesNamed(dir, "never.h5ad"), []);
});

test("abort and a throwing progress callback leave no output and the input byte-identical", async () => {
  const cellMask = Array.from({ length: 5000 }, (_, i) => i % 2 === 0);
  await checkFailuresLeaveNothing(dir, (input, o) => writeFilteredSubset(input, { ...o, cellMask }));
});

test("SIGKILL in the middle leaves no file under the output name and the input byte-identical", () =>
  checkKillLeavesNothing(dir, "subset"));

test("omitted masks keep everything", async () => {
  const input = join(ROOT, "test/fixtures/ops/screen.h5ad");
  const out = join(dir, "all.h5ad");
  await writeFilteredSubset(input, { output: out });
  using h = openH5ad(out);
  assert.deepEqual(h.shape, [400, 120]);
  assertSameX(out, join(ROOT, "test/fixtures/ops/expected/subset_screen_all.h5ad"));
});

test("int64 indices (counted through the block reader) give the same subset as int32 ones", async () => {
  const dir = mkdtempSync(join(tmpdir(), "crispyx-subset64-"));
  try {
    const a = join(dir, "i32.h5ad"),
      b = join(dir, "i64.h5ad");
    writeBigInput(a, 3000, 60, "int32");
    writeBigInput(b, 3000, 60, "int64");
    const cellMask = Array.from({ length: 3000 }, (_, i) => i % 3 !== 1);
    const geneMask = Array.from({ length: 60 }, (_, j) => j % 4 !== 0);
    const ra = await writeFilteredSubset(a, { output: join(dir, "a_out.h5ad"), cellMask, geneMask });
    const rb = await writeFilteredSubset(b, { output: join(dir, "b_out.h5ad"), cellMask, geneMask });
    assert.equal(ra.nnz, rb.nnz);
    assert.ok(ra.nnz > 0);
    const xa = readH5ad(join(dir, "a_out.h5ad")).X as never as {
      data: Float32Array;
      indices: ArrayLike<number | bigint>;
      indptr: ArrayLike<number | bigint>;
    };
    const xb = readH5ad(join(dir, "b_out.h5ad")).X as never as typeof xa;
    assert.deepEqual(Array.from(xb.data), Array.from(xa.data));
    assert.deepEqual(Array.from(xb.indices, Number), Array.from(xa.indices, Number));
    assert.deepEqual(Array.from(xb.indptr, Number), Array.from(xa.indptr, Number));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
