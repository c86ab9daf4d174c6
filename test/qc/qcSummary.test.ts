// qcSummary: the same kept cells, genes and perturbations as the seed's quality_control_summary on
// synthetic screens (CSR with explicit zeros, dense, CSC), Scanpy metrics within 1e-6, X equal to the
// seed's output; summary in uns and JSON; reuse/force; adaptive thresholds; bad input refused before
// any output; abort and SIGKILL leave nothing under the output name and the input unchanged.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { qcSummary, qcSummaryPath, type QcOptions } from "../../src/qc/qcSummary.ts";
import { calculateAdaptiveQcThresholds } from "../../src/helpers/adaptiveQc.ts";
import { readH5ad, writeH5ad } from "../../src/io/anndata/anndata.ts";
import { categoricalValues } from "../../src/io/anndata/encodings/categorical.ts";
import {
  categorical,
  dataframe,
  emptyAnnData,
  ndarray,
  type Categorical,
  type NdArray,
} from "../../src/io/anndata/model.ts";
import { toLayout, type Block } from "../../src/core/sparse.ts";
import { InvalidArgumentError } from "../../src/errors.ts";
import { checkH5adMany, skipWithoutAnndata } from "../helpers/anndataChecker.ts";
import { ROOT, sha256 } from "../ops/opsTestHelpers.ts";

