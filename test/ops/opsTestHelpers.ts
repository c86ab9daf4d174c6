// Shared by the operator tests: value comparison against the seed's outputs, a synthetic input, and a
// child process that runs an operator so a test can SIGKILL it in the middle.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { H5File } from "../../src/io/h5/file.ts";
import { readH5ad } from "../../src/io/anndata/anndata.ts";
import { SparseMatrixWriter, startAnnData } from "../../src/io/anndata/matrixWriter.ts";
import { writeElem } from "../../src/io/anndata/registry.ts";
import { categorical, dataframe } from "../../src/io/anndata/model.ts";
import type { Column, SparseMatrix } from "../../src/io/anndata/model.ts";
import { categoricalValues } from "../../src/io/anndata/encodings/categorical.ts";
import { toLayout } from "../../src/core/sparse.ts";
import type { Progress } from "../../src/core/streaming.ts";
import { dumpElement, diffDumps } from "../helpers/canonicalDump.ts";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CASES = JSON.parse(readFileSync(join(ROOT, "test/fixtures/ops/cases.json"), "utf8"));

export function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Files of `dir` whose name contains `name` (the final output or a leftover temporary). */
export function filesNamed(dir: string, name: string): string[] {
  return readdirSync(dir).filter((f) => f.includes(name));
}

function close(a: number, b: number, rtol: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  return Math.abs(a - b) <= rtol * Math.max(Math.abs(a), Math.abs(b), 1e-30) || a === b;
}

/** X of `ours` equals X of `expected` (same format, shape, indptr, indices, dtype; data within rtol). */
export function assertSameX(ours: string, expected: string, rtol = 1e-6): void {
  const a = readH5ad(ours),
    b = readH5ad(expected);
  assert.ok(a.X && b.X);
  assert.equal(a.X.type, b.X.type, "X format");
  const x = a.X as SparseMatrix,
    y = b.X as SparseMatrix;
  assert.deepEqual(x.shape, y.shape, "X shape");
  if (x.type === "csr" || x.type === "csc") {
    assert.equal(x.data.constructor.name, y.data.constructor.name, "X dtype");
    assert.deepEqual(
      Array.from(x.indptr as ArrayLike<number | bigint>, Number),
      Array.from(y.indptr as ArrayLike<number | bigint>, Number),
      "X indptr",
    );
    assert.deepEqual(
      Array.from(x.indices as ArrayLike<number | bigint>, Number),
      Array.from(y.indices as ArrayLike<number | bigint>, Number),
      "X indices",
    );
  }
  const dx = Array.from(x.data as ArrayLike<number | bigint>, Number),
    dy = Array.from(y.data as ArrayLike<number | bigint>, Number);
  assert.equal(dx.length, dy.length);
  const bad = dx.findIndex((v, i) => !close(v, dy[i]!, rtol));
  assert.equal(bad, -1, bad >= 0 ? `X data[${bad}]: ${dx[bad]} vs ${dy[bad]}` : "");
}

/** Values of a string-like column, null where missing. */
function stringValues(c: Column): (string | null)[] | null {
  if (c.type === "categorical") return categoricalValues(c);
  if (c.type === "nullable-string") return Array.from(c.values.data as string[], (v, i) => (c.mask[i] ? null : v));
  if (c.type === "array" && c.dtype === "string") return [...(c.data as string[])];
  return null;
}

/**
 * obs and var of the two files are identical as crispyx reads them (values, dtypes, categories, order).
 * One allowance: the seed writes its tables through anndata, which turns string columns into
 * categoricals; crispyx keeps the input's column type, so a string column equal value for value to the
 * seed's categorical counts as the same. And the other way round: crispyx writes pandas' nullable
 * strings as a categorical of the same values by default (writeSettings: anndata < 0.11 cannot read
 * nullable-string-array), where the seed wrote them through anndata 0.11 with nullable strings allowed.
 */
export function assertSameTables(ours: string, expected: string, keys: ("obs" | "var")[] = ["obs", "var"]): void {
  const a = readH5ad(ours),
    b = readH5ad(expected);
  for (const k of keys) {
    const x = a[k],
      y = b[k];
    for (const name of x.columnOrder) {
      const cx = x.columns[name]!,
        cy = y.columns[name];
      const oneCategorical = (cy?.type === "categorical") !== (cx.type === "categorical");
      if (cy && oneCategorical && stringValues(cx) && stringValues(cy)) {
        assert.deepEqual(stringValues(cx), stringValues(cy), `${k}/${name} values`);
        x.columns[name] = cy;
      }
    }
    assert.deepEqual(diffDumps(dumpElement(x), dumpElement(y)), [], `${k} differs`);
  }
}

