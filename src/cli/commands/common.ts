/** Small pieces shared by the command modules: argument parsers, opening inputs, writing outputs. */
import { writeFileSync, createWriteStream, existsSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { InvalidArgumentError as UsageError, type Command } from "commander";
import type { H5adHandle } from "../../io/anndata/handle.ts";
import { writeAtomically } from "../../io/atomic.ts";
import { isZarrStore } from "../../io/zarr/index.ts";
import { checkOutputIsNotInput } from "../../ops/paths.ts";
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

/**
 * Write text produced in pieces to `out` (atomically: temp file, then rename) or to stdout when no
 * output path is given.
 */
export async function writeText(
  out: string | undefined,
  produce: (write: (chunk: string) => void) => void,
): Promise<void> {
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
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}

// ---- options shared by the commands that write a new .h5ad ------------------------------------

export interface OutputOptions {
  output?: string;
  force?: boolean;
  chunkSize?: number;
}

/** -o/--output, --force and --chunk-size, with the same wording on every command. */
export function addOutputOptions(cmd: Command, suffix: string, { chunkSize = true } = {}): Command {
  cmd
    .option("-o, --output <path>", `the output .h5ad (default: beside the input, <name>_${suffix}.h5ad)`)
    .option("--force", "overwrite the output if it exists");
  if (chunkSize)
    cmd.option("--chunk-size <n>", "cells per block (default: chosen from --memory-limit)", integerOption(1));
  return cmd;
}

/** What a command that wrote a file says on stderr (and prints as JSON with --json). */
export function wroteMessage(path: string, what: string, seconds: number): string {
  return `wrote ${shownPath(path)}: ${what} (${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s)`;
}

/** A path as the user would type it: relative to the working directory when inside it. */
export function shownPath(path: string): string {
  const r = relative(process.cwd(), path);
  return r === "" ? "." : r.startsWith("..") || isAbsolute(r) ? path : r;
}

/** -p/--perturbation-column and --control, shared by every command that groups cells. */
export function addPerturbationOptions(cmd: Command, { control = true } = {}): Command {
  cmd.option("-p, --perturbation-column <column>", "obs column with the perturbation labels (default: detected)");
  if (control) cmd.option("--control <label>", "label of the control cells (default: detected from the labels)");
  return cmd;
}

/**
 * Where a command writes: --output, or `<stem>_<suffix>.h5ad` beside the input (.h5ad or .zarr). Refuses the input
 * itself, and an existing file unless --force (checked before any work starts).
 */
export function outputPathFor(input: string, opts: OutputOptions, suffix: string): string {
  const stem = basename(input).replace(/\.(h5ad|zarr)$/i, ""); // data.zarr (a zarr store) → data_<suffix>.h5ad
  const out = resolve(opts.output ?? join(dirname(input), `${stem}_${suffix}.h5ad`));
  checkOutputIsNotInput(input, out);
  if (existsSync(out)) {
    if (statSync(out).isDirectory())
      throw new InvalidArgumentError(`is a directory; give a file name with -o`, { file: out });
    if (!opts.force)
      throw new InvalidArgumentError(`already exists`, {
        file: out,
        hint: "pass --force to overwrite it, or choose another name with -o",
      });
  }
  if (!existsSync(dirname(out)))
    throw new InvalidArgumentError(`${dirname(out)}: no such directory (for the output ${basename(out)})`, {
      file: out,
    });
  return out;
}

/** A column of obs/var by name; an unknown name is an error that lists what there is. */
export function requireColumn(h: H5adHandle, axis: "obs" | "var", name: string, option = "column"): string {
  const columns = h[axis].columns;
  if (!columns.includes(name)) {
    const near = columns.filter((c) => similar(c, name));
    throw new InvalidArgumentError(`${axis} has no column '${name}' (${option})`, {
      file: h.path,
      hint: near.length
        ? `did you mean ${near.map((c) => `'${c}'`).join(" or ")}? ${axis} columns: ${columns.join(", ")}`
        : `${axis} columns: ${columns.join(", ") || "(none)"}`,
    });
  }
  return name;
}

/** Make sure the input exists and is a file before a long command starts (one clear line if not). */
export function checkInputFile(path: string): void {
  if (!existsSync(path)) throw new InvalidArgumentError(`no such file`, { file: path });
  // A zarr store is a directory (read with the zarr backend); any other directory is a mistake.
  if (statSync(path).isDirectory() && !isZarrStore(path))
    throw new InvalidArgumentError(`is a directory, not an .h5ad file or a zarr store`, { file: path });
}

/** Names a user may have meant: a typo away (edit distance ≤ 2, case ignored) or one inside the other. */
export function similar(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x.includes(y) || y.includes(x)) return true;
  if (Math.abs(x.length - y.length) > 2) return false;
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[y.length]! <= 2;
}

/**
 * The obs column with perturbation labels: -p when given (checked), else the column detection picks
 * one and the user is told which (so a wrong guess is visible). No candidate → an error saying to pass -p.
 */
export async function perturbationColumn(
  file: string,
  given: string | undefined,
  control: string | undefined,
  say: (m: string) => void,
): Promise<string> {
  if (given) {
    await withInput(file, (h) => requireColumn(h, "obs", given, "--perturbation-column"));
    return given;
  }
  const { detectPerturbationColumn } = await import("../../helpers/columnDetection.ts");
  const d = detectPerturbationColumn(file, { controlLabel: control ?? null, explain: true });
  if (!d.column) {
    throw new InvalidArgumentError(`found no obs column that looks like perturbation labels`, {
      file,
      hint: `name it with -p; obs columns: ${d.scores.map((s) => s.column).join(", ") || "(none)"}`,
    });
  }
  say(`using obs column '${d.column}' for the perturbations (detected, score ${d.score}; pass -p to choose another)`);
  return d.column;
}

/** A wrong combination of options, found in an action: printed like commander's usage errors (exit 2). */
export function usageError(cmd: Command, message: string): never {
  cmd.error(`error: ${message}`, { exitCode: 2, code: "crispyx.usage" });
  throw new Error(message); // not reached: commander throws (exitOverride)
}

/**
 * The var column of gene symbols for steps that need symbols (QC's MT- genes, DE tables): --gene-column
 * when given (checked); null when var_names already are symbols; else the detected symbol column, and
 * the user is told. Leaves the error to the library when nothing fits (its message lists candidates).
 */
export async function geneSymbolColumn(
  file: string,
  given: string | undefined,
  say: (m: string) => void,
): Promise<string | null> {
  if (given) {
    await withInput(file, (h) => requireColumn(h, "var", given, "--gene-column"));
    return given;
  }
  const { countEnsemblLike } = await import("../../helpers/geneSymbols.ts");
  const names = await withInput(file, (h) => h.var.index);
  if (countEnsemblLike(names) <= names.length / 2) return null;
  const { detectGeneSymbolColumn } = await import("../../helpers/columnDetection.ts");
  const column = detectGeneSymbolColumn(file);
  if (column)
    say(`using var column '${column}' for gene symbols (var_names are IDs; pass --gene-column to choose another)`);
  return column;
}

/** commander parser for a probability in (0, 1] (a bad value is a usage error, exit 2). */
export function probabilityOption(text: string): number {
  const v = Number(text);
  if (text.trim() === "" || !(v > 0 && v <= 1)) throw new UsageError(`'${text}' is not a probability in (0, 1]`);
  return v;
}