const FIX = JSON.parse(readFileSync(join(ROOT, "test/fixtures/qc/cases.json"), "utf8"));
const dir = mkdtempSync(join(tmpdir(), "crispyx-qc-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const outputs: string[] = [];

function optionsFor(args: Record<string, unknown>): Omit<QcOptions, "output"> {
  return {
    perturbationColumn: "perturbation",
    minGenes: args.min_genes as number,
    minCellsPerPerturbation: args.min_cells_per_perturbation as number,
    minCellsPerGene: args.min_cells_per_gene as number,
    controlLabel: (args.control_label as string | undefined) ?? undefined,
  };
}

function close(a: number, b: number | null, rtol = 1e-6): boolean {
  if (b === null) return Number.isNaN(a);
  return Math.abs(a - b) <= rtol * Math.max(Math.abs(a), Math.abs(b)) || a === b;
}

function denseX(path: string): { shape: number[]; values: number[] } {
  const x = readH5ad(path).X as Block;
  const d = toLayout(x, "dense") as NdArray;
  return { shape: d.shape, values: Array.from(d.data as ArrayLike<number>, Number) };
}

function obsStrings(path: string, column: string): string[] {
  const c = readH5ad(path).obs.columns[column]!;
  return c.type === "categorical"
    ? (categoricalValues(c as Categorical) as string[])
    : Array.from((c as NdArray).data as ArrayLike<string>, String);
}

for (const c of FIX.cases as any[]) {
  for (const [label, stream] of [
    ["auto", {}],
    ["chunk 7", { chunkSize: 7 }],
    ["budget 4 KiB", { memoryBudget: 4096 }],
  ] as const) {
    test(`${c.name} (${label}): same cells, genes, perturbations, metrics and X as the seed`, async () => {
      const input = join(ROOT, c.input);
      const before = sha256(input);
      const output = join(dir, `${c.name}_${label.replace(/ /g, "_")}.h5ad`);
      const r = await qcSummary(input, { ...optionsFor(c.args), output, ...stream });
      const e = c.expected;
      assert.equal(sha256(input), before, "input unchanged");
      assert.equal(r.controlLabel, e.control_label);
      const out = readH5ad(output);
      assert.deepEqual(out.obs.index, e.kept_cells, "kept cells");
      assert.deepEqual(out.var.index, e.kept_genes, "kept genes");
      assert.deepEqual(
        [...new Set(obsStrings(output, "perturbation"))].sort(),
        e.kept_perturbations,
        "perturbations in the output",
      );
      assert.deepEqual(
        r.perturbations
          .filter((p) => p.kept && p.cellsPassingMinGenes > 0)
          .map((p) => p.label)
          .sort(),
        e.kept_perturbations,
        "kept perturbations",
      );
      assert.equal(r.counts.cells.kept, e.n_cells_kept);
      assert.equal(r.counts.genes.kept, e.n_genes_kept);
      assert.equal(
        r.counts.cells.input - r.counts.cells.kept,
        r.counts.cells.droppedMinGenes + r.counts.cells.droppedSmallPerturbation,
      );
      const a = r.arrays!;
      assert.deepEqual(
        Array.from(a.metrics.detectedGenes),
        e.cell_gene_counts,
        "genes per cell (seed's cell_gene_counts)",
      );
      const keptGenes = new Set(e.kept_genes);
      const inVar = readH5ad(input).var.index;
      inVar.forEach((g, j) => {
        assert.equal(a.geneMask[j], keptGenes.has(g) ? 1 : 0, `gene mask ${g}`);
        if (keptGenes.has(g)) assert.equal(a.cellsPerGene[j], e.gene_cell_counts[j], `cells per gene ${g}`);
      });
      for (const [name, ours] of [
        ["total_counts", a.metrics.totalCounts],
        ["n_genes_by_counts", a.metrics.nGenesByCounts],
        ["pct_counts_mt", a.metrics.pctCountsMt],
      ] as const) {
        const want = e.metrics[name] as (number | null)[];
        const bad = want.findIndex((w, i) => !close(ours[i]!, w));
        assert.equal(bad, -1, `${name}[${bad}]: ${ours[bad]} vs ${want[bad]}`);
      }
      // The output's obs metrics are the kept cells' values.
      const keptIdx = Array.from(a.cellMask).flatMap((k, i) => (k ? [i] : []));
      for (const name of ["total_counts", "n_genes_by_counts", "pct_counts_mt"]) {
        const col = out.obs.columns[name] as NdArray;
        assert.ok(col, `obs['${name}'] written`);
        const want = keptIdx.map((i) => e.metrics[name][i]);
        assert.ok(
          Array.from(col.data as ArrayLike<number>, Number).every((v, k) => close(v, want[k])),
          name,
        );
      }
      // X and the carried-over columns equal the seed's output (X compared as values: the seed keeps dense dense).
      const seedOut = join(ROOT, c.seed_output);
      const [xo, xs] = [denseX(output), denseX(seedOut)];
      assert.deepEqual(xo.shape, xs.shape.length ? xs.shape : xo.shape);
      assert.deepEqual(xo.values, xs.values, "X values");
      assert.deepEqual(obsStrings(output, "batch"), obsStrings(seedOut, "batch"));
      const seed = readH5ad(seedOut);
      assert.deepEqual(
        Array.from((out.var.columns.gene_symbols as NdArray).data as string[]),
        Array.from((seed.var.columns.gene_symbols as NdArray).data as string[]),
      );
      const pert = out.obs.columns.perturbation as Categorical;
      assert.deepEqual(
        pert.categories.data,
        (seed.obs.columns.perturbation as Categorical).categories.data,
        "unused categories dropped as the seed",
      );
      // Summary in uns and beside the output.
      const uns = out.uns.qc_summary as any;
      assert.equal(uns.type, "dict");
      assert.equal(Number(uns.items.n_cells_kept.value), e.n_cells_kept);
      assert.equal(Number(uns.items.min_genes.value), c.args.min_genes);
      const json = JSON.parse(readFileSync(qcSummaryPath(output), "utf8"));
      assert.equal(json.counts.cells.kept, e.n_cells_kept);
      assert.equal(r.summaryFile, qcSummaryPath(output));
      outputs.push(output);
    });
  }
}

test("outputs open in Python anndata with the metric columns and the summary", skipWithoutAnndata(), () => {
  assert.ok(outputs.length > 0);
  for (const { file, result, error } of checkH5adMany(outputs)) {
    assert.equal(error, undefined, `${file}: ${error}`);
    assert.equal(result.obs.columns.total_counts, "float64", file);
    assert.equal(result.obs.columns.n_genes_by_counts, "int32", file);
    assert.equal(result.obs.columns.pct_counts_mt, "float64", file);
    assert.ok(result.uns.qc_summary, file);
  }
});

test("everything filtered: a valid empty file", async () => {
  const out = outputs.find((p) => p.includes("everything_filtered"))!;
  const a = readH5ad(out);
  assert.deepEqual((a.X as Block).shape, [0, 0]);
  assert.deepEqual(a.obs.index, []);
});

test("default output name follows resolveOutputPath; the result is reused unless force or settings change", async () => {
  const input = join(dir, "reuse_in.h5ad");
  copyFileSync(join(ROOT, "test/fixtures/qc/screen_csr.h5ad"), input);
  const outDir = join(dir, "reuse_out");
  const opts = {
    perturbationColumn: "perturbation",
    minGenes: 10,
    minCellsPerPerturbation: 5,
    minCellsPerGene: 5,
    outputDir: outDir,
    dataName: "screen",
  };
  const r1 = await qcSummary(input, opts);
  assert.equal(r1.output, join(outDir, "crispyx_screen_filtered.h5ad"));
  assert.equal(r1.summaryFile, join(outDir, "crispyx_screen_filtered_qc_summary.json"));
  assert.equal(r1.reused, false);
  const mtime = statSync(r1.output!).mtimeMs;
  const r2 = await qcSummary(input, opts);
  assert.equal(r2.reused, true);
  assert.equal(r2.arrays, undefined);
  assert.deepEqual(r2.counts, r1.counts);
  assert.deepEqual(r2.thresholds, r1.thresholds);
  assert.equal(statSync(r1.output!).mtimeMs, mtime, "not rewritten");
  const r3 = await qcSummary(input, { ...opts, force: true });
  assert.equal(r3.reused, false);
  const r4 = await qcSummary(input, { ...opts, minGenes: 12 });
  assert.equal(r4.reused, false, "new thresholds recompute");
  assert.equal(Number((readH5ad(r4.output!).uns.qc_summary as any).items.min_genes.value), 12);
  assert.deepEqual(readdirSync(outDir).sort(), [
    "crispyx_screen_filtered.h5ad",
    "crispyx_screen_filtered_qc_summary.json",
  ]);
});

test("dry run: masks and counts, no files", async () => {
  const outDir = join(dir, "dry");
  const r = await qcSummary(join(ROOT, "test/fixtures/qc/screen_csr.h5ad"), {
    perturbationColumn: "perturbation",
    minGenes: 10,
    minCellsPerPerturbation: 5,
    minCellsPerGene: 5,
    outputDir: outDir,
    dryRun: true,
  });
  assert.equal(r.output, null);
  assert.equal(r.counts.cells.kept, FIX.cases[0].expected.n_cells_kept);
  assert.equal(existsSync(outDir), false);
});

test("adaptive thresholds come from calculateAdaptiveQcThresholds; explicit ones win", async () => {
  const input = join(ROOT, "test/fixtures/qc/screen_dense.h5ad");
  const want = calculateAdaptiveQcThresholds(input, "perturbation", { mode: "aggressive" });
  const r = await qcSummary(input, { perturbationColumn: "perturbation", adaptive: "aggressive", dryRun: true });
  assert.equal(r.thresholds.source, "aggressive");
  assert.deepEqual(
    [r.thresholds.minGenes, r.thresholds.minCellsPerPerturbation, r.thresholds.minCellsPerGene],
    [want.minGenes, want.minCellsPerPerturbation, want.minCellsPerGene],
  );
  const r2 = await qcSummary(input, { perturbationColumn: "perturbation", adaptive: true, minGenes: 3, dryRun: true });
  assert.equal(r2.thresholds.minGenes, 3);
  assert.equal(r2.thresholds.minCellsPerGene, calculateAdaptiveQcThresholds(input, "perturbation").minCellsPerGene);
});

test("a perturbation with one cell is dropped at min 2 and kept at min 1; the control never", async () => {
  const input = join(ROOT, "test/fixtures/qc/screen_csr.h5ad");
  const base = { perturbationColumn: "perturbation", minGenes: 0, minCellsPerGene: 0, dryRun: true };
  const r2 = await qcSummary(input, { ...base, minCellsPerPerturbation: 2 });
  const single = (r: typeof r2) => r.perturbations.find((p) => p.label === "KO_SINGLE")!;
  assert.equal(single(r2).kept, false);
  assert.ok(r2.counts.perturbations.dropped.includes("KO_SINGLE"));
  assert.equal(
    (await qcSummary(input, { ...base, minCellsPerPerturbation: 1 })).perturbations.find(
      (p) => p.label === "KO_SINGLE",
    )!.kept,
    true,
  );
  const huge = await qcSummary(input, { ...base, minCellsPerPerturbation: 1000 });
  assert.deepEqual(
    huge.perturbations.filter((p) => p.kept).map((p) => p.label),
    ["non-targeting"],
  );
  assert.equal(huge.counts.cells.kept, 40);
});

// ---- bad input ------------------------------------------------------------------------------------

function tinyScreen(path: string, values: number[], dense = false): void {
  const a = emptyAnnData(2, 3);
  a.obs = dataframe(["c0", "c1"], { perturbation: categorical(["control", "KO"]) });
  a.var = dataframe(["G1", "G2", "MT-X"]);
  const d = ndarray(Float32Array.from(values), [2, 3]);
  a.X = dense ? d : toLayout(d, "csr");
  writeH5ad(path, a);
}

test("negative, NaN or infinite counts: one error naming the file and cell, nothing written", async () => {
  for (const [label, values, dense] of [
    ["neg", [1, -2, 0, 0, 3, 1], false],
    ["nan", [1, 0, 0, NaN, 3, 1], true],
    ["inf", [1, 0, Infinity, 0, 3, 1], false],
  ] as const) {
    const input = join(dir, `bad_${label}.h5ad`);
    tinyScreen(input, [...values], dense);
    const outDir = join(dir, `bad_${label}_out`);
    await assert.rejects(
      qcSummary(input, { perturbationColumn: "perturbation", minGenes: 0, outputDir: outDir }),
      (err: Error) => {
        assert.ok(err instanceof InvalidArgumentError);
        assert.ok(err.message.includes(input), err.message);
        assert.match(
          err.message,
          label === "neg"
            ? /negative value \(-2\) at cell 0 \('c0'\)/
            : label === "nan"
              ? /NaN at cell 1 \('c1'\)/
              : /infinite/,
        );
        return true;
      },
    );
    assert.equal(existsSync(outDir), false, "no output folder");
  }
});

test("missing column lists the available ones; unknown control label; bad thresholds; output = input", async () => {
  const input = join(ROOT, "test/fixtures/qc/screen_csr.h5ad");
  await assert.rejects(qcSummary(input, { perturbationColumn: "guide", dryRun: true }), (err: InvalidArgumentError) => {
    assert.match(err.message, /obs has no column 'guide'/);
    assert.match(err.hint ?? "", /perturbation, batch, umis_raw/);
    assert.ok(err.message.includes(input));
    return true;
  });
  await assert.rejects(
    qcSummary(input, { perturbationColumn: "perturbation", controlLabel: "NTC", dryRun: true }),
    /control label 'NTC' does not occur/,
  );
  await assert.rejects(
    qcSummary(input, { perturbationColumn: "perturbation", controlLabel: null, minGenes: -1, dryRun: true }),
    /minGenes must be a non-negative integer/,
  );
  await assert.rejects(
    qcSummary(input, { perturbationColumn: "perturbation", minCellsPerGene: 1.5, dryRun: true }),
    /minCellsPerGene/,
  );
  await assert.rejects(
    qcSummary(input, { perturbationColumn: "perturbation", adaptive: "wild" as never, dryRun: true }),
    /adaptive must be/,
  );
  const copy = join(dir, "self.h5ad");
  copyFileSync(input, copy);
  await assert.rejects(qcSummary(copy, { perturbationColumn: "perturbation", output: copy }), /is the input file/);
  await assert.rejects(qcSummary(join(dir, "missing.h5ad"), { perturbationColumn: "perturbation" }), /not found/);
  // Labels without anything that looks like a control cannot be inferred.
  const noCtrl = join(dir, "noctrl.h5ad");
  const a = emptyAnnData(2, 3);
  a.obs = dataframe(["c0", "c1"], { perturbation: categorical(["KO_A", "KO_B"]) });
  a.var = dataframe(["G1", "G2", "G3"]);
  a.X = toLayout(ndarray(Float32Array.from([1, 2, 0, 0, 3, 1]), [2, 3]), "csr");
  writeH5ad(noCtrl, a);
  await assert.rejects(
    qcSummary(noCtrl, { perturbationColumn: "perturbation", dryRun: true }),
    /cannot infer the control label/,
  );
});

// ---- atomic output ----------------------------------------------------------------------------------

test("abort mid-way: no output, no summary, no temporary files, input unchanged", async () => {
  const input = join(ROOT, "test/fixtures/qc/screen_csr.h5ad");
  const before = sha256(input);
  for (const stopAt of ["QC metrics", "writing subset", "writing QC metrics"]) {
    const outDir = join(dir, `abort_${stopAt.replace(/ /g, "_")}`);
    mkdirSync(outDir);
    const ac = new AbortController();
    await assert.rejects(
      qcSummary(input, {
        perturbationColumn: "perturbation",
        minGenes: 10,
        minCellsPerPerturbation: 5,
        minCellsPerGene: 5,
        outputDir: outDir,
        chunkSize: 10,
        signal: ac.signal,
        onProgress: (p) => {
          if (p.phase === stopAt) ac.abort(new Error("stop"));
        },
      }),
      /stop/,
    );
    assert.deepEqual(readdirSync(outDir), [], stopAt);
  }
  assert.equal(sha256(input), before);
});

test("SIGKILL mid-way leaves nothing under the output name", async () => {
  const input = join(ROOT, "test/fixtures/qc/screen_dense.h5ad");
  const outDir = join(dir, "killed");
  const opts = {
    perturbationColumn: "perturbation",
    minGenes: 0,
    minCellsPerPerturbation: 1,
    minCellsPerGene: 0,
    outputDir: outDir,
    chunkSize: 1,
  };
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", join(ROOT, "bin/register.mjs"), join(ROOT, "test/qc/runQc.ts"), input, JSON.stringify(opts)],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let seen = 0,
      err = "";
    child.stderr.on("data", (d) => (err += d));
    child.stdout.on("data", (d: Buffer) => {
      seen += d.toString().split("progress").length - 1;
      if (seen > 250) child.kill("SIGKILL"); // past the metric pass (194 cells), inside the subset write
    });
    child.on("exit", (_code, signal) =>
      signal === "SIGKILL" ? resolve() : reject(new Error(`child was not killed: ${err}`)),
    );
  });
  const left = existsSync(outDir) ? readdirSync(outDir) : [];
  assert.ok(
    !left.includes("crispyx_filtered.h5ad") && !left.includes("crispyx_filtered_qc_summary.json"),
    left.join(", "),
  );
  // A rerun completes and does not trip over the leftovers.
  const r = await qcSummary(input, opts);
  assert.equal(r.reused, false);
  assert.equal(r.counts.cells.kept, 194);
});

