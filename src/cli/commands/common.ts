/** Small pieces shared by the command modules: argument parsers, opening inputs, writing outputs. */
import { writeFileSync, createWriteStream, statSync } from "node:fs";
import { InvalidArgumentError as UsageError } from "commander";
import type { H5adHandle } from "../../io/anndata/handle.ts";
import { writeAtomically } from "../../io/atomic.ts";
import { InvalidArgumentError } from "../../errors.ts";

/** commander parser for a whole number ≥ `min` (a bad value is a usage error, exit 2). */
export function integerOption(min = 0): (text: string) => number {
  return (text: string) => {
    const v = Number(text.replace(/_/g, ""));
    if (!/^\s*[+]?[\d_]+\s*$/.test(text) || !Number.isSafeInteger(v) || v < min) {
      throw new UsageError(`'${text}' is not a whole number${min > 0 ? ` ≥ ${min}` : ""}`);
    }
    return v;
  };
}

/** Open an input .h5ad file read-only (errors name the file and say what is wrong). */
export async function openInput(path: string): Promise<H5adHandle> {
  // Loaded on first use so that --help and usage errors do not pay for the HDF5 library.
  const { openH5ad } = await import("../../io/anndata/handle.ts");
  return openH5ad(path);
}

/** Run `fn` with the file open, closing it afterwards whatever happens. */
export async function withInput<T>(path: string, fn: (h: H5adHandle) => T | Promise<T>): Promise<T> {
  const h = await openInput(path);
  try {
    return await fn(h);
  } finally {
    h.close();
  }
}

/** Refuse to write an output over the input (it would be destroyed before it was read). */
export function checkNotSameFile(input: string, output: string): void {
  try {
    const a = statSync(input);
    const b = statSync(output);
    if (a.ino === b.ino && a.dev === b.dev) {
      throw new InvalidArgumentError(`${output}: is the input file; choose another output path`, { file: output });
    }
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw e;
  }
}

/**
 * Write text produced in pieces to `out` (atomically: temp file, then rename) or to stdout when no
 * output path is given.
 */
export async function writeText(out: string | undefined, produce: (write: (chunk: string) => void) => void): Promise<void> {
  if (!out || out === "-") {
    let pending = "";
    produce((chunk) => {
      pending += chunk;
      if (pending.length > 1 << 16) {
        process.stdout.write(pending);
        pending = "";
      }
    });
    if (pending) process.stdout.write(pending);
    return;
  }
  await writeAtomically(out, async (tmp) => {
    const stream = createWriteStream(tmp);
    await new Promise<void>((resolve, reject) => {
      stream.on("error", reject);
      produce((chunk) => stream.write(chunk));
      stream.end(resolve);
    });
  });
}

/** Write a small JSON document to stdout or a file. */
export async function writeJson(out: string | undefined, value: unknown): Promise<void> {
  const text = JSON.stringify(value, null, 2) + "\n";
  if (!out || out === "-") process.stdout.write(text);
  else await writeAtomically(out, (tmp) => writeFileSync(tmp, text));
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}
