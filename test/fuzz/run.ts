/**
 * Fuzz harness (issue 20): makes a damaged corpus from the demo screen (./makeCorpus.py, with h5py) and runs
 * crispyx's commands on every file, one process per run with a time limit, then classifies each run:
 *
 *   ok            exit 0 and the output opens in Python anndata, passes scipy's check_format and holds finite
 *                 values where it must (./checkOutputs.py); or a refusal of a file the command must refuse
 *   clear error   exit ≠ 0 with one readable line naming the file, on a file it may refuse
 *   crash         a native abort, an HDF5 trace, a stack trace, an internal error ("run with --debug"), a signal
 *   hang          still running at the time limit (killed)
 *   silently wrong exit 0 with an output Python refuses, or exit 0 on a file the command must refuse
 *   refused valid exit ≠ 0 on a legal file (unsorted indices, missing categorical codes, …)
 *
 * Not part of `npm test` (≈ 2,000 runs); ./sample.test.ts runs a few files per category.
 *
 *   nice -n 19 node --import ./bin/register.mjs test/fuzz/run.ts [--dir tmp/fuzz] [--jobs 2] [--timeout 60]
 *        [--commands info,validate,normalize,convert,filter,de,qc] [--sample N] [--per-category N] [--src]
 *
 * --table-only prints the table of DIR/results.jsonl (the results so far of a run, written as they come).
 * --continue keeps DIR/results.jsonl and runs only the (file, command) pairs it lacks: a long run over sittings.
 * --cli ENTRY runs another build (e.g. one compiled from an older commit, for a 'before' table).
 * --per-category N runs N files of each category (spread over it) instead of all.
 *
 * By default crispyx's sources are compiled once into DIR/dist (a process then starts in ~1 s instead of
 * ~2 s through the TypeScript loader); --src runs bin/crispyx.js as it is.
 * Cost model: ~1–3 s per run (process start dominates), `jobs` at a time; one Python process per batch of outputs.
 */
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const PYTHON = process.env.CRISPYX_PYTHON ?? "/usr/bin/python3";

export type Verdict = "ok" | "clear error" | "crash" | "hang" | "silently wrong" | "refused valid";
export const VERDICTS: Verdict[] = ["ok", "clear error", "crash", "hang", "silently wrong", "refused valid"];
export const ALL_COMMANDS = ["info", "validate", "normalize", "convert", "filter", "de", "qc"] as const;
export type Command = (typeof ALL_COMMANDS)[number];

export interface CorpusEntry {
  file: string;
  base: "c" | "l";
  category: string;
  what: string;
  /** "all", "ops" (every command but info/validate), "values" (NaN/Inf), "counts" (negative), [] (legal) or null (random damage: judge the output). */
  refuse: "all" | "ops" | "values" | "counts" | [] | null;
}

export interface RunResult {
  file: string;
  category: string;
  command: Command;
  verdict: Verdict;
  exit: number | null;
  seconds: number;
  message: string;
}

/** Must `command` refuse this file? null: either way, as long as an exit-0 output checks out. */
export function mustRefuse(e: CorpusEntry, command: Command): boolean | null {
  if (e.refuse === null) return null;
  if (Array.isArray(e.refuse)) {
    // Legal files: accepted by everything, except DE on counts (it wants log-normalised data).
    return command === "de" && e.base === "c" ? null : false;
  }
  if (e.refuse === "all") return true;
  if (e.refuse === "ops") return command !== "info" && command !== "validate";
  if (command === "de" && e.base === "c") return null;
  if (e.refuse === "values")
    return ["validate", "normalize", "qc", "de"].includes(command) ? true : command === "info" ? false : null;
  // negative values: counts-needing operations refuse them; validate when the file holds counts
  if (["normalize", "qc"].includes(command)) return true;
  if (command === "validate") return e.base === "c" ? true : false;
  return command === "info" ? false : null;
}

/** Outputs whose X must be finite. */
const FINITE: ReadonlySet<Command> = new Set(["normalize", "qc"]);

function argsFor(command: Command, file: string, out: string): string[] {
  switch (command) {
    case "info":
      return ["info", file];
    case "validate":
      return ["validate", file];
    case "normalize":
      return ["normalize", file, "-o", out, "--force"];
    case "convert":
      return ["convert", file, "--to", "csc", "-o", out, "--force"];
    case "filter":
      return ["filter", file, "--cells", "obs.gem_group >= 0", "-o", out, "--force"];
    case "de":
      return [
        "de",
        file,
        "-p",
        "perturbation",
        "--control",
        "non-targeting",
        "--workers",
        "1",
        "--no-csv",
        "-o",
        out,
        "--force",
      ];
    case "qc":
      return [
        "qc",
        file,
        "-p",
        "perturbation",
        "--control",
        "non-targeting",
        "--min-genes",
        "1",
        "--min-cells-per-perturbation",
        "1",
        "--min-cells-per-gene",
        "1",
        "-o",
        out,
        "--force",
      ];
  }
}

