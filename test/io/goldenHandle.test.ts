// The lazy handle on the golden fixtures: shapes, heads, X blocks equal slices of the full X, describe(), uns preview.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { openH5ad } from "../../src/io/anndata/handle.ts";
import type { NdArray } from "../../src/io/anndata/model.ts";

const DIR = join(import.meta.dirname, "..", "fixtures", "h5ad");
const NAMES = readdirSync(DIR)
  .filter((f) => f.endsWith(".h5ad"))
  .map((f) => f.slice(0, -5))
  .filter((n) => n !== "uns_recarray")
  .sort();

const dense = (b: unknown) => Array.from((b as NdArray).data as ArrayLike<number | bigint>, Number);

for (const name of NAMES) {
  test(`lazy handle on golden fixture: ${name}`, () => {
    const exp = JSON.parse(readFileSync(join(DIR, "expected", `${name}.json`), "utf8"));
    const h = openH5ad(join(DIR, `${name}.h5ad`));
    try {
      assert.deepEqual([h.nObs, h.nVars], exp.shape);
      const head = h.obs.head(3);
      assert.deepEqual(head.index, exp.obs.index.slice(0, 3));
      assert.deepEqual(head.columnOrder, exp.obs.columns);
      const text = h.describe();
      assert.match(text, new RegExp(`${exp.shape[0]}\\D+${exp.shape[1]}`));
      for (const c of [...exp.obs.columns, ...exp.var.columns])
        assert.ok(text.includes(c), `describe() lacks column ${c}`);
      for (const k of Object.keys(exp.uns.items)) {
        assert.ok(text.includes(k), `describe() lacks uns key ${k}`);
        assert.equal(h.uns.preview(k).key, k);
      }
      if (exp.X === null) return;
      const [n, m] = exp.shape as [number, number];
      const full = dense(h.X.readAll("dense"));
      const rowsOf = (idx: number[]) => idx.flatMap((i) => full.slice(i * m, (i + 1) * m));
      const a = Math.floor(n / 3),
        b = Math.min(n, a + 4);
      assert.deepEqual(dense(h.X.rows(a, b, "dense")), rowsOf([...Array(b - a).keys()].map((k) => a + k)));
      const c0 = Math.floor(m / 2),
        c1 = m;
      const colsExp = [...Array(n).keys()].flatMap((i) => full.slice(i * m + c0, i * m + c1));
      assert.deepEqual(dense(h.X.cols(c0, c1, "dense")), colsExp);
      if (n > 0) {
        const pick = [n - 1, 0, Math.floor(n / 2), n - 1];
        assert.deepEqual(dense(h.X.takeRows(pick, "dense")), rowsOf(pick));
      }
      // the full X from the handle equals anndata's X (dense data expected as nested rows, sparse via indptr)
      const x = exp.X;
      const expFull =
        x.kind === "ndarray"
          ? (x.values as unknown[][]).flat().map(Number)
          : (() => {
              const out = new Array(n * m).fill(0);
              for (let o = 0; o + 1 < x.indptr.length; o++) {
                for (let k = x.indptr[o]; k < x.indptr[o + 1]; k++) {
                  const [i, j] = x.format === "csr" ? [o, x.indices[k]] : [x.indices[k], o];
                  out[i * m + j] = x.data[k];
                }
              }
              return out;
            })();
      assert.deepEqual(full, expFull);
    } finally {
      h.close();
    }
  });
}
