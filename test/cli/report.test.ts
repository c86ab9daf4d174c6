import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { crispyx, smallScreen, tempDir } from "./helpers.ts";
import { writeDeFixture, type PlantedDe } from "./deFixture.ts";
import { openH5ad } from "../../src/io/anndata/handle.ts";
import { summarizeDe } from "../../src/report/deSummary.ts";
import { cellMetrics, histogramMedian } from "../../src/report/cellMetrics.ts";

const tmp = tempDir();
let file: string;
let deFile: string;
let planted: PlantedDe;
before(async () => {
  file = await smallScreen(tmp.path);
  deFile = join(tmp.path, "de.h5ad");
  planted = writeDeFixture(deFile);
});
after(() => tmp.cleanup());

test("summarizeDe finds exactly the planted hits, ranks p = 0 first and keeps it on the plot", () => {
  const h = openH5ad(deFile);
  try {
    const d = summarizeDe(h, { alpha: 0.05, topN: 3, maxBackgroundPoints: 50 });
    assert.equal(d.method, "t-test");
    assert.equal(d.controlLabel, "non-targeting");
    d.groups.forEach((g, i) => {
      assert.equal(g.up + g.down, planted.hits[i]!.length, g.group);
      assert.equal(g.down, i > 0 ? 1 : 0);
      if (i > 0) {
        assert.equal(g.top[0]!.gene, planted.genes[planted.hits[i]![0]!]);
        assert.equal(g.top[0]!.padj, 0);
        const p0 = g.points.find((p) => p.gene === g.top[0]!.gene)!;
        const others = Math.max(...g.points.filter((p) => p !== p0).map((p) => p.nlp));
        assert.ok(Number.isFinite(p0.nlp) && p0.nlp > others && p0.nlp > -Math.log10(0.05), `p = 0 drawn at ${p0.nlp}`);
        assert.equal(p0.call, "down");
      }
      // Every hit is drawn; the 300 − hits background genes are thinned to ≤ 50.
      assert.equal(g.points.filter((p) => p.call !== "ns").length, planted.hits[i]!.length);
      assert.ok(g.points.filter((p) => p.call === "ns").length <= 50);
      assert.equal(g.points.length + g.pointsOmitted, 300);
    });
  } finally {
    h.close();
  }
});

test("cellMetrics histograms hold every cell, and the medians agree with the exact ones", async () => {
  const h = openH5ad(file);
  try {
    const m = await cellMetrics(h, { groupColumn: "perturbation", symbolColumn: "gene_symbols", chunkSize: 37 });
    for (const hist of [m.totalCounts, m.genesDetected, m.pctMito]) {
      assert.equal(hist.counts.reduce((a, b) => a + b, 0) + hist.outside, 300);
      assert.equal(hist.outside, 0);
    }
    assert.equal(m.nMitoGenes, 13);
    assert.equal(
      m.cellsPerGroup.reduce((a, g) => a + g.cells, 0),
      300,
    );
    assert.equal(m.cellsPerGroup[0]!.group, "non-targeting");
    // Exact medians, for comparison with the binned ones (within one bin).
    const totals: number[] = [];
    const detected: number[] = [];
    const X = h.X.rows(0, 300, "csr");
    if (X.type !== "csr") throw new Error("csr expected");
    for (let r = 0; r < 300; r++) {
      let t = 0;
      for (let k = Number(X.indptr[r]); k < Number(X.indptr[r + 1]); k++) t += Number(X.data[k]);
      totals.push(t);
      detected.push(Number(X.indptr[r + 1]) - Number(X.indptr[r]));
    }
    const med = (a: number[]) => {
      const s = a.slice().sort((x, y) => x - y);
      return (s[149]! + s[150]!) / 2;
    };
    const logBin = Math.log10(1e7) / 140;
    assert.ok(
      Math.abs(Math.log10(histogramMedian(m.totalCounts)) - Math.log10(med(totals))) < logBin,
      `${histogramMedian(m.totalCounts)} vs ${med(totals)}`,
    );
    assert.ok(
      Math.abs(m.median.n_genes_by_counts - med(detected)) <= 200 / 50,
      `${m.median.n_genes_by_counts} vs ${med(detected)}`,
    );
  } finally {
    h.close();
  }
});

