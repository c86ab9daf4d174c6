/**
 * `crispyx de` in passes of perturbations, killed (SIGKILL) mid-way and continued with --resume: the
 * result is identical to an uninterrupted run, the kill leaves the input untouched and no output under
 * its final name, and the resumed run says how many batches it took from the checkpoint.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { CLI, crispyx, smallScreen, tempDir } from "./helpers.ts";
import { datasetValues } from "../helpers/datasets.ts";

const tmp = tempDir("crispyx-resume-");
let norm = "";
let counts = "";

before(async () => {
  counts = await smallScreen(tmp.path, "screen.h5ad", { cells: 6000, genes: 300, perturbations: 24, seed: 11 });
  norm = join(tmp.path, "norm.h5ad");
  const r = await crispyx(["normalize", counts, "-o", norm]);
  assert.equal(r.code, 0, r.stderr);
});
after(() => tmp.cleanup());

/** Run `crispyx de` and SIGKILL it once its progress reaches batch `k`; resolves when it has died. */
function killAtBatch(args: string[], k: number): Promise<{ signal: NodeJS.Signals | null; sawBatch: boolean }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, CRISPYX_TRACE_PROGRESS: "1" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let text = "";
    let sawBatch = false;
    child.stderr!.on("data", (d: Buffer) => {
      text += d.toString();
      if (!sawBatch && text.includes(`batch ${k}/`)) {
        sawBatch = true;
        child.kill("SIGKILL");
      }
    });
    child.on("exit", (_code, signal) => done({ signal, sawBatch }));
  });
}

test("de killed with SIGKILL in its 5th of 24 passes, then --resume: the same .h5ad datasets and CSV bytes as one uninterrupted run", async () => {
  const base = ["de", norm, "--groups-per-pass", "1", "--workers", "1"];
  const full = join(tmp.path, "full.h5ad");
  const r0 = await crispyx([...base, "-o", full]);
  assert.equal(r0.code, 0, r0.stderr);
  assert.match(r0.stderr, /24 passes over X: 1 perturbations per pass were asked for/);

  const out = join(tmp.path, "killed.h5ad");
  const before = readFileSync(norm);
  const k = await killAtBatch([...base, "-o", out], 5);
  assert.ok(k.sawBatch, "the run reached its 5th batch");
  assert.equal(k.signal, "SIGKILL");
  assert.equal(existsSync(out), false, "no output under the final name");
  assert.ok(readFileSync(norm).equals(before), "input untouched");
  const cp = readdirSync(tmp.path).filter((n) => n.startsWith(".crispyx-resume-"));
  assert.deepEqual(cp, [".crispyx-resume-killed.h5ad"], "the checkpoint is kept for --resume");

  // `crispyx clean` lists the checkpoint and keeps it (it is what --resume continues from).
  const listed = await crispyx(["clean", tmp.path]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(
    listed.stdout,
    /kept\t.*\.crispyx-resume-killed\.h5ad\tcheckpoint of an interrupted DE run for killed\.h5ad \(\d+ batches finished; continue with 'crispyx de … --resume', or remove with --checkpoints\)/,
  );
  assert.deepEqual(
    readdirSync(tmp.path).filter((n) => n.startsWith(".crispyx-resume-")),
    cp,
  );

  const r1 = await crispyx([...base, "-o", out, "--resume"]);
  assert.equal(r1.code, 0, r1.stderr);
  const resumed = Number(/resumed: (\d+) of 24 batches/.exec(r1.stderr)?.[1]);
  assert.ok(resumed >= 3 && resumed < 24, `resumed after ${resumed} batches:\n${r1.stderr}`);
  assert.ok(
    readFileSync(out.replace(/\.h5ad$/, ".csv")).equals(readFileSync(full.replace(/\.h5ad$/, ".csv"))),
    "CSV bytes",
  );
  const cmp = await crispyx(["info", out, "--json"]);
  assert.equal(cmp.code, 0, cmp.stderr);
  // Dataset-level identity: every dataset's values, by path (the files differ only in HDF5's bookkeeping).
  assert.deepEqual(datasetValues(out, true), datasetValues(full, true));
  assert.deepEqual(
    readdirSync(tmp.path).filter((n) => n.startsWith(".crispyx-")),
    [],
    "no checkpoint or temporary file left",
  );
});

test("nb-glm killed with SIGKILL in its 3rd of 8 passes, then --resume: the same datasets and CSV bytes as one uninterrupted run", async () => {
  // The resumed process computes the control's size factors and dispersions again: the same bits.
  const base = ["de", counts, "--method", "nb-glm", "--groups-per-pass", "3", "--workers", "1"];
  const full = join(tmp.path, "nb_full.h5ad");
  const r0 = await crispyx([...base, "-o", full]);
  assert.equal(r0.code, 0, r0.stderr);
  assert.match(r0.stderr, /8 batches of perturbations \(3 perturbations per pass were asked for\)/);
  const out = join(tmp.path, "nb_killed.h5ad");
  const k = await killAtBatch([...base, "-o", out], 3);
  assert.ok(k.sawBatch, "the run reached its 3rd batch");
  assert.equal(k.signal, "SIGKILL");
  assert.equal(existsSync(out), false, "no output under the final name");
  const r1 = await crispyx([...base, "-o", out, "--resume"]);
  assert.equal(r1.code, 0, r1.stderr);
  const resumed = Number(/resumed: (\d+) of 8 batches/.exec(r1.stderr)?.[1]);
  assert.ok(resumed >= 1 && resumed < 8, `resumed after ${resumed} batches:\n${r1.stderr}`);
  assert.ok(
    readFileSync(out.replace(/\.h5ad$/, ".csv")).equals(readFileSync(full.replace(/\.h5ad$/, ".csv"))),
    "CSV bytes",
  );
  assert.deepEqual(datasetValues(out, true), datasetValues(full, true));
  assert.deepEqual(
    readdirSync(tmp.path).filter((n) => n.startsWith(".crispyx-")),
    [],
    "no checkpoint or temporary file left",
  );
});

test("clean --checkpoints removes a DE checkpoint", async () => {
  const out = join(tmp.path, "dropped.h5ad");
  const k = await killAtBatch(["de", norm, "--groups-per-pass", "1", "--workers", "1", "-o", out], 3);
  assert.ok(k.sawBatch);
  const json = JSON.parse((await crispyx(["clean", tmp.path, "--json", "--checkpoints"])).stdout);
  assert.equal(json.checkpoints.length, 1);
  assert.equal(json.checkpoints[0].output, "dropped.h5ad");
  assert.equal(json.checkpoints[0].removed, true);
  assert.ok(json.checkpoints[0].finished_batches >= 1);
  assert.deepEqual(
    readdirSync(tmp.path).filter((n) => n.startsWith(".crispyx-")),
    [],
  );
});
