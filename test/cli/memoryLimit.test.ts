/**
 * --memory-limit is honoured by the streaming commands: with a small budget their peak memory is clearly
 * lower than with a large one (X is read in smaller blocks), and the outputs are the same.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, smallScreen, tempDir } from "./helpers.ts";

const TIME = "/usr/bin/time";
const tmp = tempDir();
let file: string;
before(async () => { file = await smallScreen(tmp.path, "mid.h5ad", { cells: 12000, genes: 2000, perturbations: 10, seed: 1 }); });
after(() => tmp.cleanup());

/** Peak resident memory (KB) of one CLI run, measured by GNU time. */
function peakKb(args: string[]): number {
  const r = spawnSync(TIME, ["-f", "%M", process.execPath, CLI, "--quiet", ...args], { encoding: "utf8" });
  assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}`);
  return Number(r.stderr.trim().split("\n").at(-1));
}

const COMMANDS: [string, (out: string) => string[]][] = [
  ["normalize", (out) => ["normalize", file, "-o", out]],
  ["filter", (out) => ["filter", file, "--cells", "obs.perturbation != 'non-targeting'", "-o", out]],
  ["qc", (out) => ["qc", file, "--min-genes", "10", "--min-cells-per-gene", "5", "-o", out]],
  ["report", (out) => ["report", file, "-o", out.replace(/\.h5ad$/, ".html")]],
];

for (const [name, args] of COMMANDS) {
  test(`${name}: --memory-limit 4M peaks clearly below --memory-limit 2G`, (t) => {
    if (!existsSync(TIME)) return t.skip("GNU time not found");
    const small = peakKb(["--memory-limit", "4M", ...args(join(tmp.path, `${name}-small.h5ad`))]);
    const big = peakKb(["--memory-limit", "2G", ...args(join(tmp.path, `${name}-big.h5ad`))]);
    console.log(`${name}: peak with 4M ${small} KB, with 2G ${big} KB`);
    // X's arrays are ~58 MB: an honoured budget separates the runs by tens of MB (noise: a few MB). The report's
    // base (Vega) is larger and its difference smaller (~31–34 MB measured), hence its lower bar.
    assert.ok(big - small > (name === "report" ? 20_000 : 40_000), `peak with 4M ${small} KB, with 2G ${big} KB`);
    if (name !== "report") {
      // Same result whatever the block size.
      const a = spawnSync(process.execPath, [CLI, "info", "--json", join(tmp.path, `${name}-small.h5ad`)], { encoding: "utf8" });
      const b = spawnSync(process.execPath, [CLI, "info", "--json", join(tmp.path, `${name}-big.h5ad`)], { encoding: "utf8" });
      const strip = (s: string) => { const j = JSON.parse(s); delete j.path; delete j.file_bytes; return j; };
      assert.deepEqual(strip(a.stdout), strip(b.stdout));
    } else {
      const body = (p: string) => readFileSync(p, "utf8").replace(/ on \d{4}-\d\d-\d\d \d\d:\d\d UTC/, "").replace(/report-(small|big)/g, "");
      assert.equal(body(join(tmp.path, `${name}-small.html`)), body(join(tmp.path, `${name}-big.html`)));
    }
  });
}
