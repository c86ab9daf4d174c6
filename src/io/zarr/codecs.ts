/**
 * Zarr codecs, decoded synchronously: each bytes → bytes codec is one entry of the `BYTES_CODECS` table
 * (add a codec: one function and one line, as zarrita.js's codec registry), each parsed from the v2
 * `compressor` or a v3 `codecs` entry. The last step, bytes → elements, is the chunk layout:
 * little/big-endian numbers ('bytes' codec), vlen-utf8 strings, or a v3 shard (`sharding_indexed`:
 * inner chunks plus an index of (offset, length) pairs).
 *
 * Libraries: fzstd (zstd, pure JS, synchronous), node:zlib (gzip/zlib, synchronous), lz4js (lz4 blocks)
 * — the two npm ones loaded on first use (./lazyCodecs.ts) — and ./blosc.ts (the Blosc frame around them).
 * The store interface is synchronous, so no async codec (numcodecs.js, zarrita.js) could be called from it.
 *
 * Cost model: each decode is linear in the chunk's bytes; crc32c of shard indexes is not verified.
 */
import { gunzipSync, inflateSync } from "node:zlib";
import { decodeBlosc } from "./blosc.ts";
import { lz4DecompressBlock, zstdDecompress } from "./lazyCodecs.ts";
import { problem } from "./problem.ts";
import type { ZarrElement } from "./metadata.ts";

export type BytesCodec = { name: string; decode: (b: Uint8Array) => Uint8Array };

/** How a stored chunk becomes elements. */
export type ChunkLayout =
  | { kind: "plain"; bytes: BytesCodec[]; element: ZarrElement }
  | {
      kind: "sharded";
      /** The shard's own bytes codecs (before it is split; normally none). */
      bytes: BytesCodec[];
      innerShape: number[];
      inner: { bytes: BytesCodec[]; element: ZarrElement };
      indexAtEnd: boolean;
      /** Bytes of the index as stored (16 per inner chunk, + 4 with crc32c). */
      indexBytes: number;
    };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** numcodecs LZ4: a 4-byte little-endian uncompressed size, then one lz4 block. */
function decodeNumcodecsLz4(src: Uint8Array): Uint8Array {
  if (src.length < 4) throw new Error("lz4 chunk is shorter than its 4-byte header");
  const n = new DataView(src.buffer, src.byteOffset, 4).getUint32(0, true);
  const out = new Uint8Array(n);
  const got = lz4DecompressBlock(src, out, 4, src.length - 4, 0);
  if (got !== n) throw new Error(`lz4 chunk decoded to ${got} bytes, expected ${n}`);
  return out;
}

