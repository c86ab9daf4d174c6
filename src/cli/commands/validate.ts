/**
 * `crispyx validate FILE`: the full check of the AnnData on-disk spec (../../io/anndata/validate.ts), X's
 * sparse invariants and values included, streamed with bounded memory. Exit status 0 when the file is
 * valid, 1 when not (each problem on stdout, one summary line on stderr); --json for pipelines.
 */
import type { Command } from "commander";
import { contextOf } from "../context.ts";
import { writeJson } from "./common.ts";

export function registerValidate(program: Command): void {
  program
    .command("validate")
    .summary("check a file against the AnnData on-disk spec (structure, X's invariants and values)")
    .description(
      "Check FILE against the AnnData on-disk spec: every element's encoding known; obs/var columns as long as\n" +
        "the table; categoricals (integer codes in [-1, n_categories), unique categories); X present, its shape,\n" +
        "format and sparse structure (indptr from 0 to nnz, never decreasing; indices in range, no duplicates\n" +
        "within a row); obsm/varm/obsp/varp/layers/raw shapes; strings valid UTF-8; uns at most 64 levels deep;\n" +
        "X's values (NaN, ±Inf; negative values where X holds counts). X is streamed once in blocks.\n" +
        "Exit status 0 when valid, 1 when not.",
    )
    .argument("<file>", "the .h5ad file")
    .option("--no-values", "check the structure only (do not stream X)")
    .option("--json", "print the report as JSON")
    .action(async (file: string, opts: { values: boolean; json?: boolean }, cmd: Command) => {
      contextOf(cmd);
      const { validate } = await import("../../io/anndata/validate.ts");
      const { FileFormatError } = await import("../../errors.ts");
      const report = validate(file, { values: opts.values });
      if (opts.json) await writeJson(undefined, report);
      else if (report.valid) {
        const shape = report.shape ? `${report.shape[0]} cells × ${report.shape[1]} genes` : "";
        const x = report.x ? `; X ${report.x.format}, ${report.x.nnz} stored elements checked` : "";
        process.stdout.write(`${file}: valid AnnData (${shape}${x})\n`);
      } else {
        process.stdout.write(`${file}: ${report.problems.length} problem${report.problems.length > 1 ? "s" : ""}\n`);
        for (const p of report.problems) process.stdout.write(`  - ${p.message}\n`);
      }
      if (!report.valid) {
        const n = report.problems.length;
        throw new FileFormatError(
          `not valid AnnData: ${report.problems[0]!.message}${n > 1 ? ` (and ${n - 1} more)` : ""}`,
          { file },
        );
      }
    });
}
