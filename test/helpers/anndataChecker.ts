// The reference Pythons with real anndata, and the bridge to scripts/check_h5ad.py, for every test that opens a
// crispyx output in anndata. One place decides which interpreters are used (test/cli/helpers.ts re-exports it):
//
//   reference (the oldest anndata crispyx supports): $CRISPYX_PYTHON, else /usr/bin/python3 (Debian's
//     python3-anndata, 0.8 on bookworm), else python3 on PATH, else /tmp/pyref/bin/python.
//   newest: $CRISPYX_PYTHON_NEW, else /opt/crispyx-sid/python (Debian sid's python3-anndata, made by .ci/sid-anndata
//     from .ci/run), else /tmp/pyref/bin/python when it is another interpreter than the reference.
//
// A candidate counts only when `import anndata` works in it. With CI=true a missing interpreter is an error, not a
// skip: CI must run the checks it claims to run. Assertions that need a newer anndata than the one at hand are
// skipped with `needsAnndata(...)`, which names the version and the reason.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { H5File } from "../../src/io/h5/file.ts";

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "scripts", "check_h5ad.py");
/** The fixed path .ci/sid-anndata makes: a wrapper running Debian sid's python3 (with its anndata) on this host. */
export const SID_PYTHON = "/opt/crispyx-sid/python";
export const SKIP_MESSAGE =
  "reference Python with anndata not found (install Debian's python3-anndata, or set CRISPYX_PYTHON)";
export const NO_NEW_PYTHON =
  "newest anndata not found (run .ci/sid-anndata, or set CRISPYX_PYTHON_NEW to a Python with a current anndata)";

export interface ReferencePython {
  /** "reference" (the oldest anndata supported, Debian's 0.8) or "newest". */
  label: "reference" | "newest";
  python: string;
  /** anndata's version in that interpreter, e.g. "0.8.0", "0.13.4". */
  anndataVersion: string;
}

const inCi = (): boolean => !!process.env.CI && process.env.CI !== "false" && process.env.CI !== "0";

const probed = new Map<string, string | null>();
/** anndata's version in `python`, or null when anndata cannot be imported there. Cached per process. */
export function anndataVersionOf(python: string): string | null {
  if (probed.has(python)) return probed.get(python)!;
  let version: string | null = null;
  if (python === "python3" || existsSync(python)) {
    const code =
      "import warnings; warnings.simplefilter('ignore')\n" +
      "import anndata\n" +
      "try:\n from importlib.metadata import version; v = version('anndata')\n" +
      "except Exception:\n v = anndata.__version__\n" +
      "print(v)";
    const r = spawnSync(python, ["-c", code], { encoding: "utf8" });
    if (r.status === 0 && r.stdout.trim()) version = r.stdout.trim().split("\n").pop()!;
  }
  probed.set(python, version);
  return version;
}

function firstWithAnndata(candidates: (string | undefined)[]): string | null {
  for (const c of candidates) if (c && anndataVersionOf(c)) return c;
  return null;
}

let reference: string | null | undefined;
/**
 * The reference Python (the oldest anndata supported), or null when none exists outside CI. $CRISPYX_PYTHON, when
 * set, is the only candidate. Throws under CI=true when none is found.
 */
export function findPython(): string | null {
  if (reference === undefined) {
    const env = process.env.CRISPYX_PYTHON;
    reference = env
      ? firstWithAnndata([env])
      : firstWithAnndata(["/usr/bin/python3", "python3", "/tmp/pyref/bin/python"]);
    if (!reference && (env || inCi())) {
      throw new Error(
        env
          ? `CRISPYX_PYTHON=${env} cannot import anndata`
          : `CI=true but ${SKIP_MESSAGE}: the anndata checks must run in CI (.ci/run installs python3-anndata)`,
      );
    }
  }
  return reference;
}

/** Same as findPython (the name the CLI tests use). */
export const referencePython = findPython;

