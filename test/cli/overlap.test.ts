import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { crispyx, smallScreen, tempDir } from "./helpers.ts";
import { writeDeFixture } from "./deFixture.ts";

const tmp = tempDir();
let file: string;
let other: string;
let de: string;
before(async () => {
  file = await smallScreen(tmp.path);
  other = await smallScreen(tmp.path, "other.h5ad", { cells: 100, genes: 150, perturbations: 3, seed: 9 });
  de = join(tmp.path, "de.h5ad");
  writeDeFixture(de, 4, 100);
});
after(() => tmp.cleanup());

test("overlap of text lists: counts and Jaccard as compute_overlap; NAME=PATH names a set", async () => {
  const a = join(tmp.path, "a.txt");
  const b = join(tmp.path, "b.txt");
  writeFileSync(a, "BRCA1\nTP53\nEGFR\n");
  writeFileSync(b, "# hits\nTP53\nKRAS\n");
  const [text, json] = await Promise.all([
    crispyx(["overlap", a, `B=${b}`]),
    crispyx(["overlap", a, `B=${b}`, "--json"]),
  ]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^sets: a \(3\), B \(2\)\n/);
  assert.deepEqual(JSON.parse(json.stdout), {
    names: ["a", "B"],
    set_sizes: [3, 2],
    count: [
      [3, 1],
      [1, 2],
    ],
    jaccard: [
      [1, 0.25],
      [0.25, 1],
    ],
  });
});

test("overlap of .h5ad files: genes, perturbations; DE hits per perturbation", async () => {
  const [genes, perts, hits] = await Promise.all([
    crispyx(["overlap", file, other, "--of", "genes", "--json"]),
    crispyx(["overlap", file, other, "--of", "perturbations", "--metric", "count", "--json"]),
    crispyx(["overlap", de, "--of", "hits", "--json"]),
  ]);
  assert.equal(genes.code, 0, genes.stderr);
  const g = JSON.parse(genes.stdout);
  assert.deepEqual(g.set_sizes, [200, 150]);
  assert.equal(perts.code, 0, perts.stderr);
  const p = JSON.parse(perts.stdout);
  assert.deepEqual(p.set_sizes, [5, 4]);
  assert.equal(p.jaccard, undefined);
  assert.ok(p.count[0][1] >= 1, "both screens have the non-targeting control");
  assert.equal(hits.code, 0, hits.stderr);
  const h = JSON.parse(hits.stdout);
  assert.deepEqual(h.names, ["GENE0", "GENE1", "GENE2", "GENE3"]);
  assert.deepEqual(h.set_sizes, [0, 1, 2, 3]); // the planted hits
});

test("overlap: errors (missing file, a list with --of hits, a single set)", async () => {
  const a = join(tmp.path, "one.txt");
  writeFileSync(a, "x\n");
  const [missing, hitsOfList, single] = await Promise.all([
    crispyx(["overlap", a, join(tmp.path, "nope.txt")]),
    crispyx(["overlap", a, de, "--of", "hits"]),
    crispyx(["overlap", a]),
  ]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^crispyx: error: .*nope\.txt: no such file\n$/);
  assert.equal(hitsOfList.code, 1);
  assert.match(hitsOfList.stderr, /--of hits needs DE result files/);
  assert.equal(single.code, 1);
  assert.match(single.stderr, /^crispyx: error: overlap needs at least two sets; got 1\nhint:/);
});
