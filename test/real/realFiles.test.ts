/**
 * Issue 18: every file of the real-file corpus (test/fixtures/real/, manifest.json) through the CLI —
 * info, obs export, normalize, convert, filter, sort, standardize, DE t-test and Wilcoxon — with the
 * values of scripts/reference/make_real_fixtures.py (numpy/scipy/anndata 0.8), DE scores also against scipy
 * on the very file DE read (scripts/reference/de_scores.py), and every output opened
 * in Python anndata 0.8 and the newest anndata (test/helpers/anndataChecker.ts: referencePythons; one process
 * per batch). Two files at a time. The file × command table goes to
 * $CRISPYX_REAL_TABLE (default: real-files-table.md in the OS temp dir); $CRISPYX_REAL_ONLY limits the files.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crispyx, REPO, tempDir } from "../cli/helpers.ts";
import { checkH5adMany, findPython, referencePythons, SKIP_MESSAGE } from "../helpers/anndataChecker.ts";
import { differs, loadExpected, loadManifest, type Expected } from "./corpus.ts";
import { COMMANDS, runFile, TOL, type Check } from "./runFile.ts";
import { CliChild } from "./cliPool.ts";

// CRISPYX_REAL_ONLY=a,b (names without .h5ad) runs only those files, e.g. while fixing one of them.
const only = process.env.CRISPYX_REAL_ONLY?.split(",").map((s) => s.trim().replace(/\.h5ad$/, ""));
const manifest = loadManifest().filter((e) => !only || only.includes(e.name.replace(/\.h5ad$/, "")));
const results = new Map<string, Check[]>();
const tmp = tempDir("realcorpus-"); // not "crispyx-*": other tests sweep those names
const CONCURRENCY = 2;
// Commands run in a long-lived child per lane (cliServer.ts: ~1 s of loader start-up saved per command, ~500
// commands); CRISPYX_REAL_SUBPROCESS=1 runs each in its own `node bin/crispyx.js` instead (slower, for a cross-check).
const SUBPROCESS = process.env.CRISPYX_REAL_SUBPROCESS === "1";

interface Opened {
  error: string | null;
  summary?: { layers?: Record<string, unknown>; raw?: { shape: number[] } | null };
}

/** anndata's read of each output (batches of 80 files, one Python process each): its summary, or the error. */
function openAll(paths: string[], python: string): Map<string, Opened> {
  const seen = new Map<string, Opened>();
  for (let i = 0; i < paths.length; i += 80) {
    for (const r of checkH5adMany(paths.slice(i, i + 80), python)) {
      seen.set(
        r.file,
        r.error ? { error: r.error.split("\n").pop()!.slice(0, 200) } : { error: null, summary: r.result },
      );
    }
  }
  return seen;
}

/** Commands whose help promises to carry layers and raw (convert, sort) or that must (filter, standardize: issue 18). */
const CARRY = new Set(["convert", "filter", "sort", "standardize"]);

/** What an output lost: layers or raw that the input had, as anndata reads them. */
function lost(exp: Expected, o: Opened): string | null {
  if (!o.summary) return null;
  const layers = Object.keys(o.summary.layers ?? {}).sort();
  const missing = exp.layers.filter((k) => !layers.includes(k));
  if (missing.length) return `layers ${JSON.stringify(missing)} dropped`;
  if (exp.raw && !o.summary.raw) return "raw dropped";
  return null;
}

before(
  async () => {
    const queue = [...manifest];
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        const child = new CliChild();
        const cli = SUBPROCESS ? (args: string[]) => crispyx(args) : (args: string[]) => child.run(args);
        try {
          for (let entry = queue.shift(); entry; entry = queue.shift()) {
            const dir = join(tmp.path, entry.name.replace(/\.h5ad$/, ""));
            mkdirSync(dir);
            results.set(entry.name, await runFile(entry, loadExpected(entry.name), dir, cli));
          }
        } finally {
          child.stop();
        }
      }),
    );
    // Every output opens in anndata 0.8 and in the newest anndata (test/helpers/anndataChecker.ts finds them).
    const pythons = referencePythons();
    const outputs = [...results.values()].flatMap((cs) => cs.flatMap((c) => c.outputs));
    for (const { python, anndataVersion } of pythons) {
      const label = `anndata ${anndataVersion}`;
      const opened = openAll(outputs, python);
      for (const [name, checks] of results) {
        const exp = loadExpected(name);
        for (const c of checks) {
          if (c.status === "fail") continue;
          const bad = c.outputs.map((p) => [p, opened.get(p)] as const).find(([, o]) => o?.error);
          const drop =
            CARRY.has(c.command) && c.outputs[0] && opened.get(c.outputs[0])
              ? lost(exp, opened.get(c.outputs[0])!)
              : null;
          if (bad) {
            c.status = "fail";
            c.reason = `${label} cannot read ${bad[0].split("/").pop()}: ${bad[1]!.error}`;
          } else if (drop) {
            c.status = "fail";
            c.reason = `${drop} (as ${label} reads ${c.outputs[0]!.split("/").pop()})`;
          }
        }
      }
    }
    if (findPython()) liveDe(findPython()!);
    if (pythons.length === 0)
      for (const checks of results.values())
        for (const c of checks) c.reason = `${c.reason ?? ""} (${SKIP_MESSAGE})`.trim();
    writeTable();
  },
  { timeout: 20 * 60_000 },
);

