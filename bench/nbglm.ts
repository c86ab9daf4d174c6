/**
 * NB-GLM DE benchmark: `crispyx de --method nb-glm` against the Python crispyx's nb_glm_test
 * (bench/nbglm_python.py) on the SAME file, in one run, each as its own process under /usr/bin/time -v.
 *
 *   node --import ./bin/register.mjs bench/nbglm.ts --cells 100000 --genes 5000 --perturbations 200
 *
 * The file is the demo's synthetic screen (src/demo: negative-binomial counts, planted knock-downs and
 * downstream effects, ~30% dense float32 CSR) written to bench/data/ (kept for reruns). The Python crispyx
 * is read from $CRISPYX_PY_SRC (default /tmp/pycx/src: `git archive` of github:JinHongDu-Lab/crispyx), run
 * with Debian's python3 + python3-numba 0.56 / joblib 1.2 / psutil and --py-jobs processes; --skip-python
 * skips it. Results go in README.md ("NB-GLM DE and pseudo-bulk").
 *
 * RESULTS 2026-12-06, 100,000 × 5,000 × 200 (140M non-zeros), 1G, 2 workers. Same run, machine at load 7–30:
 * crispyx 107.9 s wall / 52.2 s CPU / 2,503 MiB (before chunk buffers were reused), Python crispyx 3,333.5 s wall /
 * 1,240.3 s CPU / 2,789 MiB. Final code on a quiet machine: 28.2 s / 41.7 s CPU / 992 MiB (unsorted), 22.7 s /
 * 35.9 s / 998 MiB (sorted by `crispyx sort`).
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { timeV } from "./timeV.ts";

const { values } = parseArgs({
  options: {
    cells: { type: "string", default: "100000" },
    genes: { type: "string", default: "5000" },
    perturbations: { type: "string", default: "200" },
    "memory-limit": { type: "string", default: "1G" },
    workers: { type: "string", default: "2" },
    "py-jobs": { type: "string", default: "2" },
    "skip-python": { type: "boolean", default: false },
    child: { type: "string" },
  },
});

if (values.child) {
  // Generate the screen (a child process, so its memory is not the benchmark's).
  const { syntheticScreen } = await import("../src/demo/synthetic.ts");
  const { writeSyntheticScreen } = await import("../src/demo/write.ts");
  const spec = { cells: +values.cells!, genes: +values.genes!, perturbations: +values.perturbations!, seed: 13 };
  await writeSyntheticScreen(values.child, syntheticScreen(spec));
  process.exit(0);
}

const dir = join("bench", "data");
mkdirSync(dir, { recursive: true });
const tag = `${values.cells}x${values.genes}x${values.perturbations}`;
const input = join(dir, `nbglm_${tag}.h5ad`);
const node = (args: string[]) => [process.execPath, "--import", "./bin/register.mjs", ...args];
if (!existsSync(input)) {
  const g = timeV(
    node([
      "bench/nbglm.ts",
      "--cells",
      values.cells!,
      "--genes",
      values.genes!,
      "--perturbations",
      values.perturbations!,
      "--child",
      input,
    ]),
  );
  console.log(`screen written in ${g.wall.toFixed(1)} s: ${input}`);
}
const info = timeV(node(["bin/crispyx.js", "info", input]));
console.log(
  info.stdout
    .trim()
    .split("\n")
    .filter((l) => /X:|file:|n_obs/.test(l))
    .join("\n"),
);

const out = join(dir, `nbglm_${tag}_crispyx.h5ad`);
const ours = timeV(
  node([
    "bin/crispyx.js",
    "de",
    input,
    "--method",
    "nb-glm",
    "-p",
    "perturbation",
    "--control",
    "non-targeting",
    "--memory-limit",
    values["memory-limit"]!,
    "--workers",
    values.workers!,
    "-o",
    out,
    "--force",
  ]),
);
console.log(
  `crispyx nb-glm   ${ours.wall.toFixed(1)} s wall, ${ours.cpu.toFixed(1)} s CPU, ${Math.round(ours.rssMiB)} MiB peak RSS`,
);
if (!values["skip-python"]) {
  const pyOut = join(dir, `nbglm_${tag}_python.h5ad`);
  const py = timeV(["/usr/bin/python3", "bench/nbglm_python.py", input, pyOut, "non-targeting", values["py-jobs"]!], {
    env: { ...process.env, PYTHONPATH: process.env.CRISPYX_PY_SRC ?? "/tmp/pycx/src" },
  });
  console.log(
    `Python crispyx   ${py.wall.toFixed(1)} s wall, ${py.cpu.toFixed(1)} s CPU, ${Math.round(py.rssMiB)} MiB peak RSS`,
  );
  console.log(
    `→ ${(py.wall / ours.wall).toFixed(1)}× faster (wall), ${(py.rssMiB / ours.rssMiB).toFixed(1)}× less memory`,
  );
  rmSync(pyOut, { force: true });
}
rmSync(out, { force: true });
rmSync(out.replace(/\.h5ad$/, ".csv"), { force: true });
