// sortByPerturbation / needsSortingForNbglm / getPerturbationSlice: same order, values, boundaries and
// sorting_metadata as the seed; obsm/layers permuted along; reuse, errors, abort and SIGKILL.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getPerturbationSlice, needsSortingForNbglm, sortByPerturbation } from "../../src/ops/sort.ts";
import { readH5ad } from "../../src/io/anndata/anndata.ts";
import type { Dict, Element } from "../../src/io/anndata/model.ts";
import { InvalidArgumentError } from "../../src/errors.ts";
import { h5adOpenFailures, skipWithoutAnndata } from "../helpers/anndataChecker.ts";
import { assertSameTables, sha256, writeBigInput } from "./opsTestHelpers.ts";
import { EXPECTED, ROOT, assertCanonical, dense, killAtFirstProgress, listDir } from "./convertSortHelpers.ts";

const dir = mkdtempSync(join(tmpdir(), "crispyx-sort-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const written: string[] = [];

/** An uns element as plain JSON-like values, with the numpy dtype of arrays and scalars. */
function plain(e: Element): unknown {
  if (e.type === "dict") return Object.fromEntries(Object.entries((e as Dict).items).map(([k, v]) => [k, plain(v)]));
  if (e.type === "scalar") return { dtype: e.dtype, value: typeof e.value === "bigint" ? Number(e.value) : e.value };
  if (e.type === "array")
    return {
      dtype: e.dtype,
      value: Array.from(e.data as ArrayLike<number | bigint | string>, (x) => (typeof x === "bigint" ? Number(x) : x)),
    };
  throw new Error(`unexpected ${e.type}`);
}

for (const [name, exp] of Object.entries<any>(EXPECTED.sort)) {
  for (const spill of [false, true]) {
    test(`${name}${spill ? " (spilled runs)" : ""}: as the seed`, async () => {
      const input = join(ROOT, exp.input);
      const before = sha256(input);
      const out = join(dir, `${name}${spill ? "-spill" : ""}.h5ad`);
      const r = await sortByPerturbation(input, {
        column: exp.column,
        controlLabel: exp.control_label,
        output: out,
        ...(spill ? { bufferElements: 40 } : {}),
      });
      assert.equal(r, out);
      assert.equal(sha256(input), before, "input untouched");
      const ours = readH5ad(out),
        theirs = readH5ad(join(ROOT, exp.output));
      // Cells in the seed's order, same X values; sparse comes out CSR, dense stays dense.
      assert.deepEqual(ours.obs.index, exp.obs_names);
      const a = dense(ours.X!),
        b = dense(theirs.X!);
      assert.equal(a.format, exp.x.format);
      assert.deepEqual(a.values, b.values);
      assertCanonical(ours.X!);
      if (ours.X!.type === "csr")
        assert.equal((ours.X as any).indptr.constructor, BigInt64Array, "int64 indptr, as the seed writes");
      assertSameTables(out, join(ROOT, exp.output));
      // sorting_metadata: the seed's keys, values and dtypes (timestamp and original path aside).
      const meta = plain(ours.uns.sorting_metadata!) as any;
      const seedMeta = plain(theirs.uns.sorting_metadata!) as any;
      assert.equal(meta.original_path.value, input);
      assert.match(meta.timestamp.value, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
      delete meta.original_path;
      delete meta.timestamp;
      delete seedMeta.original_path;
      delete seedMeta.timestamp;
      assert.deepEqual(meta, seedMeta);
      assert.deepEqual(
        Object.fromEntries(Object.entries<any>(meta.perturbation_boundaries).map(([k, v]) => [k, v.value])),
        exp.sorting_metadata.perturbation_boundaries,
      );
      // The seed drops obsm and layers; crispyx carries them, rows in the sorted order.
      const inp = readH5ad(input);
      const order: number[] = exp.sorting_metadata.sort_order;
      for (const key of ["obsm", "layers"] as const) {
        assert.deepEqual(Object.keys(ours[key]).sort(), Object.keys(inp[key]).sort(), key);
        for (const [k, v] of Object.entries(inp[key])) {
          if (v.type !== "array" && v.type !== "csr" && v.type !== "csc") continue;
          const src = dense(v),
            got = dense(ours[key][k] as never);
          const cols = src.shape[1]!;
          const want = order.flatMap((i) => src.values.slice(i * cols, (i + 1) * cols));
          assert.deepEqual(got.values, want, `${key}/${k}`);
        }
      }
      for (const k of Object.keys(inp.uns)) if (k !== "sorting_metadata") assert.ok(k in ours.uns, `uns/${k} kept`);
      assert.deepEqual(
        listDir(dir).filter((f) => f.startsWith(".crispyx-tmp")),
        [],
        "no temporary files left",
      );
      written.push(out);
    });
  }
}

test("getPerturbationSlice: as the seed on its own sorted files and on ours", () => {
  for (const [name, slices] of Object.entries<any>(EXPECTED.slices)) {
    for (const file of [join(ROOT, EXPECTED.sort[name].output), join(dir, `${name}.h5ad`)]) {
      for (const [label, [sl, ok]] of Object.entries<any>(slices)) {
        const column = label === "__other_column__" ? "other_column" : EXPECTED.sort[name].column;
        const r = getPerturbationSlice(file, label === "__other_column__" ? "KD_A" : label, column);
        assert.equal(r.isSorted, ok, `${name} ${label}`);
        assert.deepEqual(r.slice ? [r.slice.start, r.slice.end] : null, sl, `${name} ${label}`);
      }
    }
  }
  assert.deepEqual(getPerturbationSlice(join(ROOT, "test/fixtures/ops-b/screen_csr.h5ad"), "KD_A", "gene"), {
    slice: null,
    isSorted: false,
  });
});

test("needsSortingForNbglm: as the seed", () => {
  for (const [name, c] of Object.entries<any>(EXPECTED.needs_sorting)) {
    const opts = {
      minCells: c.kwargs.min_cells,
      minPerturbations: c.kwargs.min_perturbations,
      contiguityThreshold: c.kwargs.contiguity_threshold,
    };
    assert.equal(needsSortingForNbglm(join(ROOT, c.input), c.column, opts), c.result, name);
  }
});

test("every sorted file opens in Python anndata", skipWithoutAnndata(), () => {
  assert.ok(written.length >= 8);
  assert.deepEqual(h5adOpenFailures(written), []); // in anndata 0.8 and the newest
});

test("an existing sorted output is reused unless force; default name is <stem>_sorted.h5ad", async () => {
  const sub = mkdtempSync(join(dir, "reuse-"));
  const input = join(sub, "screen.h5ad");
  writeBigInput(input, 400, 10);
  const out = await sortByPerturbation(input, { controlLabel: "NTC" });
  assert.equal(out, join(sub, "screen_sorted.h5ad"));
  const t0 = statSync(out).mtimeMs;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(await sortByPerturbation(input, { controlLabel: "NTC" }), out);
  assert.equal(statSync(out).mtimeMs, t0, "reused, not rewritten");
  await sortByPerturbation(input, { controlLabel: "NTC", force: true });
  assert.ok(statSync(out).mtimeMs > t0, "rewritten with force");
  const a = readH5ad(out);
  assert.deepEqual(a.obs.index.slice(0, 3), ["c0", "c4", "c8"], "control (NTC) cells first, original order kept");
});

test("bad input: clear errors before any work", async () => {
  const screen = join(ROOT, "test/fixtures/ops-b/screen_csr.h5ad");
  const out = join(dir, "never.h5ad");
  await assert.rejects(
    sortByPerturbation(screen, { column: "guide", output: out }),
    (e: any) =>
      e instanceof InvalidArgumentError &&
      /no column 'guide'/.test(e.message) &&
      /gene, batch, n_counts/.test(e.hint ?? ""),
  );
  await assert.rejects(
    sortByPerturbation(screen, { column: "batch", output: out }),
    (e: any) =>
      e instanceof InvalidArgumentError &&
      /cannot infer the control label/.test(e.message) &&
      /control label option/.test(e.hint ?? ""),
  );
  await assert.rejects(
    sortByPerturbation(screen, { column: "gene", controlLabel: "NTC", output: out }),
    (e: any) => e instanceof InvalidArgumentError && /'NTC' does not occur/.test(e.message),
  );
  await assert.rejects(sortByPerturbation(screen, { column: "gene", output: screen }), /overwrite the input/);
  assert.equal(existsSync(out), false);
});

test("cancelled mid-way (AbortSignal): no output, no temporary file, input unchanged", async () => {
  const sub = mkdtempSync(join(dir, "abort-"));
  const input = join(sub, "in.h5ad");
  writeBigInput(input, 4000, 40);
  const before = sha256(input);
  const ctl = new AbortController();
  await assert.rejects(
    sortByPerturbation(input, {
      controlLabel: "NTC",
      output: join(sub, "out.h5ad"),
      bufferElements: 5000,
      signal: ctl.signal,
      onProgress: () => ctl.abort(new Error("stop")),
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
  const { signal } = await killAtFirstProgress("sortByPerturbation", input, {
    controlLabel: "NTC",
    output: out,
    bufferElements: 5000,
  });
  assert.equal(signal, "SIGKILL");
  assert.equal(existsSync(out), false);
  assert.equal(sha256(input), before);
  for (const f of listDir(sub)) assert.ok(f === "in.h5ad" || f.startsWith(".crispyx-tmp-"), f);
});
