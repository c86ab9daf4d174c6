/** `crispyx pseudobulk FILE`: raw counts summed per perturbation (optionally × another obs column). */
import type { Command } from "commander";
import { contextOf } from "../context.ts";
import {
  addOutputOptions,
  addPerturbationOptions,
  checkInputFile,
  outputPathFor,
  perturbationColumn,
  requireColumn,
  withInput,
  writeJson,
  wroteMessage,
  type OutputOptions,
} from "./common.ts";

export function registerPseudobulk(program: Command): void {
  const cmd = program
    .command("pseudobulk")
    .summary("sum raw counts per perturbation (× guide or replicate) into a small .h5ad")
    .description(
      "Sum the raw counts of each perturbation's cells, in one streaming pass over X. With --by COLUMN,\n" +
        "one sample per perturbation × value of COLUMN (guide, replicate, gem group), named 'label|value'.\n" +
        "Writes obs = samples (their labels and n_cells), X = summed counts (float64), var as in FILE.",
    )
    .argument("<file>", "the .h5ad file of raw counts")
    .option("--by <column>", "also split by this obs column (e.g. guide or replicate)")
    .option("--layer <name>", "sum this layer instead of X")
    .option("--json", "print the result as JSON");
  addPerturbationOptions(cmd, { control: false });
  addOutputOptions(cmd, "pseudobulk", { chunkSize: false }).action(
    async (
      file: string,
      opts: OutputOptions & { perturbationColumn?: string; by?: string; layer?: string; json?: boolean },
      c: Command,
    ) => {
      const ctx = contextOf(c);
      checkInputFile(file);
      const output = outputPathFor(file, opts, "pseudobulk");
      const column = await perturbationColumn(file, opts.perturbationColumn, undefined, (m) => ctx.say(m));
      if (opts.by) await withInput(file, (h) => requireColumn(h, "obs", opts.by!, "--by"));
      const { pseudobulk } = await import("../../de/pseudobulk.ts");
      const t = performance.now();
      const r = await pseudobulk(file, {
        ...ctx.stream(),
        perturbationColumn: column,
        ...(opts.by ? { by: opts.by } : {}),
        ...(opts.layer ? { layer: opts.layer } : {}),
        output,
      });
      ctx.finishStreams();
      const seconds = (performance.now() - t) / 1000;
      if (opts.json) await writeJson(undefined, { output: r.outputPath, samples: r.samples, genes: r.nVars, seconds });
      ctx.say(
        wroteMessage(
          r.outputPath,
          `${r.samples} pseudo-bulk samples × ${r.nVars.toLocaleString("en-US")} genes`,
          seconds,
        ),
      );
    },
  );
}
