/** `crispyx overlap A B …`: pairwise overlap (shared items, Jaccard) between gene sets, files or DE hits. */
import { basename } from "node:path";
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { type Command, Option } from "commander";
import { InvalidArgumentError } from "../../errors.ts";
import { contextOf } from "../context.ts";
import { columnCells, formatTextTable } from "../output.ts";
import { checkInputFile, probabilityOption, requireColumn, withInput, writeJson } from "./common.ts";

type Of = "genes" | "cells" | "perturbations" | "hits";

/** HDF5 files start with an 8-byte signature (read only those bytes: inputs can be tens of GB). */
function isH5ad(path: string): boolean {
  const buf = Buffer.alloc(8);
  const fd = openSync(path, "r");
  try {
    readSync(fd, buf, 0, 8, 0);
  } finally {
    closeSync(fd);
  }
  return buf.toString("latin1") === "\x89HDF\r\n\x1a\n";
}

function readList(path: string): string[] {
  return readFileSync(path, "utf8")
    .split(/\r?\n/)
    .map((l) => l.split(/[\t,]/)[0]!.trim())
    .filter((l) => l && !l.startsWith("#"));
}

interface OverlapCliOptions {
  of: Of;
  metric: "count" | "jaccard" | "both";
  perturbationColumn?: string;
  alpha: number;
  json?: boolean;
}

/** The named sets one argument contributes ("name=path" names it; else the file name). */
async function setsOf(arg: string, opts: OverlapCliOptions, many: boolean): Promise<[string, string[]][]> {
  const eq = arg.indexOf("=");
  const [given, path] =
    eq > 0 && !arg.slice(0, eq).includes("/") ? [arg.slice(0, eq), arg.slice(eq + 1)] : [undefined, arg];
  checkInputFile(path);
  const name = given ?? basename(path).replace(/\.(h5ad|txt|tsv|csv)$/i, "");
  if (!isH5ad(path)) {
    if (opts.of === "hits")
      throw new InvalidArgumentError(`--of hits needs DE result files (.h5ad from 'crispyx de')`, { file: path });
    return [[name, readList(path)]];
  }
  return withInput(path, async (h) => {
    if (opts.of === "genes") return [[name, h.var.index]];
    if (opts.of === "cells") return [[name, h.obs.index]];
    if (opts.of === "perturbations") {
      let col = opts.perturbationColumn;
      if (col) requireColumn(h, "obs", col, "--perturbation-column");
      else {
        const { detectPerturbationColumn } = await import("../../helpers/columnDetection.ts");
        col = detectPerturbationColumn(h) ?? undefined;
        if (!col)
          throw new InvalidArgumentError(`found no perturbation column`, { file: path, hint: "name it with -p" });
      }
      return [
        [
          name,
          [
            ...new Set(
              columnCells(h.obs.column(col))
                .filter((v) => v !== null)
                .map(String),
            ),
          ],
        ],
      ];
    }
    const { summarizeDe } = await import("../../report/deSummary.ts");
    const d = summarizeDe(h, { alpha: opts.alpha, topN: Number.MAX_SAFE_INTEGER, maxBackgroundPoints: 0 });
    return d.groups.map((g): [string, string[]] => [
      many ? `${name}:${g.group}` : g.group,
      g.points.filter((p) => p.call !== "ns").map((p) => p.gene),
    ]);
  });
}

function matrixText(names: string[], m: number[][], digits: number): string {
  const table = {
    columns: ["", ...names],
    values: [names, ...names.map((_, j) => m.map((row) => Number(row[j]!.toFixed(digits))))],
  };
  return formatTextTable(table);
}

export function registerOverlap(program: Command): void {
  program
    .command("overlap")
    .summary("pairwise overlap (shared items, Jaccard) of gene lists, files or DE hits")
    .description(
      "Count the items each pair of sets shares and their Jaccard similarity (shared / union), as the\n" +
        "Python crispyx's compute_overlap. Each SOURCE is a text file (one item per line) or an .h5ad file,\n" +
        "optionally named NAME=PATH. From .h5ad files --of chooses the items: genes (var_names), cells\n" +
        "(obs_names), perturbations (labels), or hits: one set per perturbation of a DE result, its genes\n" +
        "with adjusted p < --alpha (which perturbations change the same genes?).",
    )
    .argument("<sources...>", "text files or .h5ad files (NAME=PATH to name one)")
    .addOption(
      new Option("--of <items>", "what to compare in .h5ad files")
        .choices(["genes", "cells", "perturbations", "hits"])
        .default("genes"),
    )
    .addOption(
      new Option("--metric <m>", "which matrix to print").choices(["count", "jaccard", "both"]).default("both"),
    )
    .option("-p, --perturbation-column <column>", "obs column for --of perturbations (default: detected)")
    .option("--alpha <p>", "adjusted p-value cut-off for --of hits", probabilityOption, 0.05)
    .option("--json", "print names, sizes and matrices as JSON")
    .action(async (sources: string[], opts: OverlapCliOptions, c: Command) => {
      contextOf(c);
      const sets: [string, string[]][] = [];
      for (const s of sources) sets.push(...(await setsOf(s, opts, sources.length > 1)));
      if (sets.length < 2 && !opts.json)
        throw new InvalidArgumentError(`overlap needs at least two sets; got ${sets.length}`, {
          hint: "give two or more files, or one DE result with --of hits",
        });
      const { computeOverlap } = await import("../../helpers/overlap.ts");
      const r = computeOverlap(sets, { metric: opts.metric });
      if (opts.json) {
        await writeJson(undefined, {
          names: r.names,
          set_sizes: r.setSizes,
          ...(opts.metric !== "jaccard" ? { count: r.countMatrix } : {}),
          ...(opts.metric !== "count" ? { jaccard: r.jaccardMatrix } : {}),
        });
        return;
      }
      const out = [`sets: ${r.names.map((n, i) => `${n} (${r.setSizes[i]})`).join(", ")}`];
      if (opts.metric !== "jaccard") out.push("", "shared items:", matrixText(r.names, r.countMatrix, 0));
      if (opts.metric !== "count") out.push("", "Jaccard (shared / union):", matrixText(r.names, r.jaccardMatrix, 3));
      process.stdout.write(out.join("\n") + "\n");
    });
}
