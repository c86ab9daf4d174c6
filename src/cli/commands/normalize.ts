/** `crispyx normalize FILE`: Scanpy's normalize_total + log1p, streamed into a new file. */
import { type Command, InvalidArgumentError as UsageError } from "commander";
import { contextOf } from "../context.ts";
import {
  addOutputOptions,
  checkInputFile,
  outputPathFor,
  usageError,
  writeJson,
  wroteMessage,
  type OutputOptions,
} from "./common.ts";

function positiveNumber(text: string): number {
  const v = Number(text);
  if (!(v > 0) || !Number.isFinite(v)) throw new UsageError(`'${text}' is not a positive number`);
  return v;
}

export function registerNormalize(program: Command): void {
  const cmd = program
    .command("normalize")
    .summary("scale each cell to the same total and log1p (scanpy.pp.normalize_total + log1p)")
    .description(
      "Write a copy of FILE whose X is each cell's counts scaled to --target-sum, then log(1 + x), as\n" +
        "scanpy.pp.normalize_total(target_sum=1e4) followed by scanpy.pp.log1p. Streams X by blocks of\n" +
        "cells; the output X is float32 CSR. Everything else (obs, var, uns, obsm, layers, raw…) is carried over.",
    )
    .argument("<file>", "the .h5ad file with counts")
    .option("--target-sum <x>", "counts per cell after scaling", positiveNumber, 1e4)
    .option("--no-normalize", "skip the scaling (log1p only)")
    .option("--no-log1p", "skip the log (scaling only)")
    .option("--json", "print the result as JSON");
  addOutputOptions(cmd, "normalized").action(
    async (
      file: string,
      opts: OutputOptions & { targetSum: number; normalize: boolean; log1p: boolean; json?: boolean },
      c: Command,
    ) => {
      const ctx = contextOf(c);
      checkInputFile(file);
      if (!opts.normalize && !opts.log1p) usageError(c, "--no-normalize and --no-log1p together leave nothing to do");
      const output = outputPathFor(file, opts, "normalized");
      const { normalizeTotalLog1p } = await import("../../ops/normalize.ts");
      const t = performance.now();
      const r = await normalizeTotalLog1p(file, {
        ...ctx.stream(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
        output,
        normalize: opts.normalize,
        log1p: opts.log1p,
        targetSum: opts.targetSum,
      });
      ctx.finishStreams();
      const seconds = (performance.now() - t) / 1000;
      if (opts.json) await writeJson(undefined, { ...r, seconds });
      const what = [opts.normalize ? `scaled to ${opts.targetSum} counts per cell` : "", opts.log1p ? "log1p" : ""]
        .filter(Boolean)
        .join(", then ");
      ctx.say(
        wroteMessage(
          r.output,
          `${r.nObs.toLocaleString("en-US")} cells × ${r.nVars.toLocaleString("en-US")} genes ${what}`,
          seconds,
        ),
      );
    },
  );
}
