// The worker-thread writer must start whatever flags Node itself was started with: a Worker rejects V8 and
// process-wide flags (ERR_WORKER_INVALID_EXEC_ARGV), e.g. `node --max-old-space-size=…`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { workerExecArgv } from "../../src/core/workerThreads.ts";
import { openH5ad } from "../../src/io/anndata/handle.ts";
import { ROOT, writeBigInput } from "../ops/opsTestHelpers.ts";

const dir = mkdtempSync(join(tmpdir(), "crispyx-bgwriter-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

test("workerExecArgv keeps only module-loading flags (with their values) and adds the loader when missing", () => {
  assert.deepEqual(
    workerExecArgv(["--max-old-space-size=300", "--import", "./bin/register.mjs", "--title", "x", "--stack-size=2000"]),
    ["--import", "./bin/register.mjs"],
  );
  assert.deepEqual(workerExecArgv(["--import=tsx", "--conditions", "dev", "--expose-gc"]), [
    "--import=tsx",
    "--conditions",
    "dev",
  ]);
  assert.deepEqual(workerExecArgv(["--cpu-prof", "--cpu-prof-dir", "/tmp/p", "--import=tsx"]), [
    "--cpu-prof",
    "--cpu-prof-dir",
    "/tmp/p",
    "--import=tsx",
  ]);
  const added = workerExecArgv(["--max-semi-space-size=64"]);
  assert.equal(added.length, 2);
  assert.equal(added[0], "--import");
  assert.match(added[1]!, /bin\/register\.mjs$/);
});

test("an operator with the worker-thread writer runs under node --max-old-space-size", () => {
  const input = join(dir, "in.h5ad");
  const output = join(dir, "out.h5ad");
  writeBigInput(input, 2000, 50);
  const r = spawnSync(
    process.execPath,
    [
      "--max-old-space-size=400",
      "--import",
      "./bin/register.mjs",
      "test/ops/runOperator.ts",
      "normalize",
      input,
      output,
      JSON.stringify({ chunkSize: 200, background: true }),
    ],
    { cwd: ROOT, encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /ERR_WORKER_INVALID_EXEC_ARGV/);
  using h = openH5ad(output);
  assert.deepEqual(h.X.shape, [2000, 50]);
});
