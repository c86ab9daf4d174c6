/**
 * An in-place edit killed while HDF5 writes the new element into the staging group (./edit.ts step 2), at
 * the worst moment: every node flushed but the superblock's end-of-allocation, so the staging group's new
 * nodes lie past the space the file records and HDF5 cannot list it. Simulated exactly (the kill campaign
 * met it once in ~800 kills): the file keeps its old obs, everything but the staging group reads, anndata
 * opens it, and the next `crispyx obs import` removes the staging group — the whole file then reads.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { CLI, crispyx, referencePython, smallScreen, tempDir } from "../cli/helpers.ts";
import { fingerprint } from "../../bench/kill/harness.ts";
import { H5File } from "../../src/io/h5/file.ts";
import { listLinks } from "../../src/io/h5/links.ts";
import { readDataFrame } from "../../src/io/anndata/encodings/dataframe.ts";
import { writeElem } from "../../src/io/anndata/registry.ts";
import { lookup3 } from "../../src/io/h5/objectHeader.ts";
import { STAGING_NAME } from "../../src/io/anndata/edit.ts";

const tmp = tempDir("crispyx-stale-staging-");
process.on("exit", tmp.cleanup);

/** The superblock's end-of-allocation field: its offset, value and the superblock bytes (v0–v3, 8-byte offsets). */
function eoaField(path: string): { at: number; eoa: bigint; version: number; head: Buffer } {
  const fd = openSync(path, "r");
  const head = Buffer.alloc(96);
  readSync(fd, head, 0, 96, 0);
  closeSync(fd);
  const version = head[8]!;
  const at = version <= 1 ? (version === 0 ? 24 : 28) + 16 : 12 + 16;
  return { at, eoa: head.readBigUInt64LE(at), version, head };
}

test("a kill mid-flush of the staging group: old obs, the rest reads, anndata opens it, the next edit removes it", async () => {
  const file = await smallScreen(tmp.path, "screen.h5ad", { cells: 300, genes: 50, perturbations: 3, seed: 5 });
  const oldObs = fingerprint(file, "/obs");
  // Step 1 as the edit does it, then step 2's writes complete, then the superblock put back as step 1 left it.
  {
    using f = H5File.open(file, "r+");
    f.createGroup(`/var/${STAGING_NAME}`);
  }
  const afterStep1 = eoaField(file).eoa;
  {
    using f = H5File.open(file, "r+");
    writeElem(f, `/var/${STAGING_NAME}/obs`, readDataFrame(f, "/obs"));
  }
  const sb = eoaField(file);
  assert.ok(sb.eoa > afterStep1, "step 2 allocated space");
  const head = Buffer.from(sb.head);
  head.writeBigUInt64LE(afterStep1, sb.at);
  const len = sb.version >= 2 ? 48 : 96;
  if (sb.version >= 2) head.writeUInt32LE(lookup3(head.subarray(0, 44)), 44);
  const fd = openSync(file, "r+");
  writeSync(fd, head, 0, len, 0);
  closeSync(fd);

  // The damage is the staging group's alone (checked in a child process: a failed HDF5 listing would leave
  // the file open inside this process's HDF5, and later reads here would see this moment's metadata).
  const child = spawnSync(
    process.execPath,
    [
      "--import",
      "./bin/register.mjs",
      "-e",
      `import("./bench/kill/harness.ts").then(({ fingerprint }) => fingerprint(${JSON.stringify(file)}))`,
    ],
    { encoding: "utf8" },
  );
  assert.notEqual(child.status, 0, "the staging group does not list");
  assert.match(child.stderr, new RegExp(`cannot list /var/${STAGING_NAME}`));
  assert.equal(fingerprint(file, "/obs"), oldObs, "obs is the old table");
  fingerprint(file, "/", { skipStaging: true }); // everything else reads
  const python = referencePython();
  if (python) {
    const r = spawnSync(
      python,
      ["-c", "import sys, anndata; a = anndata.read_h5ad(sys.argv[1]); print(a.shape)", file],
      {
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 0, `anndata opens the file: ${r.stderr}`);
  }

  // The next edit removes the leftover and makes its own change; the whole file reads.
  const ex = spawnSync(process.execPath, [CLI, "obs", "export", file], { encoding: "utf8" });
  assert.equal(ex.status, 0, ex.stderr);
  const lines = ex.stdout.trimEnd().split("\n");
  const table = join(tmp.path, "obs.csv");
  writeFileSync(table, [`${lines[0]},extra`, ...lines.slice(1).map((l) => `${l},x`)].join("\n") + "\n");
  const r = await crispyx(["obs", "import", file, table]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!listLinks(file, "/var").includes(STAGING_NAME), "no staging group left");
  fingerprint(file); // the whole file, staging-free
  assert.notEqual(fingerprint(file, "/obs"), oldObs, "the new obs is in place");
});
