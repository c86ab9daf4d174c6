/**
 * `crispyx`: the command-line tool. Builds the commander program (global options, one module per
 * command group in ./commands) and turns failures into one-line messages and exit codes (./errors.ts).
 */
import { readFileSync, statSync } from "node:fs";
import { Command, InvalidArgumentError as UsageError, Option } from "commander";
import { parseByteSize } from "../core/streaming.ts";
import { currentContext } from "./context.ts";
import { reportError } from "./errors.ts";
import { installExitGuards } from "./exitGuards.ts";
import { registerInfo } from "./commands/info.ts";
import { registerValidate } from "./commands/validate.ts";
import { registerTables } from "./commands/tables.ts";
import { registerDemo } from "./commands/demo.ts";
import { registerConvert } from "./commands/convert.ts";
import { registerReport } from "./commands/report.ts";
import { registerNormalize } from "./commands/normalize.ts";
import { registerSort } from "./commands/sort.ts";
import { registerDetect } from "./commands/detect.ts";
import { registerLabels } from "./commands/labels.ts";
import { registerGenes } from "./commands/genes.ts";
import { registerFilter } from "./commands/filter.ts";
import { registerStandardize } from "./commands/standardize.ts";
import { registerQcThresholds } from "./commands/qcThresholds.ts";
import { registerPlan } from "./commands/plan.ts";
import { registerOverlap } from "./commands/overlap.ts";
import { registerQc } from "./commands/qc.ts";
import { registerDe } from "./commands/de.ts";
import { registerPseudobulk } from "./commands/pseudobulk.ts";
import { registerClean } from "./commands/clean.ts";

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** commander argument parser for sizes: a bad size is a usage error (exit 2). */
export function sizeOption(text: string): number {
  try {
    return parseByteSize(text);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The program with every command registered (exported so tests can inspect it without a process). */
export function buildProgram(): Command {
  const program = new Command("crispyx")
    .description(
      "Out-of-core analysis of single-cell CRISPR / Perturb-seq screens in .h5ad files.\nReads X in bounded blocks: files larger than memory are fine.",
    )
    .version(packageVersion(), "-V, --version", "print the version and exit")
    .option("-q, --quiet", "no progress bars or status messages (results and errors are still printed)")
    .option("--verbose", "log what is being done, with timings")
    .option("--debug", "print stack traces on errors")
    .addOption(
      new Option(
        "--memory-limit <size>",
        "working-memory budget for passes over X, e.g. 512M, 4G (default 512M)",
      ).argParser(sizeOption),
    )
    .helpOption("-h, --help", "show help")
    .helpCommand(false)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // One line, prefixed like every other crispyx error.
      outputError: (text, write) => write(`crispyx: ${text.trimEnd()}\n`),
    });
  program.addHelpText(
    "after",
    `
Examples:
  crispyx demo                                 write a synthetic screen and run the pipeline on it
  crispyx info data.h5ad                       what is in a file (add --json for scripts)
  crispyx detect data.h5ad                     which columns hold perturbations and gene symbols
  crispyx --memory-limit 4G normalize data.h5ad -o norm.h5ad
  crispyx filter data.h5ad --cells "obs.perturbation != 'NTC'" -o perturbed.h5ad
  crispyx <command> --help                     options of one command

Every command that writes a file writes it atomically (a temporary file renamed when complete),
refuses to overwrite without --force, and never modifies its input unless asked (--in-place).
Exit codes: 0 ok, 1 bad input (one 'crispyx: error:' line and a hint), 2 bad command line.`,
  );

  registerInfo(program);
  registerValidate(program);
  registerTables(program);
  registerDetect(program);
  registerLabels(program);
  registerGenes(program);
  registerStandardize(program);
  registerPlan(program);
  registerQcThresholds(program);
  registerQc(program);
  registerFilter(program);
  registerNormalize(program);
  registerConvert(program);
  registerSort(program);
  registerDe(program);
  registerPseudobulk(program);
  registerOverlap(program);
  registerReport(program);
  registerDemo(program);
  registerClean(program);

  // Every command: usage errors point at that command's help; errors do not exit the process
  // (main() decides the exit code).
  const visit = (cmd: Command) => {
    cmd
      .exitOverride()
      .helpCommand(false)
      .showHelpAfterError(`hint: run '${commandPath(cmd)} --help' for usage`);
    // Descriptions are laid out by hand in lines of ≤ 105 characters; do not re-wrap them at 80.
    cmd.configureHelp({ helpWidth: Math.max(process.stdout.columns ?? 0, 110) });
    cmd.commands.forEach(visit);
  };
  visit(program);
  return program;
}

/** Whether a command-line argument names an existing file (for naming it in an untranslated error). */
function isFileArg(a: string): boolean {
  try {
    return statSync(a).isFile();
  } catch {
    return false;
  }
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

export async function main(argv: string[]): Promise<void> {
  // `crispyx obs export x.h5ad | head`: the reader leaving early is normal, not a crash.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
  const report = (err: unknown): number => {
    currentContext()?.finishStreams();
    const debug = currentContext()?.debug ?? argv.includes("--debug");
    // The command's input files, to name in an error that escaped translation (argv: node, script, command, …).
    const inputs = argv.slice(3).filter((a) => !a.startsWith("-") && isFileArg(a));
    return reportError(err, { debug, inputs });
  };
  installExitGuards(report);
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = report(err);
  } finally {
    currentContext()?.finishStreams();
  }
}
