/**
 * The DE-method registry (src/de/methods/registry.ts): a new method is its declaration and nothing else.
 * A tiny fake method needing raw counts ('mean-difference': score = mean_group − mean_control, one
 * extra column) is registered at run time and goes through rankGenesGroups end to end — input check,
 * statistics pass, its group kernel, fold changes on the counts' scale, the .h5ad (its layer, its stored
 * name), the CSV (its column), reuse of a complete result — with no other file changed. Also: aliases,
 * the error for an unknown name, the CSV header from the column declarations, memory from the declaration.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rankGenesGroups } from "../../src/de/rankGenesGroups.ts";
import { deMethod, deMethodNames, registerDeMethod, type DeMethodSpec } from "../../src/de/methods/registry.ts";
import { SCANPY_COLUMNS, csvHeader } from "../../src/de/methods/columns.ts";
import { CSV_HEADER } from "../../src/de/csvFormat.ts";
import { deResultBytes } from "../../src/de/finishGroups.ts";
import { readH5ad, writeH5ad } from "../../src/io/anndata/anndata.ts";
import { categorical, dataframe, emptyAnnData, ndarray, type Dict, type NdArray } from "../../src/io/anndata/model.ts";
import { InvalidArgumentError } from "../../src/errors.ts";

const work = mkdtempSync(join(tmpdir(), "crispyx-de-registry-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

const LABELS = ["NTC", "A", "B"];
const PER_LABEL = 7;
const GENES = 9;

/** A counts screen (whole numbers; `fraction` adds 0.5 to one value to make it not counts). */
function countsScreen(path: string, fraction = false): Float32Array {
  const n = LABELS.length * PER_LABEL;
  const X = new Float32Array(n * GENES);
  let s = 777;
  for (let i = 0; i < X.length; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const label = Math.floor(i / GENES) % LABELS.length;
    X[i] = s % 4 === 0 ? 0 : (s % 7) + label * ((i % GENES) % 3);
  }
  if (fraction) X[2 * GENES + 4] = 2.5;
  const ad = emptyAnnData(n, GENES);
  ad.X = ndarray(X, [n, GENES]);
  ad.obs = dataframe(
    Array.from({ length: n }, (_, i) => `c${i}`),
    {
      perturbation: categorical(Array.from({ length: n }, (_, i) => LABELS[i % LABELS.length]!)),
    },
  );
  ad.var = dataframe(Array.from({ length: GENES }, (_, j) => `g${j}`));
  writeH5ad(path, ad);
  return X;
}

/** The fake method: its whole declaration (what a new method's module holds). */
const meanDifference: DeMethodSpec = {
  name: "mean-difference",
  aliases: ["meandiff"],
  storedName: "mean_difference",
  label: "mean difference",
  help: "one pass over X",
  input: "counts",
  passes: { statistics: { squares: false }, columns: false },
  kernels: async () => ({
    groupScores: (stats, sizes, slot, r, offset) => {
      const n = stats.nGenes;
      for (let j = 0; j < n; j++) {
        const mg = stats.sums[slot * n + j]! / sizes[slot]!;
        const mc = stats.sums[j]! / sizes[0]!;
        r.scores[offset + j] = mg - mc;
        r.pvals[offset + j] = Math.exp(-Math.abs(mg - mc));
        r.extra!.mean_group![offset + j] = mg;
      }
    },
  }),
  parallelOver: "groups",
  extraColumns: [{ key: "mean_group", csv: "mean_group", description: "the group's mean count" }],
  params: () => ({ fake: true }),
};

