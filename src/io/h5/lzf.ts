/**
 * LZF decompression (liblzf's format, which h5py's filter 32000 — anndata's `compression="lzf"` —
 * writes one block per chunk). Ours rather than h5wasm-plugins' libH5Zlzf.so: see ./filters.ts.
 *
 * The format: a control byte c < 32 starts a run of c+1 literal bytes; otherwise the top three bits are
 * a length (7 = one more length byte follows) and the low five bits, with the next byte, a distance
 * back into the output from which len+2 bytes are copied (they may overlap what is being written).
 */

/** Decompress `input` into `out`; returns the number of bytes written, or -1 when `out` is too small. Throws on corrupt input. */
export function lzfDecompress(input: Uint8Array, out: Uint8Array): number {
  let ip = 0;
  let op = 0;
  const inEnd = input.length;
  const outEnd = out.length;
  while (ip < inEnd) {
    let ctrl = input[ip++]!;
    if (ctrl < 32) {
      ctrl++;
      if (ip + ctrl > inEnd) throw new Error("corrupt LZF data (literal run past the end of the chunk)");
      if (op + ctrl > outEnd) return -1;
      if (ctrl < 16) for (let k = 0; k < ctrl; k++) out[op++] = input[ip++]!;
      else {
        out.set(input.subarray(ip, ip + ctrl), op);
        ip += ctrl;
        op += ctrl;
      }
      continue;
    }
    let len = ctrl >> 5;
    if (ip >= inEnd) throw new Error("corrupt LZF data (back reference past the end of the chunk)");
    if (len === 7) {
      len += input[ip++]!;
      if (ip >= inEnd) throw new Error("corrupt LZF data (back reference past the end of the chunk)");
    }
    let ref = op - ((ctrl & 0x1f) << 8) - 1 - input[ip++]!;
    len += 2;
    if (ref < 0) throw new Error("corrupt LZF data (back reference before the start of the chunk)");
    if (op + len > outEnd) return -1;
    if (ref + len <= op && len >= 16) {
      out.copyWithin(op, ref, ref + len);
      op += len;
    } else {
      // Overlapping copies repeat the bytes just written (run-length), so byte by byte.
      for (let k = 0; k < len; k++) out[op++] = out[ref++]!;
    }
  }
  return op;
}
