/**
 * One corpus file through the CLI: info, obs export, normalize, convert, filter, sort, standardize, DE
 * (t-test on the normalised file, Wilcoxon on its CSC copy). Each command must exit 0 without a crash and
 * give the reference values; a file without X may instead be refused in one clear line.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CliResult } from "../cli/helpers.ts";
import { CORPUS, crashSign, differs, firstLine, parseCsv, type Expected, type ManifestEntry } from "./corpus.ts";
import { obsColumn, shapeOf, summarizeX, unsArrayLength } from "./outputs.ts";

export const COMMANDS = [
  "info",
  "obs-export",
  "normalize",
  "convert",
  "filter",
  "sort",
  "standardize",
  "de-ttest",
  "de-wilcoxon",
] as const;
export type CommandName = (typeof COMMANDS)[number];

export interface Check {
  command: CommandName;
  status: "pass" | "fail" | "skip";
  reason?: string;
  /** Files this command wrote, to open in anndata. */
  outputs: string[];
  /** DE: crispyx's scores of the expected genes, to compare with scipy on the same input (de_scores.py). */
  deJob?: DeJob;
}

export interface DeJob {
  file: string;
  column: string;
  control: string;
  group: string;
  genes: string[];
  method: "t-test" | "wilcoxon";
  scores: number[];
}

/**
 * Tolerances. normalize: relative, vs float64 numpy (the output is float32, ~6e-8). convert/filter/sort
 * totals: float64 sums of the same values in another order. DE scores vs the committed expectations
 * (computed from Python's own normalisation): 1e-5 relative + 1e-6 absolute, as DE reads float32 values and
 * a few units in their last place move a t-statistic of two close means by ~1e-6 relative (measured:
 * 1.6e-6 on cellrank_adata_50_2020). DE scores vs scipy on the same normalised file (liveDe): 1e-8 relative
 * (the CSV keeps 9 digits) + 1e-9 absolute.
 */
export const TOL = { normalize: 1e-6, exact: 1e-9, de: 1e-5, deAbs: 1e-6, liveDe: 1e-8, liveDeAbs: 1e-9 };

class CheckFailed extends Error {}

function fail(message: string): never {
  throw new CheckFailed(message);
}

/** A command's result: ok, or the reason it failed (crash signs first). */
function outcome(r: CliResult, exp: Expected): { ok: boolean; refused?: string; reason?: string } {
  const crash = crashSign(r.stderr);
  if (crash) return { ok: false, reason: `${crash}: ${firstLine(r.stderr)}` };
  if (r.code === 0) return { ok: true };
  const lines = r.stderr
    .trim()
    .split("\n")
    .filter((l) => l.trim());
  // Without X there is nothing to normalise, convert or test: one clear line is the right answer.
  if (exp.x === null && lines.length === 1) return { ok: false, refused: lines[0] };
  return { ok: false, reason: `exit ${r.code}: ${firstLine(r.stderr)}` };
}

