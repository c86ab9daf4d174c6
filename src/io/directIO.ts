/**
 * The one switch for crispyx's byte-level HDF5 code (./h5/DESIGN.md): reads of uncompressed datasets
 * straight from the file (./h5/rawStorage.ts), arrays written after HDF5 has closed the file
 * (./anndata/directArrays.ts, ./anndata/directSparseWriter.ts), and in-place edits that rewrite links
 * (./h5/links.ts, ./anndata/edit.ts). On by default; `CRISPYX_DIRECT_IO=0` in the environment, or
 * `ioSettings.directIO = false` from the API, sends every one of them through the library (h5wasm) route:
 * slower (each byte crosses the WebAssembly heap; an edit rewrites the whole file), never different in value.
 *
 * Not behind the switch, because the library has no route for them: the boolean enum patch (./h5/booleans.ts;
 * h5wasm cannot create enum types) and the LZF reader (./h5/filteredChunks.ts; see ./h5/filters.ts).
 *
 * Cost model: one property read per decision (per dataset opened, per output, per edit), never per block.
 */

export const ioSettings = {
  /** Use the byte-level paths where they apply. Default: on unless the environment says CRISPYX_DIRECT_IO=0. */
  directIO: process.env.CRISPYX_DIRECT_IO !== "0",
};

/** The byte-level paths, for the use counts below. */
export type DirectPath = "reads" | "arrays" | "links";

const uses: Record<DirectPath, number> = { reads: 0, arrays: 0, links: 0 };

/** Note that a byte-level path was taken (tests check the switch really turns each one off). */
export function noteDirectUse(path: DirectPath): void {
  uses[path]++;
}

/** How often each byte-level path was taken in this process so far (a copy). */
export function directUseCounts(): Record<DirectPath, number> {
  return { ...uses };
}
