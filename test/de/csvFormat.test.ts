/**
 * The CSV writer shared by threads: a share written in turn gives the same bytes as the one-thread
 * writer, and a share whose turn says another thread failed writes nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CSV_HEADER, sharedCsvState, writeDeCsvShare, writeDeCsvTo } from "../../src/de/csvFormat.ts";
import type { DeTables } from "../../src/de/output.ts";

function tables(): DeTables {
  const G = 3,
    n = 4;
  const f64 = (k: number) => Float64Array.from({ length: k }, (_, i) => (i % 5) / 7 - 0.2);
  const t = {
    method: "t-test",
    perturbationColumn: "gene",
    controlLabel: "NTC",
    groups: ["A", "B,1", "C"],
    genes: ["g1", 'g"2', "g3", "g4"],
    sizes: Int32Array.of(7, 3, 5, 2),
    tieCorrect: false,
    scores: f64(G * n),
    pvals: f64(G * n).map(Math.abs),
    pvalsAdj: f64(G * n).map(Math.abs),
    logfoldchanges: Float32Array.from(f64(G * n)),
    pts: Float64Array.from({ length: (G + 1) * n }, (_, i) => (i % 3) / 3),
    skipped: [],
    ranked: null as unknown as DeTables["ranked"],
    orders: Int32Array.of(3, 2, 1, 0, 0, 1, 2, 3, 1, 3, 0, 2), // each group's genes in rank order
  } as DeTables;
  return t;
}

test("a CSV share written in turn equals the one-thread CSV; a failed turn stops a share", () => {
  const dir = mkdtempSync(join(tmpdir(), "crispyx-csv-"));
  try {
    const t = tables();
    writeDeCsvTo(join(dir, "one.csv"), t);
    const fd = openSync(join(dir, "shared.csv"), "w");
    writeSync(fd, Buffer.from(CSV_HEADER, "latin1"));
    writeDeCsvShare(fd, t, sharedCsvState(CSV_HEADER.length));
    closeSync(fd);
    const one = readFileSync(join(dir, "one.csv"), "utf8");
    assert.equal(readFileSync(join(dir, "shared.csv"), "utf8"), one);
    assert.equal(one.split("\n").length, 1 + 3 * 4 + 1);
    assert.match(one, /^"B,1","g""2",/m);

    const fd2 = openSync(join(dir, "failed.csv"), "w");
    const state = sharedCsvState(0);
    state.turn[0] = -1;
    writeDeCsvShare(fd2, t, state);
    closeSync(fd2);
    assert.equal(statSync(join(dir, "failed.csv")).size, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
