/**
 * Starting worker threads, from the TypeScript sources or from the compiled package (dist/).
 *
 * From the sources, a worker that imports them must first register the TypeScript loader (tsx): ~250 ms
 * of CPU per worker. DE starts its workers while the main thread reads X, so on two cores that time came
 * out of the read. Workers whose module graph is small and plain (no WebAssembly, no import.meta)
 * therefore start from one JavaScript bundle of it, made by esbuild — the compiler tsx itself uses — once
 * per process (~100 ms): two such workers start in ~100 ms of CPU instead of ~650 (measured). When
 * bundling fails or warns, the worker loads its sources through the loader as before.
 *
 * From dist/ (the published package, built by tsc file by file) the same modules exist as plain .js
 * beside their callers, so a worker starts from its compiled module with no loader and no bundle: tsx and
 * esbuild are development tools and are not installed with the package. Callers keep naming the .ts
 * source (`new URL("./deWorker.ts", import.meta.url)`); `workerModule` maps it to the file that exists.
 */
import { Worker, type WorkerOptions } from "node:worker_threads";
import { CrispyxError } from "../errors.ts";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** This module runs compiled (dist/core/workerThreads.js) rather than from its .ts source. */
const COMPILED = import.meta.url.endsWith(".js");

/** The module a worker runs: `entry` names a .ts source; from dist/ that is its compiled .js twin. */
export function workerModule(entry: URL, compiled: boolean = COMPILED): URL {
  return compiled && entry.pathname.endsWith(".ts") ? new URL(entry.href.replace(/\.ts(?=$|[?#])/, ".js")) : entry;
}

/** A worker running the module `entry` (named by its .ts source), with the loader only when running from sources. */
export function startWorker(entry: URL, options: Omit<WorkerOptions, "eval" | "execArgv"> = {}): Worker {
  return new Worker(workerModule(entry), { ...options, execArgv: workerExecArgv() });
}

const bundles = new Map<string, string | null>();

/** A worker running `entry` (a .ts module) from a bundle of its module graph, or through the loader. */
export function startBundledWorker(entry: URL, options: Omit<WorkerOptions, "eval" | "execArgv"> = {}): Worker {
  if (COMPILED) return startWorker(entry, options); // already plain JavaScript: nothing to gain from a bundle
  const code = bundle(entry);
  if (code !== null) return new Worker(code, { ...options, eval: true, execArgv: profilingFlags(process.execArgv) });
  return new Worker(entry, { ...options, execArgv: workerExecArgv() });
}

function bundle(entry: URL): string | null {
  const key = entry.href;
  if (!bundles.has(key)) {
    let code: string | null = null;
    try {
      // Loaded here, not imported at the top: esbuild is a development dependency, absent from an
      // installed package, which never gets here (COMPILED above).
      const { buildSync } = createRequire(import.meta.url)("esbuild") as typeof import("esbuild");
      const out = buildSync({
        entryPoints: [fileURLToPath(entry)],
        bundle: true,
        platform: "node",
        format: "cjs",
        target: "node20",
        write: false,
        logLevel: "silent",
      });
      // A warning (e.g. import.meta, which a CommonJS bundle lacks) means the bundle may not run as the sources do.
      code = out.warnings.length === 0 ? (out.outputFiles[0]?.text ?? null) : null;
    } catch {
      code = null; // no esbuild binary for this platform, or a source it cannot bundle: use the loader
    }
    bundles.set(key, code);
  }
  return bundles.get(key)!;
}

/**
 * Options for a worker that loads .ts sources. A Worker rejects V8 and process-wide flags
 * (`--max-old-space-size`, `--title`, … → ERR_WORKER_INVALID_EXEC_ARGV), so only the module-loading
 * flags of the parent are passed on; the TypeScript loader is added when the parent registered it in
 * code (bin/crispyx.js does) rather than with --import, since a worker does not inherit hooks registered
 * at run time and could not load its .ts source. Compiled (dist/), no loader is needed (nor installed).
 */
export function workerExecArgv(
  parentArgv: readonly string[] = process.execArgv,
  compiled: boolean = COMPILED,
): string[] {
  const kept = loaderFlags(parentArgv);
  if (compiled) return kept;
  const register = new URL("../../bin/register.mjs", import.meta.url).href;
  const hasLoader = kept.some((a) => a.includes("register.mjs") || a.includes("tsx"));
  return hasLoader ? kept : [...kept, "--import", register];
}

/** Flags passed on that take the next argument when not written as --flag=value. */
const LOADER_FLAGS = new Set([
  "--import",
  "--require",
  "-r",
  "--loader",
  "--experimental-loader",
  "--conditions",
  "-C",
  // Profiling flags are per thread, so workers show up in `node --cpu-prof` too.
  "--cpu-prof-dir",
  "--cpu-prof-name",
  "--cpu-prof-interval",
  "--heap-prof-dir",
  "--heap-prof-name",
  "--heap-prof-interval",
]);
/** Flags passed on that take no value. */
const SWITCHES = new Set(["--cpu-prof", "--heap-prof"]);

/** The parent's flags a worker may take (LOADER_FLAGS with their values, SWITCHES), those whose name `wanted` accepts. */
function loaderFlags(argv: readonly string[], wanted: (name: string) => boolean = () => true): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith("--") ? a.split("=", 1)[0]! : a;
    if (SWITCHES.has(a) && wanted(a)) kept.push(a);
    if (!LOADER_FLAGS.has(name)) continue;
    const value = a.includes("=") ? [] : i + 1 < argv.length ? [argv[++i]!] : null;
    if (value && wanted(name)) kept.push(a, ...value);
  }
  return kept;
}

/** Only the profiling flags (a bundled worker needs no loader). */
function profilingFlags(argv: readonly string[]): string[] {
  return loaderFlags(argv, (name) => name.includes("-prof"));
}

/**
 * Post `msg` to every worker and settle when each has answered `{ ok: true }`; a worker that answers with
 * an error, fails, or ends without answering (killed, out of memory) rejects the task instead of leaving it
 * waiting forever. `who` names the workers in messages ("DE worker").
 */
export function broadcast(workers: readonly Worker[], msg: unknown, who: string): Promise<void> {
  return Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          const settle = () => {
            w.off("message", onMessage);
            w.off("error", onError);
            w.off("exit", onExit);
          };
          const onMessage = (m: { ok: boolean; error?: string }) => {
            settle();
            if (m.ok) resolve();
            else reject(new CrispyxError(`${who} failed: ${m.error}`));
          };
          const onError = (err: Error) => {
            settle();
            reject(err);
          };
          const onExit = (code: number) => {
            settle();
            reject(new CrispyxError(`${who} thread stopped (exit code ${code}) before finishing its task`));
          };
          w.once("message", onMessage);
          w.once("error", onError);
          w.once("exit", onExit);
          w.postMessage(msg);
        }),
    ),
  ).then(() => undefined);
}
