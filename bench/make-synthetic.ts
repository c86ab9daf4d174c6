/**
 * A large synthetic Perturb-seq screen for the operator benchmarks, written fast and streaming:
 *
 *   node --import ./bin/register.mjs bench/make-synthetic.ts --cells 1000000 --genes 10000 --per-cell 300 \
 *        --out bench/data/synthetic_1M.h5ad
 *
 * X: float32 CSR counts, about `per-cell` stored elements per cell (between half and 1.5×), sorted gene
 * indices, small geometric counts — 1M cells × 300 ≈ 2.4 GB. obs: `perturbation` (categorical with
 * `--perturbations` knock-outs + "NTC") and `batch`; var: `gene_symbols`. Seeded (xorshift), bounded memory
 * (one block of cells plus the obs table), atomic. Not a realistic count model (see src/demo for that): its
 * job is bytes and structure at scale.
 */
import { parseArgs } from "node:util";
import { mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { H5File } from "../src/io/h5/file.ts";
import { writeAtomically } from "../src/io/atomic.ts";
import { writeElem } from "../src/io/anndata/registry.ts";
import { categorical, dataframe, strings } from "../src/io/anndata/model.ts";
import { SparseMatrixWriter, startAnnData } from "../src/io/anndata/matrixWriter.ts";

const { values } = parseArgs({
  options: {
    cells: { type: "string", default: "1000000" },
    genes: { type: "string", default: "10000" },
    "per-cell": { type: "string", default: "300" },
    perturbations: { type: "string", default: "200" },
    seed: { type: "string", default: "1" },
    out: { type: "string", default: "bench/data/synthetic.h5ad" },
  },
});
const nCells = Number(values.cells);
const nGenes = Number(values.genes);
const perCell = Number(values["per-cell"]);
const nPert = Number(values.perturbations);
const out = values.out!;

let state = (Number(values.seed) * 2654435761) >>> 0 || 1;
/** xorshift32 in [0, 1). */
function rand(): number {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state / 4294967296;
}

export async function makeSynthetic(): Promise<{ nnz: number; bytes: number; seconds: number }> {
  const t0 = performance.now();
  mkdirSync(dirname(out), { recursive: true });
  const result = await writeAtomically(out, (tmp) => {
    const f = H5File.open(tmp, "w");
    try {
      startAnnData(f);
      const labels = ["NTC", ...Array.from({ length: nPert }, (_, k) => `KO_${k}`)];
      const pert = new Array<string>(nCells);
      const batch = new Array<string>(nCells);
      for (let i = 0; i < nCells; i++) {
        // A third of the cells are controls, the rest spread over the knock-outs.
        pert[i] = rand() < 0.33 ? "NTC" : labels[1 + Math.floor(rand() * nPert)]!;
        batch[i] = `b${i % 4}`;
      }
      const index = Array.from({ length: nCells }, (_, i) => `cell${i}`);
      writeElem(
        f,
        "/obs",
        dataframe(index, {
          perturbation: categorical(pert, { categories: labels }),
          batch: categorical(batch),
        }),
      );
      writeElem(
        f,
        "/var",
        dataframe(
          Array.from({ length: nGenes }, (_, j) => `ENSG${String(j).padStart(8, "0")}`),
          {
            gene_symbols: strings(Array.from({ length: nGenes }, (_, j) => `G${j}`)),
          },
        ),
      );
      const w = SparseMatrixWriter.create(f, "/X", {
        shape: [nCells, nGenes],
        dtype: "float32",
        maxNnz: Math.ceil(nCells * perCell * 1.5),
      });
      const block = 8192;
      const cap = block * Math.min(nGenes, Math.ceil(perCell * 1.5) + 1);
      const data = new Float32Array(cap);
      const idx = new Int32Array(cap);
      const ptr = new Int32Array(block + 1);
      for (let r0 = 0; r0 < nCells; r0 += block) {
        const m = Math.min(block, nCells - r0);
        let p = 0;
        for (let i = 0; i < m; i++) {
          const k = Math.min(nGenes, Math.round(perCell * (0.5 + rand())));
          // Sorted genes: random gaps averaging nGenes / k.
          const gap = (2 * nGenes) / Math.max(1, k);
          let j = Math.floor(rand() * gap);
          for (let t = 0; t < k && j < nGenes; t++) {
            idx[p] = j;
            data[p++] = 1 + Math.floor(-Math.log(1 - rand()) * 2);
            j += 1 + Math.floor(rand() * (gap - 1));
          }
          ptr[i + 1] = p;
        }
        w.appendParts(ptr.subarray(0, m + 1), idx.subarray(0, p), data.subarray(0, p));
        if ((r0 / block) % 32 === 0) process.stderr.write(`\r${r0 + m} / ${nCells} cells`);
      }
      process.stderr.write("\n");
      return w.finish();
    } finally {
      f.close();
    }
  });
  return { nnz: result.nnz, bytes: statSync(out).size, seconds: (performance.now() - t0) / 1000 };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await makeSynthetic();
  console.log(
    `${out}: ${nCells} cells x ${nGenes} genes, nnz ${r.nnz}, ${(r.bytes / 2 ** 30).toFixed(2)} GiB, written in ${r.seconds.toFixed(1)} s, peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
  );
}
