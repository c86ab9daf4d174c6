/** `crispyx de FILE`: every perturbation against the control, Scanpy's rank_genes_groups statistics. */
import { type Command, Option, InvalidArgumentError as UsageError } from "commander";
import { contextOf } from "../context.ts";
import { formatTextTable, recordsTable } from "../output.ts";
import { DEFAULT_DE_METHOD, deMethod, deMethodNames, deMethods, findDeMethod } from "../../de/methods/registry.ts";
import {
  addOutputOptions,
  addPerturbationOptions,
  checkInputFile,
  integerOption,
  outputPathFor,
  probabilityOption,
  perturbationColumn,
  shownPath,
  writeJson,
  wroteMessage,
  type OutputOptions,
} from "./common.ts";

interface DeCliOptions extends OutputOptions {
  perturbationColumn?: string;
  control?: string;
  /** A registered method's name (aliases are resolved when parsed). */
  method: string;
  groups?: string;
  minCells: number;
  tieCorrect: boolean;
  workers?: number;
  layer?: string;
  csv: boolean;
  alpha: number;
  top: number;
  json?: boolean;
  groupsPerPass?: number;
  resume?: boolean;
  rankedLayout?: "records" | "per-group";
  test?: "wald" | "lrt";
  sizeFactors?: "library" | "ratio";
  replicateColumn?: string;
  covariates?: string;
  dispersion?: "control" | "pooled";
}

/** "a, b or c". */
function oneOf(items: string[]): string {
  return items.length > 1 ? `${items.slice(0, -1).join(", ")} or ${items.at(-1)}` : (items[0] ?? "");
}

/** `--method`: the registry's names as choices; an alias is accepted and resolved to its method's name. */
function methodOption(): Option {
  const names = deMethodNames();
  return new Option("--method <method>", "test")
    .choices(names)
    .default(DEFAULT_DE_METHOD)
    .argParser((v: string) => {
      const m = findDeMethod(v);
      if (!m) throw new UsageError(`Allowed choices are ${names.join(", ")}.`); // commander's own wording for choices
      return m.name;
    });
}

