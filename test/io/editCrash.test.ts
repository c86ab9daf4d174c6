// "A test that interrupts a write shows it": the in-place edit runs in a child process that is SIGKILLed
// at each step of the protocol (and in the middle of writing the new element). Afterwards the file opens
// in crispyx and in anndata with the complete old or the complete new element, X unchanged, and the next
// edit cleans up whatever staging was left.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { readH5ad } from "../../src/io/anndata/anndata.ts";
import {
  journalPath,
  readJournal,
  recoverInterruptedEdit,
  replaceElement,
  STAGING_NAME,
} from "../../src/io/anndata/edit.ts";
import { writeElem } from "../../src/io/anndata/registry.ts";
import { scalar } from "../../src/io/anndata/model.ts";
import { linkStorageRanges, listLinks } from "../../src/io/h5/links.ts";
import { closeSync, existsSync, openSync, writeSync } from "node:fs";
import { canonicalDump, diffDumps, dumpElement } from "../helpers/canonicalDump.ts";
import { dumpH5adEach, findPython } from "../helpers/anndataChecker.ts";
import { copyFixture, datasetDigest, FIXTURES, h5pyWalk, tempDir } from "./editSupport.ts";
import { NEW_UNS, newObs } from "./editCrash.child.ts";
import { DIRECT_IO, skipWithoutDirectIO } from "../helpers/directIO.ts";

const DIR = tempDir("edit-crash");
test.after(() => rmSync(DIR, { recursive: true, force: true }));
const CHILD = join(import.meta.dirname, "editCrash.child.ts");
const REGISTER = join(import.meta.dirname, "..", "..", "bin", "register.mjs");
const original = JSON.parse(readFileSync(join(FIXTURES, "expected", "full_csr.json"), "utf8"));
const json = (x: unknown) => JSON.parse(JSON.stringify(x));

function runChild(file: string, target: string, step: string): { signal: string | null; status: number | null } {
  const r = spawnSync(process.execPath, ["--import", REGISTER, CHILD, file, target, step], { encoding: "utf8" });
  if (r.status !== 0 && r.signal !== "SIGKILL") throw new Error(`child failed: ${r.stderr}`);
  return { signal: r.signal, status: r.status };
}

/** crispyx and anndata (when present) read the same thing; returns crispyx's dump. */
function readBoth(file: string): any {
  const ours = json(canonicalDump(readH5ad(file)));
  // in each reference anndata able to read the file (copies of full_csr keep its nullable strings: >= 0.11)
  for (const { ref, dump } of dumpH5adEach(file)) {
    const diffs = diffDumps(ours, dump);
    assert.deepEqual(
      diffs,
      [],
      `anndata ${ref.anndataVersion} reads the interrupted file differently:\n${diffs.join("\n")}`,
    );
  }
  if (findPython()) h5pyWalk(file);
  return ours;
}

const CASES: Array<{ target: "obs" | "uns"; step: string; expect: "old" | "new" }> = [
  { target: "obs", step: "staging-group-journal", expect: "old" },
  { target: "obs", step: "mid-write", expect: "old" },
  { target: "obs", step: "staging-group", expect: "old" },
  { target: "obs", step: "staged", expect: "old" },
  { target: "obs", step: "real-link", expect: "new" },
  { target: "obs", step: "staged-link", expect: "new" },
  { target: "obs", step: "done", expect: "new" },
  { target: "uns", step: "mid-write", expect: "old" },
  { target: "uns", step: "staging-group", expect: "old" },
  { target: "uns", step: "staged", expect: "old" },
  { target: "uns", step: "real-link-journal", expect: "old" },
  { target: "uns", step: "real-link", expect: "new" },
  { target: "uns", step: "done", expect: "new" },
];

/**
 * With direct I/O off the edit rewrites the whole file (src/io/anndata/editByRewrite.ts): of the steps above only
 * "mid-write" and "done" exist there; the others belong to the link-rewriting protocol.
 */
const LIBRARY_STEPS = ["mid-write", "done"];
const linkSteps = (step: string) =>
  LIBRARY_STEPS.includes(step) ? {} : skipWithoutDirectIO(`'${step}' is a step of the link-rewriting edit`);

/** Temporary files (owner-named, src/io/tempFiles.ts) left beside `file` for it. */
const temporariesOf = (file: string) =>
  readdirSync(DIR).filter((f) => f.startsWith(".crispyx-tmp-") && f.endsWith(`-${basename(file)}`));

