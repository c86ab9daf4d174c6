import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { crispyx, referencePython, smallScreen, tempDir, withAnndata, NO_PYTHON } from "./helpers.ts";

const tmp = tempDir();
let file: string;
before(async () => {
  file = await smallScreen(tmp.path);
});
after(() => tmp.cleanup());

test("sort: detects the perturbation column, puts controls first then A→Z; rows move with their cells", async (t) => {
  const r = await crispyx(["sort", file, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /^using obs column 'perturbation' for the perturbations \(detected, score \d+; pass -p to choose another\)$/m,
  );
  const s = JSON.parse(r.stdout);
  assert.equal(s.column, "perturbation");
  const out = join(tmp.path, "screen_sorted.h5ad");
  assert.equal(s.output, out);
  const py = referencePython();
  if (!py) return t.skip(NO_PYTHON);
  const ref = withAnndata(
    py,
    out,
    [
      "orig = ad.read_h5ad(sys.argv[1].replace('_sorted.h5ad', '.h5ad'))",
      "p = list(adata.obs.perturbation.astype(str))",
      "groups = [g for i, g in enumerate(p) if i == 0 or p[i-1] != g]",
      "same = bool((adata.X != orig[adata.obs_names].X).nnz == 0)",
      "out = dict(groups=groups, same=same, n=adata.n_obs, meta='sorting_metadata' in adata.uns)",
    ].join("\n"),
  ) as { groups: string[]; same: boolean; n: number; meta: boolean };
  assert.equal(ref.groups[0], "non-targeting");
  assert.deepEqual(ref.groups.slice(1), ref.groups.slice(1).slice().sort());
  assert.equal(new Set(ref.groups).size, ref.groups.length, "each group is contiguous");
  assert.equal(ref.same, true);
  assert.equal(ref.n, 300);
  assert.equal(ref.meta, true);
});

test("sort: an unknown -p column is an error naming the file and suggesting the right one", async () => {
  const r = await crispyx(["sort", file, "-p", "Perturbations", "-o", join(tmp.path, "s.h5ad")]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^crispyx: error: .*screen\.h5ad: obs has no column 'Perturbations' \(--perturbation-column\)\nhint: did you mean 'perturbation'\? obs columns: perturbation, guide_id, gem_group\n$/,
  );
});