const NATIVE =
  /Aborted\(|RuntimeError|memory access out of bounds|unreachable|\.c line \d+|#\d{3}:|H5[A-Z]\w*\(\)|^\s+at |run with --debug|Maximum call stack|JavaScript heap/m;

/** Classify a finished process from its exit and stderr (output checks come after). */
export function classifyExit(
  exit: number | null,
  signal: string | null,
  timedOut: boolean,
  stderr: string,
  file: string,
): Verdict | "exit0" {
  if (timedOut) return "hang";
  if (signal || exit === null) return "crash";
  if (NATIVE.test(stderr)) return "crash";
  if (exit === 0) return "exit0";
  if (exit !== 1) return "crash";
  const lines = stderr
    .trim()
    .split("\n")
    .filter((l) => !l.startsWith("hint: ") && !/^(using|reading|warning)/.test(l));
  const errLines = lines.filter((l) => l.startsWith("crispyx: error: "));
  if (errLines.length !== 1 || !errLines[0]!.includes(basename(file))) return "crash";
  return "clear error";
}

function runOne(
  cli: string[],
  args: string[],
  timeoutS: number,
): Promise<{ exit: number | null; signal: string | null; timedOut: boolean; stderr: string; seconds: number }> {
  return new Promise((done) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [...cli, ...args], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    let timedOut = false;
    child.stderr.on("data", (d) => {
      if (stderr.length < 20000) stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutS * 1000);
    child.on("close", (exit, signal) => {
      clearTimeout(timer);
      done({ exit, signal, timedOut, stderr, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

/** Run ./checkOutputs.py on many files at once; a file Python dies on gets checked alone. */
function checkOutputs(files: string[], finite: boolean, python = PYTHON): Map<string, string | null> {
  const result = new Map<string, string | null>();
  if (files.length === 0) return result;
  const script = join(ROOT, "test/fuzz/checkOutputs.py");
  const r = spawnSync(python, [script, ...(finite ? ["--finite"] : []), ...files], {
    encoding: "utf8",
    timeout: 600_000,
  });
  for (const line of (r.stdout ?? "").split("\n")) {
    if (!line.trim()) continue;
    const j = JSON.parse(line) as { file: string; ok: boolean; why: string | null };
    result.set(j.file, j.ok ? null : j.why);
  }
  const missing = files.filter((f) => !result.has(f));
  if (missing.length === files.length)
    for (const f of files) result.set(f, `python died: ${(r.stderr ?? "").split("\n").at(-2) ?? r.status}`);
  else if (missing.length) for (const [f, w] of checkOutputs(missing, finite, python)) result.set(f, w);
  return result;
}

/** Write the demo screen and its log-normalised copy, then the damaged corpus. */
export function makeCorpus(dir: string, cli: string[], sample = 0): CorpusEntry[] {
  const corpus = join(dir, sample ? `corpus-sample${sample}` : "corpus");
  const manifest = join(corpus, "manifest.json");
  if (!existsSync(manifest)) {
    const demo = join(dir, "demo");
    const counts = join(demo, "demo.h5ad");
    const lognorm = join(demo, "lognorm.h5ad");
    if (!existsSync(lognorm)) {
      mkdirSync(demo, { recursive: true });
      const run = (args: string[]) => {
        const r = spawnSync(process.execPath, [...cli, ...args], { cwd: ROOT, encoding: "utf8" });
        if (r.status !== 0) throw new Error(`crispyx ${args.join(" ")} failed: ${r.stderr}`);
      };
      run(["demo", "--cells", "300", "--genes", "200", "--perturbations", "4", "--seed", "0", "-o", demo]);
      run(["normalize", counts, "-o", lognorm, "--force"]);
    }
    return makeCorpusFrom(counts, lognorm, corpus, sample);
  }
  return (JSON.parse(readFileSync(manifest, "utf8")) as CorpusEntry[]).map((e) => ({
    ...e,
    file: join(corpus, e.file),
  }));
}

/** Run ./makeCorpus.py on a counts file and its log-normalised copy (`sample`: that many files per category). */
export function makeCorpusFrom(
  counts: string,
  lognorm: string,
  corpus: string,
  sample = 0,
  python = PYTHON,
): CorpusEntry[] {
  rmSync(corpus, { recursive: true, force: true });
  const r = spawnSync(
    python,
    [join(ROOT, "test/fuzz/makeCorpus.py"), counts, lognorm, corpus, ...(sample ? ["--sample", String(sample)] : [])],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`makeCorpus.py failed: ${r.stderr}`);
  return (JSON.parse(readFileSync(join(corpus, "manifest.json"), "utf8")) as CorpusEntry[]).map((e) => ({
    ...e,
    file: join(corpus, e.file),
  }));
}

/** The command line that starts crispyx: compiled once into dir/dist, or the sources through bin/crispyx.js. */
export function crispyxCommand(dir: string, fromSources: boolean): string[] {
  if (fromSources) return [join(ROOT, "bin/crispyx.js")];
  const dist = join(dir, "dist");
  rmSync(dist, { recursive: true, force: true });
  // Type errors (another change in progress) do not stop the emit; only a missing output does.
  spawnSync(
    process.execPath,
    [
      join(ROOT, "node_modules/typescript/bin/tsc"),
      "-p",
      join(ROOT, "tsconfig.build.json"),
      "--outDir",
      dist,
      "--declaration",
      "false",
    ],
    { cwd: ROOT, encoding: "utf8" },
  );
  if (!existsSync(join(dist, "cli/main.js"))) throw new Error("compiling the sources failed");
  copyFileSync(join(ROOT, "package.json"), join(dir, "package.json"));
  const entry = join(dir, "crispyx.mjs");
  writeFileSync(
    entry,
    'const { main } = await import("./dist/cli/main.js");\nawait main(process.argv);\nif (process.exitCode) process.exit(process.exitCode);\n',
  );
  return [entry];
}

export async function runCorpus(
  entries: CorpusEntry[],
  commands: readonly Command[],
  opts: {
    cli: string[];
    outDir: string;
    jobs: number;
    timeout: number;
    python?: string;
    onResult?: (r: RunResult) => void;
    /** Runs already done (--continue): not run again. */
    skip?: (file: string, command: Command) => boolean;
  },
): Promise<RunResult[]> {
  mkdirSync(opts.outDir, { recursive: true });
  const tasks = entries
    .flatMap((e) => commands.map((c) => ({ e, c })))
    .filter(({ e, c }) => !opts.skip?.(basename(e.file), c));
  const results: RunResult[] = [];
  const pending: { r: RunResult; e: CorpusEntry; out: string }[] = [];
  const flush = () => {
    for (const finite of [true, false]) {
      const batch = pending.filter((p) => FINITE.has(p.r.command) === finite);
      const checked = checkOutputs(
        batch.map((p) => p.out),
        finite,
        opts.python,
      );
      for (const p of batch) {
        const why = checked.get(p.out) ?? null;
        if (why !== null) {
          p.r.verdict = "silently wrong";
          p.r.message = `output: ${why}`;
        }
        rmSync(p.out, { force: true });
        opts.onResult?.(p.r);
      }
    }
    pending.length = 0;
  };
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const { e, c } = tasks[next++]!;
      const out = join(opts.outDir, `${c}-${basename(e.file)}`);
      rmSync(out, { force: true });
      const p = await runOne(opts.cli, argsFor(c, e.file, out), opts.timeout);
      const firstLine =
        p.stderr.split("\n").find((l) => l.startsWith("crispyx: error:")) ?? p.stderr.trim().split("\n")[0] ?? "";
      const r: RunResult = {
        file: basename(e.file),
        category: e.category,
        command: c,
        verdict: "ok",
        exit: p.exit,
        seconds: Number(p.seconds.toFixed(2)),
        message: firstLine.slice(0, 300),
      };
      const v = classifyExit(p.exit, p.signal, p.timedOut, p.stderr, e.file);
      const must = mustRefuse(e, c);
      if (v === "exit0") {
        if (must === true) {
          r.verdict = "silently wrong";
          r.message = "exit 0 on a file it must refuse";
        } else if (existsSync(out)) {
          results.push(r);
          pending.push({ r, e, out });
          if (pending.length >= 40) flush();
          continue;
        } else if (c !== "info" && c !== "validate") {
          r.verdict = "silently wrong";
          r.message = "exit 0 without an output";
        }
      } else if (v === "clear error") {
        r.verdict = must === false ? "refused valid" : must === true ? "ok" : "clear error";
      } else {
        r.verdict = v;
      }
      results.push(r);
      opts.onResult?.(r);
    }
  };
  await Promise.all(Array.from({ length: opts.jobs }, worker));
  flush();
  return results;
}

/**
 * A stratified subset: `n` files of every category, spread over the category (every k-th), for a run that
 * must fit a busy machine. Deterministic.
 */
export function pickPerCategory(entries: CorpusEntry[], n: number): CorpusEntry[] {
  const byCat = new Map<string, CorpusEntry[]>();
  for (const e of entries) byCat.set(e.category, [...(byCat.get(e.category) ?? []), e]);
  const picked = [...byCat.values()].map((list) => {
    const step = list.length / Math.min(n, list.length);
    return Array.from({ length: Math.min(n, list.length) }, (_, i) => list[Math.floor(i * step + step / 2)]!);
  });
  // Round-robin over the categories, so a run stopped early still covers every category.
  return Array.from({ length: n }, (_, i) => picked.flatMap((l) => (l[i] ? [l[i]!] : []))).flat();
}

/** A result judged again for the current expectations (refusals, and exit 0 of commands without outputs). */
function rejudge(r: RunResult, e: CorpusEntry | undefined): RunResult {
  if (!e) return r;
  const must = mustRefuse(e, r.command);
  if (r.exit === 1 && (r.verdict === "ok" || r.verdict === "refused valid" || r.verdict === "clear error")) {
    return { ...r, verdict: must === false ? "refused valid" : must ? "ok" : "clear error" };
  }
  if (
    r.exit === 0 &&
    (r.command === "info" || r.command === "validate") &&
    (r.verdict === "ok" || r.verdict === "silently wrong")
  ) {
    return { ...r, verdict: must ? "silently wrong" : "ok" };
  }
  return r;
}

/** The per-command table (markdown). A refusal of a file that must be refused counts as ok. */
export function table(results: RunResult[], commands: readonly Command[]): string {
  const rows = [`| command | runs | ${VERDICTS.join(" | ")} |`, `|---|---:|${VERDICTS.map(() => "---:").join("|")}|`];
  const total = new Map<Verdict, number>();
  for (const c of commands) {
    const mine = results.filter((r) => r.command === c);
    const n = (v: Verdict) => mine.filter((r) => r.verdict === v).length;
    for (const v of VERDICTS) total.set(v, (total.get(v) ?? 0) + n(v));
    rows.push(`| ${c} | ${mine.length} | ${VERDICTS.map(n).join(" | ")} |`);
  }
  rows.push(`| **all** | ${results.length} | ${VERDICTS.map((v) => total.get(v) ?? 0).join(" | ")} |`);
  return rows.join("\n");
}

async function main(argv: string[]): Promise<void> {
  const opt = (name: string, dflt: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1]! : dflt;
  };
  const dir = resolve(ROOT, opt("dir", "tmp/fuzz"));
  mkdirSync(dir, { recursive: true });
  const commands = opt("commands", ALL_COMMANDS.join(",")).split(",") as Command[];
  const log = join(dir, "results.jsonl");
  if (argv.includes("--table-only")) {
    // Judged again against the manifest as it is now (an expectation corrected after the run started).
    const manifest = new Map(
      (JSON.parse(readFileSync(join(dir, "corpus", "manifest.json"), "utf8")) as CorpusEntry[]).map((e) => [e.file, e]),
    );
    const done = readFileSync(log, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => rejudge(JSON.parse(l) as RunResult, manifest.get((JSON.parse(l) as RunResult).file)));
    process.stdout.write(`${table(done, commands)}\n`);
    return;
  }
  const cli = argv.includes("--cli") ? [resolve(opt("cli", ""))] : crispyxCommand(dir, argv.includes("--src"));
  const all = makeCorpus(dir, cli, Number(opt("sample", "0")));
  const per = Number(opt("per-category", "0"));
  const entries = per ? pickPerCategory(all, per) : all;
  process.stderr.write(`${entries.length} files × ${commands.length} commands\n`);
  // --continue: keep DIR/results.jsonl and run only what it lacks (a long run spread over several sittings).
  const earlier: RunResult[] =
    argv.includes("--continue") && existsSync(log)
      ? readFileSync(log, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as RunResult)
      : [];
  if (!earlier.length) writeFileSync(log, "");
  const had = new Set(earlier.map((r) => `${r.file}\t${r.command}`));
  let done = earlier.length;
  const total = entries.length * commands.length;
  const fresh = await runCorpus(entries, commands, {
    skip: (file, command) => had.has(`${file}\t${command}`),
    cli,
    outDir: join(dir, "out"),
    jobs: Number(opt("jobs", "2")),
    timeout: Number(opt("timeout", "60")),
    onResult: (r) => {
      done++;
      appendFileSync(log, `${JSON.stringify(r)}\n`);
      if (r.verdict !== "ok" && r.verdict !== "clear error")
        process.stderr.write(`[${done}/${total}] ${r.verdict}: ${r.command} ${r.file}: ${r.message}\n`);
      else if (done % 100 === 0) process.stderr.write(`[${done}/${total}]\n`);
    },
  });
  const results = [...earlier, ...fresh];
  writeFileSync(join(dir, "results.json"), JSON.stringify(results, null, 1));
  process.stdout.write(`${table(results, commands)}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
