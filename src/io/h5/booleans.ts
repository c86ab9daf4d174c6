/**
 * h5py stores numpy booleans as an 8-bit enum {FALSE: 0, TRUE: 1}, and anndata needs exactly that for
 * boolean columns and the masks of nullable arrays. h5wasm cannot create enum types, so crispyx writes
 * such datasets as int8 with a small placeholder attribute, and after the file is closed rewrites the
 * dataset's datatype message in place as that enum, taking the 24 extra bytes from the placeholder.
 *
 * Only version-1 object headers (what HDF5 writes with libver 'earliest', as H5File does) are handled.
 * The whole first header chunk is rewritten in one write, so an interruption leaves it old or new.
 */
import { closeSync, openSync, readSync, writeSync, fsyncSync } from "node:fs";
import { CrispyxError } from "../../errors.ts";

export const BOOL_PLACEHOLDER = "_crispyx_bool_placeholder";

const MSG_NULL = 0x0000;
const MSG_DATATYPE = 0x0003;
const MSG_ATTRIBUTE = 0x000c;

const align8 = (n: number) => (n + 7) & ~7;

/** The datatype message body h5py writes for numpy.bool_: enum of int8 with FALSE=0, TRUE=1. */
function boolEnumMessage(): Buffer {
  const body = Buffer.alloc(40);
  body[0] = 0x18; // version 1, class 8 (enumeration)
  body.writeUInt16LE(2, 1); // two members
  body.writeUInt32LE(1, 4); // element size 1 byte
  // Base type: 8-bit signed little-endian integer.
  body[8] = 0x10;
  body[9] = 0x08;
  body.writeUInt32LE(1, 12);
  body.writeUInt16LE(0, 16); // bit offset
  body.writeUInt16LE(8, 18); // bit precision
  body.write("FALSE\0", 20, "latin1"); // names, each padded to 8 bytes
  body.write("TRUE\0", 28, "latin1");
  body[36] = 0; // values
  body[37] = 1;
  return body;
}

interface Message {
  type: number;
  flags: number;
  body: Buffer;
}

function parseChunk(chunk: Buffer): Message[] {
  const out: Message[] = [];
  for (let p = 0; p + 8 <= chunk.length; ) {
    const type = chunk.readUInt16LE(p);
    const size = chunk.readUInt16LE(p + 2);
    out.push({ type, flags: chunk[p + 4]!, body: chunk.subarray(p + 8, p + 8 + size) });
    p += 8 + size;
  }
  return out;
}

function attributeName(body: Buffer): string {
  const nameSize = body.readUInt16LE(2);
  return body.toString("utf8", 8, 8 + nameSize - 1);
}

/** Rewrite the int8 datasets at these object-header addresses as h5py booleans. */
export function finishBooleans(filePath: string, headerAddresses: bigint[]): void {
  if (headerAddresses.length === 0) return;
  const fd = openSync(filePath, "r+");
  try {
    for (const addr of headerAddresses) convertOne(fd, filePath, Number(addr));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function convertOne(fd: number, filePath: string, addr: number): void {
  const prefix = Buffer.alloc(16);
  readSync(fd, prefix, 0, 16, addr);
  const fail = (why: string) => new CrispyxError(`${filePath}: cannot store a boolean dataset (object header at ${addr}): ${why}`);
  if (prefix[0] !== 1) throw fail(`object header version ${prefix[0]} is not 1`);
  const chunkSize = prefix.readUInt32LE(8);
  const chunk = Buffer.alloc(chunkSize);
  readSync(fd, chunk, 0, chunkSize, addr + 16);
  const messages = parseChunk(chunk);
  const dt = messages.find((m) => m.type === MSG_DATATYPE);
  const placeholder = messages.find((m) => m.type === MSG_ATTRIBUTE && attributeName(m.body) === BOOL_PLACEHOLDER);
  if (!dt || !placeholder) throw fail("datatype or placeholder message not in the first header chunk");
  const enumBody = boolEnumMessage();
  const growth = enumBody.length - dt.body.length;
  if (placeholder.body.length < growth) throw fail("placeholder too small");
  const parts: Buffer[] = [];
  for (const m of messages) {
    let type = m.type;
    let body = m.body;
    if (m === dt) body = enumBody;
    else if (m === placeholder) {
      type = MSG_NULL;
      body = Buffer.alloc(align8(placeholder.body.length - growth));
    }
    const head = Buffer.alloc(8);
    head.writeUInt16LE(type, 0);
    head.writeUInt16LE(body.length, 2);
    head[4] = m === placeholder ? 0 : m.flags;
    parts.push(head, body);
  }
  const rebuilt = Buffer.concat(parts);
  if (rebuilt.length !== chunkSize) throw fail(`rebuilt chunk is ${rebuilt.length} bytes, expected ${chunkSize}`);
  writeSync(fd, rebuilt, 0, rebuilt.length, addr + 16);
}
