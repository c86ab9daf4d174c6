/** `crispyx standardize FILE`: a copy with the screen's columns under standard names. */
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

export function registerStandardize(program: Command): void {
  const cmd = program
    .command("standardize")
    .summary("copy with obs['perturbation'], control label 'control' and gene names as var_names")
    .description(
      "Write a copy of FILE that every later step can read without options, as the Python crispyx's\n" +
        "standardize_dataset: the perturbation column renamed to 'perturbation', its control label to\n" +
        "'control', and --gene-column (if given) as var_names. X and the other large elements are copied\n" +
        "as stored (never decoded); the original names go to uns['standardization_metadata'].",
    )
    .argument("<file>", "the .h5ad file")
    .option("--gene-column <column>", "var column with gene names to use as var_names (default: keep var_names)")
    .option("--json", "print the result as JSON");
  addPerturbationOptions(cmd);
  addOutputOptions(cmd, "standardized", { chunkSize: false }).action(
    async (
      file: string,
      opts: OutputOptions & { perturbationColumn?: string; control?: string; geneColumn?: string; json?: boolean },
      c: Command,
    ) => {
      const ctx = contextOf(c);
      checkInputFile(file);
      const output = outputPathFor(file, opts, "standardized");
      const column = await perturbationColumn(file, opts.perturbationColumn, opts.control, (m) => ctx.say(m));
      if (opts.geneColumn) await withInput(file, (h) => requireColumn(h, "var", opts.geneColumn!, "--gene-column"));
      const { standardizeDataset } = await import("../../ops/standardize.ts");
      const t = performance.now();
      const { onProgress, signal } = ctx.stream();
      const written = await standardizeDataset(file, {
        perturbationColumn: column,
        controlLabel: opts.control ?? null,
        geneNameColumn: opts.geneColumn ?? null,
        output,
        force: true, // an existing output was refused above unless --force
        onProgress,
        signal,
      });
      const control = await withInput(written, (h) => {
        const meta = h.uns.has("standardization_metadata") ? h.uns.get("standardization_metadata") : null;
        const v = meta?.type === "dict" ? meta.items["label_mappings"] : undefined;
        if (v?.type !== "scalar") return null;
        // label_mappings is the seed's JSON text, {"<original control>": "control"}.
        const mapping = JSON.parse(String(v.value)) as Record<string, string>;
        return Object.keys(mapping).find((k) => mapping[k] === "control") ?? null;
      });
      ctx.finishStreams();
      const seconds = (performance.now() - t) / 1000;
      if (opts.json)
        await writeJson(undefined, {
          output,
          perturbation_column: column,
          control_label: control,
          gene_column: opts.geneColumn ?? null,
          seconds,
        });
      ctx.say(
        wroteMessage(
          output,
          `${column === "perturbation" ? "obs['perturbation'] kept" : `obs['${column}'] → obs['perturbation']`}${control ? `, '${control}' → 'control'` : ""}${opts.geneColumn ? `, var['${opts.geneColumn}'] → var_names` : ""}`,
          seconds,
        ),
      );
    },
  );
}
