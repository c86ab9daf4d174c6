/**
 * The kill campaign (issue 20): SIGKILL each operation at random moments and check the input is intact,
 * the next run leaves no temporary file and writes what an uninterrupted run writes (./harness.ts).
 * Not part of `npm test` (test/io/killSample.test.ts runs a few kills).
 *
 *   node --import ./bin/register.mjs bench/kill/kill.ts [--kills 25] [--cells 20000] [--ops normalize,convert,sort,de,qc,obs import] [--seed 20]
 *
 * Prints progress on stderr and the table (Markdown) on stdout; exits 1 when any check failed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ALL_OPS, formatKillTable, runKillCampaign, type OpName } from "./harness.ts";

const { values } = parseArgs({
  options: {
    kills: { type: "string", default: "25" },
    cells: { type: "string", default: "20000" },
    ops: { type: "string", default: ALL_OPS.join(",") },
    seed: { type: "string", default: "20" },
    keep: { type: "boolean", default: false },
  },
});
const ops = values.ops!.split(",").map((s) => s.trim()) as OpName[];
for (const op of ops)
  if (!ALL_OPS.includes(op)) throw new Error(`unknown operation '${op}' (one of ${ALL_OPS.join(", ")})`);
const workDir = mkdtempSync(join(tmpdir(), "crispyx-kill-"));
const started = performance.now();
try {
  const rows = await runKillCampaign({
    ops,
    kills: Number(values.kills),
    cells: Number(values.cells),
    seed: Number(values.seed),
    workDir,
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(`${formatKillTable(rows)}\n`);
  process.stdout.write(
    `(${Number(values.cells).toLocaleString("en-US")} cells × 2,000 genes; ${((performance.now() - started) / 60000).toFixed(1)} min)\n`,
  );
  const failures = rows.flatMap((r) => r.failures.map((f) => `${r.op}: ${f}`));
  for (const f of failures) process.stdout.write(`FAIL ${f}\n`);
  process.exitCode = failures.length ? 1 : 0;
} finally {
  if (!values.keep) rmSync(workDir, { recursive: true, force: true });
  else process.stderr.write(`kept ${workDir}\n`);
}
