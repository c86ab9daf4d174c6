/** `crispyx demo`: write a synthetic Perturb-seq screen and run the pipeline on it. */
import type { Command } from "commander";
import { isAbsolute, relative } from "node:path";
import { DEFAULT_SCREEN } from "../../demo/synthetic.ts";
import type { DemoResult } from "../../demo/run.ts";
import { contextOf } from "../context.ts";
import { formatSeconds } from "../progress.ts";
import { formatTextTable, recordsTable } from "../output.ts";
import { integerOption, writeJson } from "./common.ts";

const DEFAULT_DEMO_DIR = "crispyx-demo";

/** A path as the user would type it: relative to the working directory when inside it. */
function shown(path: string): string {
  const r = relative(process.cwd(), path);
  return r === "" ? "." : r.startsWith("..") || isAbsolute(r) ? path : r;
}

function summaryText(r: DemoResult): string {
  const lines: string[] = [];
  const width = Math.max(...r.steps.map((s) => s.name.length));
  lines.push(`crispyx demo: synthetic screen in ${shown(r.outDir)}/`);
  for (const s of r.steps) {
    lines.push(`  ${s.name.padEnd(width)}  ${formatSeconds(s.seconds).padStart(6)}  ${s.detail}`);
    if (s.output) lines.push(`  ${"".padEnd(width)}          → ${shown(s.output)}`);
  }
  const kd = r.knockdown.slice().sort((a, b) => a.planted_ratio - b.planted_ratio);
  const many = kd.length > 24;
  const show = many ? [...kd.slice(0, 6), ...kd.slice(-6)] : kd;
  const hasDe = kd.some((k) => k.ttest_rank !== undefined);
  const rank = (x: number | null | undefined) => (x === null || x === undefined ? "-" : String(x));
  lines.push("");
  lines.push(
    `Planted knock-downs and what crispyx found${many ? " (strongest and weakest 6)" : ""}: target expression in its own cells`,
  );
  lines.push(
    `relative to controls (planted = 1 − efficiency)${hasDe ? "; rank of the target among all genes in that perturbation's DE (1 = top hit)" : ""}:`,
  );
  lines.push(
    formatTextTable(
      recordsTable(
        show.map((k) => ({
          perturbation: k.perturbation,
          cells: k.cells,
          planted: Number(k.planted_ratio.toFixed(2)),
          observed: Number(k.observed_ratio.toFixed(2)),
          ...(hasDe
            ? {
                "t-test rank": rank(k.ttest_rank),
                "wilcoxon rank": rank(k.wilcoxon_rank),
                "top genes (t-test)": (k.top_genes ?? []).join(", "),
              }
            : {}),
        })),
      ),
    ).replace(/^/gm, "  "),
  );
  if (r.files.report) {
    lines.push("");
    lines.push(`Report with QC plots and volcano plots: ${shown(r.files.report)}`);
  }
  lines.push("");
  lines.push(`Done in ${formatSeconds(r.totalSeconds)}. Next: crispyx info ${shown(r.files.raw!)}`);
  return lines.join("\n");
}

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .summary("write a synthetic Perturb-seq screen and run the pipeline on it")
    .description(
      "Write a realistic synthetic Perturb-seq screen (negative-binomial counts, a 'non-targeting' control\n" +
        "group and K CRISPRi knock-downs with downstream effects, guide labels, versioned Ensembl IDs with\n" +
        "symbols, mitochondrial genes), then run the crispyx pipeline on it — detect columns, standardize,\n" +
        "adaptive QC thresholds, QC, normalize, DE (t-test and Wilcoxon), HTML report — and print what each\n" +
        "step found and where each planted knock-down ranks among its perturbation's DE genes.\n" +
        "The planted effects are stored in uns['demo']['truth']. Default size runs in well under a minute.",
    )
    .option("--cells <n>", "number of cells", integerOption(1), DEFAULT_SCREEN.cells)
    .option("--genes <n>", "number of genes", integerOption(10), DEFAULT_SCREEN.genes)
    .option(
      "--perturbations <k>",
      "number of knocked-down target genes",
      integerOption(1),
      DEFAULT_SCREEN.perturbations,
    )
    .option("--seed <s>", "random seed (same seed, same file)", integerOption(0), DEFAULT_SCREEN.seed)
    .option("-o, --out <dir>", "directory for the demo files", DEFAULT_DEMO_DIR)
    .option("--json", "print the summary as JSON")
    .action(
      async (
        opts: { cells: number; genes: number; perturbations: number; seed: number; out: string; json?: boolean },
        cmd: Command,
      ) => {
        const ctx = contextOf(cmd);
        const { runDemo } = await import("../../demo/run.ts");
        const result = await runDemo({
          ...opts,
          stream: ctx.stream(),
          onStep: (name) => ctx.detail(`step: ${name}`),
        });
        ctx.finishStreams();
        if (opts.json) await writeJson(undefined, result);
        else process.stdout.write(summaryText(result) + "\n");
      },
    );
}
