/** `crispyx report`: a self-contained HTML report (QC histograms, DE hits and volcano plots). */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { type Command, InvalidArgumentError as UsageError } from "commander";
import { InvalidArgumentError } from "../../errors.ts";
import { contextOf } from "../context.ts";
import {
  checkInputFile,
  integerOption,
  probabilityOption,
  requireColumn,
  shownPath,
  withInput,
  writeJson,
  wroteMessage,
} from "./common.ts";

function nonNegative(text: string): number {
  const v = Number(text);
  if (!(v >= 0) || text.trim() === "") throw new UsageError(`'${text}' is not a number ≥ 0`);
  return v;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

interface ReportCliOptions {
  de?: string[];
  output?: string;
  force?: boolean;
  perturbationColumn?: string;
  control?: string;
  geneColumn?: string;
  alpha: number;
  lfc: number;
  volcanoes: number;
  top: number;
  title?: string;
  json?: boolean;
}

export function registerReport(program: Command): void {
  program
    .command("report")
    .summary("write a self-contained HTML report: QC plots, DE hits, volcano plots")
    .description(
      "Write one HTML file (inline SVG plots, no scripts, nothing fetched: it opens offline and can be\n" +
        "mailed or archived) with QC histograms of FILE (counts, genes detected, mitochondrial share, cells\n" +
        "per perturbation; one streaming pass over X) and, for each --de result of 'crispyx de', a table of\n" +
        "hits per perturbation and volcano plots of the perturbations with the most hits.",
    )
    .argument("<file>", "the screen (.h5ad with counts) for the QC section")
    .option("--de <result>", "a DE result file from 'crispyx de' (repeat for several methods)", collect)
    .option("-o, --output <path>", "the HTML file (default: beside FILE, <name>_report.html)")
    .option("--force", "overwrite the output if it exists")
    .option(
      "-p, --perturbation-column <column>",
      "obs column with the perturbation labels (default: 'perturbation' if present)",
    )
    .option("--control <label>", "control label (drawn grey among the cell counts)")
    .option(
      "--gene-column <column>",
      "var column with gene symbols, to find MT- genes when var_names are IDs (default: var_names, else a 'gene_symbols' column)",
    )
    .option("--alpha <p>", "adjusted p-value below which a gene is a hit", probabilityOption, 0.05)
    .option("--lfc <x>", "|log2 fold change| a hit must exceed", nonNegative, 0)
    .option("--volcanoes <n>", "volcano plots per DE result (perturbations with most hits first)", integerOption(0), 12)
    .option("--top <n>", "genes listed per perturbation", integerOption(1), 10)
    .option("--title <text>", "title of the report")
    .option("--json", "print what was written as JSON")
    .action(async (file: string, opts: ReportCliOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      // Check every input and the output before the pass over X starts.
      checkInputFile(file);
      for (const d of opts.de ?? []) checkInputFile(d);
      const output = resolve(
        opts.output ?? join(dirname(file), `${basename(file).replace(/\.h5ad$/i, "")}_report.html`),
      );
      if (existsSync(output) && !opts.force) {
        throw new InvalidArgumentError(`already exists`, {
          file: output,
          hint: "pass --force to overwrite it, or choose another name with -o",
        });
      }
      if (existsSync(output) && statSync(output).isDirectory())
        throw new InvalidArgumentError(`is a directory`, { file: output });
      const columns = await withInput(file, (h) => {
        let pert = opts.perturbationColumn;
        if (pert) requireColumn(h, "obs", pert, "--perturbation-column");
        else if (h.obs.columns.includes("perturbation")) pert = "perturbation";
        let symbols = opts.geneColumn;
        if (symbols) requireColumn(h, "var", symbols, "--gene-column");
        else if (h.var.columns.includes("gene_symbols")) symbols = "gene_symbols";
        return { pert, symbols };
      });
      const { writeReport } = await import("../../report/html.ts");
      const t = performance.now();
      const r = await writeReport(output, {
        data: file,
        de: opts.de,
        perturbationColumn: columns.pert,
        symbolColumn: columns.symbols,
        controlLabel: opts.control,
        alpha: opts.alpha,
        lfcThreshold: opts.lfc,
        volcanoes: opts.volcanoes,
        topN: opts.top,
        title: opts.title,
        stream: ctx.stream(),
      });
      ctx.finishStreams();
      const seconds = (performance.now() - t) / 1000;
      if (opts.json) await writeJson(undefined, { output: r.output, bytes: r.bytes, seconds, de: r.de });
      ctx.say(
        wroteMessage(
          r.output,
          `${(r.bytes / 1024).toFixed(0)} KiB HTML, QC of ${r.qc?.nCells ?? 0} cells` +
            (r.de.length
              ? `, ${r.de.map((d) => `${d.method}: ${d.withHits}/${d.groups} perturbations with hits, ${d.volcanoes} volcano plots`).join("; ")}`
              : ""),
          seconds,
        ),
      );
      ctx.detail(`open it with: xdg-open ${shownPath(r.output)}`);
    });
}
