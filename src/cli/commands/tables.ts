/**
 * `crispyx obs …` / `crispyx var …`: move the cell or gene table between an .h5ad file and
 * CSV/TSV/JSON, to inspect or edit it with other tools. X is never touched; imports are crash-safe
 * in-place edits (writeObs / writeVar).
 */
import { readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { InvalidArgumentError } from "../../errors.ts";
import { dataframe, type DataFrame } from "../../io/anndata/model.ts";
import { contextOf } from "../context.ts";
import {
  dataFrameTable,
  formatFromPath,
  TABLE_FORMATS,
  writeTable,
  type PlainTable,
  type TableFormat,
} from "../output.ts";
import { parseTable, tableToDataFrame } from "../tableInput.ts";
import { similar, withInput, writeText } from "./common.ts";

type Axis = "obs" | "var";

const WORDS = {
  obs: { rows: "cells", names: "obs_names", what: "cell (obs)" },
  var: { rows: "genes", names: "var_names", what: "gene (var)" },
} as const;

function formatOption(): Option {
  return new Option(
    "-f, --format <format>",
    "table format (default: from the file name's extension, else csv)",
  ).choices(TABLE_FORMATS);
}

/** Select columns of a table by name; an unknown name is an error listing those available. */
function selectColumns(df: DataFrame, names: string[], file: string, axis: Axis): DataFrame {
  for (const n of names) {
    if (!df.columnOrder.includes(n)) {
      const near = df.columnOrder.filter((c) => similar(c, n));
      throw new InvalidArgumentError(`${axis} has no column '${n}'`, {
        file,
        hint: `${near.length ? `did you mean ${near.map((c) => `'${c}'`).join(" or ")}? ` : ""}available columns: ${df.columnOrder.join(", ") || "(none)"}`,
      });
    }
  }
  return dataframe(df.index, Object.fromEntries(names.map((n) => [n, df.columns[n]!])), df.indexName);
}

function readInputText(path: string): string {
  try {
    return readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "is a directory"
          : code === "EACCES"
            ? "permission denied"
            : (e as Error).message;
    throw new InvalidArgumentError(`cannot read the table: ${why}`, { file: path });
  }
}

/** Put the imported rows in the file's order when they are the same names in another order. */
function alignRows(
  table: PlainTable,
  fileIndex: string[],
  tablePath: string,
  file: string,
  axis: Axis,
  renameIndex: boolean,
): { table: PlainTable; reordered: boolean } {
  const names = table.values[0]!.map((v) => (v === null ? "" : String(v)));
  const w = WORDS[axis];
  if (names.length !== fileIndex.length) {
    throw new InvalidArgumentError(`has ${names.length} rows but ${file} has ${fileIndex.length} ${w.rows}`, {
      file: tablePath,
      hint: `the table needs one row per ${w.rows.slice(0, -1)}, with the ${w.names} in the first column`,
    });
  }
  if (renameIndex || names.every((n, i) => n === fileIndex[i])) return { table, reordered: false };
  const position = new Map(names.map((n, i) => [n, i]));
  if (position.size === names.length && fileIndex.every((n) => position.has(n))) {
    const order = fileIndex.map((n) => position.get(n)!);
    return {
      table: { columns: table.columns, values: table.values.map((col) => order.map((i) => col[i]!)) },
      reordered: true,
    };
  }
  const i = names.findIndex((n, k) => n !== fileIndex[k]);
  throw new InvalidArgumentError(
    `row names do not match the ${w.names} of ${file} (row ${i + 1}: '${names[i]}', file has '${fileIndex[i]}')`,
    {
      file: tablePath,
      hint: `the first column must hold the ${w.names}; pass --rename-index to replace them with the table's names`,
    },
  );
}

function registerAxis(program: Command, axis: Axis): void {
  const w = WORDS[axis];
  const group = program
    .command(axis)
    .summary(`export or import the ${w.what} table as CSV/TSV/JSON`)
    .description(
      `Export the ${w.what} table of an .h5ad file as CSV, TSV or JSON, or replace it with an edited table.\nX is not read or changed.`,
    );

  group
    .command("export")
    .summary(`write the ${axis} table as CSV/TSV/JSON`)
    .description(
      `Write the ${w.what} table: first column '${w.names}', then one column per ${axis} column.\nMissing values are empty cells (null in JSON); booleans are True/False.`,
    )
    .argument("<file>", "the .h5ad file")
    .addOption(formatOption())
    .option("-o, --output <path>", "write to this file (atomically) instead of stdout")
    .option("-c, --columns <names>", "only these columns, comma-separated")
    .action(async (file: string, opts: { format?: TableFormat; output?: string; columns?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const format = opts.format ?? formatFromPath(opts.output) ?? "csv";
      const df = await withInput(file, (h) => {
        let t = h[axis].load();
        if (opts.columns)
          t = selectColumns(
            t,
            opts.columns
              .split(",")
              .map((s) => s.trim())
              .filter(Boolean),
            file,
            axis,
          );
        return t;
      });
      await writeText(opts.output, (write) => writeTable(dataFrameTable(df, w.names), format, write));
      if (opts.output)
        ctx.say(`wrote ${axis}: ${df.index.length} ${w.rows} × ${df.columnOrder.length} columns to ${opts.output}`);
    });

  group
    .command("import")
    .summary(`replace the ${axis} table with one from CSV/TSV/JSON`)
    .description(
      `Replace the ${w.what} table of FILE with TABLE (CSV, TSV or JSON records, '-' for stdin).\n` +
        `The first column must hold the ${w.names}; the row count must match the file's ${w.rows}.\n` +
        `Rows in another order are put back in the file's order. Column types follow the values and the\n` +
        `file's existing columns (categoricals stay categoricals; new text columns become categoricals).\n` +
        `The edit is crash-safe: an interruption leaves the old table or the new one, never a mix.`,
    )
    .argument("<file>", "the .h5ad file to edit in place")
    .argument("<table>", "the table file, or - for stdin")
    .addOption(formatOption())
    .option("--rename-index", `replace the ${w.names} with the table's first column instead of matching them`)
    .action(
      async (file: string, tablePath: string, opts: { format?: TableFormat; renameIndex?: boolean }, cmd: Command) => {
        const ctx = contextOf(cmd);
        // Read and check everything before the file is touched.
        const existing = await withInput(file, (h) => h[axis].load());
        const format = opts.format ?? formatFromPath(tablePath) ?? "csv";
        const parsed = parseTable(readInputText(tablePath), format, tablePath);
        if (parsed.columns.length === 0 || parsed.values.length === 0) {
          throw new InvalidArgumentError(`has no columns`, { file: tablePath });
        }
        const { table, reordered } = alignRows(parsed, existing.index, tablePath, file, axis, !!opts.renameIndex);
        if (reordered)
          ctx.say(`note: ${tablePath} lists the ${w.rows} in another order; rows were matched by ${w.names}`);
        const df = tableToDataFrame(table, existing, tablePath);
        const added = df.columnOrder.filter((c) => !existing.columnOrder.includes(c));
        const dropped = existing.columnOrder.filter((c) => !df.columnOrder.includes(c));
        // Loaded here: the in-place editing machinery is only needed by this command.
        const { writeObs, writeVar } = await import("../../io/anndata/fileHelpers.ts");
        (axis === "obs" ? writeObs : writeVar)(file, df);
        ctx.say(
          `replaced ${axis} of ${file}: ${df.index.length} ${w.rows} × ${df.columnOrder.length} columns` +
            (added.length ? `; added ${added.join(", ")}` : "") +
            (dropped.length ? `; removed ${dropped.join(", ")}` : ""),
        );
      },
    );
}

export function registerTables(program: Command): void {
  registerAxis(program, "obs");
  registerAxis(program, "var");
}
