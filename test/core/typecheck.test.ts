// The sources type-check: tests run TypeScript through tsx, which strips types without checking them, so
// without this a type error would reach CI unnoticed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

test("tsc --noEmit finds no type errors (strict, no unused locals or parameters)", () => {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const tsc = fileURLToPath(new URL("../../node_modules/typescript/bin/tsc", import.meta.url));
  const r = spawnSync(process.execPath, [tsc, "--noEmit", "-p", root], { encoding: "utf8", cwd: root });
  assert.equal(r.status, 0, `tsc reported:\n${r.stdout}${r.stderr}`);
});
