/** `crispyx info FILE`: what is in a file, and what contradicts the spec, without reading X's values. */
import type { Command } from "commander";
import { contextOf } from "../context.ts";
import { withInput, writeJson } from "./common.ts";

export function registerInfo(program: Command): void {
  program
    .command("info")
    .summary("what is in an .h5ad file (shape, columns, X storage) and its problems, without reading X's values")
    .description(
      "Print what is in an .h5ad file: shape, obs/var columns, uns/obsm/layers keys and how X is stored.\n" +
        "Reads metadata and X's sparse index (indptr, and indices up to 100 M stored values), not X's values.\n" +
        "Lists what contradicts the AnnData spec (unknown encodings, columns of the wrong length, broken\n" +
        "categoricals, X's shape, format, indptr and indices, non-UTF-8 text, uns nested too deep) and then\n" +
        "exits 1; 'crispyx validate' also checks X's stored values.",
    )
    .argument("<file>", "the .h5ad file")
    .option("--json", "print a machine-readable JSON summary instead")
    .action(async (file: string, opts: { json?: boolean }, cmd: Command) => {
      contextOf(cmd);
      const { summarize, infoText } = await import("../summary.ts");
      const { checkStructure, checkSparseIndex, INFO_INDEX_LIMIT } = await import("../../io/anndata/validate.ts");
      const { FileFormatError } = await import("../../errors.ts");
      await withInput(file, async (h) => {
        // "Is my file OK?": the metadata checks of `crispyx validate` and X's sparse structure (indptr, and
        // indices up to INFO_INDEX_LIMIT stored elements), not X's values; listed after the summary.
        const problems = checkStructure(h.file);
        let indicesChecked = true;
        if (h.file.exists("/X") && !problems.some((p) => p.element.startsWith("X"))) {
          const x = checkSparseIndex(h.file, "/X");
          problems.push(...x.problems);
          indicesChecked = x.indicesChecked;
        }
        let s: ReturnType<typeof summarize> | undefined;
        try {
          s = summarize(h);
        } catch (err) {
          if (problems.length === 0) throw err;
        }
        const skipped = indicesChecked ? {} : { xIndicesChecked: false };
        if (opts.json)
          await writeJson(undefined, problems.length ? { ...s, ...skipped, problems } : { ...s, ...skipped });
        else {
          if (s) process.stdout.write(infoText(h, s) + "\n");
          if (!indicesChecked)
            process.stdout.write(
              `X's indices not checked (more than ${INFO_INDEX_LIMIT.toLocaleString("en-US")} stored values): 'crispyx validate' checks them\n`,
            );
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