test("genes are counted over the kept cells, whether the cells dropped with their perturbation are subtracted or the kept recounted", async () => {
  const input = join(ROOT, "test/fixtures/qc/screen_dense.h5ad");
  const x = denseX(input);
  const [nObs, nVars] = x.shape as [number, number];
  const branches = new Set<string>();
  for (const [minGenes, minCellsPerPerturbation] of [
    [0, 3],
    [14, 3],
    [17, 20],
    [19, 3],
    [10, 30],
    [22, 8],
  ]) {
    const r = await qcSummary(input, {
      perturbationColumn: "perturbation",
      minGenes,
      minCellsPerPerturbation,
      minCellsPerGene: 7,
      dryRun: true,
      chunkSize: 13,
    });
    const keep = r.arrays!.cellMask;
    const want = new Float64Array(nVars);
    for (let i = 0; i < nObs; i++)
      if (keep[i]) for (let j = 0; j < nVars; j++) if (x.values[i * nVars + j] !== 0) want[j]!++;
    assert.deepEqual(
      Array.from(r.arrays!.cellsPerGene),
      Array.from(want),
      `minGenes ${minGenes}, min cells per perturbation ${minCellsPerPerturbation}`,
    );
    assert.deepEqual(
      Array.from(r.arrays!.geneMask),
      Array.from(want, (c) => (c >= 7 ? 1 : 0)),
    );
    branches.add(r.counts.cells.droppedSmallPerturbation <= r.counts.cells.kept ? "subtract" : "recount");
  }
  assert.deepEqual([...branches].sort(), ["recount", "subtract"], "both branches exercised");
});

