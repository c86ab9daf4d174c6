/** `crispyx detect FILE`: which obs column holds perturbations, which var column gene symbols, and the control label. */
import type { Command } from "commander";
import type { ColumnDetection } from "../../helpers/columnDetection.ts";
import { contextOf } from "../context.ts";
import { columnCells, formatTextTable, recordsTable } from "../output.ts";
import { checkInputFile, withInput, writeJson } from "./common.ts";

function scoreTable(d: ColumnDetection, labels: Record<string, string>): string {
  if (d.scores.length === 0) return "    (no columns)";
  const rows = d.scores
    .slice()
    .sort((a, b) => b.score - a.score)
    .map((s) => ({
      column: s.column,
      score: s.score,
      ...Object.fromEntries(Object.entries(s.parts).map(([k, v]) => [labels[k] ?? k, v])),
    }));
  return formatTextTable(recordsTable(rows)).replace(/^/gm, "    ");
}

export function registerDetect(program: Command): void {
  program
    .command("detect")
    .summary("find the perturbation column, the gene-symbol column and the control label, with scores")
    .description(
      "Score every obs column as the perturbation column (+3 known name, +2 text/categorical, +1 2–5000\n" +
        "distinct values, +2 contains a control label) and every var column as the gene-symbol column (+3\n" +
        "known name, +2 values look like symbols, +1 no Ensembl IDs), as the Python crispyx does, and name\n" +
        "the control label of the chosen column. Other commands use the same detection when -p is not given.",
    )
    .argument("<file>", "the .h5ad file")
    .option("--control <label>", "a known control label (columns containing it score higher)")
    .option("--json", "print the detections and every column's score as JSON")
    .action(async (file: string, opts: { control?: string; json?: boolean }, cmd: Command) => {
      contextOf(cmd);
      checkInputFile(file);
      const { inferColumns } = await import("../../helpers/columnDetection.ts");
      const { resolveControlLabel } = await import("../../helpers/controlLabel.ts");
      const found = inferColumns(file, { controlLabel: opts.control ?? null, explain: true });
      let control: string | null = null;
      let nGroups = 0;
      if (found.perturbationColumn) {
        const labels = await withInput(file, (h) => columnCells(h.obs.column(found.perturbationColumn!)));
        const distinct = [...new Set(labels.filter((v) => v !== null).map(String))];
        nGroups = distinct.length;
        try {
          control = resolveControlLabel(distinct, opts.control ?? null);
          if (!distinct.includes(control)) control = null;
        } catch {
          control = null;
        }
      }
      if (opts.json) {
        await writeJson(undefined, {
          perturbation_column: found.perturbationColumn,
          gene_symbol_column: found.geneNameColumn,
          control_label: control,
          n_perturbation_groups: nGroups,
          perturbation_scores: found.perturbation.scores,
          gene_symbol_scores: found.geneName.scores,
        });
        return;
      }
      const lines = [
        `perturbation column: ${found.perturbationColumn ? `'${found.perturbationColumn}' (score ${found.perturbation.score}; ${nGroups} groups)` : "none found (pass -p to other commands)"}`,
        `control label:       ${control !== null ? `'${control}'` : found.perturbationColumn ? "none found (pass --control to other commands)" : "-"}`,
        `gene-symbol column:  ${found.geneNameColumn ? `'${found.geneNameColumn}' (score ${found.geneName.score})` : "none (var_names are used)"}`,
        "",
        "  obs columns scored as perturbation labels:",
        scoreTable(found.perturbation, {
          nameAlias: "known_name",
          textDtype: "text",
          uniqueCount: "distinct_ok",
          controlValue: "has_control",
        }),
        "",
        "  var columns scored as gene symbols:",
        scoreTable(found.geneName, {
          nameAlias: "known_name",
          symbolLike: "symbol_like",
          noEnsemblPrefix: "no_ensembl",
        }),
      ];
      process.stdout.write(lines.join("\n") + "\n");
    });
}
