/**
 * Screen-aware helpers at screen scale: column detection and perturbation-label normalisation on a file
 * with many cells (obs: barcodes, a categorical perturbation column, a text guide column, a numeric column).
 *
 *   node --import ./bin/register.mjs bench/screen-helpers.ts [--cells 2000000] [--dir bench/data]
 *
 * Each step runs in its own process so its peak RSS is its own. Prints time and peak RSS per step, and
 * the file size before/after the in-place edits. Baselines measured in the same run: rewriting the whole
 * obs table (loadObs + writeObs, what an edit costs without column-level replacement), and, when
 * /tmp/pyref exists, the Python seed's infer_columns / normalise_perturbation_labels on the same file.
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
  writeElem(
    f,
    "/obs",
    dataframe(index, {
      perturbation: { type: "categorical", codes, categories: strings(categories), ordered: false },
      guide: strings(guide),
      UMI_count: ndarray(umi),
    }),
  );
  writeElem(f, "/var", dataframe(Array.from({ length: 50 }, (_, i) => `G${i}`)));
  const nGenes = 50;
  writeElem(f, "/X", {
    type: "csr",
    shape: [nCells, nGenes],
    data: new Float32Array(0),
    indices: new Int32Array(0),
    indptr: new BigInt64Array(nCells + 1),
  });
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
  if (name === "labels") what = `${m.normalizePerturbationLabels(path, "perturbation", quiet).changed} changed`;
  if (name === "labels-inplace")
    what = `${m.normalizePerturbationLabels(path, "perturbation", { ...quiet, inplace: true }).changed} changed`;
  if (name === "whole-obs-rewrite") {
    const df = m.loadObs(path);
    m.writeObs(path, df);
    what = `${df.columnOrder.length} columns + index`;
  }
  if (name === "guides-inplace")
    what = `${m.normalizePerturbationLabels(path, "guide", { ...quiet, stripPrefixes: ["sg"], stripSuffixRegex: "_\\d+$", inplace: true }).changed} changed`;
  const ms = performance.now() - t0;
  const rss = process.resourceUsage().maxRSS / 1024;
  console.log(
    `${name.padEnd(18)} ${(ms / 1000).toFixed(2).padStart(7)} s  peak RSS ${rss.toFixed(0).padStart(6)} MB  ${what}`,
  );
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
    console.log(
      `made ${path} (${(statSync(path).size / 2 ** 20).toFixed(0)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  }
  const size0 = statSync(path).size;
  const seconds: Record<string, number> = {};
  for (const s of ["detect", "labels", "labels-inplace", "whole-obs-rewrite", "guides-inplace"]) {
    const r = spawnSync(
      process.execPath,
      ["--import", "./bin/register.mjs", "bench/screen-helpers.ts", "--step", s, "--path", path],
      { encoding: "utf8" },
    );
    process.stdout.write(r.stdout);
    if (r.status !== 0) process.stderr.write(r.stderr);
    seconds[s] = Number(/ ([\d.]+) s /.exec(r.stdout)?.[1]);
  }
  console.log(
    `labels-inplace vs whole-obs rewrite: ${(seconds["whole-obs-rewrite"]! / seconds["labels-inplace"]!).toFixed(1)}x faster`,
  );
  const py = "/tmp/pyref/bin/python";
  if (existsSync(py) && existsSync("/tmp/crispyx-seed/src")) {
    const script = [
      "import sys, time, resource, crispyx.data as cd",
      "p = sys.argv[1]",
      "t = time.perf_counter(); r = cd.infer_columns(p, verbose=False); t1 = time.perf_counter() - t",
      "t = time.perf_counter(); s = cd.normalise_perturbation_labels(p, 'perturbation', inplace=False); t2 = time.perf_counter() - t",
      "print(f'seed infer_columns {t1:.2f} s; seed normalise_perturbation_labels (inplace=False) {t2:.2f} s; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024:.0f} MB')",
    ].join("\n");
    const r = spawnSync(py, ["-c", script, path], {
      encoding: "utf8",
      env: { ...process.env, PYTHONPATH: "/tmp/crispyx-seed/src" },
    });
    process.stdout.write(r.stdout || r.stderr.split("\n").slice(-3).join("\n"));
    const m = /infer_columns ([\d.]+) s; .* \(inplace=False\) ([\d.]+) s/.exec(r.stdout);
    if (m)
      console.log(
        `ratio seed/crispyx: detect ${(Number(m[1]) / seconds.detect!).toFixed(1)}x, labels ${(Number(m[2]) / seconds.labels!).toFixed(1)}x`,
      );
  }
  console.log(
    `file size ${(size0 / 2 ** 20).toFixed(0)} MB → ${(statSync(path).size / 2 ** 20).toFixed(0)} MB after the in-place edits`,
  );
}
