/**
 * A synchronous decoder of Blosc 1 frames: zarr-python 2's default compressor (numcodecs Blosc, lz4 with
 * byte shuffle), and what zarr-python 3 still writes for a v2 store. No npm package decodes Blosc
 * synchronously (numcodecs.js and @itk-viewer/blosc-zarr are async WebAssembly), so the frame is read
 * here and each block handed to a well-kept codec: lz4js (lz4 blocks), fzstd (zstd), node:zlib (zlib).
 *
 * Frame (c-blosc 1.x README_HEADER.rst): a 16-byte header — version, versionlz, flags, typesize,
 * nbytes (u32 LE), blocksize (u32), cbytes (u32) — then, unless the frame is a plain copy (flags bit 1),
 * one u32 start offset per block; each block is `typesize` streams (one unless flags bit 4 says the blocks
 * were not split, or the block is the short last one), each a u32 compressed length and that many bytes
 * (a length equal to the stream's size means stored as is). Flags bit 0: byte shuffle, bit 2: bit shuffle;
 * bits 5–7: the codec (0 blosclz, 1 lz4/lz4hc, 2 snappy, 3 zlib, 4 zstd).
 * Not decoded (an UnsupportedError-style FileFormatError naming the codec): blosclz, snappy, bit shuffle —
 * none is a zarr or anndata default.
 *
 * Cost model: one pass over the compressed bytes (the codec) and one over the output (unshuffle).
 */
import { inflateSync } from "node:zlib";
import { lz4DecompressBlock, zstdDecompress } from "./lazyCodecs.ts";

const CODEC_NAMES = ["blosclz", "lz4", "snappy", "zlib", "zstd"];

/** Decode one Blosc frame into its uncompressed bytes; throws Error with a one-line reason on damage. */
export function decodeBlosc(src: Uint8Array): Uint8Array {
  if (src.length < 16) throw new Error(`blosc frame of ${src.length} bytes is shorter than its 16-byte header`);
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const flags = src[2]!;
  const typesize = src[3]!;
  const nbytes = view.getUint32(4, true);
  const blocksize = view.getUint32(8, true);
  const cbytes = view.getUint32(12, true);
  if (cbytes > src.length) throw new Error(`blosc frame says ${cbytes} bytes, has ${src.length}`);
  const out = new Uint8Array(nbytes);
  if (nbytes === 0) return out;
  if (flags & 0x02) {
    // A plain copy (incompressible data): the bytes follow the header.
    if (16 + nbytes > src.length) throw new Error("blosc copy frame is truncated");
    out.set(src.subarray(16, 16 + nbytes));
    return out;
  }
  if (flags & 0x04) throw new Error("blosc bit shuffle is not supported (byte shuffle and no shuffle are)");
  const codec = (flags >> 5) & 0x7;
  if (codec !== 1 && codec !== 3 && codec !== 4) {
    throw new Error(`blosc codec ${CODEC_NAMES[codec] ?? codec} is not supported (lz4, zlib and zstd are)`);
  }
  if (blocksize === 0) throw new Error("blosc frame has a block size of 0");
  const nblocks = Math.ceil(nbytes / blocksize);
  const leftover = nbytes % blocksize;
  const shuffled = (flags & 0x01) !== 0 && typesize > 1;
  const tmp = shuffled ? new Uint8Array(blocksize) : null;
  for (let b = 0; b < nblocks; b++) {
    const bsize = b === nblocks - 1 && leftover ? leftover : blocksize;
    let pos = view.getUint32(16 + 4 * b, true);
    const dest = out.subarray(b * blocksize, b * blocksize + bsize);
    const target = tmp ? tmp.subarray(0, bsize) : dest;
    const split = (flags & 0x10) === 0 && bsize === blocksize;
    const nstreams = split ? typesize : 1;
    const ssize = bsize / nstreams;
    if (!Number.isInteger(ssize))
      throw new Error(`blosc block of ${bsize} bytes does not split into ${nstreams} streams`);
    for (let s = 0; s < nstreams; s++) {
      if (pos + 4 > src.length) throw new Error("blosc block is truncated");
      const clen = view.getUint32(pos, true);
      pos += 4;
      if (pos + clen > src.length) throw new Error("blosc block is truncated");
      const part = src.subarray(pos, pos + clen);
      const into = target.subarray(s * ssize, (s + 1) * ssize);
      if (clen === ssize) into.set(part);
      else decodeStream(codec, part, into);
      pos += clen;
    }
    if (tmp) unshuffle(tmp.subarray(0, bsize), dest, typesize);
  }
  return out;
}

function decodeStream(codec: number, part: Uint8Array, into: Uint8Array): void {
  let got: number;
  if (codec === 1) {
    got = lz4DecompressBlock(part, into, 0, part.length, 0);
  } else {
    const bytes = codec === 4 ? zstdDecompress(part) : inflateSync(part);
    if (bytes.length !== into.length)
      throw new Error(`blosc stream decoded to ${bytes.length} bytes, expected ${into.length}`);
    into.set(bytes);
    got = bytes.length;
  }
  if (got !== into.length) throw new Error(`blosc stream decoded to ${got} bytes, expected ${into.length}`);
}

/** Undo Blosc's byte shuffle: byte j of every element was stored together; a tail shorter than an element is as is. */
export function unshuffle(src: Uint8Array, dest: Uint8Array, typesize: number): void {
  const n = Math.floor(src.length / typesize);
  for (let j = 0; j < typesize; j++) {
    const base = j * n;
    for (let i = 0; i < n; i++) dest[i * typesize + j] = src[base + i]!;
  }
  const tail = n * typesize;
  if (tail < src.length) dest.set(src.subarray(tail), tail);
}