test("a string (non-categorical) perturbation column and a gene-symbol column other than var_names", async () => {
  const input = join(dir, "strings.h5ad");
  const a = emptyAnnData(4, 3);
  a.obs = dataframe(["c0", "c1", "c2", "c3"], {
    guide: { type: "array", dtype: "string", shape: [4], data: ["ctrl", "KO", "KO", "ctrl"] } as NdArray,
  });
  a.var = dataframe(["ID1", "ID2", "ID3"], {
    symbol: { type: "array", dtype: "string", shape: [3], data: ["ACTB", "mt-Co1", "GAPDH"] } as NdArray,
  });
  a.X = toLayout(ndarray(Float32Array.from([1, 3, 0, 0, 2, 2, 4, 0, 1, 0, 0, 0]), [4, 3]), "csr");
  writeH5ad(input, a);
  const output = join(dir, "strings_out.h5ad");
  const r = await qcSummary(input, {
    perturbationColumn: "guide",
    geneNameColumn: "symbol",
    minGenes: 1,
    minCellsPerPerturbation: 1,
    minCellsPerGene: 1,
    output,
  });
  assert.equal(r.controlLabel, "ctrl");
  assert.equal(r.counts.genes.mitochondrial, 1);
  assert.deepEqual(Array.from(r.arrays!.metrics.pctCountsMt), [75, 50, 0, NaN]);
  assert.deepEqual(r.counts.cells, { input: 4, kept: 3, droppedMinGenes: 1, droppedSmallPerturbation: 0 });
  const out = readH5ad(output);
  assert.deepEqual(Array.from((out.var.columns.gene_symbols as NdArray).data as string[]), ["ACTB", "mt-Co1", "GAPDH"]);
  await assert.rejects(qcSummary(input, { perturbationColumn: "guide", geneNameColumn: "nope", dryRun: true }), /nope/);
});

