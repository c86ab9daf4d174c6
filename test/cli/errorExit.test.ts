/**
 * An error is an exit (issue 21 item 4): after an error the process ends with a non-zero status within
 * seconds — worker threads, background writers and timers do not keep it alive — and leaves no temporary
 * file; SIGTERM / SIGINT end it with the status shells report as 143 / 130, whatever its main thread is doing,
 * its temporary files removed and its input intact.
 *
 * Runs are held mid-way deterministically with the test-only CRISPYX_TEST_FAULT (src/core/testFaults.ts):
 * `progress:stall@<phase>` blocks the main thread at that phase's first progress event (a busy run, as
 * during a long synchronous pass); `de-worker[:exit]` makes a DE worker thread throw or die. Timings are
 * measured from the moment of the error or signal, never for the whole run, so a slow machine only waits.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { normalizeTotalLog1p } from "../../src/ops/normalize.ts";
import { CLI, crispyx, smallScreen, tempDir } from "./helpers.ts";

const tmp = tempDir("crispyx-errexit-");
let counts: string;
let normalized: string;
before(async () => {
  counts = await smallScreen(tmp.path, "counts.h5ad", { cells: 3000, genes: 400, perturbations: 6, seed: 5 });
  normalized = join(tmp.path, "norm.h5ad");
  await normalizeTotalLog1p(counts, { output: normalized });
});
after(() => tmp.cleanup());

const isRoot = process.getuid?.() === 0;
const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
const temps = (dir: string) => readdirSync(dir).filter((f) => f.startsWith(".crispyx-tmp-"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `check` every 50 ms until it holds or `ms` pass; returns whether it held. */
async function eventually(check: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (check()) return true;
  return check();
}

interface Run {
  /** The status a shell reports: the exit code, or 128 + the number of the signal that ended the process. */
  status: number;
  stderr: string;
  /** Milliseconds from `mark` (an error line on stderr, or the signal sent) to the end of the process. */
  afterMark: number;
}

/**
 * Run `command` (argv) and end it as told: `signal` once `ready()` holds (polled), or let it fail; the time
 * from the signal, or from the first 'crispyx: error' line, to its end is measured.
 */