/** `cli` runs one crispyx command (a CliChild, or the helpers' subprocess `crispyx`). */
export async function runFile(
  entry: ManifestEntry,
  exp: Expected,
  dir: string,
  cli: (args: string[]) => Promise<CliResult>,
): Promise<Check[]> {
  const input = join(CORPUS, entry.name);
  const checks: Check[] = [];
  const out = (n: string) => join(dir, n);

  async function step(command: CommandName, outputs: string[], body: () => Promise<void>): Promise<boolean> {
    try {
      await body();
      checks.push({ command, status: "pass", outputs });
      return true;
    } catch (e) {
      if (e instanceof Refused) {
        checks.push({ command, status: "pass", reason: `refused: ${e.message}`, outputs: [] });
        return false;
      }
      const msg = e instanceof CheckFailed ? e.message : `harness: ${(e as Error).message.split("\n")[0]}`;
      checks.push({ command, status: "fail", reason: msg, outputs: outputs.filter((p) => existsSync(p)) });
      return false;
    }
  }
  const skip = (command: CommandName, reason: string) => checks.push({ command, status: "skip", reason, outputs: [] });

  async function run(args: string[]): Promise<CliResult> {
    const r = await cli(args);
    const o = outcome(r, exp);
    if (o.refused !== undefined) throw new Refused(o.refused);
    if (!o.ok) fail(o.reason!);
    return r;
  }

  const rows = (exp.x?.rows ?? []).map((r) => r.row);

  await step("info", [], async () => {
    const r = await run(["info", "--json", input]);
    const info = JSON.parse(r.stdout) as {
      n_obs: number;
      n_vars: number;
      obs: { name: string; dtype: string; n_categories?: number }[];
      raw?: { n_vars: number } | null;
      layers?: Record<string, unknown>;
      obsm?: Record<string, unknown>;
    };
    if (info.n_obs !== exp.n_obs || info.n_vars !== exp.n_vars)
      fail(`shape ${info.n_obs} × ${info.n_vars}, expected ${exp.n_obs} × ${exp.n_vars}`);
    if ((info.raw?.n_vars ?? null) !== (exp.raw?.n_vars ?? null))
      fail(`raw ${JSON.stringify(info.raw ?? null)}, expected ${JSON.stringify(exp.raw)}`);
    const keys = (m?: Record<string, unknown>) => JSON.stringify(Object.keys(m ?? {}).sort());
    if (keys(info.layers) !== JSON.stringify(exp.layers))
      fail(`layers ${keys(info.layers)}, expected ${JSON.stringify(exp.layers)}`);
    if (keys(info.obsm) !== JSON.stringify(exp.obsm))
      fail(`obsm ${keys(info.obsm)}, expected ${JSON.stringify(exp.obsm)}`);
    const cols = new Map(info.obs.map((c) => [c.name, c]));
    for (const [name, kind] of Object.entries(exp.obs_columns)) {
      const c = cols.get(name);
      if (!c) fail(`obs column '${name}' missing`);
      if (kind === "categorical" && (c.dtype !== "category" || c.n_categories !== exp.categories[name]!.length)) {
        fail(
          `obs '${name}': ${c.dtype} with ${c.n_categories ?? "no"} categories, expected category with ${exp.categories[name]!.length}`,
        );
      }
    }
  });

  await step("obs-export", [], async () => {
    const path = out("obs.json");
    await run(["obs", "export", "-f", "json", input, "-o", path]);
    const table = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>[];
    if (table.length !== exp.n_obs) fail(`${table.length} rows, expected ${exp.n_obs}`);
    if (exp.n_obs > 0 && String(table[0]!.obs_names) !== exp.obs_names_head[0])
      fail(`first obs_name '${String(table[0]!.obs_names)}', expected '${exp.obs_names_head[0]}'`);
    for (const [name, head] of Object.entries(exp.obs_head)) {
      const got = table
        .slice(0, head.length)
        .map((row) => (row[name] === null || row[name] === undefined ? null : String(row[name])));
      if (JSON.stringify(got) !== JSON.stringify(head))
        fail(
          `obs '${name}' labels ${JSON.stringify(got).slice(0, 120)}, expected ${JSON.stringify(head).slice(0, 120)}`,
        );
    }
  });

  const norm = out("norm.h5ad");
  let notCounts = false;
  const normalized = await step("normalize", [norm], async () => {
    const r = await cli(["normalize", input, "-o", norm]);
    const m = /X holds (.+?) at cell (\d+), gene (\d+)/.exec(r.stderr);
    if (r.code !== 0 && m && !crashSign(r.stderr)) {
      // X is not counts (scaled data, NaN): normalize must refuse it (issue 20), naming a cell and gene whose
      // value really is negative or not finite.
      const [cell, gene] = [Number(m[2]), Number(m[3])];
      const v = new Map(summarizeX(input, [cell]).rows.get(cell)?.nonzeros ?? []).get(gene);
      if (v === undefined || (Number.isFinite(v) && v >= 0))
        fail(`normalize refused citing cell ${cell}, gene ${gene}, whose value is ${v}`);
      notCounts = true;
      throw new Refused(firstLine(r.stderr));
    }
    const o = outcome(r, exp);
    if (o.refused !== undefined) throw new Refused(o.refused);
    if (!o.ok) fail(o.reason!);
    const s = summarizeX(norm, rows);
    for (const r of exp.normalize!.rows) {
      const got = s.rows.get(r.row)!;
      const d = differs(`row ${r.row} sum`, got.sum, r.sum, TOL.normalize, 1e-9);
      if (d) fail(d);
      const byCol = new Map(got.nonzeros);
      for (const [j, v] of r.first) {
        const d2 = differs(`row ${r.row} gene ${j}`, byCol.get(j) ?? 0, v, TOL.normalize, 1e-9);
        if (d2) fail(d2);
      }
    }
  });

  const conv = out("conv.h5ad");
  await step("convert", [conv], async () => {
    const to = exp.x?.format === "csc" ? "csr" : "csc";
    await run(["convert", input, "--to", to, "-o", conv]);
    const s = summarizeX(conv, rows);
    if (s.format !== to) fail(`X stored as ${s.format}, expected ${to}`);
    if (s.dtype !== exp.x!.dtype) fail(`X dtype ${s.dtype}, expected ${exp.x!.dtype}`);
    const d = differs("X total", s.sum, exp.x!.sum, TOL.exact);
    if (d) fail(d);
    for (const r of exp.x!.rows) {
      const got = s.rows.get(r.row)!;
      if (got.nnz !== r.nnz) fail(`row ${r.row}: ${got.nnz} non-zeros, expected ${r.nnz}`);
      const d2 = differs(`row ${r.row} sum`, got.sum, r.sum, TOL.exact);
      if (d2) fail(d2);
    }
  });

  const filt = out("filtered.h5ad");
  await step("filter", [filt], async () => {
    const f = exp.filter;
    const args = ["filter", input, "-o", filt];
    if (f === null) args.push("--cells-from", writeList(out("cells.txt"), exp.obs_names_head.slice(0, 1)));
    else if (f.cells !== undefined) args.push("--cells", f.cells);
    else args.push("--cells-from", writeList(out("cells.txt"), f.cells_from!));
    await run(args);
    if (f === null) return;
    const s = summarizeX(filt, []);
    if (s.shape[0] !== f.n_obs) fail(`${s.shape[0]} cells kept, expected ${f.n_obs}`);
    if (s.dtype !== exp.x!.dtype) fail(`X dtype ${s.dtype}, expected ${exp.x!.dtype}`);
    const d = differs("X total", s.sum, f.x_sum, TOL.exact);
    if (d) fail(d);
    if (exp.de) {
      const c = obsColumn(filt, exp.de.column);
      const used = new Set(c.values.filter((v): v is string => v !== null));
      const unused = (c.categories ?? []).filter((k) => !used.has(k));
      if (unused.length)
        fail(
          `obs '${exp.de.column}' keeps unused categories ${JSON.stringify(unused.slice(0, 3))} (anndata's subset drops them)`,
        );
      const colours = unsArrayLength(filt, `${exp.de.column}_colors`);
      if (colours !== null && colours !== c.categories!.length)
        fail(`uns['${exp.de.column}_colors'] has ${colours} colours for ${c.categories!.length} categories`);
    }
  });

  if (!entry.de || !exp.de) {
    for (const c of ["sort", "standardize", "de-ttest", "de-wilcoxon"] as const)
      skip(c, `no DE column: ${entry.de_reason ?? "none in the manifest"}`);
    return checks;
  }
  const de = exp.de;
  const pc = ["-p", de.column, "--control", de.control];

  const sorted = out("sorted.h5ad");
  await step("sort", [sorted], async () => {
    await run(["sort", input, ...pc, "-o", sorted]);
    const c = obsColumn(sorted, de.column);
    if (c.values.length !== exp.n_obs) fail(`${c.values.length} cells, expected ${exp.n_obs}`);
    if (c.values[0] !== de.control) fail(`first cell is '${c.values[0]}', expected the control '${de.control}'`);
    const nCtl = c.values.filter((v) => v === de.control).length;
    if (c.values.slice(0, nCtl).some((v) => v !== de.control)) fail("control cells are not all first");
    if (exp.x) {
      const d = differs("X total", summarizeX(sorted, []).sum, exp.x.sum, TOL.exact);
      if (d) fail(d);
    }
  });

  const std = out("standardized.h5ad");
  await step("standardize", [std], async () => {
    await run(["standardize", input, ...pc, "-o", std]);
    const [n, m] = shapeOf(std);
    if (n !== exp.n_obs || m !== exp.n_vars) fail(`shape ${n} × ${m}, expected ${exp.n_obs} × ${exp.n_vars}`);
    const c = obsColumn(std, "perturbation");
    const nCtl = c.values.filter((v) => v === "control").length;
    if (nCtl !== de.n_control) fail(`${nCtl} cells labelled 'control', expected ${de.n_control}`);
  });

  const deInput = de.input === "X" ? input : norm;
  if (deInput === norm && notCounts) {
    skip("de-ttest", "X is not counts, so normalize refuses it and DE has no log-normalised input");
    skip("de-wilcoxon", "X is not counts, so normalize refuses it and DE has no log-normalised input");
    return checks;
  }
  if (deInput === norm && !normalized && !existsSync(norm)) {
    // DE reads the normalised file; a normalize that only missed a value still gives DE its input.
    checks.push({ command: "de-ttest", status: "fail", reason: "blocked: normalize wrote no output", outputs: [] });
    checks.push({ command: "de-wilcoxon", status: "fail", reason: "blocked: normalize wrote no output", outputs: [] });
    return checks;
  }
  const deT = out("de_t.h5ad");
  let job = undefined as DeJob | undefined; // set inside the steps
  await step("de-ttest", [deT], async () => {
    await run(["de", deInput, ...pc, "-o", deT]);
    job = {
      file: deInput,
      column: de.column,
      control: de.control,
      group: de.group,
      genes: de.genes,
      method: "t-test",
      scores: [],
    };
    compareScores(out("de_t.csv"), de.ttest, job);
  });
  if (job) checks.at(-1)!.deJob = job;

  job = undefined as DeJob | undefined;
  const normCsc = out("norm_csc.h5ad");
  const deW = out("de_w.h5ad");
  await step("de-wilcoxon", [normCsc, deW], async () => {
    await run(["convert", deInput, "--to", "csc", "-o", normCsc]);
    await run(["de", normCsc, "--method", "wilcoxon", ...pc, "-o", deW]);
    job = {
      file: normCsc,
      column: de.column,
      control: de.control,
      group: de.group,
      genes: de.genes,
      method: "wilcoxon",
      scores: [],
    };
    compareScores(out("de_w.csv"), de.wilcoxon, job);
  });
  if (job?.method === "wilcoxon") checks.at(-1)!.deJob = job;
  return checks;
}

class Refused extends Error {}

function writeList(path: string, names: string[]): string {
  writeFileSync(path, names.join("\n") + "\n");
  return path;
}

/** crispyx's scores of job.genes for job.group from its CSV (into job.scores), against the expectations. */
function compareScores(csv: string, expected: (number | string)[], job: DeJob): void {
  const { group, genes } = job;
  const rows = parseCsv(readFileSync(csv, "utf8"));
  const head = rows[0]!;
  const [pi, gi, si] = ["perturbation", "gene", "score"].map((c) => head.indexOf(c));
  const scores = new Map<string, number>();
  for (const r of rows.slice(1)) if (r[pi!] === group) scores.set(r[gi!]!, Number(r[si!]));
  if (scores.size === 0) fail(`no rows for group '${group}' in ${csv.split("/").pop()}`);
  for (const g of genes) {
    const got = scores.get(g);
    if (got === undefined) fail(`no score for '${group}' × '${g}'`);
    job.scores.push(got);
  }
  genes.forEach((g, k) => {
    const got = scores.get(g)!;
    const d = differs(`score '${group}' × '${g}'`, got, expected[k] as never, TOL.de, TOL.deAbs);
    if (d) fail(d);
  });
}
