// The direct I/O switch (src/io/directIO.ts): with it off, no byte-level path is taken — direct reads,
// direct sparse writes (operators, sort/convert, standardize), DirectArrays (DE results), link-rewriting
// edits — and the suite's golden comparisons give the same answers through the library (h5wasm) route,
// run in a child process with CRISPYX_DIRECT_IO=0.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { directUseCounts, ioSettings } from "../../src/io/directIO.ts";
import { H5File } from "../../src/io/h5/file.ts";
import { canWriteDirect, directCopySpec } from "../../src/io/anndata/directSparseWriter.ts";
import { normalizeTotalLog1p } from "../../src/ops/normalize.ts";
import { convertToCsc } from "../../src/ops/convert.ts";
import { standardizeDataset } from "../../src/ops/standardize.ts";
import { writeUnsDict } from "../../src/io/anndata/fileHelpers.ts";
import { deleteElement } from "../../src/io/anndata/edit.ts";
import { openH5ad } from "../../src/io/anndata/handle.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const SCREEN = join(ROOT, "test/fixtures/ops/screen.h5ad");
const dir = mkdtempSync(join(tmpdir(), "crispyx-directio-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

/** Run `fn` with the switch set to `on`, restoring it afterwards; returns the byte-level uses it made. */
async function withSwitch(on: boolean, fn: () => unknown): Promise<Record<string, number>> {
  const saved = ioSettings.directIO;
  ioSettings.directIO = on;
  const before = directUseCounts();
  try {
    await fn();
  } finally {
    ioSettings.directIO = saved;
  }
  const after = directUseCounts();
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]]));
}

function xValues(path: string): number[] {
  using h = openH5ad(path);
  const x = h.X.rows(0, h.X.shape[0], "csr") as { data: ArrayLike<number> };
  return Array.from(x.data);
}

test("direct reads: readsDirectly and the reads themselves follow the switch", async () => {
  const f = H5File.open(SCREEN, "r");
  try {
    let direct = false;
    const on = await withSwitch(true, () => {
      direct = f.readsDirectly("/X/data");
      f.read("/X/data");
    });
    assert.equal(direct, true, "the fixture's X/data is read directly when on");
    assert.ok(on.reads! > 0);
    const off = await withSwitch(false, () => {
      direct = f.readsDirectly("/X/data");
      f.read("/X/data");
    });
    assert.equal(direct, false);
    assert.equal(off.reads, 0);
  } finally {
    f.close();
  }
});

test("direct sparse writes: canWriteDirect and directCopySpec say no when off", async () => {
  const spec = { format: "csr" as const, shape: [2, 2] as [number, number], dtype: "float32" as const, nnz: 3 };
  await withSwitch(true, () => assert.equal(canWriteDirect(spec), true));
  await withSwitch(false, () => assert.equal(canWriteDirect(spec), false));
  const f = H5File.open(SCREEN, "r");
  try {
    await withSwitch(false, () => assert.equal(directCopySpec(f, "/X"), null));
  } finally {
    f.close();
  }
});

test("operators (normalize, convert, standardize) write X through HDF5 when off, with the same values", async () => {
  const outs: Record<string, string> = {};
  for (const on of [true, false]) {
    const tag = on ? "on" : "off";
    const used = await withSwitch(on, async () => {
      outs[`n_${tag}`] = join(dir, `norm_${tag}.h5ad`);
      await normalizeTotalLog1p(SCREEN, { output: outs[`n_${tag}`]! });
      outs[`c_${tag}`] = join(dir, `csc_${tag}.h5ad`);
      await convertToCsc(SCREEN, { output: outs[`c_${tag}`]! });
      outs[`s_${tag}`] = join(dir, `std_${tag}.h5ad`);
      await standardizeDataset(SCREEN, {
        output: outs[`s_${tag}`]!,
        perturbationColumn: "perturbation",
        controlLabel: "NTC",
        force: true,
      });
    });
    if (on) assert.ok(used.arrays! >= 2, `direct writes used when on (${used.arrays})`);
    else assert.deepEqual(used, { reads: 0, arrays: 0, links: 0 }, "no byte-level path when off");
  }
  for (const k of ["n", "c", "s"]) assert.deepEqual(xValues(outs[`${k}_off`]!), xValues(outs[`${k}_on`]!), k);
});

test("edits rewrite the file through the library when off (no link patches), with the same result", async () => {
  const a = join(dir, "edit_on.h5ad");
  const b = join(dir, "edit_off.h5ad");
  copyFileSync(SCREEN, a);
  copyFileSync(SCREEN, b);
  const edit = (p: string) => {
    writeUnsDict(p, "switch_test", { answer: 42, words: ["a", "b"] });
    deleteElement(p, "/uns/switch_test");
    writeUnsDict(p, "kept", { x: 1 });
  };
  const on = await withSwitch(true, () => edit(a));
  assert.ok(on.links! >= 2);
  const off = await withSwitch(false, () => edit(b));
  assert.deepEqual(off, { reads: 0, arrays: 0, links: 0 });
  for (const p of [a, b]) {
    const f = H5File.open(p, "r");
    try {
      assert.equal(f.exists("/uns/switch_test"), false);
      assert.equal(Number(f.read("/uns/kept/x")[0]), 1);
    } finally {
      f.close();
    }
  }
  assert.deepEqual(xValues(b), xValues(a));
});

// The suite's golden comparisons (anndata-written fixtures, the seed's operator outputs, Scanpy's DE results),
// run again with byte-level I/O off. Tests that assert a byte-level path itself (rawStorage, directSparseWriter,
// links in edit.test.ts) are not in this list: with the switch off they have nothing to test.
const GOLDEN_FILES = [
  "test/io/goldenParity.test.ts",
  "test/io/goldenHandle.test.ts",
  "test/ops/normalize.test.ts",
  "test/ops/convert.test.ts",
  "test/ops/subset.test.ts",
  "test/ops/sort.test.ts",
  "test/ops/standardize.test.ts",
  "test/de/rankGenesGroups.test.ts",
  "test/io/fileHelpers.test.ts",
];

test(`golden comparisons with CRISPYX_DIRECT_IO=0: ${GOLDEN_FILES.join(", ")}`, { timeout: 30 * 60_000 }, () => {
  // Without the runner's NODE_TEST_CONTEXT the child is a test run of its own, with its own summary.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const r = spawnSync(
    process.execPath,
    ["--import", "./bin/register.mjs", "--test", "--test-reporter=spec", ...GOLDEN_FILES],
    {
      cwd: ROOT,
      env: { ...env, CRISPYX_DIRECT_IO: "0" },
      encoding: "utf8",
      maxBuffer: 1 << 28,
    },
  );
  const out = r.stdout + r.stderr;
  assert.equal(r.status, 0, `failures with direct I/O off:\n${out.slice(-6000)}`);
  const passed = Number(/ℹ pass (\d+)/.exec(out)?.[1] ?? 0);
  assert.ok(passed >= 50, `expected the golden tests to run, saw ${passed} passing:\n${out.slice(-3000)}`);
  assert.match(out, /ℹ fail 0/);
});