/** A CSR float32 screen big enough that an operator over it takes a while with small chunks. */
export function writeBigInput(path: string, nObs = 20000, nVars = 200, indexDtype?: "int32" | "int64"): void {
  const f = H5File.open(path, "w");
  try {
    startAnnData(f);
    const groups = ["NTC", "A", "B", "C"];
    writeElem(
      f,
      "/obs",
      dataframe(
        Array.from({ length: nObs }, (_, i) => `c${i}`),
        {
          perturbation: categorical(Array.from({ length: nObs }, (_, i) => groups[i % 4]!)),
        },
      ),
    );
    writeElem(f, "/var", dataframe(Array.from({ length: nVars }, (_, j) => `g${j}`)));
    const w = SparseMatrixWriter.create(f, "/X", { shape: [nObs, nVars], indexDtype });
    const block = 1000;
    for (let r = 0; r < nObs; r += block) {
      const m = Math.min(block, nObs - r);
      const dense = new Float32Array(m * nVars);
      for (let i = 0; i < m; i++) for (let j = 0; j < nVars; j += 3) dense[i * nVars + j] = ((r + i + j) % 7) + 1;
      w.append(toLayout({ type: "array", dtype: "float32", shape: [m, nVars], data: dense }, "csr") as SparseMatrix);
    }
    w.finish();
  } finally {
    f.close();
  }
}

/**
 * Run the TypeScript `script` (relative to the repository root) with `args` in a child process and SIGKILL
 * it as soon as it prints "progress" on stdout, i.e. while it is in the middle of writing. Resolves when the
 * child is dead; rejects if it ends before reporting any progress.
 */
export function killChildAtFirstProgress(script: string, args: string[]): Promise<{ signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", join(ROOT, "bin/register.mjs"), join(ROOT, script), ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let progressed = false;
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.stdout.on("data", (d: Buffer) => {
      if (!progressed && d.toString().includes("progress")) {
        progressed = true;
        child.kill("SIGKILL");
      }
    });
    child.on("error", reject);
    child.on("exit", (_code, signal) =>
      progressed ? resolve({ signal }) : reject(new Error(`child ended before any progress: ${err}`)),
    );
  });
}

/**
 * Run `test/ops/runOperator.ts <op> <input> <output> <json options>` in a child process with a tiny
 * chunk size and SIGKILL it as soon as it reports progress. Resolves when the child is dead.
 */
export async function killMidway(
  op: string,
  input: string,
  output: string,
  options: object,
): Promise<{ progressed: boolean; signal: string | null }> {
  const { signal } = await killChildAtFirstProgress("test/ops/runOperator.ts", [
    op,
    input,
    output,
    JSON.stringify(options),
  ]);
  return { progressed: true, signal };
}

/** A scratch folder for one test file, removed when its process exits. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** How the failure checks below call an operator on `input` (its other options fixed by the caller). */
export type RunOperator = (
  input: string,
  opts: {
    output: string;
    chunkSize: number;
    signal?: AbortSignal;
    background?: boolean;
    onProgress?: (p: Progress) => void;
  },
) => Promise<unknown>;

/**
 * An abort at the third block, a throwing progress callback, and one with the worker-thread writer: each
 * rejects with its own error and leaves no file under the output's name and the input byte-identical.
 * Returns the (large) input and the output name, for further checks of the same kind.
 */
export async function checkFailuresLeaveNothing(
  dir: string,
  run: RunOperator,
): Promise<{ input: string; out: string }> {
  const input = join(dir, "big.h5ad");
  writeBigInput(input, 5000, 60);
  const before = sha256(input);
  const out = join(dir, "aborted.h5ad");
  const ac = new AbortController();
  let n = 0;
  const abortAtThird = () => {
    if (++n === 3) ac.abort(new Error("stop now"));
  };
  await assert.rejects(
    run(input, { output: out, chunkSize: 100, signal: ac.signal, onProgress: abortAtThird }),
    /stop now/,
  );
  for (const background of [false, true]) {
    const message = `callback failed${background ? " (worker-thread writer)" : ""}`;
    const fail = () => {
      throw new Error(message);
    };
    await assert.rejects(run(input, { output: out, chunkSize: 100, background, onProgress: fail }), (e: Error) =>
      e.message.includes(message),
    );
  }
  assert.deepEqual(filesNamed(dir, "aborted.h5ad"), []);
  assert.equal(sha256(input), before);
  return { input, out };
}

/** SIGKILL of operator `op` (test/ops/runOperator.ts) mid-way: no file under the output's name, the input byte-identical. */
export async function checkKillLeavesNothing(dir: string, op: string): Promise<void> {
  const input = join(dir, "bigkill.h5ad");
  writeBigInput(input);
  const before = sha256(input);
  const out = join(dir, "killed.h5ad");
  const r = await killMidway(op, input, out, { chunkSize: 20, background: true });
  assert.equal(r.signal, "SIGKILL");
  assert.equal(existsSync(out), false);
  assert.equal(sha256(input), before);
}
