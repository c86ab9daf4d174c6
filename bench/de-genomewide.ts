/**
 * Genome-wide DE within a fixed memory budget (issue 21): t-test and Wilcoxon on a synthetic screen of
 * 500,000 cells × 20,000 genes × 10,000 perturbations (~5% dense) under `--memory-limit 1G`, and the same
 * file restricted to 2,000 perturbations beside it. Each run is one `crispyx de` process measured with
 * /usr/bin/time -v (peak RSS, wall time); the passes over X come from its own report.
 *
 *   node --import ./bin/register.mjs bench/make-synthetic.ts --cells 500000 --genes 20000 --per-cell 1000 \
 *        --perturbations 10000 --seed 3 --out bench/data/gw500k_counts.h5ad
 *   node --import ./bin/register.mjs bench/de-genomewide.ts --counts bench/data/gw500k_counts.h5ad [--csv]
 *
 * The log-normalised copy is made first (crispyx normalize, same budget) when absent. Outputs are removed
 * after each run (a 10,000-perturbation result with its CSV is ~45 GB). `--csv` keeps crispyx's default
 * tidy CSV (~20 GB at 10,000 × 20,000); without it the runs pass --no-csv.
 */
import { parseArgs } from "node:util";
import { existsSync, rmSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { timeV, type TimeV } from "./timeV.ts";

const { values } = parseArgs({
  options: {
    counts: { type: "string", default: "bench/data/gw500k_counts.h5ad" },
    limit: { type: "string", default: "1G" },
    workers: { type: "string", default: "2" },
    methods: { type: "string", default: "t-test,wilcoxon" },
    subsets: { type: "string", default: "10000,2000" },
    csv: { type: "boolean", default: false },
  },
});
const counts = values.counts!;
const norm = counts.replace(/_counts\.h5ad$|\.h5ad$/, "_norm.h5ad");
const cli = join(dirname(new URL(import.meta.url).pathname), "..", "bin", "crispyx.js");

function timed(args: string[]): TimeV {
  return timeV([process.execPath, cli, ...args], { check: false });
}

if (!existsSync(counts)) {
  console.error(`${counts} is missing: make it with bench/make-synthetic.ts (see this file's header)`);
  process.exit(1);
}
if (!existsSync(norm)) {
  const m = timed(["--quiet", "--memory-limit", values.limit!, "normalize", counts, "-o", norm]);
  if (m.status !== 0) throw new Error(`normalize failed:\n${m.stderr}`);
  console.log(`normalize: ${m.wall.toFixed(1)} s, peak RSS ${m.rssMiB.toFixed(0)} MiB`);
}

const rows: string[] = [];
for (const method of values.methods!.split(",")) {
  for (const subset of values.subsets!.split(",").map(Number)) {
    const out = join(dirname(norm), `gw_de_${method}_${subset}.h5ad`);
    const groups = subset < 10_000 ? ["--groups", Array.from({ length: subset }, (_, k) => `KO_${k}`).join(",")] : [];
    const args = [
      "--memory-limit",
      values.limit!,
      "de",
      norm,
      "-p",
      "perturbation",
      "--control",
      "NTC",
      "--method",
      method,
      "--workers",
      values.workers!,
      ...groups,
      ...(values.csv ? [] : ["--no-csv"]),
      "--top",
      "0",
      "-o",
      out,
      "--force",
    ];
    const m = timed(args);
    const passes = /(\d+) passes over X/.exec(m.stderr)?.[1] ?? "1";
    const layout = /a dataset per perturbation/.test(m.stderr) ? "per-group" : "records";
    if (m.status !== 0) console.error(m.stderr.slice(-3000));
    const line = `| ${method} | ${subset.toLocaleString("en-US")} | ${m.status === 0 ? "ok" : `exit ${m.status}`} | ${m.wall.toFixed(0)} s | ${m.rssMiB.toFixed(0)} MiB | ${passes} | ${layout} |`;
    console.log(line);
    rows.push(line);
    for (const f of readdirSync(dirname(out)))
      if (f.startsWith(`gw_de_${method}_${subset}`) || f.includes(`resume-gw_de_${method}_${subset}`))
        rmSync(join(dirname(out), f), { recursive: true, force: true });
  }
}
console.log(
  `\n500,000 cells × 20,000 genes, --memory-limit ${values.limit}, ${values.workers} workers${values.csv ? ", with the CSV" : ", --no-csv"}\n`,
);
console.log("| method | perturbations | status | wall | peak RSS | passes over X | ranked tables |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
