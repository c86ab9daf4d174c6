/**
 * A self-contained HTML report of a screen: QC histograms from one streaming pass over X and, for each
 * differential-expression result, a table of hits per perturbation and volcano plots. Plots are
 * inline SVG and styles inline CSS: the file opens anywhere, offline, and can be mailed or archived.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import type { StreamOptions } from "../core/streaming.ts";
import { openH5ad } from "../io/anndata/handle.ts";
import { writeAtomically } from "../io/atomic.ts";
import { cellMetrics, type CellMetrics } from "./cellMetrics.ts";
import { summarizeDe, type DeSummary, type DeSummaryOptions, type GroupSummary } from "./deSummary.ts";
import { barSpec, histogramSpec, renderSvg, volcanoSpec } from "./plots.ts";

export interface ReportOptions extends DeSummaryOptions {
  /** The screen (.h5ad with counts) for the QC section. */
  data?: string;
  /** DE result files (from `crispyx de`), one section each. */
  de?: string[];
  /** obs column with perturbation labels (cells per perturbation plot). */
  perturbationColumn?: string;
  /** var column with gene symbols (finds MT- genes when var_names are Ensembl IDs). */
  symbolColumn?: string;
  /** Control label, shown greyed in the cells-per-perturbation plot. */
  controlLabel?: string;
  /** Volcano plots per DE file (perturbations with most hits first; default 12). */
  volcanoes?: number;
  title?: string;
  stream?: StreamOptions;
}

