/**
 * A fast sample of the fuzz harness (./run.ts): one damaged file of every category (truncation, bit flips
 * anywhere and in object headers, sparse structure, values, encodings, shapes, columns, categoricals,
 * non-UTF-8 strings, deep uns, legal oddities), each through `validate` and `normalize` as a user runs
 * them. No crash, no hang, nothing silently wrong; every refusal one line naming the file.
 * Needs the reference Python with h5py and anndata (skipped without it outside CI).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { CLI, tempDir } from "../cli/helpers.ts";
import { findPython, SKIP_MESSAGE } from "../helpers/anndataChecker.ts";
import { syntheticScreen } from "../../src/demo/synthetic.ts";
import { writeSyntheticScreen } from "../../src/demo/write.ts";
import { normalizeTotalLog1p } from "../../src/ops/normalize.ts";
import { makeCorpusFrom, runCorpus, table } from "./run.ts";

const python = findPython();

test("fuzz sample: validate and normalize on one damaged file per category: no crash, hang or silent result", {
  skip: python ? false : SKIP_MESSAGE,
  timeout: 600_000,
}, async () => {
  const tmp = tempDir("fuzz-sample-");
  try {
    const demo = join(tmp.path, "demo");
    mkdirSync(demo);
    const counts = join(demo, "demo.h5ad");
    const lognorm = join(demo, "lognorm.h5ad");
    await writeSyntheticScreen(counts, syntheticScreen({ cells: 300, genes: 200, perturbations: 4, seed: 0 }));
    await normalizeTotalLog1p(counts, { output: lognorm });
    const entries = makeCorpusFrom(counts, lognorm, join(tmp.path, "corpus"), 1, python!);
    assert.ok(entries.length >= 12, `${entries.length} files`);
    const commands = ["validate", "normalize"] as const;
    const results = await runCorpus(entries, commands, {
      cli: [CLI],
      outDir: join(tmp.path, "out"),
      jobs: 2,
      timeout: 120,
      python: python!,
    });
    const bad = results.filter(
      (r) =>
        r.verdict === "crash" ||
        r.verdict === "hang" ||
        r.verdict === "silently wrong" ||
        r.verdict === "refused valid",
    );
    assert.deepEqual(
      bad.map((r) => `${r.verdict}: ${r.command} ${r.file}: ${r.message}`),
      [],
      table(results, commands),
    );
  } finally {
    tmp.cleanup();
  }
});
