/** `crispyx qc FILE`: the three QC filters of the Python crispyx, streamed into a filtered file. */
import { type Command, Option } from "commander";
import { contextOf } from "../context.ts";
import {
  addOutputOptions,
  addPerturbationOptions,
  checkInputFile,
  integerOption,
  outputPathFor,
  perturbationColumn,
  geneSymbolColumn,
  shownPath,
  writeJson,
  wroteMessage,
  type OutputOptions,
} from "./common.ts";

interface QcCliOptions extends OutputOptions {
  perturbationColumn?: string;
  control?: string;
  geneColumn?: string;
  minGenes?: number;
  minCellsPerPerturbation?: number;
  minCellsPerGene?: number;
  adaptive?: "conservative" | "aggressive";
  mtPrefix: string;
  dryRun?: boolean;
  json?: boolean;
}

const int = (n: number) => n.toLocaleString("en-US");

export function registerQc(program: Command): void {
  const cmd = program
    .command("qc")
    .summary("filter cells, perturbations and genes (min genes / cells per perturbation / cells per gene)")
    .description(
      "Filter a screen as the Python crispyx's quality_control_summary, in this order: drop cells with fewer\n" +
        "than --min-genes detected genes; drop perturbations left with fewer than\n" +
        "--min-cells-per-perturbation cells (never the control); drop genes detected in fewer than\n" +
        "--min-cells-per-gene of the cells kept. Streams X (two passes and the write). The output's obs\n" +
        "gets Scanpy's total_counts, n_genes_by_counts and pct_counts_mt; the summary goes to\n" +
        "uns['qc_summary'] and to <output>_qc_summary.json. Thresholds default to the Python crispyx's\n" +
        "(100 / 50 / 100); --adaptive picks those not given from this screen (see 'crispyx qc-thresholds').",
    )
    .argument("<file>", "the .h5ad file with counts");
  addPerturbationOptions(cmd)
    .option(
      "--gene-column <column>",
      "var column with gene symbols, for MT- genes (default: var_names, or the detected symbol column when var_names are IDs)",
    )
    .option("--min-genes <n>", "minimum detected genes per cell (default 100)", integerOption(0))
    .option("--min-cells-per-perturbation <n>", "minimum cells per perturbation (default 50)", integerOption(0))
    .option("--min-cells-per-gene <n>", "minimum kept cells detecting a gene (default 100)", integerOption(0))
    .addOption(
      new Option("--adaptive [mode]", "choose thresholds not given from the data")
        .choices(["conservative", "aggressive"])
        .preset("conservative"),
    )
    .option("--mt-prefix <prefix>", "prefix of mitochondrial gene symbols (case-insensitive)", "MT-")
    .option("--dry-run", "report what would be kept; write nothing")
    .option("--json", "print the summary as JSON");
  addOutputOptions(cmd, "qc").action(async (file: string, opts: QcCliOptions, c: Command) => {
    const ctx = contextOf(c);
    checkInputFile(file);
    const output = opts.dryRun ? undefined : outputPathFor(file, opts, "qc");
    const column = await perturbationColumn(file, opts.perturbationColumn, opts.control, (m) => ctx.say(m));
    const symbols = await geneSymbolColumn(file, opts.geneColumn, (m) => ctx.say(m));
    const { qcSummary } = await import("../../qc/qcSummary.ts");
    const t = performance.now();
    const r = await qcSummary(file, {
      ...ctx.stream(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
      perturbationColumn: column,
      controlLabel: opts.control ?? null,
      geneNameColumn: symbols,
      ...(opts.minGenes !== undefined ? { minGenes: opts.minGenes } : {}),
      ...(opts.minCellsPerPerturbation !== undefined ? { minCellsPerPerturbation: opts.minCellsPerPerturbation } : {}),
      ...(opts.minCellsPerGene !== undefined ? { minCellsPerGene: opts.minCellsPerGene } : {}),
      ...(opts.adaptive ? { adaptive: opts.adaptive } : {}),
      mtPrefix: opts.mtPrefix,
      ...(output ? { output } : {}),
      dryRun: !!opts.dryRun,
      force: true, // an existing output was refused above unless --force
    });
    ctx.finishStreams();
    const seconds = (performance.now() - t) / 1000;
    const { cells, genes, perturbations } = r.counts;
    if (opts.json) {
      await writeJson(undefined, {
        output: r.output,
        summary_file: r.summaryFile,
        perturbation_column: r.perturbationColumn,
        control_label: r.controlLabel,
        thresholds: { ...r.thresholds, adaptive: undefined },
        counts: r.counts,
        perturbations: r.perturbations,
        seconds,
      });
    } else {
      const th = r.thresholds;
      process.stdout.write(
        [
          `thresholds (${th.source === "given" ? "given or defaults" : `adaptive, ${th.source}`}): min ${th.minGenes} genes per cell, ${th.minCellsPerPerturbation} cells per perturbation, ${th.minCellsPerGene} cells per gene`,
          `cells:         ${int(cells.kept)} of ${int(cells.input)} kept (${int(cells.droppedMinGenes)} with too few genes, ${int(cells.droppedSmallPerturbation)} in perturbations too small)`,
          `perturbations: ${int(perturbations.kept)} of ${int(perturbations.input)} kept (control '${r.controlLabel}' always)${perturbations.dropped.length ? `; dropped: ${perturbations.dropped.slice(0, 10).join(", ")}${perturbations.dropped.length > 10 ? ", …" : ""}` : ""}`,
          `genes:         ${int(genes.kept)} of ${int(genes.input)} kept (${int(genes.dropped)} detected in too few cells; ${int(genes.mitochondrial)} mitochondrial)`,
        ].join("\n") + "\n",
      );
    }
    if (r.output)
      ctx.say(
        wroteMessage(
          r.output,
          `${int(cells.kept)} cells × ${int(genes.kept)} genes; summary in ${shownPath(r.summaryFile!)}`,
          seconds,
        ),
      );
    else ctx.say("dry run: nothing written");
  });
}
