/** `crispyx labels FILE`: clean up perturbation labels (prefixes, suffixes, control spellings). */
import { type Command, Option } from "commander";
import { contextOf } from "../context.ts";
import { formatTextTable, recordsTable } from "../output.ts";
import { addPerturbationOptions, checkInputFile, perturbationColumn, shownPath, writeJson } from "./common.ts";

const collect = (v: string, prev: string[] = []) => [...prev, v];

interface LabelsOptions {
  perturbationColumn?: string;
  stripPrefix?: string[];
  stripSuffix?: string[];
  stripRegex?: string;
  controlAlias?: string[];
  canonicalControl: string;
  inPlace?: boolean;
  json?: boolean;
}

export function registerLabels(program: Command): void {
  const cmd = program
    .command("labels")
    .summary("normalise perturbation labels: strip prefixes/suffixes, one control label")
    .description(
      "Normalise the perturbation labels in an obs column, as the Python crispyx does: strip each\n" +
        "--strip-prefix from the start, each --strip-suffix from the end, remove --strip-regex matches\n" +
        "(Python syntax), then turn every control spelling (NTC, non-targeting, ctrl, control, scramble…\n" +
        "and each --control-alias, case-insensitive) into --canonical-control.\n" +
        "Shows what would change; --in-place writes the new labels into FILE (obs only, crash-safe).",
    )
    .argument("<file>", "the .h5ad file");
  addPerturbationOptions(cmd, { control: false })
    .option("--strip-prefix <text>", "remove this prefix (repeatable, applied in order)", collect)
    .option("--strip-suffix <text>", "remove this suffix (repeatable, applied in order)", collect)
    .option("--strip-regex <re>", "remove matches of this regular expression, e.g. '_[0-9]+$'")
    .option("--control-alias <text>", "another spelling of the control label (repeatable)", collect)
    .addOption(new Option("--canonical-control <label>", "what every control spelling becomes").default("NTC"))
    .option("--in-place", "write the new labels into FILE")
    .option("--json", "print the changes as JSON")
    .action(async (file: string, opts: LabelsOptions, c: Command) => {
      const ctx = contextOf(c);
      checkInputFile(file);
      const column = await perturbationColumn(file, opts.perturbationColumn, undefined, (m) => ctx.say(m));
      const { normalizePerturbationLabels } = await import("../../helpers/perturbationLabels.ts");
      const r = normalizePerturbationLabels(file, column, {
        stripPrefixes: opts.stripPrefix,
        stripSuffixes: opts.stripSuffix,
        stripSuffixRegex: opts.stripRegex,
        controlAliases: opts.controlAlias,
        canonicalControl: opts.canonicalControl,
        inplace: !!opts.inPlace,
        log: (m) => ctx.say(`warning: ${m}`),
      });
      const counts = new Map<string, number>();
      for (const l of r.labels) if (l !== null) counts.set(l, (counts.get(l) ?? 0) + 1);
      const groups = counts.size;
      if (opts.json) {
        await writeJson(undefined, {
          column: r.column,
          changed_cells: r.changed,
          mapping: r.mapping,
          groups,
          control_cells: r.nControl,
          written: r.written,
        });
        return;
      }
      const entries = Object.entries(r.mapping).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      if (entries.length) {
        process.stdout.write(
          formatTextTable(recordsTable(entries.map(([from, to]) => ({ label: from, becomes: to })))) + "\n",
        );
      }
      const summary = `${r.changed} of ${r.labels.length} cells relabelled (${entries.length} distinct labels changed); ${groups} groups, ${r.nControl} cells '${opts.canonicalControl}'`;
      if (r.written) ctx.say(`updated obs['${column}'] of ${shownPath(file)}: ${summary}`);
      else ctx.say(`${summary}.\ndry run: ${shownPath(file)} was not changed; pass --in-place to write the new labels`);
    });
}
