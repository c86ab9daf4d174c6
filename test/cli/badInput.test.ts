/**
 * Every command, the same three mistakes: a missing input file (exit 1, one error line naming it), an
 * unknown option (exit 2, usage hint), and an unknown column where the command takes one (exit 1, with
 * a suggestion). Nothing is written in any of these cases.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { crispyx, smallScreen, tempDir } from "./helpers.ts";

const tmp = tempDir();
let file: string;
before(async () => {
  file = await smallScreen(tmp.path);
});
after(() => tmp.cleanup());

/** Each command's argument list with the input file as "FILE" (and any output kept inside tmp). */
const COMMANDS: Record<string, string[]> = {
  info: ["info", "FILE"],
  "obs export": ["obs", "export", "FILE"],
  "var export": ["var", "export", "FILE"],
  detect: ["detect", "FILE"],
  labels: ["labels", "FILE"],
  genes: ["genes", "FILE"],
  standardize: ["standardize", "FILE", "-o", "OUT"],
  plan: ["plan", "FILE"],
  "qc-thresholds": ["qc-thresholds", "FILE"],
  qc: ["qc", "FILE", "-o", "OUT"],
  filter: ["filter", "FILE", "--cells", "obs.gem_group == 1", "-o", "OUT"],
  normalize: ["normalize", "FILE", "-o", "OUT"],
  convert: ["convert", "FILE", "--to", "csc", "-o", "OUT"],
  sort: ["sort", "FILE", "-o", "OUT"],
  de: ["de", "FILE", "-o", "OUT"],
  overlap: ["overlap", "FILE", "FILE"],
  report: ["report", "FILE", "-o", "OUT.html"],
};

/** Commands with a column option, and the option. */
const COLUMN_OPTION: Record<string, [string, string]> = {
  labels: ["-p", "obs"],
  standardize: ["-p", "obs"],
  "qc-thresholds": ["-p", "obs"],
  qc: ["-p", "obs"],
  sort: ["-p", "obs"],
  de: ["-p", "obs"],
  report: ["-p", "obs"],
  genes: ["--column", "var"],
  "obs export": ["-c", "obs"],
  "var export": ["-c", "var"],
};

const args = (name: string, input: string) =>
  COMMANDS[name]!.map((a) =>
    a === "FILE"
      ? input
      : a.startsWith("OUT")
        ? join(tmp.path, `never-${name.replace(" ", "-")}${a.slice(3) || ".h5ad"}`)
        : a,
  );

test("every command: a missing input file is one error line naming it (exit 1)", async () => {
  const missing = join(tmp.path, "missing.h5ad");
  const runs = await Promise.all(
    Object.keys(COMMANDS).map(async (name) => ({ name, r: await crispyx(args(name, missing)) })),
  );
  for (const { name, r } of runs) {
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, /^crispyx: error: .*missing\.h5ad: .*(no such file|not found)/, name);
    assert.ok(
      r.stderr.split("\n").filter(Boolean).length <= 2,
      `${name}: one error line and at most a hint:\n${r.stderr}`,
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${name}: no stack trace`);
  }
});

test("every command: an unknown option is a usage error pointing at the command's help (exit 2)", async () => {
  const runs = await Promise.all(
    Object.keys(COMMANDS).map(async (name) => ({ name, r: await crispyx([...args(name, file), "--frobnicate"]) })),
  );
  for (const { name, r } of runs) {
    assert.equal(r.code, 2, `${name}: ${r.stderr}`);
    assert.match(
      r.stderr,
      new RegExp(`^crispyx: error: unknown option '--frobnicate'\\nhint: run 'crispyx ${name} --help' for usage\\n$`),
      name,
    );
  }
});

test("every command with a column option: an unknown column is an error with a suggestion (exit 1)", async () => {
  const runs = await Promise.all(
    Object.entries(COLUMN_OPTION).map(async ([name, [option, axis]]) => {
      const typo = axis === "obs" ? "perturbaton" : "gene_symbol";
      return { name, axis, typo, r: await crispyx([...args(name, file), option, typo]) };
    }),
  );
  for (const { name, axis, typo, r } of runs) {
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^crispyx: error: .*screen\\.h5ad: ${axis} has no column '${typo}'`), name);
    assert.match(r.stderr, new RegExp(`\\nhint: .*'${axis === "obs" ? "perturbation" : "gene_symbols"}'`), name);
  }
  assert.deepEqual(
    readdirSync(tmp.path).filter((f) => f.startsWith("never-") || f.startsWith(".crispyx-tmp")),
    [],
  );
});
