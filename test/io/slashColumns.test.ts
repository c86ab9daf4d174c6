// A column named with '/' ('grp/sub') is a nested path, as h5py and anndata 0.8 write it: crispyx writes it
// so (creating the groups on the way), every operator carries it, anndata reads it back; a name that is not
// a path HDF5 can hold is one clear error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeH5ad } from "../../src/io/anndata/anndata.ts";
import { openH5ad } from "../../src/io/anndata/handle.ts";
import { categorical, dataframe, emptyAnnData, ndarray } from "../../src/io/anndata/model.ts";
import { categoricalValues } from "../../src/io/anndata/encodings/categorical.ts";
import { normalizeTotalLog1p } from "../../src/ops/normalize.ts";
import { writeFilteredSubset } from "../../src/ops/subset.ts";
import { FileFormatError } from "../../src/errors.ts";
import { checkH5adMany, skipWithoutAnndata } from "../helpers/anndataChecker.ts";

const LABELS = Array.from({ length: 12 }, (_, i) => ["x", "y", "z"][i % 3]!);

function input(dir: string): string {
  const a = emptyAnnData(12, 4);
  a.obs = dataframe(a.obs.index, {
    "grp/sub": categorical(LABELS),
    plain: ndarray(Float64Array.from(LABELS, (_, i) => i)),
  });
  a.X = ndarray(
    Float32Array.from({ length: 48 }, (_, k) => (k % 5) + 1),
    [12, 4],
  );
  const p = join(dir, "in.h5ad");
  writeH5ad(p, a);
  return p;
}

test(
  "a column named 'grp/sub' is written nested, carried by normalize and filter, and read back",
  skipWithoutAnndata(),
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "slashcols-"));
    try {
      const p = input(dir);
      const outs = [
        (await normalizeTotalLog1p(p, { output: join(dir, "norm.h5ad") })).output,
        (await writeFilteredSubset(p, { output: join(dir, "filt.h5ad"), cellMask: LABELS.map((l) => l !== "z") }))
          .output,
      ];
      const expected = [LABELS, LABELS.filter((l) => l !== "z")];
      for (const [k, out] of [p, ...outs].entries()) {
        const h = openH5ad(out);
        try {
          assert.ok(h.file.isGroup("/obs/grp"), `${out}: nested`);
          assert.deepEqual(categoricalValues(h.obs.column("grp/sub") as never), k === 2 ? expected[1] : expected[0]);
        } finally {
          h.close();
        }
      }
      for (const r of checkH5adMany([p, ...outs])) assert.equal(r.error, undefined, `${r.file}: ${r.error}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("a column name that is not a path HDF5 can hold is one clear error", () => {
  const dir = mkdtempSync(join(tmpdir(), "slashcols-"));
  try {
    const a = emptyAnnData(2, 1);
    a.obs = dataframe(a.obs.index, { "a//b": ndarray(Float64Array.of(1, 2)) });
    assert.throws(
      () => writeH5ad(join(dir, "bad.h5ad"), a),
      (e: unknown) => e instanceof FileFormatError && /'a\/\/b' is not a path/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