let newest: string | null | undefined;
/** The Python with a current anndata, or null outside CI when there is none. Throws under CI=true when none is found. */
export function findNewPython(): string | null {
  if (newest === undefined) {
    const env = process.env.CRISPYX_PYTHON_NEW;
    const ref = findPython();
    newest = env
      ? firstWithAnndata([env])
      : firstWithAnndata([SID_PYTHON, ...(ref === "/tmp/pyref/bin/python" ? [] : ["/tmp/pyref/bin/python"])]);
    if (!newest && (env || inCi())) {
      throw new Error(env ? `CRISPYX_PYTHON_NEW=${env} cannot import anndata` : `CI=true but ${NO_NEW_PYTHON}`);
    }
  }
  return newest;
}

/**
 * Every reference Python found, the reference (oldest anndata) first, then the newest; an output must open in each.
 * Empty outside CI when there is none. Under CI=true throws unless both exist.
 */
let found: ReferencePython[] | undefined;
export function referencePythons(): ReferencePython[] {
  if (found) return found;
  const out: ReferencePython[] = [];
  const ref = findPython();
  if (ref) out.push({ label: "reference", python: ref, anndataVersion: anndataVersionOf(ref)! });
  const nw = findNewPython();
  if (nw && nw !== ref) out.push({ label: "newest", python: nw, anndataVersion: anndataVersionOf(nw)! });
  return (found = out); // the same objects on every call (callers compare them by identity)
}

/** `{ skip: message }` for node:test options when no Python with anndata exists, else `{}`. */
export function skipWithoutAnndata(): { skip?: string } {
  return findPython() ? {} : { skip: SKIP_MESSAGE };
}

/** `{ skip }` for node:test options when there is no Python with a current anndata, else `{}`. */
export function skipWithoutNewAnndata(): { skip?: string } {
  return findNewPython() ? {} : { skip: NO_NEW_PYTHON };
}

