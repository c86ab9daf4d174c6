/**
 * Checks a path before the HDF5 library sees it, so that common mistakes get a plain-language error
 * instead of an HDF5 error stack: missing file, a directory, a file that is not HDF5, a truncated file.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { FileFormatError } from "../../errors.ts";

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Where the HDF5 superblock starts (0, 512, 1024, 2048, …), or -1 when the file has no HDF5 signature. */
function findSuperblock(fd: number, size: number): number {
  const buf = Buffer.alloc(8);
  for (let at = 0; at + 8 <= size; at = at === 0 ? 512 : at * 2) {
    if (readSync(fd, buf, 0, 8, at) === 8 && buf.equals(SIGNATURE)) return at;
  }
  return -1;
}

/** The end-of-file address the superblock records, or null when this superblock version is unknown. */
function recordedEof(fd: number, base: number): bigint | null {
  const buf = Buffer.alloc(96);
  const n = readSync(fd, buf, 0, buf.length, base);
  const version = buf[8];
  if (version === 0 || version === 1) {
    const sizeOfOffsets = buf[13]!;
    if (sizeOfOffsets !== 8) return null;
    // v0: fixed header of 24 bytes, then base, free-space, EOF addresses. v1 has 4 more bytes before them.
    const at = (version === 0 ? 24 : 28) + 2 * 8;
    return at + 8 <= n ? buf.readBigUInt64LE(at) : null;
  }
  if (version === 2 || version === 3) {
    const sizeOfOffsets = buf[9]!;
    if (sizeOfOffsets !== 8) return null;
    const at = 12 + 2 * 8; // signature, version, sizes, flags; base and extension addresses; then EOF
    return at + 8 <= n ? buf.readBigUInt64LE(at) : null;
  }
  return null;
}

export function preflightHdf5(path: string): void {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : String(code);
    throw new FileFormatError(`cannot open: ${why}`, { file: path, cause: err });
  }
  if (st.isDirectory()) {
    throw new FileFormatError(`is a directory, not an .h5ad file`, { file: path });
  }
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new FileFormatError(`cannot open: ${(err as Error).message}`, { file: path, cause: err });
  }
  try {
    const base = findSuperblock(fd, st.size);
    if (base < 0) {
      throw new FileFormatError(
        st.size === 0
          ? `${path}: is empty (0 bytes), not an HDF5 file`
          : `${path}: is not an HDF5 file (no HDF5 signature)`,
        { file: path, hint: "crispyx reads AnnData .h5ad files, which are HDF5 files" },
      );
    }
    // HDF5 stores the end-of-file address counting the user block too (its own check compares the
    // file size with it directly), unlike the other addresses, which count from the superblock.
    const eof = recordedEof(fd, base);
    if (eof !== null && BigInt(st.size) < eof) {
      throw new FileFormatError(`is truncated: the file has ${st.size} bytes but its header says ${eof}`, {
        file: path,
        hint: "the file was not completely written or copied; copy or write it again",
      });
    }
  } finally {
    closeSync(fd);
  }
}
