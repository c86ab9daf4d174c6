// Bridge to scripts/check_h5ad.py (real Python anndata) for I/O tests.
// Python is found via $CRISPYX_PYTHON, else /tmp/pyref/bin/python, else python3; null when anndata is not importable.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "scripts", "check_h5ad.py");
export const SKIP_MESSAGE = "anndata checker skipped: no Python with anndata (set CRISPYX_PYTHON)";

let cached: string | null | undefined;

/** A Python executable that can import anndata, or null. Cached per process. */
export function findPython(): string | null {
  if (cached !== undefined) return cached;
  const candidates = [process.env.CRISPYX_PYTHON, "/tmp/pyref/bin/python", "python3"].filter(
    (c): c is string => !!c && (c === "python3" || existsSync(c)),
  );
  cached = null;
  for (const py of candidates) {
    const r = spawnSync(py, ["-c", "import anndata"], { encoding: "utf8" });
    if (r.status === 0) {
      cached = py;
      break;
    }
  }
  return cached;
}

/** `{ skip: message }` for node:test options when no Python with anndata exists, else `{}`. */
export function skipWithoutAnndata(): { skip?: string } {
  return findPython() ? {} : { skip: SKIP_MESSAGE };
}

function run(args: string[]): { status: number; stdout: string; stderr: string } {
  const py = findPython();
  if (!py) throw new Error(SKIP_MESSAGE);
  const r = spawnSync(py, [SCRIPT, ...args], { encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function parse(stdout: string, what: string): any {
  try {
    return JSON.parse(stdout);
  } catch {
    throw new Error(`check_h5ad.py ${what}: unparsable output: ${stdout.slice(0, 500)}`);
  }
}

/** anndata.read_h5ad summary of one file; throws with the Python error when anndata cannot read it. */
export function checkH5ad(path: string): any {
  const r = run(["read", path]);
  if (r.status !== 0) throw new Error(`anndata could not read ${path}: ${r.stderr.trim() || r.stdout.trim()}`);
  return parse(r.stdout, "read");
}

/** Summaries of many files in ONE Python process: [{file, result} | {file, error}]. */
export function checkH5adMany(paths: string[]): Array<{ file: string; result?: any; error?: string }> {
  if (paths.length === 1) {
    try {
      return [{ file: paths[0]!, result: checkH5ad(paths[0]!) }];
    } catch (e) {
      return [{ file: paths[0]!, error: (e as Error).message }];
    }
  }
  return parse(run(["read", ...paths]).stdout, "read");
}

/** Canonical JSON dump (as anndata reads the file); throws on read failure. */
export function dumpH5ad(path: string): any {
  const r = run(["dump", path]);
  if (r.status !== 0) throw new Error(`anndata could not read ${path}: ${r.stderr.trim() || r.stdout.trim()}`);
  return parse(r.stdout, "dump");
}

/** Canonical dumps of many files in one Python process: [{file, result} | {file, error}]. */
export function dumpH5adMany(paths: string[]): Array<{ file: string; result?: any; error?: string }> {
  if (paths.length === 1) {
    try {
      return [{ file: paths[0]!, result: dumpH5ad(paths[0]!) }];
    } catch (e) {
      return [{ file: paths[0]!, error: (e as Error).message }];
    }
  }
  return parse(run(["dump", ...paths]).stdout, "dump");
}

/** Element-by-element comparison with anndata: same=true, or the list of differences. Throws if either file is unreadable. */
export function compareH5ad(a: string, b: string): { same: boolean; differences: string[] } {
  const r = run(["compare", a, b]);
  const out = parse(r.stdout, "compare");
  if (out.error) throw new Error(`anndata compare failed: ${out.error}`);
  return out;
}
