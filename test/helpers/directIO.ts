// The suite runs both ways: by default and with CRISPYX_DIRECT_IO=0 (src/io/directIO.ts, src/io/h5/DESIGN.md).
// Tests of a byte-level path itself have nothing to test when the switch is off; they skip with this reason.
import { ioSettings } from "../../src/io/directIO.ts";

/** Whether the byte-level HDF5 paths are on in this test process (read once: tests may flip the switch). */
export const DIRECT_IO = ioSettings.directIO;

/**
 * `{ skip: reason }` for node:test options when direct I/O is off, else `{}`. `what` says which byte-level
 * path the test exercises, so the skip message tells why the library route has nothing to show there.
 */
export function skipWithoutDirectIO(what: string): { skip?: string } {
  return DIRECT_IO ? {} : { skip: `direct I/O is switched off (CRISPYX_DIRECT_IO=0): ${what}` };
}
