/** `crispyx convert FILE --to csr|csc`: change how X is stored, in bounded memory. */
import { copyFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { writeAtomically } from "../../io/atomic.ts";
import { contextOf } from "../context.ts";
import {
  addOutputOptions,
  checkInputFile,
  outputPathFor,
  shownPath,
  writeJson,
  wroteMessage,
  type OutputOptions,
} from "./common.ts";

export function registerConvert(program: Command): void {
  const cmd = program
    .command("convert")
    .summary("store X as CSR (cell blocks) or CSC (gene blocks)")
    .description(
      "Write a copy of FILE with X stored as CSR (fast to read by cells: normalisation, QC, t-test) or CSC\n" +
        "(fast to read by genes: Wilcoxon). Reads X once; when the non-zeros do not fit in --memory-limit\n" +
        "they are sorted in runs on disk beside the output. Everything else (obs, var, uns, layers…) is copied.",
    )
    .argument("<file>", "the .h5ad file")
    .addOption(
      new Option("--to <format>", "storage format of the output").choices(["csr", "csc"]).makeOptionMandatory(),
    )
    .option("--json", "print the result as JSON");
  addOutputOptions(cmd, "<format>", { chunkSize: false }).action(
    async (file: string, opts: OutputOptions & { to: "csr" | "csc"; json?: boolean }, c: Command) => {
      const ctx = contextOf(c);
      checkInputFile(file);
      const output = outputPathFor(file, opts, opts.to);
      const { convertToCsc, convertToCsr } = await import("../../ops/convert.ts");
      const t = performance.now();
      const r = await (opts.to === "csc" ? convertToCsc : convertToCsr)(file, { ...ctx.stream(), output });
      ctx.finishStreams();
      let path = r.path;
      if (!r.converted && opts.output) {
        // Asked for an output file: give one, even though X needed no change (pipelines expect it).
        await writeAtomically(output, (tmp) => copyFileSync(file, tmp));
        path = output;
      }
      const seconds = (performance.now() - t) / 1000;
      if (opts.json) await writeJson(undefined, { ...r, path, seconds });
      if (r.converted)
        ctx.say(
          wroteMessage(
            path,
            `X ${r.from} → ${r.to}, ${r.nnz.toLocaleString("en-US")} non-zeros${r.spilledRuns ? `, ${r.spilledRuns} sorted runs spilled to disk` : ""}`,
            seconds,
          ),
        );
      else
        ctx.say(
          `${shownPath(file)}: X is already ${r.to.toUpperCase()}; ${opts.output ? `copied to ${shownPath(path)}` : "nothing to do"}`,
        );
    },
  );
}
