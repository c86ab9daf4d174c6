/**
 * A full garbage collection on request. Large typed arrays (DE's per-batch statistics and results, hundreds
 * of MB on SharedArrayBuffers) are freed only when V8 collects their small JavaScript wrappers, and V8 sees
 * little reason to: its own heap stays small. Between batches of a long run that lag adds up to several
 * batches' arrays held at once; collecting when a batch's arrays become garbage keeps the peak at one batch.
 *
 * `--expose-gc` is switched on at run time (v8.setFlagsFromString) and the `gc` function taken from a fresh
 * context; when the runtime refuses, nothing happens.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

let gc: (() => void) | null | undefined;

export function collectGarbage(): void {
  if (gc === undefined) {
    try {
      setFlagsFromString("--expose-gc");
      gc = runInNewContext("gc") as () => void;
    } catch {
      gc = null;
    }
  }
  gc?.();
}