function run(command: string[], opts: { env?: NodeJS.ProcessEnv; signal?: NodeJS.Signals; ready?: () => boolean }) {
  return new Promise<Run>((done, fail) => {
    const child = spawn(command[0]!, command.slice(1), {
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    let mark = 0;
    child.stderr!.on("data", (d) => {
      stderr += d;
      if (!mark && /^crispyx: error:/m.test(stderr)) mark = Date.now();
    });
    let poll: NodeJS.Timeout | undefined;
    if (opts.signal) {
      const started = Date.now();
      poll = setInterval(() => {
        if (opts.ready!()) {
          clearInterval(poll);
          mark = Date.now();
          child.kill(opts.signal);
        } else if (Date.now() - started > 120_000) {
          clearInterval(poll);
          child.kill("SIGKILL");
          fail(new Error(`never ready to be signalled; stderr:\n${stderr}`));
        }
      }, 50);
    }
    child.on("error", fail);
    child.on("close", (code, signal) => {
      clearInterval(poll);
      const status = code ?? 128 + constants.signals[signal!];
      done({ status, stderr, afterMark: mark ? Date.now() - mark : Number.NaN });
    });
  });
}

const cli = (...args: string[]) => [process.execPath, CLI, ...args];

for (const [op, phase] of [
  ["de", "writing results"],
  ["normalize", "normalizing"],
] as const) {
  for (const [signal, expected] of [
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const) {
    test(`${signal} to a busy '${op}' mid-write: status ${expected} at once, its temporary files removed, input intact`, {
      timeout: 180_000,
    }, async () => {
      const dir = join(tmp.path, `${op}-${signal}`);
      mkdirSync(dir);
      const input = op === "de" ? normalized : counts;
      const before = sha(input);
      const r = await run(
        cli(op, input, "-o", join(dir, "out.h5ad"), ...(op === "de" ? ["--method", "wilcoxon"] : [])),
        {
          env: { CRISPYX_TEST_FAULT: `progress:stall@${phase}` },
          signal,
          ready: () => temps(dir).length > 0, // held mid-write: its temporary output exists
        },
      );
      assert.equal(r.status, expected, r.stderr);
      assert.ok(r.afterMark < 10_000, `ended ${r.afterMark} ms after the signal`);
      assert.ok(await eventually(() => temps(dir).length === 0, 5000), `left behind: ${temps(dir).join(", ")}`);
      assert.deepEqual(readdirSync(dir), [], "nothing under the output's name either");
      assert.equal(sha(input), before, "the input is unchanged");
    });
  }
}

test("SIGKILL: the temporary files of a killed run are removed all the same (the reaper, src/io/tempReaper.ts)", {
  timeout: 180_000,
}, async () => {
  const dir = join(tmp.path, "kill");
  mkdirSync(dir);
  const r = await run(cli("normalize", counts, "-o", join(dir, "out.h5ad")), {
    env: { CRISPYX_TEST_FAULT: "progress:stall@normalizing" },
    signal: "SIGKILL",
    ready: () => temps(dir).length > 0,
  });
  assert.equal(r.status, 128 + constants.signals.SIGKILL);
  assert.ok(await eventually(() => temps(dir).length === 0, 5000), `left behind: ${temps(dir).join(", ")}`);
});

for (const [fault, message] of [
  ["de-worker", /^crispyx: error: DE worker failed: Error: injected fault/m],
  ["de-worker:exit", /^crispyx: error: DE worker thread stopped \(exit code 70\) before finishing its task$/m],
  ["progress@finishing", /^crispyx: error: injected fault at 'progress'/m],
] as const) {
  test(`an error in ${fault.startsWith("de") ? "a DE worker thread" : "a progress callback"} (CRISPYX_TEST_FAULT=${fault}): status 1 within seconds, nothing left`, {
    timeout: 180_000,
  }, async () => {
    const dir = join(tmp.path, `fault-${fault.replace(/\W/g, "-")}`);
    mkdirSync(dir);
    const r = await run(cli("de", normalized, "-o", join(dir, "out.h5ad"), "--method", "wilcoxon"), {
      env: { CRISPYX_TEST_FAULT: fault },
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.ok(r.afterMark < 10_000, `ended ${r.afterMark} ms after the error`);
    assert.deepEqual(readdirSync(dir), []);
  });
}

test("DE whose output device fills up mid-write: status 1 within seconds, no temporary file left", {
  timeout: 180_000,
}, async (t) => {
  const full = join(tmp.path, "full");
  mkdirSync(full);
  const ok = await crispyx(["--quiet", "de", normalized, "-o", join(full, "de.h5ad"), "--method", "wilcoxon"]);
  assert.equal(ok.code, 0, ok.stderr);
  const need = statSync(join(full, "de.h5ad")).size + statSync(join(full, "de.csv")).size;
  const mnt = join(tmp.path, "small");
  mkdirSync(mnt);
  const de = cli("--quiet", "de", normalized, "-o", join(mnt, "de.h5ad"), "--method", "wilcoxon");
  let r: Run;
  if (isRoot) {
    // Root ignores folder permissions: a tmpfs of half the output's size, in a private mount namespace.
    const room = Math.max(4096, Math.floor(need / 2 / 4096) * 4096);
    const probe = await run(["unshare", "-m", "sh", "-c", `mount -t tmpfs -o size=${room} tmpfs "${mnt}"`], {});
    if (probe.status !== 0) return t.skip("root without mount namespaces: no small device to fill here");
    const script = `mount -t tmpfs -o size=${room} tmpfs "${mnt}" && ${de.map((a) => `'${a}'`).join(" ")}; s=$?; ls -A "${mnt}" >&2; exit $s`;
    r = await run(["unshare", "-m", "sh", "-c", script], {});
    // The listing of the device, taken after the process ended and before the namespace went away.
    const listing = r.stderr.split("\n").filter((l) => l && !/^(crispyx: error|hint):/.test(l));
    assert.deepEqual(
      listing.filter((f) => f.startsWith(".crispyx-tmp-")),
      [],
      r.stderr,
    );
  } else {
    (await import("node:fs")).chmodSync(mnt, 0o555);
    r = await run(de, {});
    (await import("node:fs")).chmodSync(mnt, 0o755);
    assert.deepEqual(readdirSync(mnt), []);
  }
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^crispyx: error: (no space left on the device holding|cannot write in) /m);
  assert.ok(r.afterMark < 10_000, `ended ${r.afterMark} ms after the error`);
});