after(() => tmp.cleanup());

/** DE scores against scipy on the file crispyx tested (scripts/reference/de_scores.py), one Python process. */
let liveChecked = 0;
function liveDe(python: string): void {
  const checks = [...results.values()]
    .flat()
    .filter((c) => c.deJob && c.deJob.genes.length > 0 && c.deJob.scores.length === c.deJob.genes.length);
  if (checks.length === 0) return;
  const jobs = checks.map((c, id) => ({ id, ...c.deJob!, scores: undefined }));
  const r = spawnSync(python, [join(REPO, "scripts", "reference", "de_scores.py")], {
    input: JSON.stringify(jobs),
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  const replies = JSON.parse(r.stdout || "[]") as { id: number; scores?: number[]; error?: string }[];
  liveChecked = replies.filter((x) => x.scores).length;
  for (const { id, scores, error } of replies) {
    const c = checks[id]!;
    const job = c.deJob!;
    const problem = error
      ? `scipy cross-check could not read ${job.file.split("/").pop()}: ${error.slice(0, 150)}`
      : (job.genes
          .map((g, k) =>
            differs(
              `vs scipy on the same input, '${job.group}' × '${g}'`,
              job.scores[k]!,
              scores![k]!,
              TOL.liveDe,
              TOL.liveDeAbs,
            ),
          )
          .find((d) => d) ?? null);
    if (problem && c.status !== "fail") {
      c.status = "fail";
      c.reason = problem;
    } else if (problem) c.reason += `; ${problem}`;
  }
}

function writeTable(): void {
  const cell = (c: Check | undefined) =>
    !c ? "—" : c.status === "pass" ? (c.reason ? "pass*" : "pass") : c.status === "skip" ? "skip" : "FAIL";
  const lines = [`| file | ${COMMANDS.join(" | ")} |`, `|---|${COMMANDS.map(() => "---").join("|")}|`];
  const causes = new Map<string, string[]>();
  let pass = 0,
    failN = 0,
    skipN = 0;
  for (const entry of manifest) {
    const checks = results.get(entry.name) ?? [];
    lines.push(`| ${entry.name} | ${COMMANDS.map((k) => cell(checks.find((c) => c.command === k))).join(" | ")} |`);
    for (const c of checks) {
      if (c.status === "pass") pass++;
      else if (c.status === "skip") skipN++;
      else {
        failN++;
        const key = `${c.command}: ${c.reason}`
          .replaceAll(join(REPO, "test", "fixtures", "real", entry.name), "FILE")
          .replace(/\/tmp\/[^\s:]+/g, "…")
          .replace(/ (row|score) .*: got .*/, " $1 …: value differs beyond the tolerance")
          .slice(0, 170);
        causes.set(key, [...(causes.get(key) ?? []), entry.name.replace(/\.h5ad$/, "")]);
      }
    }
  }
  // Not "N passed, N failed" alone on a line: CI reads that form as the suite's closing count.
  lines.push(
    "",
    `checks: ${pass} pass, ${failN} fail, ${skipN} skip (pass* = a file without X refused in one line); outputs opened in ${
      referencePythons()
        .map((p) => "anndata " + p.anndataVersion)
        .join(" and ") || "no anndata"
    }; DE scores cross-checked with scipy on the same file: ${liveChecked} runs`,
    "",
    "Failures by cause:",
  );
  for (const [k, files] of [...causes.entries()].sort((a, b) => b[1].length - a[1].length))
    lines.push(`- ${k} — ${files.join(", ")}`);
  const table = lines.join("\n") + "\n";
  const path = process.env.CRISPYX_REAL_TABLE ?? join(tmpdir(), "real-files-table.md");
  writeFileSync(path, table);
  console.log(`real-file table: ${path}\n${lines.slice(-causes.size - 4).join("\n")}`);
}

for (const entry of manifest) {
  test(`real file ${entry.name} (${entry.repository})`, (t) => {
    const checks = results.get(entry.name);
    assert.ok(checks, "the file was not run");
    for (const c of checks.filter((c) => c.status === "skip")) t.diagnostic(`${c.command} skipped: ${c.reason}`);
    const failed = checks.filter((c) => c.status === "fail").map((c) => `${c.command}: ${c.reason}`);
    assert.deepEqual(failed, [], `${entry.name}:\n  ${failed.join("\n  ")}`);
  });
}
