/**
 * HDF5 object headers read byte by byte (HDF5 File Format Specification, "Disk Format: Level 2A"), for the
 * byte-level edits of closed files: link rewrites (./links.ts), storage patches of directly written arrays,
 * and h5py booleans (./booleans.ts). Both header versions are understood:
 * - v1 (what h5py, anndata and H5File write): a 16-byte prefix (version 1, message count, reference count,
 *   size of the first chunk), then chunks of 8-byte-aligned messages with 8-byte message headers;
 * - v2 ("OHDR", HDF5 ≥ 1.8 with newer library bounds): 4- or 6-byte message headers, unaligned, each chunk
 *   ending in a lookup3 checksum; continuation chunks start with "OCHK".
 * Continuation messages (0x0010) are followed, so every message of the object is seen wherever it lives.
 * Anything that does not parse exactly (a bad signature, checksum, a message running past its chunk, a
 * chunk outside the file) is refused: callers never write on a guess.
 */
import { fstatSync, readSync } from "node:fs";
import { CrispyxError } from "../../errors.ts";

export const MSG_NIL = 0x0000;
export const MSG_CONTINUATION = 0x0010;

/** What reading headers needs to know about the file. */
export interface HeaderCtx {
  fd: number;
  file: string;
  /** Size of offsets and of lengths, in bytes (8 in practice). */
  O: number;
  L: number;
  /** Absolute position that relative addresses are counted from. */
  base: number;
  /** When set, every structure read is recorded here as [position, length]. */
  ranges?: Array<[number, number]>;
}

/** A header chunk; v2 chunks end in a checksum over everything before it. */
export interface Chunk {
  pos: number;
  length: number;
  version: 1 | 2;
  /** Offset of the first message in the chunk, and the size of a message's header. */
  start: number;
  msgHeader: number;
}

/** A header message and where it lives, so it can be patched. */
export interface Message {
  type: number;
  /** Absolute position of the message's first byte (its type field) and of its body. */
  pos: number;
  bodyPos: number;
  body: Buffer;
  chunk: Chunk;
}

export class HeaderError extends CrispyxError {}

function fail(ctx: { file: string }, why: string): HeaderError {
  return new HeaderError(`${ctx.file}: ${why}`, { file: ctx.file });
}

