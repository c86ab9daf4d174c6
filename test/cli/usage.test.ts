import { test } from "node:test";
import assert from "node:assert/strict";
import type { Command } from "commander";
import { buildProgram } from "../../src/cli/main.ts";
import { crispyx } from "./helpers.ts";

/** Every command path, e.g. ["info"], ["obs", "export"]. */
function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

const PATHS = commandPaths(buildProgram());

test("the command set includes the documented commands", () => {
  const names = PATHS.map((p) => p.join(" "));
  for (const n of [
    "info",
    "obs export",
    "obs import",
    "var export",
    "var import",
    "detect",
    "labels",
    "genes",
    "standardize",
    "plan",
    "qc-thresholds",
    "qc",
    "filter",
    "normalize",
    "convert",
    "sort",
    "de",
    "overlap",
    "report",
    "demo",
  ])
    assert.ok(names.includes(n), n);
});

test("--help works on the program and on every command (exit 0, usage on stdout)", async () => {
  const runs = await Promise.all([[], ...PATHS].map((p) => crispyx([...p, "--help"]).then((r) => ({ p, r }))));
  for (const { p, r } of runs) {
    assert.equal(r.code, 0, `${p.join(" ")}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage: crispyx${p.length ? " " + p.join(" ") : ""} `), p.join(" "));
    assert.equal(r.stderr, "");
  }
});

test("--version prints the package version", async () => {
  const r = await crispyx(["--version"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
});

test("usage errors exit 2 with one error line and a hint: unknown option, unknown command, missing argument, bad size", async () => {
  const cases: [string[], RegExp][] = [
    [
      ["info", "--bogus", "x.h5ad"],
      /^crispyx: error: unknown option '--bogus'\nhint: run 'crispyx info --help' for usage\n$/,
    ],
    [
      ["infoo", "x.h5ad"],
      /^crispyx: error: unknown command 'infoo'\n\(Did you mean info\?\)\nhint: run 'crispyx --help' for usage\n$/,
    ],
    [
      ["obs", "import", "x.h5ad"],
      /^crispyx: error: missing required argument 'table'\nhint: run 'crispyx obs import --help'/,
    ],
    [
      ["--memory-limit", "lots", "info", "x.h5ad"],
      /^crispyx: error: option '--memory-limit <size>' argument 'lots' is invalid\. 'lots' is not a size/,
    ],
  ];
  const runs = await Promise.all(cases.map(([args]) => crispyx(args)));
  runs.forEach((r, i) => {
    assert.equal(r.code, 2, `${cases[i]![0].join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, cases[i]![1]);
    assert.equal(r.stdout, "");
  });
});

test("a command group without a subcommand shows its help and exits 2", async () => {
  const r = await crispyx(["obs"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Usage: crispyx obs \[options\] \[command\]/);
});