export interface ReportSummary {
  output: string;
  bytes: number;
  qc: CellMetrics | null;
  de: { path: string; method: string; groups: number; withHits: number; volcanoes: number }[];
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const int = new Intl.NumberFormat("en-US");
const fmtP = (p: number) => (p === 0 ? "0" : p < 1e-3 ? p.toExponential(1) : p.toPrecision(2));
const fmtLfc = (x: number) => (x > 0 ? "+" : "") + x.toFixed(2);

const CSS = `
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;color:#222;line-height:1.4;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}.muted{color:#666;font-size:13px}
.grid{display:flex;flex-wrap:wrap;gap:12px 20px;align-items:flex-start}.grid figure{margin:0}
figure figcaption{font-size:12px;color:#555;max-width:320px}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
th{background:#f6f6f6;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.up{color:#b2182b}.down{color:#2166ac}.card{border:1px solid #e4e4e4;border-radius:6px;padding:8px 10px}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:13px}dl.facts dt{color:#666}dl.facts dd{margin:0}
`;

function qcSection(m: CellMetrics, svgs: string[], dataPath: string): string {
  const zeroCells = m.totalCounts.counts[0]!;
  return `<h2>Quality control</h2>
<p class="muted">${esc(basename(dataPath))}: ${int.format(m.nCells)} cells × ${int.format(m.nGenes)} genes; ${m.nMitoGenes} mitochondrial genes (MT-).
Medians (from the histograms): ${int.format(Math.round(m.median.total_counts))} counts, ${int.format(Math.round(m.median.n_genes_by_counts))} genes detected,
${m.median.pct_counts_mt.toFixed(1)}% mitochondrial per cell.${zeroCells ? ` ${int.format(zeroCells)} cells have no counts (not on the log axis).` : ""}</p>
<div class="grid">${svgs.map((s) => `<figure>${s}</figure>`).join("\n")}</div>`;
}

function hitsTable(d: DeSummary): string {
  const rows = d.groups
    .slice()
    .sort((a, b) => b.up + b.down - (a.up + a.down) || (a.group < b.group ? -1 : 1))
    .map(
      (g) =>
        `<tr><td>${esc(g.group)}</td><td class="num down">${int.format(g.down)}</td><td class="num up">${int.format(g.up)}</td><td>${g.top
          .slice(0, 5)
          .map((t) => `<span class="${t.logfc > 0 ? "up" : "down"}">${geneName(t.gene, g.group)}</span>`)
          .join(", ")}</td></tr>`,
    )
    .join("\n");
  return `<table><thead><tr><th>perturbation</th><th>genes down</th><th>genes up</th><th>top genes (smallest adjusted p)</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

/** A gene name; bold when it is the perturbation's own target (screens name perturbations by target). */
function geneName(gene: string, group: string): string {
  return gene === group ? `<b>${esc(gene)}</b>` : esc(gene);
}

function topTable(g: GroupSummary): string {
  return `<table><thead><tr><th>gene</th><th>log2 FC</th><th>adj. p</th></tr></thead><tbody>${g.top
    .map(
      (t) =>
        `<tr><td>${geneName(t.gene, g.group)}</td><td class="num ${t.logfc > 0 ? "up" : "down"}">${fmtLfc(t.logfc)}</td><td class="num">${fmtP(t.padj)}</td></tr>`,
    )
    .join("")}</tbody></table>`;
}

async function deSection(d: DeSummary, nVolcanoes: number): Promise<{ html: string; volcanoes: number }> {
  const withHits = d.groups.filter((g) => g.up + g.down > 0).length;
  const chosen = d.groups
    .slice()
    .sort((a, b) => b.up + b.down - (a.up + a.down) || (a.group < b.group ? -1 : 1))
    .slice(0, nVolcanoes);
  const cards: string[] = [];
  for (const g of chosen) {
    const svg = await renderSvg(
      volcanoSpec(g.points, {
        title: g.group,
        subtitle: `${int.format(g.down)} down, ${int.format(g.up)} up${g.pointsOmitted ? `; ${int.format(g.pointsOmitted)} non-hits not drawn` : ""}`,
        pThreshold: d.alpha,
        lfcThreshold: d.lfcThreshold,
      }),
    );
    cards.push(`<div class="card"><figure>${svg}</figure>${topTable(g)}</div>`);
  }
  const html = `<h2>Differential expression: ${esc(d.method)}</h2>
<p class="muted">${esc(basename(d.path))}: ${int.format(d.nGroups)} perturbations${d.controlLabel ? ` against '${esc(d.controlLabel)}'` : ""} × ${int.format(d.nGenes)} genes.
A hit has adjusted p &lt; ${d.alpha}${d.lfcThreshold ? ` and |log2 FC| &gt; ${d.lfcThreshold}` : ""}; ${withHits} of ${d.nGroups} perturbations have hits.</p>
${hitsTable(d)}
<h3>Volcano plots${chosen.length < d.groups.length ? ` (the ${chosen.length} perturbations with the most hits)` : ""}</h3>
<p class="muted">Dashed line: adjusted p = ${d.alpha}. Red: up in perturbed cells; blue: down; grey: not significant (an even sample of them on large screens).
Triangles: |log2 FC| beyond 8 (a gene not detected on one side), drawn at the edge. Bold: the perturbation's own target.</p>
<div class="grid">${cards.join("\n")}</div>`;
  return { html, volcanoes: chosen.length };
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string })
      .version;
  } catch {
    return "?";
  }
}

/** Build the report and write it (atomically) to `output`. */
export async function writeReport(output: string, opts: ReportOptions): Promise<ReportSummary> {
  const parts: string[] = [];
  let qc: CellMetrics | null = null;
  if (opts.data) {
    const h = openH5ad(opts.data);
    try {
      qc = await cellMetrics(h, {
        ...opts.stream,
        groupColumn: opts.perturbationColumn,
        symbolColumn: opts.symbolColumn,
      });
    } finally {
      h.close();
    }
    const svgs = [
      await renderSvg(histogramSpec(qc.totalCounts, { title: "Counts per cell", xTitle: "total counts (log scale)" })),
      await renderSvg(
        histogramSpec(qc.genesDetected, {
          title: "Genes detected per cell",
          xTitle: "genes with counts > 0",
          color: "#54a24b",
        }),
      ),
      await renderSvg(
        histogramSpec(qc.pctMito, {
          title: "Mitochondrial share",
          xTitle: "% of counts in MT- genes",
          color: "#e45756",
        }),
      ),
    ];
    if (qc.cellsPerGroup.length) {
      const maxBars = 40;
      const shown = qc.cellsPerGroup.slice(0, maxBars);
      svgs.push(
        await renderSvg(
          barSpec(
            shown.map((g) => ({ label: g.group, value: g.cells, highlight: g.group === opts.controlLabel })),
            {
              title: "Cells per perturbation",
              subtitle:
                qc.cellsPerGroup.length > maxBars
                  ? `the ${maxBars} largest of ${qc.cellsPerGroup.length} groups`
                  : `${qc.cellsPerGroup.length} groups`,
              xTitle: "cells",
            },
          ),
        ),
      );
    }
    parts.push(qcSection(qc, svgs, opts.data));
  }
  const de: ReportSummary["de"] = [];
  for (const path of opts.de ?? []) {
    const h = openH5ad(path);
    let d: DeSummary;
    try {
      d = summarizeDe(h, opts);
    } finally {
      h.close();
    }
    const { html, volcanoes } = await deSection(d, opts.volcanoes ?? 12);
    parts.push(html);
    de.push({
      path,
      method: d.method,
      groups: d.nGroups,
      withHits: d.groups.filter((g) => g.up + g.down > 0).length,
      volcanoes,
    });
  }
  const title = opts.title ?? `crispyx report: ${basename(opts.data ?? opts.de?.[0] ?? "screen")}`;
  const inputs = [opts.data, ...(opts.de ?? [])].filter((p): p is string => !!p);
  const page = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${CSS}</style></head>
<body>
<h1>${esc(title)}</h1>
<p class="muted">Made by crispyx ${esc(packageVersion())} on ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC from ${inputs.map((p) => esc(basename(p))).join(", ")}.</p>
${parts.join("\n")}
</body></html>
`;
  await writeAtomically(output, (tmp) => writeFileSync(tmp, page));
  return { output, bytes: Buffer.byteLength(page), qc, de };
}
