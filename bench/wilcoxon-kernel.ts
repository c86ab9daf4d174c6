/**
 * Wilcoxon kernel micro-benchmark: real gene chunks built once from a DE bench file, then the kernel (and the
 * chunk builder) of this tree and of a git revision timed alternately in the same process, several rounds;
 * medians, entries/s (cells × genes per second, one thread) and the largest difference between the two
 * kernels' scores and p-values.
 *
 *   node --import ./bin/register.mjs bench/wilcoxon-kernel.ts [--file F] [--genes 1000] [--g0 0] [--rounds 7]
 *        [--vs HEAD] [--vs-kernel FILE] [--column perturbation] [--control NTC] [--no-build]
 *
 * The revision's src/de/wilcoxonKernel.ts and src/de/wilcoxon.ts are copied into tmp/ with their imports
 * pointed at this tree's src/, so only those two files differ between the sides.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { openH5ad } from "../src/io/anndata/handle.ts";
import { planGroups } from "../src/de/groups.ts";
import { accumulateGroupStats } from "../src/de/groupStats.ts";
import * as cur from "../src/de/wilcoxon.ts";
import * as curKernel from "../src/de/wilcoxonKernel.ts";
import type { GeneChunk, KernelContext } from "../src/de/wilcoxonKernel.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: a } = parseArgs({
  options: {
    file: { type: "string", default: "bench/data/de_log_200000x8000x1000.h5ad" },
    genes: { type: "string", default: "1000" },
    g0: { type: "string", default: "0" },
    rounds: { type: "string", default: "7" },
    vs: { type: "string", default: "HEAD" },
    /** A kernel file to time instead of the revision's (a variant being tried). */
    "vs-kernel": { type: "string" },
    column: { type: "string", default: "perturbation" },
    control: { type: "string", default: "NTC" },
    "no-build": { type: "boolean", default: false },
  },
});

/** The revision's copy of a src/de module, its relative imports made absolute. */
async function loadAt<T>(rev: string, file: string): Promise<T> {
  const given = file === "wilcoxonKernel.ts" ? a["vs-kernel"] : undefined;
  const text = (
    given
      ? readFileSync(given, "utf8")
      : execFileSync("git", ["show", `${rev}:src/de/${file}`], { cwd: root, encoding: "utf8" })
  )
    .replaceAll('from "../', `from "${root}/src/`)
    .replace(/from "\.\/(?!wilcoxonKernel\.ts")/g, `from "${root}/src/de/`); // the revision's own kernel stays beside it
  const dir = resolve(root, "tmp/wilcoxon-kernel-bench", rev.replace(/[^\w.-]/g, "_"));
  mkdirSync(dir, { recursive: true });
  const out = resolve(dir, file);
  writeFileSync(out, text);
  return (await import(pathToFileURL(out).href)) as T;
}

const oldKernel = await loadAt<typeof curKernel>(a.vs!, "wilcoxonKernel.ts");
const old = await loadAt<typeof cur>(a.vs!, "wilcoxon.ts");

const h = openH5ad(resolve(root, a.file!));
const plan = planGroups(h.file, { perturbationColumn: a.column!, controlLabel: a.control!, minCellsPerGroup: 2 });
const reader = h.matrix();
const [nObs, nGenes] = reader.shape;
const G = plan.groups.length;
const t0 = performance.now();
const stats = await accumulateGroupStats(reader, plan.cellSlot, G + 1, false, { memoryBudget: 1 << 30 });
console.log(
  `${a.file}: ${nObs} cells × ${nGenes} genes, ${G} groups + control (${plan.sizes[0]} cells), ${reader.info.format}; statistics ${((performance.now() - t0) / 1e3).toFixed(2)} s`,
);
const g0 = Number(a.g0),
  g1 = Math.min(nGenes, g0 + Number(a.genes));
const float64 = reader.info.dtype === "float64";
const rounds = Number(a.rounds);
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
const entries = nObs * (g1 - g0);
const rate = (ms: number) => `${((entries / ms) * 1e-3).toFixed(1)} M entries/s`;

// Chunk builders, alternately.
let chunkNew: GeneChunk | null = null,
  chunkOld: GeneChunk | null = null;