const toU8 = (b: Buffer | Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** The bytes → bytes codecs crispyx decodes, by their numcodecs (v2 compressor id) / v3 codec name. */
const BYTES_CODECS: Record<string, (b: Uint8Array) => Uint8Array> = {
  blosc: decodeBlosc,
  zstd: (b) => zstdDecompress(b),
  gzip: (b) => toU8(gunzipSync(b)),
  zlib: (b) => toU8(inflateSync(b)),
  lz4: decodeNumcodecsLz4,
};

function bytesCodec(name: string): BytesCodec {
  const decode = BYTES_CODECS[name];
  if (!decode) problem(`codec ${JSON.stringify(name)} is not supported (${Object.keys(BYTES_CODECS).join(", ")} are)`);
  return { name, decode };
}

/** A v2 .zarray `compressor` ({"id": "blosc", ...}). */
export function v2Compressor(c: unknown): BytesCodec {
  if (!isRecord(c) || typeof c.id !== "string") problem(`compressor ${JSON.stringify(c)} has no id`);
  return bytesCodec(c.id);
}

/** A v3 `codecs` list: array → array (none accepted but a no-op transpose), one array → bytes, bytes → bytes. */
export function codecChain(
  codecs: unknown,
  element: ZarrElement,
  chunkShape: number[],
): { layout: ChunkLayout; element: ZarrElement } {
  if (!Array.isArray(codecs) || codecs.length === 0) problem("codecs is not a non-empty list");
  let i = 0;
  const named = codecs.map((c) => {
    if (typeof c === "string") return { name: c, configuration: {} as Record<string, unknown> };
    if (!isRecord(c) || typeof c.name !== "string") problem(`codec ${JSON.stringify(c)} has no name`);
    return { name: c.name, configuration: isRecord(c.configuration) ? c.configuration : {} };
  });
  while (named[i]?.name === "transpose") {
    const order = named[i]!.configuration.order;
    if (!Array.isArray(order) || order.some((d, k) => d !== k))
      problem(`transpose codec ${JSON.stringify(order)} is not supported (store the array in C order)`);
    i++;
  }
  const a2b = named[i++];
  if (!a2b) problem("codecs has no array → bytes codec");
  const bytes = named
    .slice(i)
    .map((c) => {
      if (c.name === "crc32c") return { name: "crc32c", decode: (b: Uint8Array) => b.subarray(0, b.length - 4) };
      if (c.name === "blosc" && c.configuration.shuffle === "bitshuffle")
        problem("blosc with bit shuffle is not supported");
      return bytesCodec(c.name);
    })
    .reverse();
  if (a2b.name === "bytes") {
    const endian = a2b.configuration.endian;
    if (endian !== undefined && endian !== "little" && endian !== "big")
      problem(`bytes codec endian ${JSON.stringify(endian)}`);
    const e = withEndian(element, endian === "big");
    return { layout: { kind: "plain", bytes, element: e }, element: e };
  }
  if (a2b.name === "vlen-utf8") {
    if (element.kind !== "vlen-string") problem(`vlen-utf8 codec on ${element.kind} elements`);
    return { layout: { kind: "plain", bytes, element }, element };
  }
  if (a2b.name === "sharding_indexed") {
    const cfg = a2b.configuration;
    const innerShape = cfg.chunk_shape;
    if (
      !Array.isArray(innerShape) ||
      innerShape.length !== chunkShape.length ||
      innerShape.some((d, k) => !Number.isSafeInteger(d) || d <= 0 || chunkShape[k]! % d !== 0)
    ) {
      problem(
        `sharding chunk_shape ${JSON.stringify(innerShape)} does not divide the shard shape ${JSON.stringify(chunkShape)}`,
      );
    }
    const inner = codecChain(cfg.codecs, element, innerShape as number[]);
    if (inner.layout.kind !== "plain") problem("nested sharding is not supported");
    const index = Array.isArray(cfg.index_codecs) ? cfg.index_codecs.map((c) => (isRecord(c) ? c.name : c)) : ["bytes"];
    const withCrc = index.length === 2 && index[1] === "crc32c";
    if (index[0] !== "bytes" || (index.length !== 1 && !withCrc))
      problem(`shard index_codecs ${JSON.stringify(cfg.index_codecs)} are not supported`);
    const first: unknown = Array.isArray(cfg.index_codecs) ? cfg.index_codecs[0] : undefined;
    const endian = isRecord(first) && isRecord(first.configuration) ? first.configuration.endian : undefined;
    if (endian === "big") problem("a big-endian shard index is not supported");
    const nInner = chunkShape.reduce((a, d, k) => a * (d / (innerShape as number[])[k]!), 1);
    const location = cfg.index_location ?? "end";
    if (location !== "end" && location !== "start") problem(`shard index_location ${JSON.stringify(location)}`);
    return {
      layout: {
        kind: "sharded",
        bytes,
        innerShape: innerShape as number[],
        inner: { bytes: inner.layout.bytes, element: inner.element },
        indexAtEnd: location === "end",
        indexBytes: nInner * 16 + (withCrc ? 4 : 0),
      },
      element: inner.element,
    };
  }
  problem(`array → bytes codec ${JSON.stringify(a2b.name)} is not supported (bytes, vlen-utf8, sharding_indexed are)`);
}

function withEndian(e: ZarrElement, bigEndian: boolean): ZarrElement {
  if (e.kind === "numeric" || e.kind === "fixed-utf32") return { ...e, bigEndian };
  if (e.kind === "struct")
    return { ...e, fields: e.fields.map((f) => ({ ...f, element: withEndian(f.element, bigEndian) })) };
  return e;
}

/** Run a chunk's bytes codecs (already in decoding order). */
export function decodeBytes(codecs: BytesCodec[], raw: Uint8Array): Uint8Array {
  let b = raw;
  for (const c of codecs) b = c.decode(b);
  return b;
}

/** numcodecs VLenUTF8 (v2 filter and v3 codec): u32 count, then per item a u32 length and its UTF-8 bytes. */
export function decodeVlenUtf8(b: Uint8Array, expected: number): string[] {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 4) throw new Error("vlen-utf8 chunk is shorter than its header");
  const n = view.getUint32(0, true);
  if (n !== expected) throw new Error(`vlen-utf8 chunk holds ${n} strings, expected ${expected}`);
  const out = new Array<string>(n);
  const dec = new TextDecoder("utf-8");
  let pos = 4;
  for (let k = 0; k < n; k++) {
    if (pos + 4 > b.length) throw new Error("vlen-utf8 chunk is truncated");
    const len = view.getUint32(pos, true);
    pos += 4;
    if (pos + len > b.length) throw new Error("vlen-utf8 chunk is truncated");
    out[k] = dec.decode(b.subarray(pos, pos + len));
    pos += len;
  }
  return out;
}

/** Fixed-size strings: NUL-padded bytes (numpy 'S') or UTF-32 code points (numpy 'U'). */
export function decodeFixedStrings(b: Uint8Array, element: ZarrElement, n: number): string[] {
  const out = new Array<string>(n);
  const dec = new TextDecoder("utf-8");
  if (element.kind === "fixed-bytes") {
    for (let k = 0; k < n; k++) {
      let s = b.subarray(k * element.size, (k + 1) * element.size);
      const z = s.indexOf(0);
      if (z >= 0) s = s.subarray(0, z);
      out[k] = dec.decode(s);
    }
    return out;
  }
  if (element.kind !== "fixed-utf32") throw new Error(`${element.kind} elements are not strings`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let k = 0; k < n; k++) {
    let s = "";
    for (let c = 0; c < element.chars; c++) {
      const cp = view.getUint32((k * element.chars + c) * 4, !element.bigEndian);
      if (cp === 0) break;
      s += String.fromCodePoint(cp);
    }
    out[k] = s;
  }
  return out;
}

/** Reverse the byte order of each `size`-byte element in place (big-endian chunks). */
export function byteSwap(b: Uint8Array, size: number): void {
  if (size === 2) Buffer.from(b.buffer, b.byteOffset, b.byteLength).swap16();
  else if (size === 4) Buffer.from(b.buffer, b.byteOffset, b.byteLength).swap32();
  else if (size === 8) Buffer.from(b.buffer, b.byteOffset, b.byteLength).swap64();
}
