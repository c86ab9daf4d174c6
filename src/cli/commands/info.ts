/** `crispyx info FILE`: what is in a file, without reading X. */
import type { Command } from "commander";
import { contextOf } from "../context.ts";
import { withInput, writeJson } from "./common.ts";

export function registerInfo(program: Command): void {
  program
    .command("info")
    .summary("what is in an .h5ad file (shape, columns, X storage), without reading X")
    .description("Print what is in an .h5ad file: shape, obs/var columns, uns/obsm/layers keys and how X is stored.\nReads only metadata, so it is instant on files of any size.")
    .argument("<file>", "the .h5ad file")
    .option("--json", "print a machine-readable JSON summary instead")
    .action(async (file: string, opts: { json?: boolean }, cmd: Command) => {
      contextOf(cmd);
      const { summarize, infoText } = await import("../summary.ts");
      await withInput(file, async (h) => {
        const s = summarize(h);
        if (opts.json) await writeJson(undefined, s);
        else process.stdout.write(infoText(h, s) + "\n");
      });
    });
}
