/**
 * A fast sample of the kill harness (bench/kill/kill.ts runs the full campaign): a few SIGKILLs at random
 * moments of normalize and of the in-place `obs import`; the input stays intact (in place: old or new
 * table, readable), the next run leaves no temporary file and writes what an uninterrupted run writes.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { formatKillTable, runKillCampaign } from "../../bench/kill/harness.ts";
import { tempDir } from "../cli/helpers.ts";

const tmp = tempDir("crispyx-killsample-");
after(() => tmp.cleanup());

test("SIGKILL at random moments: input intact, nothing left after the next run, rerun = uninterrupted run", {
  timeout: 120_000,
}, async () => {
  const rows = await runKillCampaign({
    ops: ["normalize", "obs import"],
    kills: 2,
    cells: 1500,
    seed: 7,
    workDir: tmp.path,
  });
  console.log(formatKillTable(rows));
  for (const r of rows) {
    assert.deepEqual(r.failures, [], r.op);
    assert.equal(r.inputIntact, r.kills);
    assert.equal(r.staleAfterRerun, 0);
    assert.equal(r.rerunEqual, r.kills);
  }
});
