/**
 * Starting worker threads. crispyx runs from its TypeScript sources, so a worker that imports them must
 * first register the TypeScript loader (tsx): ~250 ms of CPU per worker. DE starts its workers while
 * the main thread reads X, so on two cores that time came out of the read. Workers whose module graph is
 * small and plain (no WebAssembly, no import.meta) therefore start from one JavaScript bundle of it, made
 * by esbuild — the compiler tsx itself uses — once per process (~100 ms): two such workers start in
 * ~100 ms of CPU instead of ~650 (measured). When bundling fails or warns, the worker loads its sources
 * through the loader as before.
 */
import { Worker, type WorkerOptions } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";

const bundles = new Map<string, string | null>();

/** A worker running `entry` (a .ts module) from a bundle of its module graph, or through the loader. */
export function startBundledWorker(entry: URL, options: Omit<WorkerOptions, "eval" | "execArgv"> = {}): Worker {
  const code = bundle(entry);
  if (code !== null) return new Worker(code, { ...options, eval: true, execArgv: profilingFlags(process.execArgv) });
  return new Worker(entry, { ...options, execArgv: workerExecArgv() });
}

function bundle(entry: URL): string | null {
  const key = entry.href;
  if (!bundles.has(key)) {
    let code: string | null = null;
    try {
      const out = buildSync({
        entryPoints: [fileURLToPath(entry)], bundle: true, platform: "node", format: "cjs", target: "node20",
        write: false, logLevel: "silent",
      });
      // A warning (e.g. import.meta, which a CommonJS bundle lacks) means the bundle may not run as the sources do.
      code = out.warnings.length === 0 ? out.outputFiles[0]?.text ?? null : null;
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
 * at run time and could not load its .ts source.
 */
export function workerExecArgv(parentArgv: readonly string[] = process.execArgv): string[] {
  const register = new URL("../../bin/register.mjs", import.meta.url).href;
  const kept = loaderFlags(parentArgv);
  const hasLoader = kept.some((a) => a.includes("register.mjs") || a.includes("tsx"));
  return hasLoader ? kept : [...kept, "--import", register];
}

/** Flags passed on that take the next argument when not written as --flag=value. */
const LOADER_FLAGS = new Set([
  "--import", "--require", "-r", "--loader", "--experimental-loader", "--conditions", "-C",
  // Profiling flags are per thread, so workers show up in `node --cpu-prof` too.
  "--cpu-prof-dir", "--cpu-prof-name", "--cpu-prof-interval", "--heap-prof-dir", "--heap-prof-name", "--heap-prof-interval",
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
