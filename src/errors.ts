/**
 * Errors a user can act on. Every problem with a user's file or arguments surfaces as one of these,
 * with a one-line message naming the file and the problem, and an optional hint; the CLI prints
 * `message` (+ hint) and exits 1 without a stack trace.
 *
 * The file is named once, here: an error constructed with `{ file }` gets "FILE: " in front of its
 * message unless the message names it already. Programs read `err.code` (stable, documented in
 * the README) instead of parsing the wording.
 */

/**
 * Machine-readable reasons, for callers of the API (`err.code`):
 * - FILE_FORMAT: the file is missing, unreadable, not HDF5/zarr, truncated or not valid AnnData;
 * - UNSUPPORTED: valid, but uses something crispyx does not read (an encoding, a compression filter);
 * - INVALID_ARGUMENT: an argument is wrong (a missing column, a mask of the wrong length, a bad option);
 * - NO_SPACE / READ_ONLY: the output cannot be written where it was asked for;
 * - MEMORY_BUDGET: the work cannot be done within the memory limit given;
 * - ABORTED: the caller cancelled (AbortSignal, SIGINT);
 * - FAILED: anything else crispyx reports.
 */
export type ErrorCode =
  | "FILE_FORMAT"
  | "UNSUPPORTED"
  | "INVALID_ARGUMENT"
  | "NO_SPACE"
  | "READ_ONLY"
  | "MEMORY_BUDGET"
  | "ABORTED"
  | "FAILED";

export interface CrispyxErrorOptions {
  /** The file the problem is about, when there is one. */
  file?: string;
  /** What the user can do about it. */
  hint?: string;
  /** Overrides the class's default code. */
  code?: ErrorCode;
  cause?: unknown;
}

export class CrispyxError extends Error {
  readonly file?: string;
  readonly hint?: string;
  readonly code: ErrorCode;

  constructor(message: string, options: CrispyxErrorOptions = {}) {
    super(aboutFile(options.file, message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.file = options.file;
    this.hint = options.hint;
    this.code = options.code ?? (new.target as unknown as { defaultCode?: ErrorCode }).defaultCode ?? "FAILED";
  }
}

/** The file is missing, unreadable, not HDF5, truncated, or not a valid AnnData file. */
export class FileFormatError extends CrispyxError {
  static readonly defaultCode: ErrorCode = "FILE_FORMAT";
}

/** An argument is wrong: a missing column, a mask of the wrong length, an unknown option value. */
export class InvalidArgumentError extends CrispyxError {
  static readonly defaultCode: ErrorCode = "INVALID_ARGUMENT";
}

/** Prefix a message with the file it is about, as every user-facing error does (once: not when it names it already). */
export function aboutFile(file: string | undefined, message: string): string {
  if (!file || message.includes(file)) return message;
  return `${file}: ${message}`;
}
