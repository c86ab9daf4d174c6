/** `crispyx genes FILE`: standardise gene identifiers (Ensembl versions, mt- prefix, optional symbol mapping). */
import { type Command, Option } from "commander";
import { contextOf } from "../context.ts";
import { formatTextTable, recordsTable } from "../output.ts";
import { checkInputFile, requireColumn, shownPath, withInput, writeJson } from "./common.ts";

interface GenesOptions {
  column?: string;
  keepVersion?: boolean;
  keepMtCase?: boolean;
  mappingFile?: string;
  lookup?: boolean;
  species: string;
  unmapped: "keep" | "warn" | "error";
  inPlace?: boolean;
  json?: boolean;
}

export function registerGenes(program: Command): void {
  program
    .command("genes")
    .summary("standardise gene names: drop Ensembl versions, MT- prefix, map IDs to symbols")
    .description(
      "Standardise the gene identifiers in var_names (or --column), as the Python crispyx does: drop\n" +
        "Ensembl version suffixes (ENSG00000141510.16 → ENSG00000141510), write mt- as MT-, and optionally\n" +
        "map IDs to symbols with a --mapping-file (TSV/CSV: id, symbol) and/or --lookup (MyGene.info;\n" +
        "needs network). Shows what would change; --in-place writes the names into FILE (var only,\n" +
        "crash-safe).",
    )
    .argument("<file>", "the .h5ad file")
    .option("--column <name>", "var column to standardise (default: var_names)")
    .option("--keep-version", "keep Ensembl version suffixes")
    .option("--keep-mt-case", "leave a lower-case mt- prefix as it is")
    .option("--mapping-file <path>", "ID → symbol table (TSV or CSV) used before any online lookup")
    .option("--lookup", "map remaining IDs to symbols through MyGene.info (network)")
    .option("--species <name>", "species for --lookup", "human")
    .addOption(
      new Option("--unmapped <action>", "IDs no mapping knows").choices(["keep", "warn", "error"]).default("warn"),
    )
    .option("--in-place", "write the standardised names into FILE")
    .option("--json", "print the changes as JSON")
    .action(async (file: string, opts: GenesOptions, c: Command) => {
      const ctx = contextOf(c);
      checkInputFile(file);
      const original = await withInput(file, (h) => {
        if (opts.column) requireColumn(h, "var", opts.column, "--column");
        return opts.column ? null : h.var.index;
      });
      const { standardizeGeneNames } = await import("../../helpers/geneNames.ts");
      const r = await standardizeGeneNames(file, {
        column: opts.column ?? null,
        stripVersion: !opts.keepVersion,
        normaliseMtPrefix: !opts.keepMtCase,
        mappingFile: opts.mappingFile,
        lookupSymbols: !!opts.lookup,
        species: opts.species,
        unmappedAction: opts.unmapped,
        inplace: !!opts.inPlace,
        onProgress: ctx.stream().onProgress,
        log: (m) => ctx.say(`warning: ${m}`),
      });
      ctx.finishStreams();
      const before =
        original ??
        (await withInput(file, async (h) => {
          // After an in-place edit the file holds the new names; the column's old values are not needed then.
          const { columnCells } = await import("../output.ts");
          return columnCells(h.var.column(opts.column!)).map((v) => String(v ?? ""));
        }));
      const examples: { gene: string; becomes: string }[] = [];
      for (let i = 0; i < r.names.length && examples.length < 10; i++)
        if (before[i] !== r.names[i]) examples.push({ gene: before[i]!, becomes: r.names[i]! });
      const where = r.column === null ? "var_names" : `var['${r.column}']`;
      if (opts.json) {
        await writeJson(undefined, {
          column: r.column,
          changed: r.changed,
          n_genes: r.names.length,
          examples,
          unmapped: r.unmapped,
          written: r.written,
          unique: new Set(r.names).size === r.names.length,
        });
        return;
      }
      if (examples.length && !r.written)
        process.stdout.write(
          formatTextTable(recordsTable(examples)) +
            (r.changed > examples.length ? `\n… and ${r.changed - examples.length} more\n` : "\n"),
        );
      const summary = `${r.changed} of ${r.names.length} names in ${where} changed${r.unmapped.length ? `; ${r.unmapped.length} IDs without a symbol` : ""}`;
      if (r.written) ctx.say(`updated ${where} of ${shownPath(file)}: ${summary}`);
      else ctx.say(`${summary}.\ndry run: ${shownPath(file)} was not changed; pass --in-place to write the new names`);
    });
}
