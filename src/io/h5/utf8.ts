/**
 * Strict UTF-8 for strings read from files: text whose bytes are not UTF-8 is refused with the position of
 * the first bad byte, never decoded with replacement characters (which would change the text crispyx copies
 * into outputs). Python (anndata, h5py) refuses the same bytes. No h5wasm import: our LZF reader uses it too.
 *
 * Cost model: one native TextDecoder pass per batch of strings; the byte-level scan runs only on failure.
 */

/** Throws on bytes that are not UTF-8 (ASCII is a subset). */
export const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

export const NOT_UTF8_HINT =
  "crispyx refuses text it would otherwise change; re-save the file with its strings as UTF-8";

/** The offset of the first byte where `b` stops being well-formed UTF-8 (RFC 3629, as Python decodes), or -1. */
export function firstBadByte(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    // The lead byte gives the sequence's length and the range of its second byte (no overlongs, surrogates, > U+10FFFF).
    let more: number, lo: number, hi: number;
    if (c >= 0xc2 && c <= 0xdf) [more, lo, hi] = [1, 0x80, 0xbf];
    else if (c === 0xe0) [more, lo, hi] = [2, 0xa0, 0xbf];
    else if (c === 0xed) [more, lo, hi] = [2, 0x80, 0x9f];
    else if (c >= 0xe1 && c <= 0xef) [more, lo, hi] = [2, 0x80, 0xbf];
    else if (c === 0xf0) [more, lo, hi] = [3, 0x90, 0xbf];
    else if (c >= 0xf1 && c <= 0xf3) [more, lo, hi] = [3, 0x80, 0xbf];
    else if (c === 0xf4) [more, lo, hi] = [3, 0x80, 0x8f];
    else return i;
    const second = b[i + 1];
    if (second === undefined || second < lo || second > hi) return i;
    for (let k = 2; k <= more; k++) {
      const x = b[i + k];
      if (x === undefined || (x & 0xc0) !== 0x80) return i;
    }
    i += more + 1;
  }
  return -1;
}

/** "is not valid UTF-8 text (byte 3 of the value: C3 28)", or null when `bytes` are UTF-8. */
export function utf8Problem(bytes: Uint8Array): string | null {
  const bad = firstBadByte(bytes);
  if (bad < 0) return null;
  const hex = Array.from(bytes.subarray(bad, bad + 4), (b) => b.toString(16).toUpperCase().padStart(2, "0"));
  return `is not valid UTF-8 text (byte ${bad} of the value: ${hex.join(" ")})`;
}

/** Text that is not UTF-8: `problem` in the words of utf8Problem; `index` of the string, when known. */
export class Utf8Error extends Error {
  constructor(
    readonly problem: string,
    readonly index = -1,
  ) {
    super(index < 0 ? problem : `[${index}] ${problem}`);
  }
}

/** `bytes` as text, strictly: a Utf8Error saying where they stop being UTF-8 otherwise. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new Utf8Error(utf8Problem(bytes) ?? "is not valid UTF-8 text");
  }
}
