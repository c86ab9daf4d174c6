/**
 * Errors a user can act on. Every problem with a user's file or arguments surfaces as one of these,
 * with a one-line message naming the file and the problem, and an optional hint; the CLI prints
 * `message` (+ hint) and exits 1 without a stack trace.
 */
export interface CrispyxErrorOptions {
  /** The file the problem is about, when there is one. */
  file?: string;
  /** What the user can do about it. */
  hint?: string;
  cause?: unknown;
}

export class CrispyxError extends Error {
  readonly file?: string;
  readonly hint?: string;

  constructor(message: string, options: CrispyxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.file = options.file;
    this.hint = options.hint;
  }
}

/** The file is missing, unreadable, not HDF5, truncated, or not a valid AnnData file. */
export class FileFormatError extends CrispyxError {}

/** An argument is wrong: a missing column, a mask of the wrong length, an unknown option value. */
export class InvalidArgumentError extends CrispyxError {}

/** Prefix a message with the file it is about, as every user-facing error does. */
export function aboutFile(file: string | undefined, message: string): string {
  return file ? `${file}: ${message}` : message;
}
