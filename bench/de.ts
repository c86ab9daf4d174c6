/**
 * DE benchmark: crispyx rankGenesGroups (t-test, Wilcoxon) on a synthetic screen, each run in its own
 * process, against h5py simply reading X once (bench/h5py_read_x.py) and the Python crispyx seed on the
 * SAME file (bench/de_seed.py), measured in the same run.
 *
 *   node --import ./bin/register.mjs bench/de.ts --cells 200000 --genes 8000 --perturbations 1000 --per-cell 600
 *
 * The counts file is made by bench/make-synthetic.ts and log-normalised with normalizeTotalLog1p into
 * bench/data/ (deleted afterwards unless --keep). --seed-cells N runs the seed comparison on the first N cells
 * (same genes and perturbations) when the seed is too slow on the full file; --skip-seed skips it.
 *
 * RESULTS, final code of the third session, quiet machine, 2026-11-27 12:30 UTC:
 *   h5py reads X once                     0.34 s
 *   crispyx t-test   h5ad + CSV           6.67 s (CPU 11.3 s)  913 MiB
 *   crispyx t-test   h5ad only            4.60 s (CPU  7.2 s)  803 MiB   seed 15.45 s (CPU 15.5 s) 857 MiB → 3.4×
 *   crispyx wilcoxon h5ad + CSV          11.95 s (CPU 20.8 s)  953 MiB
 *   crispyx wilcoxon h5ad only            9.85 s (CPU 16.5 s)  955 MiB   seed 39.63 s (CPU 54.8 s) 2553 MiB → 4.0×
 * (The CSV pair rule, progress phases and the progress bars' ETA came after the 12:01 run below.)
 *
 * RESULTS, quiet machine, 2026-11-27 12:01 UTC (third session of the day), after: the groups finished on the
 * worker threads (p-values, BH, fold changes, ranking, the ranked tables' values), the statistics pass
 * accumulated on the workers while the main thread reads, workers started from an esbuild bundle (no tsx
 * per thread), a faster argsort and Student t prefactor, the .h5ad's start written while the groups are
 * finished and its arrays on libuv's thread while the ranked blocks are transposed, the CSV on two threads:
 *   h5py reads X once                     0.57 s
 *   crispyx t-test   h5ad + CSV           7.41 s (CPU 12.9 s)  832 MiB
 *   crispyx t-test   h5ad only            4.56 s (CPU  7.3 s)  922 MiB   seed 18.99 s (CPU 19.0 s) 857 MiB → 4.2×
 *   crispyx wilcoxon h5ad + CSV          13.35 s (CPU 23.0 s)  951 MiB
 *   crispyx wilcoxon h5ad only           10.50 s (CPU 17.8 s)  947 MiB   seed 52.42 s (CPU 69.3 s) 2553 MiB → 5.0×
 * Two earlier runs of the same session: t-test 4.87 s vs 17.09 s → 3.5× and 5.69 s vs 19.11 s → 3.4×
 * (before the last changes); Wilcoxon 9.84 s vs 46.37 s → 4.7× and 10.39 s vs 55.69 s → 5.4×. The seed's
 * own time varies 15–19 s (t-test) and 40–56 s (Wilcoxon) between runs on this VM; the ratios are always
 * from one run. Peak RSS varies ~800–930 MiB with the garbage collector's timing (within the 1G budget).
 *
 * Before (10:07 UTC, second session), after direct reads of X, recycled read buffers, rows grouped by
 * perturbation when accumulating, slot-major Wilcoxon chunks, a bucket index and a radix sort for each gene's
 * control values, the DE .h5ad's large arrays written directly, the CSV formatted on a worker thread:
 *   crispyx t-test   h5ad only            7.41 s (CPU  9.8 s)  862 MiB   seed 15.66 s → 2.1×; with CSV 9.98 s
 *   crispyx wilcoxon h5ad only           11.63 s (CPU 16.7 s)  978 MiB   seed 39.99 s → 3.4×; with CSV 13.47 s
 * Re-run 10:51 UTC: t-test 7.42 s vs 16.39 s → 2.2×; Wilcoxon 12.32 s vs 43.66 s → 3.5×.
 *
 * Earlier: RESULTS, 2026-11-27 (200,000 cells × 8,000 genes × 1,000 perturbations, 118.8M stored values, float32 CSR,
 * 0.9 GiB; budget 1G, 2 workers). The machine has 2 cores shared with ~8 other processes (load average 6–10),
 * so wall times were inflated and noisy; CPU seconds (user + sys, from /usr/bin/time) are the steadier figure.
 *
 *   h5py reads X once                      1.4 s wall
 *   crispyx t-test, h5ad + CSV            91.6 s wall (load ~6)                    peak RSS 1036 MiB
 *   crispyx t-test, h5ad only             58.4 s wall (load ~6); 268 s wall / 42.3 s CPU (load ~10); peak RSS 962–1038 MiB
 *   seed t_test (filters off)             40.5 s wall / 22.8 s CPU (load ~3); 85.8 s wall (load ~6); peak RSS 881–904 MiB
 *   crispyx wilcoxon, h5ad only          622 s wall (load ~6, before 61d6fc6); 636 s wall / 142.9 s CPU (load ~10,
 *                                        after 61d6fc6; CPU of both worker threads); peak RSS 944–1088 MiB
 *   seed wilcoxon_test (filters off)     552 s wall / 110.6 s CPU (load ~4); 873 s wall (same run as our 622 s,
 *                                        load ~6–10); peak RSS 2571–2578 MiB
 *
 * So the >= 3× target over the seed is NOT met: in the same run crispyx was 1.5× (t-test) and 1.4× (Wilcoxon)
 * faster in wall time, with 2.7× less peak memory for the Wilcoxon test, but it used more CPU (t-test ~2×,
 * Wilcoxon ~1.3×); h5wasm reads X ~5–8× slower than h5py (≈12 s of the t-test's CPU) and the output (616 MB
 * .h5ad: Scanpy's record arrays plus the layers) costs ≈12 s more. See the DE helper's report.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseByteSize } from "../src/core/streaming.ts";
import { timeV } from "./timeV.ts";

const { values } = parseArgs({
  options: {
    cells: { type: "string", default: "200000" },
    genes: { type: "string", default: "8000" },
    perturbations: { type: "string", default: "1000" },
    "per-cell": { type: "string", default: "600" },
    "memory-limit": { type: "string", default: "1G" },
    workers: { type: "string", default: "2" },
    "seed-cells": { type: "string" },
    "skip-seed": { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
    child: { type: "string" },
    method: { type: "string" },
    csv: { type: "string", default: "yes" },
    out: { type: "string" },
  },
});

async function runChild(): Promise<void> {
  const { rankGenesGroups } = await import("../src/de/rankGenesGroups.ts");
  const t0 = performance.now();
  const r = await rankGenesGroups(values.child!, {
    perturbationColumn: "perturbation",
    controlLabel: "NTC",
    method: values.method as "t-test" | "wilcoxon",
    outputDir: values.out,
    force: true,
    csv: values.csv === "yes",
    memoryBudget: parseByteSize(values["memory-limit"]!),
    workers: Number(values.workers),
  });
  console.log(
    JSON.stringify({
      seconds: (performance.now() - t0) / 1000,
      groups: r.groups.length,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
    }),
  );
}

interface Measure {
  wall: number;
  cpu: number;
  rssMiB: number;
  stdout: string;
}
function measure(cmd: string[], env: NodeJS.ProcessEnv = process.env): Measure {
  const { wall, cpu, rssMiB, stdout } = timeV(cmd, { env });
  return { wall, cpu, rssMiB, stdout };
}

function node(args: string[]): string[] {
  return [process.execPath, "--import", "./bin/register.mjs", ...args];
}

async function makeInput(tag: string, cells: string): Promise<string> {
  const counts = join("bench", "data", `de_counts_${tag}.h5ad`);
  const log = join("bench", "data", `de_log_${tag}.h5ad`);
  if (existsSync(log)) return log;
  if (!existsSync(counts)) {
    measure(
      node([
        "bench/make-synthetic.ts",
        "--cells",
        cells,
        "--genes",
        values.genes!,
        "--per-cell",
        values["per-cell"]!,
        "--perturbations",
        values.perturbations!,
        "--out",
        counts,
      ]),
    );
  }
  const { normalizeTotalLog1p } = await import("../src/ops/normalize.ts");
  await normalizeTotalLog1p(counts, { output: log });
  rmSync(counts, { force: true });
  return log;
}

async function main(): Promise<void> {
  const python =
    process.env.CRISPYX_PYTHON ?? (existsSync("/tmp/pyref/bin/python") ? "/tmp/pyref/bin/python" : "python3");
  const outDir = join("bench", "data", "de_out");
  mkdirSync(outDir, { recursive: true });
  const tag = `${values.cells}x${values.genes}x${values.perturbations}`;
  const input = await makeInput(tag, values.cells!);
  measure([python, "bench/h5py_read_x.py", input]); // warm the page cache
  const h5py = measure([python, "bench/h5py_read_x.py", input]);
  console.log(
    `input ${input}: ${values.cells} cells × ${values.genes} genes, ${values.perturbations} perturbations; budget ${values["memory-limit"]}, ${values.workers} workers`,
  );
  console.log(`h5py reads X once: ${h5py.wall.toFixed(2)} s`);
  // Like for like with the seed (which writes an .h5ad only): csv off. Both tests also run with the CSV
  // (crispyx's default) to show its cost.
  const ours: Record<string, Measure> = {};
  const runOurs = (file: string, method: string, csv: string) =>
    measure(
      node([
        "bench/de.ts",
        "--child",
        file,
        "--method",
        method,
        "--out",
        outDir,
        "--memory-limit",
        values["memory-limit"]!,
        "--workers",
        values.workers!,
        "--csv",
        csv,
      ]),
    );
  for (const [method, csv] of [
    ["t-test", "yes"],
    ["t-test", "no"],
    ["wilcoxon", "yes"],
    ["wilcoxon", "no"],
  ] as const) {
    const m = runOurs(input, method, csv);
    if (csv === "no") ours[method] = m;
    console.log(
      `crispyx ${method.padEnd(8)} (${csv === "yes" ? "h5ad + CSV" : "h5ad only "}): ${m.wall.toFixed(2)} s (CPU ${m.cpu.toFixed(1)} s), peak RSS ${m.rssMiB.toFixed(0)} MiB, ${(m.wall / h5py.wall).toFixed(1)}× the h5py read`,
    );
  }
  if (!values["skip-seed"]) {
    let seedInput = input;
    let seedOurs = ours;
    if (values["seed-cells"]) {
      seedInput = await makeInput(
        `${values["seed-cells"]}x${values.genes}x${values.perturbations}`,
        values["seed-cells"],
      );
      seedOurs = {};
      for (const method of ["t-test", "wilcoxon"]) seedOurs[method] = runOurs(seedInput, method, "no");
      console.log(`seed comparison on ${seedInput} (first ${values["seed-cells"]}-cell screen of the same shape)`);
    }
    const env = { ...process.env, PYTHONPATH: "/tmp/crispyx-seed/src" };
    for (const method of ["t-test", "wilcoxon"]) {
      const s = measure([python, "bench/de_seed.py", seedInput, method, join(outDir, "seed"), "NTC"], env);
      const o = seedOurs[method]!;
      console.log(
        `seed ${method.padEnd(8)}: ${s.wall.toFixed(2)} s (CPU ${s.cpu.toFixed(1)} s), peak RSS ${s.rssMiB.toFixed(0)} MiB; crispyx ${o.wall.toFixed(2)} s (CPU ${o.cpu.toFixed(1)} s) → ${(s.wall / o.wall).toFixed(1)}× faster in wall time`,
      );
    }
  }
  if (!values.keep) {
    rmSync(outDir, { recursive: true, force: true });
    for (const f of [input]) rmSync(f, { force: true });
  }
}

if (values.child) await runChild();
else await main();
