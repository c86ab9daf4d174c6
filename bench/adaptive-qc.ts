/**
 * Adaptive QC thresholds on a large file: time and peak memory, against a plain block scan of X's rows
 * (the least any full pass can cost) measured in the same run.
 *
 *   node --import ./bin/register.mjs bench/make-synthetic.ts --cells 400000 --genes 5000 --per-cell 100 \
 *        --out bench/data/helpersA/s400k.h5ad
 *   node --import ./bin/register.mjs bench/adaptive-qc.ts bench/data/helpersA/s400k.h5ad [sampleSize] [budget]
 *
 * Peak RSS is the process's (run one configuration per process to compare them).
 */
import { resourceUsage } from "node:process";
import { openH5ad } from "../src/io/anndata/handle.ts";
import { calculateAdaptiveQcThresholds } from "../src/helpers/adaptiveQc.ts";
import { parseByteSize } from "../src/core/streaming.ts";

const [path, sampleArg = "10000", budgetArg = "256M", which = "both"] = process.argv.slice(2);
if (!path) throw new Error("usage: adaptive-qc.ts FILE [sampleSize] [memoryBudget] [both|qc|scan]");
const sampleSize = sampleArg === "all" ? Number.MAX_SAFE_INTEGER : Number(sampleArg);
const memoryBudget = parseByteSize(budgetArg);

function scanRows(): number {
  using h = openH5ad(path!);
  const X = h.X;
  const step = Math.max(1, Math.floor(memoryBudget / 4 / ((X.info.nnz / X.shape[0]) * 8 + 16)));
  let nnz = 0;
  for (let r = 0; r < X.shape[0]; r += step) {
    const b = X.rows(r, Math.min(X.shape[0], r + step), "csr");
    nnz += (b as { data: ArrayLike<number> }).data.length;
  }
  return nnz;
}

const t = (f: () => unknown): [number, unknown] => {
  const t0 = performance.now();
  const v = f();
  return [(performance.now() - t0) / 1000, v];
};

let scanS = Number.NaN;
if (which !== "qc") {
  const [s] = t(scanRows);
  scanS = s;
  console.log(`plain row scan of X: ${s.toFixed(2)} s`);
}
if (which !== "scan") {
  const [s, r] = t(() => calculateAdaptiveQcThresholds(path, "perturbation", { sampleSize, memoryBudget }));
  const res = r as {
    nCells: number;
    nCellsSampled: number;
    minGenes: number;
    minCellsPerGene: number;
    minCellsPerPerturbation: number;
  };
  console.log(
    `adaptive QC (sample ${res.nCellsSampled} of ${res.nCells}): ${s.toFixed(2)} s` +
      (Number.isNaN(scanS) ? "" : `, ratio to the scan ${(s / scanS).toFixed(2)}`),
  );
  console.log(
    `thresholds: minGenes ${res.minGenes}, minCellsPerGene ${res.minCellsPerGene}, minCellsPerPerturbation ${res.minCellsPerPerturbation}`,
  );
}
console.log(`peak RSS: ${(resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
