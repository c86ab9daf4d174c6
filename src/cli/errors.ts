/**
 * How the CLI reports failures. Users see one line naming the file and the problem, and a hint when
 * there is one; never a stack trace unless --debug.
 *
 *   exit 1: the input or the arguments' values are wrong (CrispyxError and its subclasses), or
 *           something unexpected happened;
 *   exit 2: the command line itself is wrong (unknown command or option, missing argument), as
 *           reported by commander.
 */
import { CommanderError } from "commander";
import { CrispyxError } from "../errors.ts";
import { hdf5Reason } from "../io/nativeErrors.ts";

export const EXIT_USER_ERROR = 1;
export const EXIT_USAGE = 2;

/** Commander "errors" that are really requests: --help, --version. */
const NOT_ERRORS = new Set(["commander.helpDisplayed", "commander.version", "commander.help"]);

/** Collapse a multi-line message onto one line (a few Node errors span several). */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/**
 * Print `err` on `stderr` the crispyx way and return the exit code. Commander has already printed
 * its own usage errors (through the outputError hook in main.ts).
 */
/** Errors of the HDF5 library or its WebAssembly build that escaped translation: never shown as they are. */
const NATIVE_OR_HDF5 =
  /Aborted\(|RuntimeError|memory access out of bounds|unreachable|\.c line \d+|#\d{3}: |HDF5-DIAG|H5[A-Z]\w*\(\)/;

export function reportError(
  err: unknown,
  {
    debug,
    stderr = process.stderr,
    inputs = [],
  }: { debug: boolean; stderr?: NodeJS.WritableStream; inputs?: string[] },
): number {
  if (err instanceof CommanderError) {
    if (NOT_ERRORS.has(err.code)) {
      // `crispyx obs` with no subcommand prints help and "fails" with 1; treat it as a usage error.
      return err.code === "commander.help" && err.exitCode !== 0 ? EXIT_USAGE : err.exitCode;
    }
    return EXIT_USAGE;
  }
  if (err instanceof CrispyxError) {
    stderr.write(`crispyx: error: ${oneLine(err.message)}\n`);
    if (err.hint) stderr.write(`hint: ${oneLine(err.hint)}\n`);
    if (debug && err.stack) stderr.write(`${err.stack}\n`);
    return EXIT_USER_ERROR;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  if (NATIVE_OR_HDF5.test(`${e.name}: ${e.message}`)) {
    // A damaged file that reached HDF5 unchecked: one line naming the file (the command's input), no trace.
    const file = inputs[0] ?? "the input file";
    stderr.write(`crispyx: error: ${file}: the file is damaged: ${hdf5Reason(e)}\n`);
    stderr.write(
      `hint: 'crispyx validate ${inputs[0] ?? "FILE"}' lists what is wrong; rewrite or copy the file again from its source\n`,
    );
    if (debug && e.stack) stderr.write(`${e.stack}\n`);
    return EXIT_USER_ERROR;
  }
  const code = (e as NodeJS.ErrnoException).code;
  const path = (e as NodeJS.ErrnoException).path;
  // Common system errors read better without Node's "ENOENT: …, open 'x'" wording.
  const friendly =
    code === "ENOENT" && path
      ? `${path}: no such file or directory`
      : code === "EACCES" && path
        ? `${path}: permission denied`
        : code === "ENOSPC"
          ? `no space left on device${path ? ` (writing ${path})` : ""}`
          : code === "EPIPE"
            ? undefined
            : oneLine(e.message || e.name);
  if (friendly === undefined) return 0; // the reader of our stdout went away (`| head`): not an error
  stderr.write(`crispyx: error: ${friendly}\n`);
  if (debug) {
    if (e.stack) stderr.write(`${e.stack}\n`);
  } else {
    stderr.write("hint: run with --debug for the stack trace\n");
  }
  return EXIT_USER_ERROR;
}
