/**
 * HDF5's errors in one readable line: the innermost reason of an HDF5 error stack, and native aborts of the
 * WebAssembly build turned into words. No h5wasm import, so the CLI's error reporter can use it cheaply.
 * Cost model: a few regular expressions over the message.
 */

/**
 * A native abort inside the WebAssembly build (h5wasm's "Aborted(…)" RuntimeError, an out-of-bounds access):
 * HDF5 met bytes it could not make sense of, typically a damaged object header. After one, the module is
 * unusable for the rest of the process.
 */
export const NATIVE_ABORT =
  /Aborted\(|RuntimeError|memory access out of bounds|unreachable|table index is out of bounds/;

/** Pull the innermost, most specific line out of an HDF5 error stack (never the stack itself, nor its source paths). */
export function hdf5Reason(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  if (NATIVE_ABORT.test(text))
    return "HDF5 stopped on damaged internal data (an object header or index of the file is damaged)";
  const lines = [...text.matchAll(/#\d+: .*? in [\w]+\(\): (.*)$/gm)].map((m) => m[1]!.trim());
  const reason = lines.at(-1) ?? (err instanceof Error ? err.message : text).split("\n")[0]!;
  // A line of a trace that escaped the pattern above: keep its words, drop the library's source location.
  return (
    reason
      .replace(/\S*\/__w\/\S*/g, "")
      .replace(/\b\w+\.c line \d+ in \w+\(\):\s*/g, "")
      .trim() || "HDF5 could not read it"
  );
}
