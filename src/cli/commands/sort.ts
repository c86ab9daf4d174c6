/** `crispyx sort FILE`: cells grouped by perturbation (controls first), for contiguous reads per group. */
import type { Command } from "commander";
import { contextOf } from "../context.ts";
import {
  addOutputOptions,
  addPerturbationOptions,
  checkInputFile,
  outputPathFor,
  perturbationColumn,
  writeJson,
  wroteMessage,
  type OutputOptions,
} from "./common.ts";

export function registerSort(program: Command): void {
  const cmd = program
    .command("sort")
    .summary("reorder cells by perturbation (controls first, then A→Z)")
    .description(
      "Write a copy of FILE with the cells of each perturbation next to each other: control cells first,\n" +
        "then each perturbation in alphabetical order, keeping the original order within a group. Per-group\n" +
        "steps (DE, pseudobulk) then read one contiguous block per group. The order is recorded in\n" +
        "uns['sorting_metadata']; obs, obsm, layers and raw are reordered with X.",
    )
    .argument("<file>", "the .h5ad file")
    .option("--json", "print the result as JSON");
  addPerturbationOptions(cmd);
  addOutputOptions(cmd, "sorted", { chunkSize: false }).action(
    async (
      file: string,
      opts: OutputOptions & { perturbationColumn?: string; control?: string; json?: boolean },
      c: Command,
    ) => {
      const ctx = contextOf(c);
      checkInputFile(file);
      const output = outputPathFor(file, opts, "sorted");
      const column = await perturbationColumn(file, opts.perturbationColumn, opts.control, (m) => ctx.say(m));
      const { sortByPerturbation } = await import("../../ops/sort.ts");
      const t = performance.now();
      // The output was checked above (exists → needs --force), so the library may always rebuild it.
      const path = await sortByPerturbation(file, {
        ...ctx.stream(),
        column,
        controlLabel: opts.control ?? null,
        output,
        force: true,
      });
      ctx.finishStreams();
      const seconds = (performance.now() - t) / 1000;
      if (opts.json) await writeJson(undefined, { output: path, column, seconds });
      ctx.say(wroteMessage(path, `cells sorted by obs['${column}']`, seconds));
    },
  );
}
