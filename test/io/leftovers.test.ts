/**
 * Temporary files know their owner (issue 20 item 5): a live process's temporary file survives every
 * cleanup — another run writing the same output, and `clean` — while a killed one's is removed by the next
 * write of that output and listed/removed by `clean` / `crispyx clean` (with the bytes freed).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { clean, writeAtomically } from "../../src/io/atomic.ts";
import { CLI, crispyx, REPO, tempDir } from "../cli/helpers.ts";

const tmp = tempDir("crispyx-leftovers-");
after(() => tmp.cleanup());

/** Start a process owning a temporary file for `output`; resolves with the child and the file's path. */
function owner(output: string): Promise<{ kill: () => Promise<void>; path: string }> {
  const child = spawn(
    process.execPath,
    ["--import", join(REPO, "bin/register.mjs"), join(REPO, "test/io/leftovers.child.ts"), output],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  return new Promise((done, fail) => {
    child.once("error", fail);
    createInterface({ input: child.stdout! }).once("line", (path) =>
      done({
        path,
        kill: () =>
          new Promise((ok) => {
            child.once("exit", () => ok());
            child.kill("SIGKILL");
          }),
      }),
    );
  });
}

const temps = (dir: string) => readdirSync(dir).filter((f) => f.startsWith(".crispyx-tmp-"));

test("a live run's temporary file survives another write of the same output and clean; a killed run's is removed", async () => {
  const dir = join(tmp.path, "a");
  const out = join(dir, "out.txt");
  const { mkdirSync } = await import("node:fs");
  mkdirSync(dir);
  const live = await owner(out);
  await writeAtomically(out, (t) => writeFileSync(t, "first"));
  assert.ok(existsSync(live.path), "another write must not remove a live run's file");
  const listed = clean(dir);
  assert.deepEqual(listed.removed, []);
  assert.equal(listed.files.length, 1);
  assert.equal(listed.files[0]!.owner, "live");
  assert.ok(existsSync(live.path));

  await live.kill();
  const dry = clean(dir, { dryRun: true });
  assert.equal(dry.files[0]!.owner, "dead");
  assert.equal(dry.bytesFreed, 4096);
  assert.ok(existsSync(live.path), "--dry-run removes nothing");
  await writeAtomically(out, (t) => writeFileSync(t, "second"));
  assert.deepEqual(temps(dir), [], "the next write of the same output removes a dead run's file");
});

test("a dead run's file for another output is left to clean; files of other machines and recent old-style names are kept", async () => {
  const dir = join(tmp.path, "b");
  const { mkdirSync } = await import("node:fs");
  mkdirSync(dir);
  const dead = await owner(join(dir, "other.h5ad"));
  await dead.kill();
  const foreign = join(dir, ".crispyx-tmp-h00000000-p1-s1-0badc0de-x.h5ad");
  const oldRecent = join(dir, ".crispyx-tmp-0badc0de-y.h5ad");
  const oldStale = join(dir, ".crispyx-tmp-12345678-z.h5ad");
  for (const p of [foreign, oldRecent, oldStale]) writeFileSync(p, Buffer.alloc(1000));
  const twoHoursAgo = new Date(Date.now() - 2 * 3600e3);
  utimesSync(oldStale, twoHoursAgo, twoHoursAgo);

  await writeAtomically(join(dir, "out.h5ad"), (t) => writeFileSync(t, "x"));
  assert.ok(existsSync(dead.path), "a write removes only what was left for its own output");

  const r = await crispyx(["clean", dir, "--dry-run"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^would remove\t4\.00 KiB\t.*other\.h5ad\tleft by a run that ended$/m);
  assert.match(r.stdout, /^2 stale temporary files in .*: removing them would free 4\.98 KiB; 2 in use left alone$/m);
  assert.equal(temps(dir).length, 4);

  const done = await crispyx(["clean", dir]);
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /^removed 2 stale temporary files from .*, freed 4\.98 KiB; 2 in use left alone$/m);
  assert.match(done.stdout, /^kept\t.*x\.h5ad\twritten on another machine/m);
  assert.deepEqual(temps(dir).sort(), [".crispyx-tmp-0badc0de-y.h5ad", ".crispyx-tmp-h00000000-p1-s1-0badc0de-x.h5ad"]);

  const json = JSON.parse((await crispyx(["clean", dir, "--json"])).stdout);
  assert.equal(json.bytes_freed, 0);
  assert.equal(json.files.length, 2);
});

test("clean refuses what is not a folder", async () => {
  const r = await crispyx(["clean", join(tmp.path, "nope")]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^crispyx: error: .*nope: not a folder$/m);
  void CLI;
});
