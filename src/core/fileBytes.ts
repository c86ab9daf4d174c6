/** Positioned writes that finish: `writeSync` may write fewer bytes than asked (a signal, a full pipe), so loop. */
import { writeSync } from "node:fs";

/** Write all of `bytes` at file offset `at` of the open `fd`; returns the offset after them. */
export function writeFully(fd: number, bytes: Uint8Array, at: number): number {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
  return at + bytes.length;
}
