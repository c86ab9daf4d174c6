/**
 * `crispyx filter FILE`: keep the cells and genes selected by pandas-like expressions and/or name lists,
 * streamed into a new file.
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { InvalidArgumentError } from "../../errors.ts";
import type { H5adHandle } from "../../io/anndata/handle.ts";
import { parseSelection, type Axis } from "../expressions.ts";
import { contextOf } from "../context.ts";
import { columnCells, type Cell } from "../output.ts";
import {
  addOutputOptions,
  checkInputFile,
  outputPathFor,
  requireColumn,
  shownPath,
  usageError,
  withInput,
  writeJson,
  wroteMessage,
  type OutputOptions,
} from "./common.ts";

const WORDS = { obs: { rows: "cells", names: "obs_names" }, var: { rows: "genes", names: "var_names" } } as const;

/** Rows selected by an expression such as "obs.perturbation != 'non-targeting'". */
function expressionMask(h: H5adHandle, axis: Axis, text: string): Uint8Array {
  const sel = parseSelection(text, axis);
  const cache = new Map<string | null, Cell[]>();
  for (const c of sel.columns) {
    if (c !== null) requireColumn(h, axis, c, `in "${text}"`);
    cache.set(c, c === null ? h[axis].index : columnCells(h[axis].column(c)));
  }
  return sel.evaluate((c) => cache.get(c)!, axis === "obs" ? h.nObs : h.nVars);
}

/** Names listed in a text file: one per line (or the first field of CSV/TSV lines); '#' lines and blanks skipped. */
function readNameList(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InvalidArgumentError(
      `cannot read the list: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (e as Error).message}`,
      { file: path },
    );
  }
  return text
    .split(/\r?\n/)
    .map((l) =>
      l
        .split(/[\t,]/)[0]!
        .trim()
        .replace(/^"(.*)"$/, "$1"),
    )
    .filter((l) => l && !l.startsWith("#"));
}

/**
 * Rows named in a list. Gene lists may use symbols while var_names are IDs: the gene-symbol column
 * is tried too and the better match wins (the user is told which was used).
 */
async function listMask(h: H5adHandle, axis: Axis, path: string, say: (m: string) => void): Promise<Uint8Array> {
  const wanted = new Set(readNameList(path));
  const w = WORDS[axis];
  if (wanted.size === 0) throw new InvalidArgumentError(`lists no ${w.rows}`, { file: path });
  const candidates: { label: string; values: string[] }[] = [{ label: w.names, values: h[axis].index }];
  if (axis === "var") {
    const { detectGeneSymbolColumn } = await import("../../helpers/columnDetection.ts");
    const sym = detectGeneSymbolColumn(h);
    if (sym)
      candidates.push({ label: `var['${sym}']`, values: columnCells(h.var.column(sym)).map((v) => String(v ?? "")) });
  }
  const scored = candidates.map((c) => ({ ...c, found: new Set(c.values.filter((v) => wanted.has(v))) }));
  const best = scored.reduce((a, b) => (b.found.size > a.found.size ? b : a));
  if (best.found.size === 0) {
    const example = [...wanted].slice(0, 3).join(", ");
    throw new InvalidArgumentError(
      `none of its ${wanted.size} names is one of the ${w.rows} of ${h.path} (e.g. ${example})`,
      {
        file: path,
        hint: `list ${w.names}${axis === "var" ? " or gene symbols" : ""}, one per line; ${w.names} look like '${h[axis].index.slice(0, 2).join("', '")}'`,
      },
    );
  }
  if (best !== scored[0]) say(`${shownPath(path)}: matched against ${best.label}`);
  if (best.found.size < wanted.size)
    say(
      `warning: ${wanted.size - best.found.size} of ${wanted.size} names in ${shownPath(path)} are not ${w.rows} of this file`,
    );
  return Uint8Array.from(best.values, (v) => (best.found.has(v) ? 1 : 0));
}

function and(a: Uint8Array | undefined, b: Uint8Array): Uint8Array {
  if (!a) return b;
  for (let i = 0; i < a.length; i++) a[i] = a[i]! & b[i]!;
  return a;
}

