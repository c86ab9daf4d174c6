/**
 * qcSummary benchmark: wall time and peak RSS of QC on synthetic CSR screens of growing size, each run
 * in its own process, against Python h5py simply reading the same X once (bench/h5py_read_x.py) in the
 * same run. Peak RSS should grow only by the few per-cell numbers QC keeps (masks, metrics).
 *
 *   node --import ./bin/register.mjs bench/qc.ts --cells 100000,400000,1600000 --memory-limit 256M
 *
 * Inputs are generated with bench/make-synthetic.ts (2000 genes, ~100 stored elements per cell) into
 * bench/data/qc_<cells>.h5ad unless present; --keep keeps them. Each size runs a dry run (the metric
 * passes only) and a full run (passes + the filtered file, metrics, summary).
 */
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseByteSize } from "../src/core/streaming.ts";
import { timeV } from "./timeV.ts";

const { values } = parseArgs({
  options: {
    cells: { type: "string", default: "100000,400000" },
    "memory-limit": { type: "string", default: "256M" },
    keep: { type: "boolean", default: false },
    child: { type: "string" },
    output: { type: "string" },
  },
});

const QC_OPTIONS = {
  perturbationColumn: "perturbation",
  controlLabel: "NTC",
  geneNameColumn: "gene_symbols",
  minGenes: 60,
  minCellsPerPerturbation: 50,
  minCellsPerGene: 100,
  force: true,
};

async function runChild(): Promise<void> {
  const { qcSummary } = await import("../src/qc/qcSummary.ts");
  const t0 = performance.now();
  const out = values.output!;
  const r = await qcSummary(values.child!, {
    ...QC_OPTIONS,
    ...(out === "dry" ? { dryRun: true } : { output: out }),
    memoryBudget: parseByteSize(values["memory-limit"]!),
  });
  console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, kept: r.counts.cells.kept }));
}

function measure(cmd: string[]): { wall: number; rssMiB: number; cpu: number } {
  const { wall, rssMiB, cpu } = timeV(cmd);
  return { wall, rssMiB, cpu };
}

async function main(): Promise<void> {
  const python =
    process.env.CRISPYX_PYTHON ?? (existsSync("/tmp/pyref/bin/python") ? "/tmp/pyref/bin/python" : "python3");
  console.log(`memory budget ${values["memory-limit"]}; warm page cache`);
  console.log("cells        h5py s   dry s  dry MiB  full s  full MiB  full/h5py");
  for (const cells of values.cells!.split(",")) {
    const input = join("bench", "data", `qc_${cells}.h5ad`);
    if (!existsSync(input)) {
      const g = spawnSync(
        process.execPath,
        [
          "--import",
          "./bin/register.mjs",
          "bench/make-synthetic.ts",
          "--cells",
          cells,
          "--genes",
          "2000",
          "--per-cell",
          "100",
          "--perturbations",
          "100",
          "--out",
          input,
        ],
        { stdio: "ignore" },
      );
      if (g.status !== 0) throw new Error("generating the synthetic file failed");
    }
    measure([python, "bench/h5py_read_x.py", input]); // warm the page cache
    const base = measure([python, "bench/h5py_read_x.py", input]);
    const child = (out: string) =>
      measure([
        process.execPath,
        "--import",
        "./bin/register.mjs",
        "bench/qc.ts",
        "--child",
        input,
        "--output",
        out,
        "--memory-limit",
        values["memory-limit"]!,
      ]);
    const output = join("bench", "data", `qc_${cells}_filtered.h5ad`);
    try {
      const dry = child("dry");
      const full = child(output);
      console.log(
        `${cells.padEnd(10)} ${base.wall.toFixed(2).padStart(7)} ${dry.wall.toFixed(2).padStart(7)} ${dry.rssMiB.toFixed(0).padStart(8)} ${full.wall.toFixed(2).padStart(7)} ${full.rssMiB.toFixed(0).padStart(9)} ${(full.wall / base.wall).toFixed(1).padStart(10)}`,
      );
    } finally {
      rmSync(output, { force: true });
      rmSync(output.replace(/\.h5ad$/, "_qc_summary.json"), { force: true });
      if (!values.keep) rmSync(input, { force: true });
    }
  }
}

if (values.child) await runChild();
else await main();