test("crispyx report writes one self-contained HTML file with QC plots, the hits table and volcanoes", async () => {
  const out = join(tmp.path, "r.html");
  const r = await crispyx([
    "report",
    file,
    "--de",
    deFile,
    "-o",
    out,
    "--control",
    "non-targeting",
    "--volcanoes",
    "3",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.output, out);
  assert.deepEqual(
    s.de.map((d: { method: string; withHits: number; groups: number; volcanoes: number }) => [
      d.method,
      d.withHits,
      d.groups,
      d.volcanoes,
    ]),
    [["t-test", 4, 5, 3]],
  );
  assert.match(
    r.stderr,
    /^wrote .*r\.html: \d+ KiB HTML, QC of 300 cells, t-test: 4\/5 perturbations with hits, 3 volcano plots/m,
  );
  const html = readFileSync(out, "utf8");
  assert.match(html, /^<!DOCTYPE html>/);
  // Nothing fetched from anywhere: no scripts, no external links or images.
  assert.doesNotMatch(html, /<script|<link |src="http|href="http/);
  assert.equal((html.match(/<svg /g) ?? []).length, 4 + 3); // 3 histograms + cells per perturbation, 3 volcanoes
  for (const t of [
    "Counts per cell",
    "Genes detected per cell",
    "Mitochondrial share",
    "Cells per perturbation",
    "Differential expression: t-test",
  ])
    assert.ok(html.includes(t), t);
  // The perturbation with most hits comes first, with its strongest gene named.
  assert.match(
    html,
    /<tr><td>GENE4<\/td><td class="num down">1<\/td><td class="num up">3<\/td><td><span class="down">G0040<\/span>/,
  );
  assert.ok(html.indexOf(">GENE4<") < html.indexOf(">GENE3<"));
});

test("crispyx report: bad input fails before any work (missing DE file, unknown column, existing output)", async () => {
  const out = join(tmp.path, "bad.html");
  const [missing, column, notDe] = await Promise.all([
    crispyx(["report", file, "--de", join(tmp.path, "none.h5ad"), "-o", out]),
    crispyx(["report", file, "-p", "perturbaton", "-o", out]),
    crispyx(["report", file, "--de", file, "-o", out]),
  ]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^crispyx: error: .*none\.h5ad: no such file\n$/);
  assert.equal(column.code, 1);
  assert.match(
    column.stderr,
    /^crispyx: error: .*: obs has no column 'perturbaton' \(--perturbation-column\)\nhint: did you mean 'perturbation'\?/,
  );
  assert.equal(notDe.code, 1);
  assert.match(notDe.stderr, /is not a differential-expression result \(no adjusted p-value layer\)/);
  assert.ok(!existsSync(out));
  const again = join(tmp.path, "again.html");
  assert.equal((await crispyx(["report", file, "-o", again])).code, 0);
  const exists = await crispyx(["report", file, "-o", again]);
  assert.equal(exists.code, 1);
  assert.match(exists.stderr, /already exists\nhint: pass --force/);
});

test("summarizeDe without points (the CLI's summary) gives the same counts and top genes as with them, for every topN", () => {
  const h = openH5ad(deFile);
  try {
    for (const topN of [0, 1, 3, 10, 400]) {
      const full = summarizeDe(h, { alpha: 0.05, topN, maxBackgroundPoints: 0 });
      const quick = summarizeDe(h, { alpha: 0.05, topN, maxBackgroundPoints: 0, points: false });
      assert.deepEqual(
        quick.groups.map((g) => [g.group, g.up, g.down, g.top]),
        full.groups.map((g) => [g.group, g.up, g.down, g.top]),
        `topN ${topN}`,
      );
      assert.ok(quick.groups.every((g) => g.points.length === 0));
    }
  } finally {
    h.close();
  }
});

test("summarizeDe reads crispyx de's layout too (log fold changes in X, pvals_adj layer, method 't_test')", () => {
  const path = join(tmp.path, "de-crispyx.h5ad");
  const p = writeDeFixture(path, 4, 120, "t-test", "crispyx");
  const h = openH5ad(path);
  try {
    const d = summarizeDe(h, { topN: 1 });
    assert.equal(d.method, "t-test");
    assert.deepEqual(
      d.groups.map((g) => g.up + g.down),
      p.hits.map((x) => x.length),
    );
    assert.equal(d.groups[3]!.top[0]!.logfc, -3);
  } finally {
    h.close();
  }
});

test("volcanoSpec draws |log2 FC| beyond the cap at the edge, marked as clipped", async () => {
  const { volcanoSpec } = await import("../../src/report/plots.ts");
  const spec = volcanoSpec(
    [
      { gene: "A", logfc: -25, nlp: 5, call: "down" },
      { gene: "B", logfc: 1.5, nlp: 3, call: "up" },
    ],
    { title: "t", pThreshold: 0.05, lfcThreshold: 0 },
  ) as { layer: { data: { values: { gene: string; logfc: number; clipped?: boolean }[] } }[] };
  const pts = spec.layer[1]!.data.values;
  assert.deepEqual(
    pts.map((p) => [p.gene, p.logfc, !!p.clipped]),
    [
      ["A", -8, true],
      ["B", 1.5, false],
    ],
  );
});