const count = (m: Uint8Array | undefined, n: number) => (m ? m.reduce((s, v) => s + v, 0) : n);

interface FilterOptions extends OutputOptions {
  cells?: string;
  genes?: string;
  cellsFrom?: string;
  genesFrom?: string;
  json?: boolean;
}

export function registerFilter(program: Command): void {
  const cmd = program
    .command("filter")
    .summary("keep cells and genes chosen by expressions or name lists")
    .description(
      "Write the selected cells × genes of FILE to a new file (X streamed in blocks, written as CSR).\n" +
        "Select with pandas-like expressions over obs/var columns, with lists of names, or both (ANDed):\n" +
        "  --cells \"obs.perturbation != 'non-targeting' and obs.n_genes >= 200\"\n" +
        "  --genes \"var.gene_symbols in ['GATA1', 'TAL1'] or not (var.n_cells < 3)\"\n" +
        "  --cells \"obs['guide id'] == 'x'\"   --cells \"obs_names in ['AAAC-1']\"\n" +
        "Operators: == != < <= > >= in, not in, and, or, not, parentheses. Missing values compare false\n" +
        "(true for != and not in), as in pandas. Lists: one name per line; gene lists may be symbols.",
    )
    .argument("<file>", "the .h5ad file")
    .option("--cells <expr>", "keep cells where this obs expression is true")
    .option("--genes <expr>", "keep genes where this var expression is true")
    .option("--cells-from <list>", "keep cells named in this file (obs_names, one per line; - for stdin)")
    .option("--genes-from <list>", "keep genes named in this file (var_names or symbols, one per line)")
    .option("--json", "print the result as JSON");
  addOutputOptions(cmd, "filtered").action(async (file: string, opts: FilterOptions, c: Command) => {
    const ctx = contextOf(c);
    if (!opts.cells && !opts.genes && !opts.cellsFrom && !opts.genesFrom)
      usageError(c, "nothing to select: give --cells, --genes, --cells-from or --genes-from");
    if (opts.cellsFrom === "-" && opts.genesFrom === "-")
      usageError(c, "only one of --cells-from and --genes-from can read stdin");
    checkInputFile(file);
    const output = outputPathFor(file, opts, "filtered");
    // Masks are computed (and every column and list checked) before the pass over X starts.
    const { cellMask, geneMask, nObs, nVars } = await withInput(file, async (h) => {
      let cellMask: Uint8Array | undefined;
      let geneMask: Uint8Array | undefined;
      if (opts.cells) cellMask = and(cellMask, expressionMask(h, "obs", opts.cells));
      if (opts.cellsFrom) cellMask = and(cellMask, await listMask(h, "obs", opts.cellsFrom, (m) => ctx.say(m)));
      if (opts.genes) geneMask = and(geneMask, expressionMask(h, "var", opts.genes));
      if (opts.genesFrom) geneMask = and(geneMask, await listMask(h, "var", opts.genesFrom, (m) => ctx.say(m)));
      return { cellMask, geneMask, nObs: h.nObs, nVars: h.nVars };
    });
    const keptCells = count(cellMask, nObs);
    const keptGenes = count(geneMask, nVars);
    if (keptCells === 0 || keptGenes === 0)
      ctx.say(
        `warning: the selection is empty (${keptCells} cells × ${keptGenes} genes); the output has no ${keptCells === 0 ? "cells" : "genes"}`,
      );
    const { writeFilteredSubset } = await import("../../ops/subset.ts");
    const t = performance.now();
    const r = await writeFilteredSubset(file, {
      ...ctx.stream(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
      output,
      ...(cellMask ? { cellMask } : {}),
      ...(geneMask ? { geneMask } : {}),
    });
    ctx.finishStreams();
    const seconds = (performance.now() - t) / 1000;
    if (opts.json) await writeJson(undefined, { ...r, input: { nObs, nVars }, seconds });
    ctx.say(
      wroteMessage(
        r.output,
        `kept ${r.nObs.toLocaleString("en-US")} of ${nObs.toLocaleString("en-US")} cells × ${r.nVars.toLocaleString("en-US")} of ${nVars.toLocaleString("en-US")} genes`,
        seconds,
      ),
    );
  });
}