for (const { target, step, expect } of CASES) {
  test(
    `SIGKILL ${step === "mid-write" ? "in the middle of writing" : `after step '${step}'`} (${target === "obs" ? "replacing obs" : "adding uns['fresh']"}) leaves the ${expect} element`,
    linkSteps(step),
    () => {
      const file = copyFixture("full_csr", DIR, `${target}_${step}`);
      const xBefore = datasetDigest(file, "/X");
      const r = runChild(file, target, step);
      assert.equal(r.signal, "SIGKILL", "the child was meant to die at this step");
      assert.equal(datasetDigest(file, "/X"), xBefore);

      const got = readBoth(file);
      const want = json(original);
      if (expect === "new") {
        if (target === "obs") want.obs = json(dumpElement(newObs(20)));
        else want.uns.items.fresh = json(dumpElement(NEW_UNS));
      }
      if (target === "obs" && expect === "new") want.obs.index_name = null; // the new table's index is unnamed
      const diffs = diffDumps(got, want);
      assert.deepEqual(diffs, [], diffs.join("\n"));

      // The next edit removes any leftover staging group (direct I/O) or the killed run's temporary files
      // (library route) and works as usual.
      if (!DIRECT_IO && step === "mid-write")
        assert.ok(temporariesOf(file).length > 0, "the killed rewrite left its scratch file");
      replaceElement(file, "/uns/after", (f, at) => writeElem(f, at, scalar("ok")));
      for (const g of ["/obs", "/var"]) assert.ok(!listLinks(file, g).includes(STAGING_NAME));
      assert.deepEqual(temporariesOf(file), []);
      const again = readBoth(file);
      assert.equal(again.uns.items.after.value, "ok");
      assert.deepEqual(diffDumps(again.obs, want.obs), []);
      assert.equal(datasetDigest(file, "/X"), xBefore);
    },
  );
}

// HDF5 itself has no journal: if it were killed while flushing the link it adds to /var (staging) or to
// /uns (a new name), that group could be half-written. Simulate both torn states on the file left by a
// child killed right after such a session (its undo journal still present) and check the recovery.
function writeAt(file: string, pos: number, bytes: Buffer): void {
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, bytes, 0, bytes.length, pos);
  } finally {
    closeSync(fd);
  }
}

for (const [target, step, group] of [
  ["obs", "staging-group", "/var"],
  ["uns", "real-link", "/uns"],
] as const) {
  for (const damage of ["zeroed", "torn"] as const) {
    test(`a ${damage} ${group} after HDF5 added a link (killed at '${step}') is restored from the undo journal`, {
      ...skipWithoutDirectIO("the undo journal guards the link-rewriting edit's HDF5 sessions"),
    }, () => {
      const file = copyFixture("full_csr", DIR, `torn_${target}_${damage}`);
      const xBefore = datasetDigest(file, "/X");
      assert.equal(runChild(file, target, step).signal, "SIGKILL");
      const journal = readJournal(file);
      assert.ok(journal, "the journal of the interrupted session is there");
      assert.equal(journal.group, group);
      if (damage === "zeroed") {
        for (const [pos, len] of linkStorageRanges(file, group)) writeAt(file, pos, Buffer.alloc(len));
      } else {
        // Torn flush: the new symbol nodes / header reached the disk, the group's local heap did not.
        const heapish = journal.ranges.filter((r) => ["HEAP"].includes(r.bytes.toString("latin1", 0, 4)));
        const data = journal.ranges.filter(
          (r) =>
            !["HEAP", "TREE", "SNOD", "OHDR", "OCHK"].includes(r.bytes.toString("latin1", 0, 4)) && r.bytes[0] !== 1,
        );
        for (const r of [...heapish, ...data]) writeAt(file, r.pos, r.bytes);
      }
      assert.equal(recoverInterruptedEdit(file), "restored");
      assert.ok(!existsSync(journalPath(file)));
      const got = readBoth(file);
      // The staging group may remain (it is invisible), the original content is back.
      assert.deepEqual(diffDumps(got, json(original)), []);
      assert.equal(datasetDigest(file, "/X"), xBefore);
      replaceElement(file, "/uns/after", (f, at) => writeElem(f, at, scalar("ok")));
      assert.equal(readBoth(file).uns.items.after.value, "ok");
      for (const g of ["/obs", "/var"]) assert.ok(!listLinks(file, g).includes(STAGING_NAME));
    });
  }
}

test("a journal whose group is intact is dropped without writing anything", {
  ...skipWithoutDirectIO("the undo journal guards the link-rewriting edit's HDF5 sessions"),
}, () => {
  const file = copyFixture("full_csr", DIR, "journal_intact");
  assert.equal(runChild(file, "uns", "real-link").signal, "SIGKILL");
  assert.ok(existsSync(journalPath(file)));
  assert.equal(recoverInterruptedEdit(file), "kept");
  assert.ok(!existsSync(journalPath(file)));
  assert.deepEqual(readBoth(file).uns.items.fresh, json(dumpElement(NEW_UNS)));
  assert.equal(recoverInterruptedEdit(file), "none");
});
