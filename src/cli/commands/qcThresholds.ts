/** `crispyx qc-thresholds FILE`: QC cut-offs that fit this screen (percentiles of its own distributions). */
import { type Command, Option } from "commander";
import { contextOf } from "../context.ts";
import {
  addPerturbationOptions,
  checkInputFile,
  integerOption,
  perturbationColumn,
  shownPath,
  writeJson,
} from "./common.ts";

export function registerQcThresholds(program: Command): void {
  const cmd = program
    .command("qc-thresholds")
    .summary("suggest QC cut-offs from this screen's own distributions")
    .description(
      "Suggest the three QC cut-offs from percentiles of this screen, as the Python crispyx's\n" +
        "calculate_adaptive_qc_thresholds: min genes per cell (a tenth of the median, within 5–50),\n" +
        "min cells per perturbation (10th or 5th percentile, within 5–50) and min cells per gene\n" +
        "(percentile over a seeded sample of cells, within 5–100). Reads X in bounded blocks.",
    )
    .argument("<file>", "the .h5ad file with counts");
  addPerturbationOptions(cmd, { control: false })
    .addOption(
      new Option("--mode <mode>", "conservative: 10th percentiles (keeps ~90%); aggressive: 5th")
        .choices(["conservative", "aggressive"])
        .default("conservative"),
    )
    .option("--sample-size <n>", "cells sampled for the per-gene statistics", integerOption(1), 10000)
    .option("--seed <s>", "seed of the cell sample", integerOption(0), 0)
    .option("--chunk-size <n>", "cells per block (default: planned from memory)", integerOption(1))
    .option("--json", "print the thresholds and what they came from as JSON")
    .action(
      async (
        file: string,
        opts: {
          perturbationColumn?: string;
          mode: "conservative" | "aggressive";
          sampleSize: number;
          seed: number;
          chunkSize?: number;
          json?: boolean;
        },
        c: Command,
      ) => {
        const ctx = contextOf(c);
        checkInputFile(file);
        const column = await perturbationColumn(file, opts.perturbationColumn, undefined, (m) => ctx.say(m));
        const { calculateAdaptiveQcThresholds } = await import("../../helpers/adaptiveQc.ts");
        const t = calculateAdaptiveQcThresholds(file, column, {
          ...ctx.stream(),
          mode: opts.mode,
          sampleSize: opts.sampleSize,
          seed: opts.seed,
          ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
          ...(ctx.memoryBudget ? { availableMemoryGb: ctx.memoryBudget / 1e9 } : {}),
        });
        ctx.finishStreams();
        if (opts.json) {
          await writeJson(undefined, {
            perturbation_column: column,
            min_genes: t.minGenes,
            min_cells_per_perturbation: t.minCellsPerPerturbation,
            min_cells_per_gene: t.minCellsPerGene,
            chunk_size: t.chunkSize,
            details: t,
          });
          return;
        }
        const n = (x: number) => (Number.isInteger(x) ? x.toLocaleString("en-US") : x.toFixed(1));
        process.stdout.write(
          [
            `QC thresholds for ${shownPath(file)} (${t.mode}: ${t.percentile}th percentiles; ${n(t.nCells)} cells, ${n(t.nGenes)} genes, ${t.nPerturbations} perturbations)`,
            `  min genes per cell           ${String(t.minGenes).padStart(5)}   median genes per cell ${n(t.medianGenes)} over ${n(t.nCellsSampled)} sampled cells, ÷ 10, within 5–50`,
            `  min cells per perturbation   ${String(t.minCellsPerPerturbation).padStart(5)}   ${t.percentile}th percentile of cells per perturbation ${n(t.perturbationPercentile)}, within 5–50`,
            `  min cells per gene           ${String(t.minCellsPerGene).padStart(5)}   ${t.percentile}th percentile of sampled cells expressing a gene ${n(t.genePercentile)}, within 5–100`,
            `  chunk size                   ${String(t.chunkSize).padStart(5)}   cells per block (${t.chunkSizeSource})`,
            "",
            `Use them: crispyx qc ${shownPath(file)} -p ${column} --min-genes ${t.minGenes} --min-cells-per-perturbation ${t.minCellsPerPerturbation} --min-cells-per-gene ${t.minCellsPerGene}`,
          ].join("\n") + "\n",
        );
      },
    );
}
