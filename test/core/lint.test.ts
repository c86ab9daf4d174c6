// The formatter and linter (Biome, biome.json) are part of the test suite: a file that is not formatted, or that
// breaks a lint rule, fails here with Biome's own report.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

test("biome check: the sources are formatted and pass the linter", () => {
  const r = spawnSync(process.execPath, ["node_modules/@biomejs/biome/bin/biome", "check", "--reporter=summary", "."], {
    cwd: root,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}\nrun 'npm run format' to format, then fix what remains`);
});
