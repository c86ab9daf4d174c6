/**
 * Process-wide choices about what crispyx writes, like anndata's `settings`.
 *
 * `writeNullableStrings` (anndata: `allow_write_nullable_strings`, off by default there too): pandas'
 * nullable string columns are read from any file, but anndata < 0.11 cannot open the
 * `nullable-string-array` encoding at all. By default they are written as a categorical of the same
 * values (missing values as code -1), which every anndata reads — what anndata's own writer does to
 * string columns of obs and var (`strings_to_categoricals`). Set it to write the encoding as is.
 */
export const writeSettings = {
  writeNullableStrings: false,
};

/** The switch for byte-level HDF5 reads and writes (`ioSettings.directIO`, env CRISPYX_DIRECT_IO=0): ../directIO.ts. */
export { ioSettings } from "../directIO.ts";
