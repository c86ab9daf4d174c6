/**
 * DE speed per thread, before and after, against the baselines of issue 21, all measured in one run:
 *
 *   node --import ./bin/register.mjs bench/de-rate.ts --file bench/data/tp50k_norm.h5ad \
 *        [--small bench/data/tp5k_norm.h5ad] [--csc bench/data/tp50k_csc.h5ad] [--before 85c080c] [--after HEAD]
 *        [--runs 5] [--workers 1,2] [--tests t-test,wilcoxon] [--memory-limit 1G]
 *
 * Each side is a compiled snapshot of a git revision (git archive → tsc → dist, src/ removed so
 * bin/crispyx.js runs the JavaScript as the npm package does), in tmp/de-rate/<rev>. For every test ×
 * workers the two sides' `crispyx de` processes run in turn, before/after/before/after…, and the table
 * gives medians of wall time (whole process, /usr/bin/time), the ratio, and matrix entries per second per
 * thread = cells × genes ÷ (wall × workers) — the figure illico and issue 21 use.
 *
 * Baselines, same run: h5py reading X once (bench/h5py_read_x.py, its in-process seconds); the fixed part
 * of a DE run, from --small (the same genes and perturbations, a tenth of the cells): a run's time is
 * fixed + per-cell × cells, so fixed = T(small) − (T(file) − T(small)) · small/(file − small), and the
 * part that grows with X is T(file) − fixed. Issue 21's t-test target: that part ≤ 3 × the h5py read.
 */
import { execFileSync, execSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { openH5ad } from "../src/io/anndata/handle.ts";
import { timeV } from "./timeV.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: a } = parseArgs({
  options: {
    file: { type: "string", default: "bench/data/tp50k_norm.h5ad" },
    small: { type: "string" },
    csc: { type: "string" },
    before: { type: "string", default: "85c080c" },
    after: { type: "string", default: "HEAD" },
    runs: { type: "string", default: "5" },
    workers: { type: "string", default: "1,2" },
    tests: { type: "string", default: "t-test,wilcoxon" },
    "memory-limit": { type: "string", default: "1G" },
    control: { type: "string", default: "NTC" },
  },
});
const runs = Number(a.runs);
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
const out = join(root, "tmp/de-rate");
mkdirSync(out, { recursive: true });

/** A compiled snapshot of `rev` (cached by commit). */
function snapshot(rev: string): string {
  const commit = execFileSync("git", ["rev-parse", "--short", rev], { cwd: root, encoding: "utf8" }).trim();
  const dir = join(out, commit);
  if (!existsSync(join(dir, "dist/cli/main.js"))) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    execSync(`git archive ${commit} | tar -x -C ${dir}`, { cwd: root });
    execSync(`ln -s ${join(root, "node_modules")} ${join(dir, "node_modules")}`);
    // Old revisions may not type-check against today's node_modules; tsc still emits.
    try {
      execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", "tsconfig.build.json"], { cwd: dir, stdio: "pipe" });
    } catch {}
    if (!existsSync(join(dir, "dist/cli/main.js"))) throw new Error(`${rev}: build failed`);
    rmSync(join(dir, "src"), { recursive: true });
  }
  return dir;
}

function shape(file: string): [number, number] {
  const h = openH5ad(file);
  try {
    return [h.nObs, h.nVars];
  } finally {
    h.close();
  }
}

function deRun(dir: string, file: string, test: string, workers: number): number {
  const cmd = [
    process.execPath,
    join(dir, "bin/crispyx.js"),
    "--memory-limit",
    a["memory-limit"]!,
    "de",
    file,
    "-p",
    "perturbation",
    "--control",
    a.control!,
    "--method",
    test,
    "--workers",
    String(workers),
    "--no-csv",
    "-o",
    join(out, "out.h5ad"),
    "--force",
  ];
  return timeV(cmd).wall;
}

const sides = { before: snapshot(a.before!), after: snapshot(a.after!) };
const files: [string, string][] = [["CSR", a.file!]];
if (a.csc) files.push(["CSC", a.csc]);
const h5py = median(
  Array.from({ length: runs }, () => {
    const r = execFileSync("/usr/bin/python3", [join(root, "bench/h5py_read_x.py"), a.file!], { encoding: "utf8" });
    return JSON.parse(r).seconds as number;
  }),
);
const [cells, genes] = shape(a.file!);
const entries = cells * genes;
console.log(
  `${a.file}: ${cells.toLocaleString("en-US")} cells × ${genes.toLocaleString("en-US")} genes; before ${a.before} after ${a.after}; ` +
    `medians of ${runs} runs each, in turn; h5py reads X in ${h5py.toFixed(3)} s`,
);
console.log(
  "\n| test | input | workers | before wall | after wall | after ÷ before | before M entries/s/thread | after M entries/s/thread |",
);
console.log("|---|---|---|---|---|---|---|---|");
const afterWall = new Map<string, number>();
for (const test of a.tests!.split(",")) {
  for (const [input, file] of files) {
    if (input === "CSC" && test !== "wilcoxon") continue;
    for (const w of a.workers!.split(",").map(Number)) {
      const t = { before: [] as number[], after: [] as number[] };
      deRun(sides.after, file, test, w); // warm-up (page cache)
      for (let r = 0; r < runs; r++)
        for (const side of r % 2 ? (["after", "before"] as const) : (["before", "after"] as const))
          t[side].push(deRun(sides[side], file, test, w));
      const b = median(t.before),
        f = median(t.after);
      afterWall.set(`${test} ${input} ${w}`, f);
      const rate = (s: number) => ((entries / (s * w)) * 1e-6).toFixed(0);
      console.log(
        `| ${test} | ${input} | ${w} | ${b.toFixed(2)} s | ${f.toFixed(2)} s | ${(f / b).toFixed(2)}× | ${rate(b)} | ${rate(f)} |`,
      );
    }
  }
}
if (a.small) {
  const [smallCells] = shape(a.small);
  console.log(`\nFixed part of a run (from ${a.small}, ${smallCells.toLocaleString("en-US")} cells, after):`);
  console.log("| test | workers | T(small) | T(file) | fixed | grows with X | ÷ h5py read |");
  console.log("|---|---|---|---|---|---|---|");
  for (const test of a.tests!.split(","))
    for (const w of a.workers!.split(",").map(Number)) {
      deRun(sides.after, a.small, test, w);
      const ts = median(Array.from({ length: runs }, () => deRun(sides.after, a.small!, test, w)));
      const tf = afterWall.get(`${test} CSR ${w}`)!;
      const perCell = (tf - ts) / (cells - smallCells);
      const fixed = ts - perCell * smallCells;
      const grows = tf - fixed;
      console.log(
        `| ${test} | ${w} | ${ts.toFixed(2)} s | ${tf.toFixed(2)} s | ${fixed.toFixed(2)} s | ${grows.toFixed(2)} s | ${(grows / h5py).toFixed(1)}× |`,
      );
    }
}
