/** `crispyx info FILE`: what is in a file, without reading X. */
import type { Command } from "commander";
import { contextOf } from "../context.ts";
import { withInput, writeJson } from "./common.ts";

export function registerInfo(program: Command): void {
  program
    .command("info")
    .summary("what is in an .h5ad file (shape, columns, X storage), without reading X")
    .description(
      "Print what is in an .h5ad file: shape, obs/var columns, uns/obsm/layers keys and how X is stored.\n" +
        "Reads only metadata, so it is instant on files of any size. Lists what contradicts the AnnData spec\n" +
        "(unknown encodings, columns of the wrong length, broken categoricals, X's shape and format, non-UTF-8\n" +
        "names, uns nested too deep) and then exits 1; 'crispyx validate' also checks X's stored values.",
    )
    .argument("<file>", "the .h5ad file")
    .option("--json", "print a machine-readable JSON summary instead")
    .action(async (file: string, opts: { json?: boolean }, cmd: Command) => {
      contextOf(cmd);
      const { summarize, infoText } = await import("../summary.ts");
      const { checkStructure } = await import("../../io/anndata/validate.ts");
      const { FileFormatError } = await import("../../errors.ts");
      await withInput(file, async (h) => {
        // "Is my file OK?": the metadata checks of `crispyx validate` (not X's values), listed after the summary.
        const problems = checkStructure(h.file);
        let s: ReturnType<typeof summarize> | undefined;
        try {
          s = summarize(h);
        } catch (err) {
          if (problems.length === 0) throw err;
        }
        if (opts.json) await writeJson(undefined, problems.length ? { ...s, problems } : s);
        else {
          if (s) process.stdout.write(infoText(h, s) + "\n");
          if (problems.length)
            process.stdout.write(`problems:\n${problems.map((p) => `    ${p.message}`).join("\n")}\n`);
        }
        if (problems.length) {
          const n = problems.length;
          throw new FileFormatError(
            `${problems[0]!.message}${n > 1 ? ` (and ${n - 1} more problem${n > 2 ? "s" : ""})` : ""}`,
            {
              file,
              hint: `'crispyx validate ${file}' also checks X's stored values`,
            },
          );
        }
      });
    });
}