export function pread(ctx: { fd: number }, pos: number, len: number): Buffer {
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = readSync(ctx.fd, buf, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  if (got < len) throw new CrispyxError(`unexpected end of file reading ${len} bytes at ${pos}`);
  return buf;
}

/** An unsigned little-endian integer of `size` bytes; undefined addresses (all ones) become -1. */
export function readUInt(buf: Buffer, off: number, size: number): number {
  let v = 0n;
  let allOnes = true;
  for (let i = size - 1; i >= 0; i--) {
    const b = buf[off + i]!;
    if (b !== 0xff) allOnes = false;
    v = (v << 8n) | BigInt(b);
  }
  if (allOnes) return -1;
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CrispyxError(`address ${v} too large`);
  return Number(v);
}

/** A whole object header: its version, v1 message count (from the prefix) and every message in chunk order. */
export interface ObjectHeader {
  addr: number;
  version: 1 | 2;
  /** v1 only: the prefix's count of messages (all chunks, NIL messages included). */
  messageCount: number;
  /** v2 only: the header's flags (bit 2: messages carry a creation index). */
  v2Flags: number;
  chunks: Chunk[];
  messages: Message[];
}

/**
 * Parse the object header at `addr` (relative to the base address) and all its continuation chunks.
 * With `strict`, also checks what byte-level writers rely on: every chunk inside the file, v1 messages
 * filling their chunks exactly, and the v1 prefix's message count equal to the messages found.
 */
export function readObjectHeader(ctx: HeaderCtx, addr: number, strict = false): ObjectHeader {
  const abs = ctx.base + addr;
  const fileSize = strict ? fstatSync(ctx.fd).size : Infinity;
  if (addr < 0 || abs + 16 > fileSize)
    throw fail(ctx, `no object header at ${addr}: the address is outside the file (${fileSize} bytes)`);
  const first = pread(ctx, abs, 4);
  const out: Message[] = [];
  const chunks: Chunk[] = [];
  const pending: Array<[number, number]> = [];
  let v2Flags = 0;
  let version: 1 | 2;
  let messageCount = 0;
  const inFile = (pos: number, len: number) => {
    if (pos + len > fileSize)
      throw fail(
        ctx,
        `object header at ${addr} has a chunk at ${pos} (${len} bytes) outside the file (${fileSize} bytes)`,
      );
  };
  if (first.toString("latin1") === "OHDR") {
    version = 2;
    const pre = pread(ctx, abs, 24);
    if (pre[4] !== 2) throw fail(ctx, `object header version ${pre[4]} at ${addr}`);
    v2Flags = pre[5]!;
    let p = 6;
    if (v2Flags & 0x20) p += 16; // access/modification/change/birth times
    if (v2Flags & 0x10) p += 4; // attribute storage phase change values
    const sizeBytes = 1 << (v2Flags & 3);
    const dataSize = readUInt(pre, p, sizeBytes);
    p += sizeBytes;
    const chunk: Chunk = {
      pos: abs,
      length: p + dataSize + 4,
      version: 2,
      start: p,
      msgHeader: v2Flags & 0x04 ? 6 : 4,
    };
    inFile(chunk.pos, chunk.length);
    chunks.push(chunk);
    parseV2Chunk(ctx, chunk, out, pending);
  } else if (first[0] === 1) {
    version = 1;
    const pre = pread(ctx, abs, 16);
    ctx.ranges?.push([abs, 16]);
    if (strict && pre[1] !== 0)
      throw fail(ctx, `object header at ${addr}: reserved byte is ${pre[1]}, not 0 (not an object header?)`);
    messageCount = pre.readUInt16LE(2);
    const size = pre.readUInt32LE(8);
    const chunk: Chunk = { pos: abs + 16, length: size, version: 1, start: 0, msgHeader: 8 };
    inFile(chunk.pos, chunk.length);
    chunks.push(chunk);
    parseV1Chunk(ctx, chunk, out, pending, strict);
  } else {
    throw fail(ctx, `no object header at ${addr}: found version byte ${first[0]}, expected 1 or the signature OHDR`);
  }
  for (let i = 0; i < pending.length; i++) {
    if (i > 1000) throw fail(ctx, `object header at ${addr} has too many continuation chunks (corrupt file?)`);
    const [cAddr, cLen] = pending[i]!;
    const cAbs = ctx.base + cAddr;
    inFile(cAbs, cLen);
    if (version === 2) {
      if (pread(ctx, cAbs, 4).toString("latin1") !== "OCHK")
        throw fail(ctx, `object header at ${addr}: no continuation chunk (OCHK) at ${cAddr}`);
      const chunk: Chunk = { pos: cAbs, length: cLen, version: 2, start: 4, msgHeader: v2Flags & 0x04 ? 6 : 4 };
      chunks.push(chunk);
      parseV2Chunk(ctx, chunk, out, pending);
    } else {
      const chunk: Chunk = { pos: cAbs, length: cLen, version: 1, start: 0, msgHeader: 8 };
      chunks.push(chunk);
      parseV1Chunk(ctx, chunk, out, pending, strict);
    }
  }
  if (strict && version === 1 && out.length !== messageCount) {
    throw fail(ctx, `object header at ${addr} lists ${messageCount} messages but holds ${out.length}`);
  }
  return { addr, version, messageCount, v2Flags, chunks, messages: out };
}

/** Every message of the object header at `addr` (relative to the base address). */
export function headerMessages(ctx: HeaderCtx, addr: number): Message[] {
  return readObjectHeader(ctx, addr).messages;
}

function noteContinuation(ctx: HeaderCtx, m: Message, pending: Array<[number, number]>): void {
  if (m.type === MSG_CONTINUATION) pending.push([readUInt(m.body, 0, ctx.O), readUInt(m.body, ctx.O, ctx.L)]);
}

function parseV1Chunk(
  ctx: HeaderCtx,
  chunk: Chunk,
  out: Message[],
  pending: Array<[number, number]>,
  strict = false,
): void {
  const buf = pread(ctx, chunk.pos, chunk.length);
  ctx.ranges?.push([chunk.pos, chunk.length]);
  let p = 0;
  while (p + 8 <= buf.length) {
    const type = buf.readUInt16LE(p);
    const size = buf.readUInt16LE(p + 2);
    if (strict && (p + 8 + size > buf.length || size % 8 !== 0))
      throw fail(ctx, `object header chunk at ${chunk.pos}: a message of ${size} bytes at ${p} does not fit its chunk`);
    const m: Message = {
      type,
      pos: chunk.pos + p,
      bodyPos: chunk.pos + p + 8,
      body: buf.subarray(p + 8, p + 8 + size),
      chunk,
    };
    out.push(m);
    noteContinuation(ctx, m, pending);
    p += 8 + size;
  }
  if (strict && p !== buf.length)
    throw fail(ctx, `object header chunk at ${chunk.pos}: messages end at ${p}, the chunk at ${buf.length}`);
}

function parseV2Chunk(ctx: HeaderCtx, chunk: Chunk, out: Message[], pending: Array<[number, number]>): void {
  const buf = pread(ctx, chunk.pos, chunk.length);
  ctx.ranges?.push([chunk.pos, chunk.length]);
  const stored = buf.readUInt32LE(buf.length - 4);
  if (lookup3(buf.subarray(0, buf.length - 4)) !== stored)
    throw fail(ctx, `object header chunk at ${chunk.pos} has a bad checksum`);
  const headerSize = chunk.msgHeader;
  const end = buf.length - 4;
  for (let p = chunk.start; p + headerSize <= end; ) {
    const type = buf[p]!;
    const size = buf.readUInt16LE(p + 1);
    if (p + headerSize + size > end)
      throw fail(ctx, `object header chunk at ${chunk.pos}: a message of ${size} bytes at ${p} does not fit its chunk`);
    const m: Message = {
      type,
      pos: chunk.pos + p,
      bodyPos: chunk.pos + p + headerSize,
      body: buf.subarray(p + headerSize, p + headerSize + size),
      chunk,
    };
    out.push(m);
    noteContinuation(ctx, m, pending);
    p += headerSize + size;
  }
}

/**
 * Bob Jenkins' lookup3 "hashlittle" with seed 0, the checksum of HDF5's v2 metadata
 * (written from the published algorithm).
 */
export function lookup3(data: Uint8Array): number {
  const rot = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;
  let length = data.length;
  let a = (0xdeadbeef + length) >>> 0;
  let b = a;
  let c = a;
  let k = 0;
  const word = (i: number) => (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0;
  while (length > 12) {
    a = (a + word(k)) >>> 0;
    b = (b + word(k + 4)) >>> 0;
    c = (c + word(k + 8)) >>> 0;
    a = (a - c) >>> 0;
    a = (a ^ rot(c, 4)) >>> 0;
    c = (c + b) >>> 0;
    b = (b - a) >>> 0;
    b = (b ^ rot(a, 6)) >>> 0;
    a = (a + c) >>> 0;
    c = (c - b) >>> 0;
    c = (c ^ rot(b, 8)) >>> 0;
    b = (b + a) >>> 0;
    a = (a - c) >>> 0;
    a = (a ^ rot(c, 16)) >>> 0;
    c = (c + b) >>> 0;
    b = (b - a) >>> 0;
    b = (b ^ rot(a, 19)) >>> 0;
    a = (a + c) >>> 0;
    c = (c - b) >>> 0;
    c = (c ^ rot(b, 4)) >>> 0;
    b = (b + a) >>> 0;
    length -= 12;
    k += 12;
  }
  if (length === 0) return c;
  // The tail: up to 12 bytes added into a, b, c little-endian, missing bytes counting as zero.
  const tail = new Uint8Array(12);
  tail.set(data.subarray(k, k + length));
  const t = (i: number) => (tail[i]! | (tail[i + 1]! << 8) | (tail[i + 2]! << 16) | (tail[i + 3]! << 24)) >>> 0;
  a = (a + t(0)) >>> 0;
  b = (b + t(4)) >>> 0;
  c = (c + t(8)) >>> 0;
  c = (c ^ b) >>> 0;
  c = (c - rot(b, 14)) >>> 0;
  a = (a ^ c) >>> 0;
  a = (a - rot(c, 11)) >>> 0;
  b = (b ^ a) >>> 0;
  b = (b - rot(a, 25)) >>> 0;
  c = (c ^ b) >>> 0;
  c = (c - rot(b, 16)) >>> 0;
  a = (a ^ c) >>> 0;
  a = (a - rot(c, 4)) >>> 0;
  b = (b ^ a) >>> 0;
  b = (b - rot(a, 14)) >>> 0;
  c = (c ^ b) >>> 0;
  c = (c - rot(b, 24)) >>> 0;
  return c;
}

/** One message as it will be serialized: type, flags and body (creation index kept for v2 headers). */
export interface MessageSpec {
  type: number;
  flags: number;
  body: Buffer;
  /** v2 headers with creation order: the message's 2-byte creation index. */
  corder?: number;
}

/** The message's flags and (v2 with creation order) creation index, read from its header bytes. */
export function messageSpec(ctx: HeaderCtx, m: Message): MessageSpec {
  if (m.chunk.version === 1) return { type: m.type, flags: pread(ctx, m.pos + 4, 1)[0]!, body: Buffer.from(m.body) };
  const head = pread(ctx, m.pos, m.chunk.msgHeader);
  return {
    type: m.type,
    flags: head[3]!,
    body: Buffer.from(m.body),
    ...(m.chunk.msgHeader === 6 ? { corder: head.readUInt16LE(4) } : {}),
  };
}

/** Bytes a message takes in a chunk of this kind (v1 bodies are padded to 8 bytes). */
export function messageSize(chunk: Pick<Chunk, "version" | "msgHeader">, bodyLength: number): number {
  return chunk.msgHeader + (chunk.version === 1 ? Math.ceil(bodyLength / 8) * 8 : bodyLength);
}

/** A NIL message taking exactly `total` bytes (total ≥ the message header size). */
export function nilMessage(chunk: Pick<Chunk, "msgHeader">, total: number): MessageSpec {
  return { type: MSG_NIL, flags: 0, body: Buffer.alloc(total - chunk.msgHeader), corder: 0 };
}

/**
 * The bytes of a chunk holding `messages`, exactly `length` bytes long: v1 messages padded to 8 bytes;
 * v2 with its signature or prefix bytes (`head`, the chunk's bytes before its first message), a gap of
 * fewer than a message header's bytes allowed at the end, and the checksum. Throws when they do not fit.
 */
export function serializeChunk(
  chunk: Pick<Chunk, "version" | "msgHeader" | "length">,
  head: Buffer,
  messages: MessageSpec[],
): Buffer {
  if (chunk.version === 2) {
    // HDF5 refuses a v2 chunk with both a gap at its end and a NIL message: the last NIL takes the gap.
    let used = head.length;
    for (const m of messages) used += messageSize(chunk, m.body.length);
    const gap = chunk.length - 4 - used;
    let nil = -1;
    messages.forEach((m, i) => {
      if (m.type === MSG_NIL) nil = i;
    });
    if (gap > 0 && nil >= 0) {
      messages = messages.slice();
      messages[nil] = { ...messages[nil]!, body: Buffer.alloc(messages[nil]!.body.length + gap) };
    }
  }
  const out = Buffer.alloc(chunk.length);
  head.copy(out, 0);
  let p = head.length;
  const end = chunk.version === 2 ? chunk.length - 4 : chunk.length;
  for (const m of messages) {
    const size = messageSize(chunk, m.body.length);
    if (p + size > end) throw new CrispyxError(`object header chunk of ${chunk.length} bytes cannot hold its messages`);
    const bodyLen = size - chunk.msgHeader;
    if (chunk.version === 1) {
      out.writeUInt16LE(m.type, p);
      out.writeUInt16LE(bodyLen, p + 2);
      out[p + 4] = m.flags;
    } else {
      out[p] = m.type;
      out.writeUInt16LE(bodyLen, p + 1);
      out[p + 3] = m.flags;
      if (chunk.msgHeader === 6) out.writeUInt16LE(m.corder ?? 0, p + 4);
    }
    m.body.copy(out, p + chunk.msgHeader);
    p += size;
  }
  if (end - p !== 0 && (chunk.version === 1 || end - p >= chunk.msgHeader)) {
    throw new CrispyxError(`object header chunk of ${chunk.length} bytes: ${end - p} bytes left unaccounted`);
  }
  if (chunk.version === 2) out.writeUInt32LE(lookup3(out.subarray(0, end)), end);
  return out;
}