const buildTimes = { old: [] as number[], new: [] as number[] };
for (let r = 0; r < (a["no-build"] ? 1 : Math.max(1, rounds >> 1)); r++) {
  for (const side of r % 2 ? (["new", "old"] as const) : (["old", "new"] as const)) {
    chunkNew = chunkOld = null;
    const t = performance.now();
    const c = (side === "old" ? old : cur).buildChunk(reader, plan.cellSlot, stats, g0, g1, float64, {
      memoryBudget: 1 << 30,
    });
    buildTimes[side].push(performance.now() - t);
    if (side === "old") chunkOld = c;
    else chunkNew = c;
  }
}
chunkOld ??= old.buildChunk(reader, plan.cellSlot, stats, g0, g1, float64, { memoryBudget: 1 << 30 });
chunkNew ??= cur.buildChunk(reader, plan.cellSlot, stats, g0, g1, float64, { memoryBudget: 1 << 30 });
h.close();
const nnz = chunkOld.values.length;
console.log(
  `genes [${g0}, ${g1}): ${nnz.toLocaleString("en-US")} stored values of compared cells; ${(g1 - g0) * G} (gene, group) tests`,
);
const sameChunk =
  chunkOld.ptr.length === chunkNew.ptr.length &&
  chunkOld.ptr.every((v, i) => v === chunkNew!.ptr[i]) &&
  chunkOld.values.length === chunkNew.values.length &&
  chunkOld.values.every((v, i) => Object.is(v, chunkNew!.values[i]));
if (!a["no-build"])
  console.log(
    `buildChunk  old ${median(buildTimes.old).toFixed(0)} ms  new ${median(buildTimes.new).toFixed(0)} ms  (medians of ${buildTimes.old.length}); chunks identical: ${sameChunk}`,
  );

function ctxFor(): KernelContext {
  return {
    nSlots: G + 1,
    nGenes,
    sizes: plan.sizes,
    tieCorrect: true,
    scores: new Float64Array(G * nGenes),
    pvals: new Float64Array(G * nGenes),
  };
}
const ctxOld = ctxFor(),
  ctxNew = ctxFor();
const scratchOld = new oldKernel.RankSumScratch(),
  scratchNew = new curKernel.RankSumScratch();
// Wall and CPU time (user + system of the process: this thread, and the garbage collector's) per round.
const times = { old: [] as number[], new: [] as number[] };
const cpu = { old: [] as number[], new: [] as number[] };
for (let r = 0; r < rounds; r++) {
  for (const side of r % 2 ? (["new", "old"] as const) : (["old", "new"] as const)) {
    const c0 = process.cpuUsage();
    const t = performance.now();
    if (side === "old") oldKernel.rankSumGenes(chunkOld, 0, chunkOld.count, ctxOld, scratchOld);
    else curKernel.rankSumGenes(chunkNew, 0, chunkNew.count, ctxNew, scratchNew);
    times[side].push(performance.now() - t);
    const c = process.cpuUsage(c0);
    cpu[side].push((c.user + c.system) / 1e3);
  }
}
const tests = (g1 - g0) * G;
for (const [what, xs] of [
  ["wall", times],
  ["CPU ", cpu],
] as const) {
  const mo = median(xs.old),
    mn = median(xs.new);
  console.log(
    `kernel ${what} old ${mo.toFixed(0)} ms (${rate(mo)}, ${((mo * 1e6) / tests).toFixed(0)} ns/test)` +
      `  new ${mn.toFixed(0)} ms (${rate(mn)}, ${((mn * 1e6) / tests).toFixed(0)} ns/test)  → ${(mo / mn).toFixed(2)}×  (medians of ${rounds})`,
  );
  console.log(
    `  old: ${xs.old.map((t) => t.toFixed(0)).join(" ")}   new: ${xs.new.map((t) => t.toFixed(0)).join(" ")}`,
  );
}
let maxRel = 0,
  differ = 0;
for (let k = 0; k < G; k++)
  for (let j = g0; j < g1; j++) {
    const i = k * nGenes + j;
    for (const [x, y] of [
      [ctxOld.scores[i]!, ctxNew.scores[i]!],
      [ctxOld.pvals[i]!, ctxNew.pvals[i]!],
    ]) {
      if (Object.is(x, y)) continue;
      differ++;
      const rel = Math.abs(x - y) / Math.max(Math.abs(x), Math.abs(y));
      if (!(rel <= maxRel)) maxRel = Number.isNaN(rel) ? Infinity : rel;
    }
  }
console.log(
  `results: ${differ} of ${2 * G * (g1 - g0)} values differ from ${a.vs}'s, largest relative difference ${maxRel}`,
);
