/**
 * pseudobulk() and `crispyx pseudobulk`: sums per perturbation (and per perturbation × guide) equal the
 * sums of the cells' counts computed here; the file opens in Python anndata (the reference, 0.8) with the
 * same X, obs and var; values that are not counts are refused with no output left behind.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pseudobulk } from "../../src/de/pseudobulk.ts";
import { readH5ad, writeH5ad } from "../../src/io/anndata/anndata.ts";
import { categorical, dataframe, emptyAnnData, ndarray, strings, type NdArray } from "../../src/io/anndata/model.ts";
import { findPython, skipWithoutAnndata } from "../helpers/anndataChecker.ts";

const work = mkdtempSync(join(tmpdir(), "crispyx-pseudobulk-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

const N = 90,
  GENES = 7;
const pertOf = (i: number) => ["NTC", "A", "B"][i % 3]!;
const guideOf = (i: number) => `${pertOf(i)}_g${i % 2}`;

function screen(
  path: string,
  value: (i: number, j: number) => number = (i, j) => ((i * 7 + j * 3) % 5) * (j + 1),
): Float32Array {
  const X = new Float32Array(N * GENES);
  for (let i = 0; i < N; i++) for (let j = 0; j < GENES; j++) X[i * GENES + j] = value(i, j);
  const ad = emptyAnnData(N, GENES);
  ad.X = ndarray(X, [N, GENES]);
  ad.obs = dataframe(
    Array.from({ length: N }, (_, i) => `c${i}`),
    {
      perturbation: categorical(Array.from({ length: N }, (_, i) => pertOf(i))),
      guide: categorical(Array.from({ length: N }, (_, i) => guideOf(i))),
    },
  );
  ad.var = dataframe(
    Array.from({ length: GENES }, (_, j) => `ENSG${j}`),
    { gene_symbols: strings(Array.from({ length: GENES }, (_, j) => `G${j}`)) },
  );
  writeH5ad(path, ad);
  return X;
}

test(
  "pseudobulk sums per perturbation and per perturbation × guide; anndata opens the file",
  skipWithoutAnndata(),
  async () => {
    const input = join(work, "s.h5ad");
    const X = screen(input);
    for (const by of [undefined, "guide"]) {
      const output = join(work, `pb_${by ?? "p"}.h5ad`);
      const r = await pseudobulk(input, { perturbationColumn: "perturbation", ...(by ? { by } : {}), output });
      const a = readH5ad(output);
      const names = a.obs.index;
      assert.equal(r.samples, by ? 6 : 3);
      assert.equal(names.length, r.samples);
      const sums = (a.X as NdArray).data as Float64Array;
      const nCells = (a.obs.columns.n_cells as NdArray).data as Int32Array;
      names.forEach((name, s) => {
        const member = (i: number) => (by ? `${pertOf(i)}|${guideOf(i)}` : pertOf(i)) === name;
        let cells = 0;
        for (let i = 0; i < N; i++) if (member(i)) cells++;
        assert.equal(nCells[s], cells, `${name} cells`);
        for (let j = 0; j < GENES; j++) {
          let t = 0;
          for (let i = 0; i < N; i++) if (member(i)) t += X[i * GENES + j]!;
          assert.equal(sums[s * GENES + j], t, `${name} gene ${j}`);
        }
      });
      // Python anndata: shape, names, X and the carried-over var.
      const code = [
        "import sys, json, anndata as ad, numpy as np",
        "a = ad.read_h5ad(sys.argv[1])",
        "print(json.dumps({'shape': list(a.shape), 'obs': list(a.obs_names), 'cols': list(a.obs.columns),",
        "  'total': float(np.asarray(a.X).sum()), 'n_cells': [int(v) for v in a.obs['n_cells']],",
        "  'var': list(a.var_names), 'symbols': list(a.var['gene_symbols'])}))",
      ].join("\n");
      const py = spawnSync(findPython()!, ["-c", code, output], { encoding: "utf8" });
      assert.equal(py.status, 0, py.stderr);
      const got = JSON.parse(py.stdout);
      assert.deepEqual(got.shape, [r.samples, GENES]);
      assert.deepEqual(got.obs, names);
      assert.deepEqual(got.cols, by ? ["perturbation", "guide", "n_cells"] : ["perturbation", "n_cells"]);
      assert.equal(
        got.total,
        X.reduce((s, v) => s + v, 0),
      );
      assert.deepEqual(got.n_cells, Array.from(nCells));
      assert.deepEqual(
        got.var,
        Array.from({ length: GENES }, (_, j) => `ENSG${j}`),
      );
      assert.deepEqual(
        got.symbols,
        Array.from({ length: GENES }, (_, j) => `G${j}`),
      );
    }
  },
);

test("pseudobulk refuses values that are not counts and leaves no output", async () => {
  const input = join(work, "neg.h5ad");
  screen(input, (i, j) => (i === 5 && j === 2 ? -1 : 1));
  const output = join(work, "neg_pb.h5ad");
  await assert.rejects(pseudobulk(input, { perturbationColumn: "perturbation", output }), /-1 at cell 5, gene 2/);
  assert.ok(!existsSync(output));
  await assert.rejects(
    pseudobulk(join(work, "s.h5ad"), { perturbationColumn: "perturbation", by: "replicate", output }),
    /obs has no column 'replicate'/,
  );
});