test("QC of a file that already has the metric columns replaces them (no duplicates); integer counts work", async () => {
  const first = outputs.find((p) => p.includes("csr_given"))!;
  const output = join(dir, "second_pass.h5ad");
  const r = await qcSummary(first, {
    perturbationColumn: "perturbation",
    minGenes: 12,
    minCellsPerPerturbation: 5,
    minCellsPerGene: 5,
    output,
  });
  const out = readH5ad(output);
  const order = out.obs.columnOrder;
  assert.equal(order.filter((c) => c === "total_counts").length, 1);
  assert.deepEqual(order.slice(-3), ["n_genes_by_counts", "total_counts", "pct_counts_mt"]);
  assert.equal((out.obs.columns.n_genes_by_counts as NdArray).data.length, r.counts.cells.kept);
  assert.ok(r.counts.cells.kept < FIX.cases[0].expected.n_cells_kept);

  const ints = join(dir, "ints.h5ad");
  const a = emptyAnnData(3, 2);
  a.obs = dataframe(["c0", "c1", "c2"], { perturbation: categorical(["control", "KO", "KO"]) });
  a.var = dataframe(["G1", "MT-A"]);
  a.X = toLayout(ndarray(Int32Array.from([5, 5, 0, 2, 7, 0]), [3, 2]), "csr");
  writeH5ad(ints, a);
  const ri = await qcSummary(ints, {
    perturbationColumn: "perturbation",
    minGenes: 1,
    minCellsPerPerturbation: 1,
    minCellsPerGene: 1,
    output: join(dir, "ints_out.h5ad"),
  });
  assert.deepEqual(Array.from(ri.arrays!.metrics.totalCounts), [10, 2, 7]);
  assert.deepEqual(Array.from(ri.arrays!.metrics.pctCountsMt), [50, 100, 0]);
  assert.deepEqual(denseX(ri.output!).values, [5, 5, 0, 2, 7, 0]);
});
