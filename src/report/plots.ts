/**
 * The report's plots, as SVG text. Each plot is a Vega-Lite specification rendered by Vega's
 * headless SVG renderer (no browser, no canvas, no network): Vega-Lite gives tested axes, ticks,
 * legends and layout from a short declarative spec, which hand-written SVG would have to re-invent.
 * Vega-Lite 5 is used because 6 needs Node 22.
 */
import type { Histogram } from "./cellMetrics.ts";

type Spec = Record<string, unknown>;

const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";

/** Shared look: no ARIA per mark (it triples the size of scatter plots), readable font sizes. */
const CONFIG = {
  aria: false,
  font: FONT,
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: "normal", grid: true, gridColor: "#eee" },
  title: { fontSize: 14, fontWeight: "bold", anchor: "start", subtitleFontSize: 11, subtitleColor: "#555" },
  legend: { labelFontSize: 11, titleFontSize: 11 },
  view: { stroke: "#ccc" },
};

let vegaModules: Promise<[typeof import("vega"), typeof import("vega-lite")]> | undefined;

/** Render a Vega-Lite spec to SVG (Vega is loaded on first use: only the report needs it). */
export async function renderSvg(spec: Spec): Promise<string> {
  vegaModules ??= Promise.all([import("vega"), import("vega-lite")]);
  const [vega, vl] = await vegaModules;
  const compiled = vl.compile({
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    config: CONFIG,
    ...spec,
  } as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    const svg = await view.toSVG();
    // Coordinates to 0.1 px: invisible, and the file is a third smaller.
    return svg.replace(/(\d+\.\d)\d+/g, "$1");
  } finally {
    view.finalize();
  }
}

/** A histogram from fixed bins (as computed in the streaming pass). */
export function histogramSpec(
  h: Histogram,
  o: { title: string; subtitle?: string; xTitle: string; color?: string; width?: number },
): Spec {
  let rows = h.counts
    .map((count, i) => ({ lo: h.edges[i]!, hi: h.edges[i + 1]!, count }))
    // A log axis cannot show the [0, 1) bin; the caller mentions those cells in the subtitle.
    .filter((r) => !h.log || r.lo > 0);
  // The bins were fixed before the data was seen: show only the occupied range (linear axes keep 0).
  const first = rows.findIndex((r) => r.count > 0);
  const last =
    rows.length -
    1 -
    rows
      .slice()
      .reverse()
      .findIndex((r) => r.count > 0);
  if (first >= 0) rows = rows.slice(h.log ? Math.max(0, first - 1) : 0, Math.min(rows.length, last + 2));
  return {
    title: { text: o.title, ...(o.subtitle ? { subtitle: o.subtitle } : {}) },
    width: o.width ?? 300,
    height: 160,
    data: { values: rows },
    mark: { type: "rect", color: o.color ?? "#4c78a8", stroke: "white", strokeWidth: 0.5 },
    encoding: {
      x: {
        field: "lo",
        type: "quantitative",
        title: o.xTitle,
        scale: h.log
          ? { type: "log", nice: false, domain: [rows[0]?.lo ?? 1, rows.at(-1)?.hi ?? 10] }
          : { zero: true, nice: false, domain: [0, rows.at(-1)?.hi ?? 1] },
        axis: h.log ? { format: "~s" } : {},
      },
      x2: { field: "hi" },
      y: { field: "count", type: "quantitative", title: "cells" },
      tooltip: [{ field: "lo", format: ",.0f" }, { field: "hi", format: ",.0f" }, { field: "count" }],
    },
  };
}

/** Horizontal bars, one per label (e.g. cells per perturbation). */
export function barSpec(
  rows: { label: string; value: number; highlight?: boolean }[],
  o: { title: string; subtitle?: string; xTitle: string; width?: number },
): Spec {
  return {
    title: { text: o.title, ...(o.subtitle ? { subtitle: o.subtitle } : {}) },
    width: o.width ?? 300,
    height: { step: 13 },
    data: { values: rows.map((r) => ({ ...r, highlight: r.highlight ? "control" : "perturbation" })) },
    mark: { type: "bar" },
    encoding: {
      y: { field: "label", type: "nominal", sort: null, title: null, axis: { labelLimit: 140, labelFontSize: 10 } },
      x: { field: "value", type: "quantitative", title: o.xTitle, axis: { format: "~s" } },
      color: {
        field: "highlight",
        type: "nominal",
        scale: { domain: ["perturbation", "control"], range: ["#4c78a8", "#9e9e9e"] },
        legend: null,
      },
    },
  };
}

export interface VolcanoPoint {
  gene: string;
  logfc: number;
  /** −log10 of the adjusted p-value (capped by the caller so 0 does not become ∞). */
  nlp: number;
  /** "up", "down" or "ns". */
  call: "up" | "down" | "ns";
  /** Name shown next to the point (top hits only). */
  label?: string;
  /** |log fold change| beyond the plot's range: drawn at the edge. */
  clipped?: boolean;
}

/** A volcano plot: log fold change against −log10 adjusted p, hits coloured, top hits named. */
export function volcanoSpec(
  points: VolcanoPoint[],
  o: {
    title: string;
    subtitle?: string;
    pThreshold: number;
    lfcThreshold: number;
    width?: number;
    maxAbsLogfc?: number;
  },
): Spec {
  // A gene absent from one side has a huge |log fold change| (log2 of 1e-9): drawn at the edge as a
  // triangle, so it does not squeeze every other point into the middle.
  const cap = o.maxAbsLogfc ?? 8;
  points = points.map((p) => (Math.abs(p.logfc) > cap ? { ...p, logfc: Math.sign(p.logfc) * cap, clipped: true } : p));
  const labelled = points.filter((p) => p.label);
  const colors = { domain: ["down", "up", "ns"], range: ["#2166ac", "#b2182b", "#bdbdbd"] };
  const nlpCut = -Math.log10(o.pThreshold);
  return {
    title: { text: o.title, ...(o.subtitle ? { subtitle: o.subtitle } : {}) },
    width: o.width ?? 240,
    height: 200,
    layer: [
      {
        data: { values: [{ y: nlpCut }] },
        mark: { type: "rule", strokeDash: [4, 3], color: "#888" },
        encoding: { y: { field: "y", type: "quantitative" } },
      },
      {
        data: { values: points },
        mark: { type: "point", filled: true, size: 14, opacity: 0.75 },
        encoding: {
          x: { field: "logfc", type: "quantitative", title: "log2 fold change vs control", scale: { padding: 6 } },
          y: { field: "nlp", type: "quantitative", title: "−log10 adjusted p" },
          color: { field: "call", type: "nominal", scale: colors, legend: null },
          shape: { condition: { test: "datum.clipped", value: "triangle" }, value: "circle" },
          order: { field: "nlp", type: "quantitative" },
        },
      },
      {
        data: { values: labelled },
        mark: { type: "text", align: "left", dx: 4, dy: -3, fontSize: 10, color: "#222" },
        encoding: {
          x: { field: "logfc", type: "quantitative" },
          y: { field: "nlp", type: "quantitative" },
          text: { field: "label" },
        },
      },
    ],
  };
}
