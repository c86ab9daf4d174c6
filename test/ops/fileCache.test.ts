// dropFileCache: the file's pages leave the page cache (checked with util-linux fincore); bad paths are a
// quiet no-op.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { dropFileCache } from "../../src/ops/fileCache.ts";

const dir = mkdtempSync(join(tmpdir(), "crispyx-cache-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

/** Bytes of `path` resident in the page cache, or null without fincore. */
function resident(path: string): number | null {
  const r = spawnSync("fincore", ["--bytes", "--noheadings", "--output", "RES", path], { encoding: "utf8" });
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}

const hasFincore = process.platform === "linux" && spawnSync("fincore", ["--version"]).status === 0;

test("a cached file's pages are dropped", {
  skip: hasFincore ? undefined : "needs Linux with util-linux fincore",
}, () => {
  const p = join(dir, "data.bin");
  writeFileSync(p, randomBytes(16 << 20));
  // Dirty pages cannot be dropped before they reach the disk (inputs are long written; outputs are fsynced).
  const fd = openSync(p, "r+");
  fsyncSync(fd);
  closeSync(fd);
  readFileSync(p);
  const before = resident(p)!;
  assert.ok(before > 8 << 20, `file should be cached after reading (${before} bytes resident)`);
  assert.equal(dropFileCache(p), true);
  assert.ok(resident(p)! < before / 4, `still ${resident(p)} bytes resident`);
  assert.equal(readFileSync(p).length, 16 << 20, "file intact");
});

test("missing files, directories and odd names never throw", () => {
  assert.equal(dropFileCache(join(dir, "missing.bin")), false);
  assert.doesNotThrow(() => dropFileCache(dir));
  assert.equal(dropFileCache(join(dir, "with space and ;rm -rf.bin")), false);
});
