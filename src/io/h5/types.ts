/** Kept for imports inside src/io written before the move: the dtype vocabulary lives in ../dtypes.ts (not HDF5-specific). */
export * from "../dtypes.ts";
