// Elements of anndata ≥ 0.12 (None as the "null" encoding; nullable strings with `na-value`): crispyx
// reads and carries them, and by default writes what anndata 0.8 still opens (settings.ts): a None is
// left out, nullable strings become a categorical of the same values with missing values kept.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openH5ad } from "../../src/io/anndata/handle.ts";
import { categoricalValues } from "../../src/io/anndata/encodings/categorical.ts";
import { normalizeTotalLog1p } from "../../src/ops/normalize.ts";
import { convertToCsc } from "../../src/ops/convert.ts";
import { writeFilteredSubset } from "../../src/ops/subset.ts";
import { checkH5adMany, skipWithoutAnndata } from "../helpers/anndataChecker.ts";

const FILE = join(import.meta.dirname, "..", "fixtures", "h5ad-newer", "uns_null.h5ad");
const GUIDES = Array.from({ length: 20 }, (_, i) => (i % 4 === 0 ? null : `sg${i % 3}`));

function guides(path: string): (string | null)[] {
  const h = openH5ad(path);
  try {
    const c = h.obs.column("guide");
    if (c.type === "nullable-string") return Array.from(c.values.data as string[], (v, i) => (c.mask[i] ? null : v));
    assert.equal(c.type, "categorical", `${path}: guide is written as a categorical`);
    return categoricalValues(c as never);
  } finally {
    h.close();
  }
}

test("null and nullable strings with na-value are read", () => {
  const h = openH5ad(FILE);
  try {
    assert.deepEqual(h.uns.get("nothing"), { type: "null" });
    assert.equal(h.obs.column("guide").type, "nullable-string");
  } finally {
    h.close();
  }
  assert.deepEqual(guides(FILE), GUIDES);
});

test(
  "operators carry them as anndata 0.8 can open: None left out, nullable strings as categoricals",
  skipWithoutAnndata(),
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "crispyx-newer-"));
    try {
      const outs = [
        (await normalizeTotalLog1p(FILE, { output: join(dir, "norm.h5ad") })).output,
        (await convertToCsc(FILE, { output: join(dir, "csc.h5ad") })).path,
        (await writeFilteredSubset(FILE, { output: join(dir, "filt.h5ad"), cellMask: GUIDES.map((_, i) => i < 10) }))
          .output,
      ];
      for (const out of outs) {
        const h = openH5ad(out);
        try {
          assert.deepEqual(h.uns.keys().sort(), ["kept"], `${out}: None left out of uns`);
        } finally {
          h.close();
        }
      }
      assert.deepEqual(guides(outs[0]!), GUIDES);
      assert.deepEqual(guides(outs[1]!), GUIDES);
      assert.deepEqual(guides(outs[2]!), GUIDES.slice(0, 10));
      for (const r of checkH5adMany(outs)) assert.equal(r.error, undefined, `${r.file}: ${r.error}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