export function registerDe(program: Command): void {
  const methods = deMethods();
  const inputs = new Set(methods.map((m) => m.input));
  // What X must hold, and each method's passes over X, from the declarations (../../de/methods/registry.ts).
  const expects =
    inputs.size === 1 && inputs.has("log-normalised")
      ? "Expects log-normalised X (run 'crispyx normalize' first)."
      : `Expects log-normalised X (run 'crispyx normalize' first) for ${oneOf(methods.filter((m) => m.input === "log-normalised").map((m) => m.label))}; raw counts for ${oneOf(methods.filter((m) => m.input === "counts").map((m) => m.label))}.`;
  const description =
    "Rank genes for every perturbation against the control cells, with the statistics of Scanpy's " +
    "rank_genes_groups(groupby=…, reference=control, method=…, pts=True): scores, two-sided p-values, " +
    "Benjamini–Hochberg adjusted p-values per perturbation, log2 fold changes and the fraction of cells " +
    `expressing each gene. ${expects} ${methods.map((m) => `${m.label}: ${m.help}`).join("; ")}. ` +
    "Writes <name>_de_<method>.h5ad (obs = perturbations, var = genes, X = log fold changes, layers " +
    "scores / pvals / pvals_adj / pts, uns['rank_genes_groups'] as Scanpy) and a tidy .csv beside it.";
  const cmd = program
    .command("de")
    .summary(`differential expression of each perturbation vs control (${oneOf(methods.map((m) => m.label))})`)
    .description(wrap(description, 100))
    .argument(
      "<file>",
      methods.every((m) => m.input === "log-normalised") ? "the log-normalised .h5ad file" : "the .h5ad file",
    );
  addPerturbationOptions(cmd)
    .addOption(methodOption())
    .option("--groups <names>", "only these perturbations, comma-separated (default: all)")
    .option("--min-cells <n>", "skip perturbations with fewer cells", integerOption(1), 2)
    .option("--no-tie-correct", "Wilcoxon: no tie correction of the variance (Scanpy's default)")
    .option("--workers <n>", "worker threads (default: cores, at most 8; 1 = none)", integerOption(1))
    .option("--layer <name>", "test this layer instead of X")
    .option("--no-csv", "do not write the tidy .csv table beside the result")
    .option("--alpha <p>", "adjusted p-value cut-off for the hit counts printed", probabilityOption, 0.05)
    .option("--top <n>", "top genes printed per perturbation", integerOption(0), 3)
    .option("--json", "print the summary (hits and top genes per perturbation) as JSON")
    .option(
      "--groups-per-pass <n>",
      "perturbations per pass over X (default: as many as --memory-limit holds; see 'crispyx plan')",
      integerOption(1),
    )
    .option("--resume", "continue a killed run from its checkpoint beside the output (the batches it finished)")
    .addOption(
      new Option(
        "--ranked-layout <layout>",
        "Scanpy's ranked tables: record arrays (default while they fit, ~1,000-2,000 perturbations) or a dataset per perturbation",
      ).choices(["records", "per-group"]),
    )
    .addOption(new Option("--test <test>", "NB-GLM: Wald (default) or likelihood-ratio test").choices(["wald", "lrt"]))
    .addOption(
      new Option(
        "--size-factors <method>",
        "NB-GLM: library size (default) or median-of-ratios over each cell's non-zero genes",
      ).choices(["library", "ratio"]),
    )
    .option(
      "--covariates <columns>",
      "NB-GLM: categorical obs columns (comma-separated, e.g. gem_group) whose levels get their own control mean",
    )
    .addOption(
      new Option(
        "--dispersion <cells>",
        "NB-GLM: dispersions from the control's cells (default, fastest) or pooled over every compared cell",
      ).choices(["control", "pooled"]),
    )
    .option(
      "--replicate-column <column>",
      "pseudobulk-nb: obs column splitting each group into samples (guide, replicate)",
    );
  addOutputOptions(cmd, "de_<method>").action(async (file: string, opts: DeCliOptions, c: Command) => {
    const ctx = contextOf(c);
    checkInputFile(file);
    const suffix = `de_${deMethod(opts.method).storedName}`;
    const output = outputPathFor(file, opts, suffix);
    const column = await perturbationColumn(file, opts.perturbationColumn, opts.control, (m) => ctx.say(m));
    const { rankGenesGroups } = await import("../../de/rankGenesGroups.ts");
    const t = performance.now();
    const r = await rankGenesGroups(file, {
      ...ctx.stream(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
      perturbationColumn: column,
      controlLabel: opts.control ?? null,
      method: opts.method,
      ...(opts.groups
        ? {
            groups: opts.groups
              .split(",")
              .map((g) => g.trim())
              .filter(Boolean),
          }
        : {}),
      minCellsPerGroup: opts.minCells,
      tieCorrect: opts.tieCorrect,
      ...(opts.workers ? { workers: opts.workers } : {}),
      ...(opts.layer ? { layer: opts.layer } : {}),
      output,
      csv: opts.csv,
      force: true, // an existing output was refused above unless --force
      ...(opts.groupsPerPass ? { groupsPerPass: opts.groupsPerPass } : {}),
      ...(opts.resume ? { resume: true } : {}),
      ...(opts.rankedLayout ? { rankedLayout: opts.rankedLayout } : {}),
      ...(opts.test || opts.sizeFactors || opts.covariates || opts.dispersion || opts.replicateColumn
        ? {
            nbGlm: {
              ...(opts.test ? { test: opts.test } : {}),
              ...(opts.sizeFactors ? { sizeFactors: opts.sizeFactors } : {}),
              ...(opts.dispersion ? { dispersion: opts.dispersion } : {}),
              ...(opts.replicateColumn ? { replicateColumn: opts.replicateColumn } : {}),
              ...(opts.covariates
                ? {
                    covariates: opts.covariates
                      .split(",")
                      .map((c) => c.trim())
                      .filter(Boolean),
                  }
                : {}),
            },
          }
        : {}),
    });
    ctx.finishStreams();
    const seconds = (performance.now() - t) / 1000;
    for (const w of r.warnings) ctx.say(`warning: ${w}`);
    if (r.passes > 1) ctx.say(`${r.passes} passes over X: ${r.passReason}`);
    if (r.resumedBatches) ctx.say(`resumed: ${r.resumedBatches} of ${r.batches} batches taken from the checkpoint`);
    if (r.rankedLayout === "records") ctx.detail("ranked tables: Scanpy's record arrays in uns['rank_genes_groups']");
    else ctx.say("ranked tables: a dataset per perturbation, uns['rank_genes_groups'][table][perturbation]");
    for (const s of r.skipped) ctx.detail(`skipped ${s.group}: ${s.reason} (${s.cells} cells)`);
    // What was found, read back from the result file (one perturbation at a time).
    const { openH5ad } = await import("../../io/anndata/handle.ts");
    const { summarizeDe } = await import("../../report/deSummary.ts");
    const h = openH5ad(r.outputPath);
    let summary: ReturnType<typeof summarizeDe>;
    try {
      summary = summarizeDe(h, { alpha: opts.alpha, topN: opts.top, maxBackgroundPoints: 0, points: false });
    } finally {
      h.close();
    }
    const rows = summary.groups.map((g) => ({ perturbation: g.group, down: g.down, up: g.up, top: g.top }));
    if (opts.json) {
      await writeJson(undefined, {
        output: r.outputPath,
        csv: r.csvPath,
        method: r.method,
        perturbation_column: r.perturbationColumn,
        control_label: r.controlLabel,
        n_genes: r.nGenes,
        alpha: opts.alpha,
        skipped: r.skipped,
        passes: r.passes,
        resumed_batches: r.resumedBatches,
        ranked_layout: r.rankedLayout,
        perturbations: rows,
        seconds,
      });
    } else {
      const fmt = (x: number) => (x > 0 ? "+" : "") + x.toFixed(2);
      process.stdout.write(
        `${r.method} of ${r.groups.length} perturbations against '${r.controlLabel}' over ${r.nGenes.toLocaleString("en-US")} genes; hits: adjusted p < ${opts.alpha}\n`,
      );
      process.stdout.write(
        formatTextTable(
          recordsTable(
            rows.map((g) => ({
              perturbation: g.perturbation,
              down: g.down,
              up: g.up,
              ...(opts.top
                ? { [`top ${opts.top} (log2 FC)`]: g.top.map((x) => `${x.gene} ${fmt(x.logfc)}`).join(", ") }
                : {}),
            })),
          ),
        ) + "\n",
      );
      if (r.skipped.length)
        process.stdout.write(`skipped: ${r.skipped.map((s) => `${s.group} (${s.reason})`).join(", ")}\n`);
    }
    ctx.say(
      wroteMessage(
        r.outputPath,
        `${r.groups.length} perturbations × ${r.nGenes.toLocaleString("en-US")} genes${r.csvPath ? `; table in ${shownPath(r.csvPath)}` : ""}`,
        seconds,
      ),
    );
  });
}

/** Lines of at most `width` characters, broken at spaces. */
function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join("\n");
}