test("a method registered at run time (counts, one extra column) runs through rankGenesGroups end to end", async () => {
  const input = join(work, "counts.h5ad");
  const X = countsScreen(input);
  const unregister = registerDeMethod(meanDifference);
  try {
    assert.ok(deMethodNames().includes("mean-difference"));
    for (const workers of [1, 2]) {
      const output = join(work, `md_${workers}.h5ad`);
      const r = await rankGenesGroups(input, {
        perturbationColumn: "perturbation",
        controlLabel: "NTC",
        method: "meandiff",
        workers,
        output,
      });
      assert.equal(r.method, "mean-difference");
      assert.deepEqual(r.groups, ["A", "B"]);
      const a = readH5ad(output);
      assert.equal((a.uns.method as { value: unknown }).value, "mean_difference");
      const params = ((a.uns.rank_genes_groups as Dict).items.params as Dict).items;
      assert.equal((params.method as { value: unknown }).value, "mean-difference");
      assert.equal((params.fake as { value: unknown }).value, true);
      const mean = (label: number, j: number) => {
        let sum = 0;
        for (let c = label; c < X.length / GENES; c += LABELS.length) sum += X[c * GENES + j]!;
        return sum / PER_LABEL;
      };
      const scores = (a.layers.scores as NdArray).data as Float64Array;
      const extra = (a.layers.mean_group as NdArray).data as Float64Array;
      const lfc = (a.X as NdArray).data as Float32Array;
      for (let g = 0; g < 2; g++) {
        for (let j = 0; j < GENES; j++) {
          const mg = mean(g + 1, j),
            mc = mean(0, j);
          assert.ok(Math.abs(scores[g * GENES + j]! - (mg - mc)) < 1e-12, `score ${g},${j}`);
          assert.ok(Math.abs(extra[g * GENES + j]! - mg) < 1e-12, `mean_group ${g},${j}`);
          // Counts: fold changes on the counts' own scale, no expm1.
          assert.equal(lfc[g * GENES + j], Math.fround(Math.log2((mg + 1e-9) / (mc + 1e-9))), `lfc ${g},${j}`);
        }
      }
      const csv = readFileSync(r.csvPath!, "utf8").split("\n");
      assert.equal(csv[0], "perturbation,gene,score,pvalue,pvalue_adj,logfoldchange,pct_group,pct_control,mean_group");
      assert.equal(csv.length, 1 + 2 * GENES + 1);
      const row = csv[1]!.split(",");
      const j = Number(row[1]!.slice(1));
      assert.ok(
        Math.abs(Number(row[8]) - mean(1, j)) < 1e-6 * Math.max(1, mean(1, j)),
        "the extra column's value in the CSV",
      );
      // A complete result of this method is reused.
      const again = await rankGenesGroups(input, {
        perturbationColumn: "perturbation",
        controlLabel: "NTC",
        method: "mean-difference",
        workers,
        output,
      });
      assert.equal(again.reused, true);
    }
    // Its input check: values that are not counts are refused, naming the first cell and gene.
    const notCounts = join(work, "not_counts.h5ad");
    countsScreen(notCounts, true);
    await assert.rejects(
      rankGenesGroups(notCounts, {
        perturbationColumn: "perturbation",
        controlLabel: "NTC",
        method: "mean-difference",
        workers: 1,
        output: join(work, "nc.h5ad"),
      }),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /2\.5 at cell 2, gene 4 .*expects raw counts/.test(e.message),
    );
    // The log-normalised methods still refuse the same counts.
    await assert.rejects(
      rankGenesGroups(input, {
        perturbationColumn: "perturbation",
        controlLabel: "NTC",
        method: "t-test",
        workers: 1,
        output: join(work, "tt.h5ad"),
      }),
      /look like raw counts; DE expects log-normalised data/,
    );
    // Names are unique.
    assert.throws(() => registerDeMethod({ ...meanDifference, aliases: [] }), /already taken/);
  } finally {
    unregister();
  }
  assert.ok(!deMethodNames().includes("mean-difference"));
});

test("a run-time method with its own pass over X and its own fold changes", async () => {
  const input = join(work, "counts2.h5ad");
  countsScreen(input);
  const ownPass: DeMethodSpec = {
    ...meanDifference,
    name: "own-pass",
    aliases: [],
    storedName: "own_pass",
    extraColumns: [],
    ownFoldChanges: true,
    passes: { statistics: { squares: false }, columns: true },
    kernels: async () => ({
      columnPass: async (ctx) => {
        assert.equal(ctx.pool, null, "a run-time method's pass runs on the calling thread");
        ctx.out.scores.fill(1);
        ctx.out.pvals.fill(0.5);
        ctx.results.logfoldchanges.fill(7);
      },
    }),
  };
  const unregister = registerDeMethod(ownPass);
  try {
    const output = join(work, "own.h5ad");
    await rankGenesGroups(input, {
      perturbationColumn: "perturbation",
      controlLabel: "NTC",
      method: "own-pass",
      workers: 2,
      output,
    });
    const a = readH5ad(output);
    assert.ok(
      ((a.X as NdArray).data as Float32Array).every((v) => v === 7),
      "its fold changes are kept",
    );
    assert.ok(
      ((a.layers.pvals_adj as NdArray).data as Float64Array).every((v) => v === 0.5),
      "BH over its p-values",
    );
  } finally {
    unregister();
  }
});

test("registry: today's names and aliases; an unknown name lists the choices", () => {
  assert.deepEqual(deMethodNames(), ["t-test", "wilcoxon", "nb-glm", "pseudobulk-nb"]);
  assert.equal(deMethod("nb_glm").name, "nb-glm");
  assert.equal(deMethod("t_test").name, "t-test");
  assert.equal(deMethod("wilcoxon").storedName, "wilcoxon");
  assert.throws(
    () => deMethod("deseq"),
    (e: unknown) => e instanceof InvalidArgumentError && /unknown DE method 'deseq'/.test(e.message),
  );
});

test("columns: the CSV header is the declarations' (Scanpy's, then a method's extras); memory counts the extras", () => {
  assert.equal(CSV_HEADER, "perturbation,gene,score,pvalue,pvalue_adj,logfoldchange,pct_group,pct_control\n");
  assert.equal(csvHeader(meanDifference.extraColumns), CSV_HEADER.trimEnd() + ",mean_group\n");
  assert.deepEqual(
    SCANPY_COLUMNS.filter((c) => c.ranked).map((c) => c.key),
    ["scores", "pvals", "pvals_adj", "logfoldchanges"],
  );
  const G = 5,
    n = 11;
  assert.equal(deResultBytes(G, n, meanDifference) - deResultBytes(G, n, "wilcoxon"), G * n * 8);
});
