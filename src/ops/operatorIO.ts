/**
 * What every file → file operator checks before doing any work, and how it yields between blocks:
 * the input exists and is AnnData with an X, the output is not the input, the output's folder exists
 * (created like the seed's `mkdir(parents=True)`).
 */
import { mkdirSync, realpathSync, existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { InvalidArgumentError } from "../errors.ts";
import { openH5ad, type H5adHandle } from "../io/anndata/handle.ts";
import { resolveDataPath, type DataSource } from "../io/anndata/fileHelpers.ts";

function samePath(a: string, b: string): boolean {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  return real(a) === real(b);
}

/** Resolve and check input/output paths; returns the input path. Throws before anything is written. */
export function checkInputOutput(input: DataSource, output: string | undefined, what: string): { inputPath: string; outputPath: string } {
  const inputPath = resolveDataPath(input);
  if (!output || typeof output !== "string") {
    throw new InvalidArgumentError(`${what}: an output path is required`, { file: inputPath });
  }
  if (samePath(inputPath, output) || (existsSync(output) && samePath(inputPath, output))) {
    throw new InvalidArgumentError(`${what}: the output ${output} is the input file; choose another output path`, {
      file: inputPath,
      hint: "crispyx never overwrites its input; write to a new file",
    });
  }
  return { inputPath, outputPath: output };
}

/** Open the input lazily and make sure it has an X matrix (errors name the file). */
export function openInput(inputPath: string): H5adHandle {
  const h = openH5ad(inputPath);
  try {
    void h.X;
  } catch (err) {
    h.close();
    throw err;
  }
  return h;
}

export function ensureOutputDir(outputPath: string): void {
  mkdirSync(dirname(resolve(outputPath)), { recursive: true });
}

/** Let the event loop run (abort signals, Ctrl-C, timers) between blocks of synchronous HDF5 work. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