/** Compare dotted versions numerically ("0.10.9" > "0.8.0"); suffixes such as "rc1" or ".dev3+g…" are ignored. */
export function versionAtLeast(version: string, min: string): boolean {
  const parse = (v: string) =>
    v
      .split(/[.+-]/)
      .map((p) => parseInt(p, 10))
      .map((n) => (Number.isNaN(n) ? 0 : n));
  const a = parse(version);
  const b = parse(min);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/**
 * `{ skip: "needs anndata >= MIN: WHY (…has X)" }` when `python` (default: the reference Python) has an anndata
 * older than `min`, else `{}` — for node:test options (`t.test(name, needsAnndata(...), fn)`) or `t.skip(...)`.
 * Also skips (with SKIP_MESSAGE) when there is no Python at all.
 */
export function needsAnndata(min: string, why: string, python: string | null = findPython()): { skip?: string } {
  if (!python) return { skip: SKIP_MESSAGE };
  const v = anndataVersionOf(python);
  if (!v) return { skip: `${python} cannot import anndata` };
  return versionAtLeast(v, min) ? {} : { skip: `needs anndata >= ${min}: ${why} (${python} has anndata ${v})` };
}

/** Encodings that an older anndata cannot read: the first anndata version that reads each, and why. */
const NEWER_ENCODINGS: Record<string, { min: string; why: string }> = {
  "nullable-string-array": {
    min: "0.11",
    why: "nullable-string-array (pandas StringDtype) elements are read from anndata 0.11 on",
  },
  null: {
    min: "0.13",
    why: "`null` elements (None in uns, written by anndata 0.13) are not read by older anndata (checked: 0.8 fails, 0.13.4 reads them)",
  },
};

/**
 * What reading `path` needs from anndata beyond the oldest supported version: the highest such need among its
 * elements' encodings, naming the first element found, or null when any anndata >= 0.8 can read the file.
 */
export function anndataNeeds(path: string): { min: string; why: string } | null {
  let need: { min: string; why: string } | null = null;
  const f = H5File.open(path, "r");
  try {
    const visit = (p: string): void => {
      const enc = f.attr(p, "encoding-type");
      const n = typeof enc === "string" ? NEWER_ENCODINGS[enc] : undefined;
      if (n && (!need || !versionAtLeast(need.min, n.min))) need = { min: n.min, why: `${p}: ${n.why}` };
      if (f.isGroup(p)) for (const k of f.keys(p)) visit(p === "/" ? `/${k}` : `${p}/${k}`);
    };
    visit("/");
  } finally {
    f.close();
  }
  return need;
}

/**
 * The reference Pythons whose anndata can read `path` (see anndataNeeds), and one line for each that cannot, saying
 * why: the file is checked in every anndata that is able to read it. Tests print `skipped` with t.diagnostic.
 */
export function readersOf(path: string): { readers: ReferencePython[]; skipped: string[]; skip?: string } {
  const need = anndataNeeds(path);
  const readers: ReferencePython[] = [];
  const skipped: string[] = [];
  for (const ref of referencePythons()) {
    if (!need || versionAtLeast(ref.anndataVersion, need.min)) readers.push(ref);
    else skipped.push(`not read in anndata ${ref.anndataVersion}: needs anndata >= ${need.min}: ${need.why}`);
  }
  // `skip` (for node:test options) when no reference Python can read the file at all
  return { readers, skipped, ...(readers.length ? {} : { skip: skipped.length ? skipped.join("; ") : SKIP_MESSAGE }) };
}

/** anndata's canonical dump of `path` from each reference Python able to read it (see readersOf). */
export function dumpH5adEach(path: string): Array<{ ref: ReferencePython; dump: any }> {
  return readersOf(path).readers.map((ref) => ({ ref, dump: dumpH5ad(path, ref.python) }));
}

function run(args: string[], python?: string): { status: number; stdout: string; stderr: string } {
  const py = python ?? findPython();
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

// Each function below uses the reference Python unless given another (e.g. one of referencePythons()).

/** anndata.read_h5ad summary of one file; throws with the Python error when anndata cannot read it. */
export function checkH5ad(path: string, python?: string): any {
  const r = run(["read", path], python);
  if (r.status !== 0) throw new Error(`anndata could not read ${path}: ${r.stderr.trim() || r.stdout.trim()}`);
  return parse(r.stdout, "read");
}

/** Summaries of many files in ONE Python process: [{file, result} | {file, error}]. */
export function checkH5adMany(paths: string[], python?: string): Array<{ file: string; result?: any; error?: string }> {
  if (paths.length === 1) {
    try {
      return [{ file: paths[0]!, result: checkH5ad(paths[0]!, python) }];
    } catch (e) {
      return [{ file: paths[0]!, error: (e as Error).message }];
    }
  }
  return parse(run(["read", ...paths], python).stdout, "read");
}

/** Canonical JSON dump (as anndata reads the file); throws on read failure. */
export function dumpH5ad(path: string, python?: string): any {
  const r = run(["dump", path], python);
  if (r.status !== 0) throw new Error(`anndata could not read ${path}: ${r.stderr.trim() || r.stdout.trim()}`);
  return parse(r.stdout, "dump");
}

/** Canonical dumps of many files in one Python process: [{file, result} | {file, error}]. */
export function dumpH5adMany(paths: string[], python?: string): Array<{ file: string; result?: any; error?: string }> {
  if (paths.length === 1) {
    try {
      return [{ file: paths[0]!, result: dumpH5ad(paths[0]!, python) }];
    } catch (e) {
      return [{ file: paths[0]!, error: (e as Error).message }];
    }
  }
  return parse(run(["dump", ...paths], python).stdout, "dump");
}

/** Element-by-element comparison with anndata: same=true, or the list of differences. Throws if either file is unreadable. */
export function compareH5ad(a: string, b: string, python?: string): { same: boolean; differences: string[] } {
  const r = run(["compare", a, b], python);
  const out = parse(r.stdout, "compare");
  if (out.error) throw new Error(`anndata compare failed: ${out.error}`);
  return out;
}

/**
 * Open every file in each reference Python (one process per interpreter): one line per file that does not open,
 * prefixed with the anndata version — empty when all open everywhere.
 */
export function h5adOpenFailures(paths: string[]): string[] {
  const failures: string[] = [];
  for (const ref of referencePythons()) {
    for (const r of checkH5adMany(paths, ref.python)) {
      if (r.error !== undefined) failures.push(`anndata ${ref.anndataVersion} (${ref.label}): ${r.file}: ${r.error}`);
    }
  }
  return failures;
}
