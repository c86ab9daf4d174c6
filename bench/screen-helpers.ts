/**
 * Screen-aware helpers at screen scale: column detection and perturbation-label normalisation on a file
 * with many cells (obs: barcodes, a categorical perturbation column, a text guide column, a numeric column).
 *
 *   node --import ./bin/register.mjs bench/screen-helpers.ts [--cells 2000000] [--dir bench/data]
 *
 * Each step runs in its own process so its peak RSS is its own. Prints time and peak RSS per step, and
 * the file size before/after the in-place edit.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    cells: { type: "string", default: "2000000" },
    dir: { type: "string", default: "bench/data" },
    step: { type: "string" },
    path: { type: "string" },
  },
});

async function make(path: string, nCells: number): Promise<void> {
  const { H5File } = await import("../src/io/h5/file.ts");
  const { writeElem } = await import("../src/io/anndata/registry.ts");
  const { dataframe, strings, ndarray } = await import("../src/io/anndata/model.ts");
  const genes = Array.from({ length: 2000 }, (_, i) => `GENE${i}`);
  const categories = ["non-targeting", ...genes].sort();
  const Codes = Int16Array;
  const codes = new Codes(nCells);
  const guide = new Array<string>(nCells);
  const index = new Array<string>(nCells);
  const umi = new Float32Array(nCells);
  for (let i = 0; i < nCells; i++) {
    const k = (i * 7919) % categories.length;
    codes[i] = k;
    const cat = categories[k]!;
    guide[i] = cat === "non-targeting" ? `sgNTC_${i % 5}` : `sg${cat}_${1 + (i % 2)}`;
    index[i] = `CELL${i.toString().padStart(9, "0")}-1`;
    umi[i] = 1000 + (i % 5000);
  }
  const f = H5File.open(path, "w");
  f.setAttr("/", "encoding-type", "anndata");
  f.setAttr("/", "encoding-version", "0.1.0");
  writeElem(f, "/obs", dataframe(index, {
    perturbation: { type: "categorical", codes, categories: strings(categories), ordered: false },
    guide: strings(guide),
    UMI_count: ndarray(umi),
  }));
  writeElem(f, "/var", dataframe(Array.from({ length: 50 }, (_, i) => `G${i}`)));
  const nGenes = 50;
  writeElem(f, "/X", { type: "csr", shape: [nCells, nGenes], data: new Float32Array(0), indices: new Int32Array(0), indptr: new BigInt64Array(nCells + 1) });
  for (const g of ["uns", "obsm", "varm", "obsp", "varp", "layers"]) {
    f.createGroup(`/${g}`);
    f.setAttr(`/${g}`, "encoding-type", "dict");
    f.setAttr(`/${g}`, "encoding-version", "0.1.0");
  }
  f.close();
}

async function step(name: string, path: string): Promise<void> {
  const m = await import("../src/index.ts");
  const t0 = performance.now();
  const quiet = { log: () => {} };
  let what = "";
  if (name === "detect") what = JSON.stringify(m.inferColumns(path));
  if (name === "labels") what = `${m.normalisePerturbationLabels(path, "perturbation", quiet).changed} changed`;
  if (name === "labels-inplace") what = `${m.normalisePerturbationLabels(path, "perturbation", { ...quiet, inplace: true }).changed} changed`;
  if (name === "guides-inplace") what = `${m.normalisePerturbationLabels(path, "guide", { ...quiet, stripPrefixes: ["sg"], stripSuffixRegex: "_\\d+$", inplace: true }).changed} changed`;
  const ms = performance.now() - t0;
  const rss = process.resourceUsage().maxRSS / 1024;
  console.log(`${name.padEnd(16)} ${(ms / 1000).toFixed(2).padStart(7)} s  peak RSS ${rss.toFixed(0).padStart(6)} MB  ${what}`);
}

if (values.step) {
  await step(values.step, values.path!);
} else {
  const nCells = Number(values.cells);
  mkdirSync(values.dir!, { recursive: true });
  const path = join(values.dir!, `screen_helpers_${nCells}.h5ad`);
  if (!existsSync(path)) {
    const t0 = performance.now();
    await make(path, nCells);
    console.log(`made ${path} (${(statSync(path).size / 2 ** 20).toFixed(0)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const size0 = statSync(path).size;
  for (const s of ["detect", "labels", "labels-inplace", "guides-inplace"]) {
    const r = spawnSync(process.execPath, ["--import", "./bin/register.mjs", "bench/screen-helpers.ts", "--step", s, "--path", path], { encoding: "utf8" });
    process.stdout.write(r.stdout);
    if (r.status !== 0) process.stderr.write(r.stderr);
  }
  console.log(`file size ${(size0 / 2 ** 20).toFixed(0)} MB → ${(statSync(path).size / 2 ** 20).toFixed(0)} MB after the in-place edits`);
}
