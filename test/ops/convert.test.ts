// convertToCsc / convertToCsr: same values and orderings as the seed's convert_to_csc / convert_to_csr on
// the golden files and a synthetic screen, in memory and with spilled runs; atomic; clear errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertToCsc, convertToCsr } from "../../src/ops/convert.ts";
import { readH5ad } from "../../src/io/anndata/anndata.ts";
import { H5File } from "../../src/io/h5/file.ts";
import { InvalidArgumentError, FileFormatError } from "../../src/errors.ts";
import { dumpElement, diffDumps } from "../helpers/canonicalDump.ts";
import { h5adOpenFailures, skipWithoutAnndata } from "../helpers/anndataChecker.ts";
import { sha256, writeBigInput } from "./opsTestHelpers.ts";
import {
  EXPECTED,
  ROOT,
  asWrittenByDefault,
  assertCanonical,
  dense,
  denseX,
  killAtFirstProgress,
  listDir,
} from "./convertSortHelpers.ts";

const dir = mkdtempSync(join(tmpdir(), "crispyx-convert-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const written: string[] = [];
const fns = { csc: convertToCsc, csr: convertToCsr };

for (const [name, exp] of Object.entries<any>(EXPECTED.convert)) {
  const target = name.endsWith("_to_csc") ? "csc" : "csr";
  for (const spill of [false, true]) {
    test(`${name}${spill ? " (spilled runs)" : ""}: as the seed`, async () => {
      const input = join(ROOT, exp.input);
      const before = sha256(input);
      const out = join(dir, `${name}${spill ? "-spill" : ""}.h5ad`);
      const r = await fns[target](input, { output: out, ...(spill ? { bufferElements: 5 } : {}) });
      assert.equal(r.converted, exp.converted);
      assert.equal(sha256(input), before, "input untouched");
      if (!exp.converted) {
        // Already in the target format: the input itself is returned and nothing is written.
        assert.equal(r.path, input);
        assert.equal(existsSync(out), false);
        return;
      }
      assert.equal(r.path, out);
      if (spill && r.nnz > 5) assert.ok(r.spilledRuns > 1, `runs spilled (${r.spilledRuns})`);
      if (!spill) assert.equal(r.spilledRuns, 0);
      assert.equal(r.inputPasses, 1);
      const ours = readH5ad(out);
      const theirs = readH5ad(join(ROOT, exp.output));
      const a = dense(ours.X!),
        b = dense(theirs.X!);
      assert.equal(a.format, target);
      assert.equal(b.format, exp.x.format);
      assert.deepEqual(a.shape, exp.x.shape);
      // The seed writes float32; values must be identical (crispyx keeps the input dtype).
      assert.deepEqual(
        a.values,
        b.values.map((v) => v),
      );
      assertCanonical(ours.X!);
      // Same stored elements in the same order as the seed's file (indptr, indices).
      const sx = ours.X as any,
        sy = theirs.X as any;
      assert.deepEqual(Array.from(sx.indptr, Number), Array.from(sy.indptr, Number), "indptr");
      assert.deepEqual(Array.from(sx.indices, Number), Array.from(sy.indices, Number), "indices");
      assert.equal(sx.indptr.constructor, Int32Array, "int32 indptr below 2^31 non-zeros, as the seed");
      // Everything but X carried over unchanged.
      const inp = readH5ad(input);
      for (const key of ["obs", "var"] as const)
        assert.deepEqual(diffDumps(dumpElement(ours[key]), dumpElement(asWrittenByDefault(inp[key]))), [], key);
      for (const key of ["uns", "obsm", "varm", "obsp", "varp", "layers"] as const) {
        assert.deepEqual(Object.keys(ours[key]).sort(), Object.keys(inp[key]).sort(), key);
      }
      assert.equal(ours.raw === null, inp.raw === null, "raw");
      assert.deepEqual(
        listDir(dir).filter((f) => f.startsWith(".crispyx-tmp")),
        [],
        "no temporary files left",
      );
      written.push(out);
    });
  }
}

test("every converted file opens in Python anndata", skipWithoutAnndata(), () => {
  assert.ok(written.length >= 10);
  assert.deepEqual(h5adOpenFailures(written), []); // in anndata 0.8 and the newest
});

test("default output name follows the seed (crispyx_csc.h5ad beside the input, or with dataName)", async () => {
  const sub = mkdtempSync(join(dir, "names-"));
  const input = join(sub, "in.h5ad");
  copyFileSync(join(ROOT, "test/fixtures/h5ad/x_csr_int32.h5ad"), input);
  assert.equal((await convertToCsc(input)).path, join(sub, "crispyx_csc.h5ad"));
  assert.equal(
    (await convertToCsc(input, { dataName: "screen", outputDir: join(sub, "o") })).path,
    join(sub, "o", "crispyx_screen_csc.h5ad"),
  );
});

test("a spilled conversion of a larger file equals the in-memory one, values and dtype kept", async () => {
  const input = join(dir, "big.h5ad");
  writeBigInput(input, 3000, 50);
  const a = await convertToCsc(input, { output: join(dir, "big-mem.h5ad") });
  const b = await convertToCsc(input, {
    output: join(dir, "big-spill.h5ad"),
    memoryBudget: 1 << 20,
    bufferElements: 4000,
  });
  assert.equal(a.spilledRuns, 0);
  assert.ok(b.spilledRuns >= 10);
  const x = denseX(a.path),
    y = denseX(b.path),
    z = denseX(input);
  assert.deepEqual(x, y);
  assert.deepEqual(x.values, z.values);
  const back = await convertToCsr(b.path, { output: join(dir, "big-back.h5ad"), bufferElements: 3001 });
  const m = readH5ad(back.path).X as any,
    o = readH5ad(input).X as any;
  assert.deepEqual(Array.from(m.indices), Array.from(o.indices));
  assert.deepEqual(Array.from(m.data), Array.from(o.data));
  assert.equal(m.data.constructor, Float32Array);
});

test("bad input: clear errors before any work", async () => {
  const input = join(ROOT, "test/fixtures/h5ad/x_csr_int32.h5ad");
  await assert.rejects(
    convertToCsc(input, { output: input }),
    (e: Error) => e instanceof InvalidArgumentError && /overwrite the input/.test(e.message),
  );
  await assert.rejects(
    convertToCsc(join(dir, "missing.h5ad"), { output: join(dir, "x.h5ad") }),
    (e: Error) => e instanceof FileFormatError && /not found/.test(e.message),
  );
  await assert.rejects(
    convertToCsc(join(ROOT, "test/fixtures/h5ad/no_x.h5ad"), { output: join(dir, "x.h5ad") }),
    (e: Error) => e instanceof FileFormatError && /no X/.test(e.message),
  );
  assert.equal(existsSync(join(dir, "x.h5ad")), false);
});

test("cancelled mid-way (AbortSignal): no output, no temporary file, input unchanged", async () => {
  const sub = mkdtempSync(join(dir, "abort-"));
  const input = join(sub, "in.h5ad");
  writeBigInput(input, 4000, 40);
  const before = sha256(input);
  const ctl = new AbortController();
  let calls = 0;
  await assert.rejects(
    convertToCsc(input, {
      output: join(sub, "out.h5ad"),
      bufferElements: 5000,
      memoryBudget: 1 << 20,
      signal: ctl.signal,
      onProgress: () => {
        if (++calls === 1) ctl.abort(new Error("stop"));
      },
    }),
    /stop/,
  );
  assert.deepEqual(listDir(sub), ["in.h5ad"]);
  assert.equal(sha256(input), before);
});

test("SIGKILL mid-way: nothing under the output name, input unchanged", async () => {
  const sub = mkdtempSync(join(dir, "kill-"));
  const input = join(sub, "in.h5ad");
  writeBigInput(input, 4000, 40);
  const before = sha256(input);
  const out = join(sub, "out.h5ad");
  const { signal } = await killAtFirstProgress("convertToCsc", input, { output: out, bufferElements: 5000 });
  assert.equal(signal, "SIGKILL");
  assert.equal(existsSync(out), false);
  assert.equal(sha256(input), before);
  // Only hidden temporaries may remain (SIGKILL cannot be caught); they never carry the final name.
  for (const f of listDir(sub)) assert.ok(f === "in.h5ad" || f.startsWith(".crispyx-tmp-"), f);
  H5File.open(input, "r").close();
});

test("chunkSize (lines per input block) changes nothing but the blocks", async () => {
  const exp = EXPECTED.convert.screen_csr_to_csc;
  for (const chunkSize of [1, 7, 1000]) {
    const r = await convertToCsc(join(ROOT, exp.input), {
      output: join(dir, `chunk-${chunkSize}.h5ad`),
      chunkSize,
      bufferElements: 500,
    });
    assert.deepEqual(denseX(r.path), denseX(join(ROOT, exp.output)));
  }
  await assert.rejects(
    convertToCsc(join(ROOT, exp.input), { output: join(dir, "chunk-bad.h5ad"), chunkSize: 0 }),
    /positive integer/,
  );
});

test("a long obs index (more than one 65 536-string slice) is carried over exactly", async () => {
  const input = join(dir, "long-index.h5ad");
  writeBigInput(input, 70000, 4);
  const r = await convertToCsc(input, { output: join(dir, "long-index-csc.h5ad") });
  assert.deepEqual(readH5ad(r.path).obs.index, readH5ad(input).obs.index);
});
