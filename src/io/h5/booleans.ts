/**
 * h5py stores numpy booleans as an 8-bit enum {FALSE: 0, TRUE: 1}, for datasets and attributes alike, and
 * anndata needs exactly that (boolean columns, the masks of nullable arrays, a categorical's `ordered`
 * attribute: anndata 0.8 refuses an integer there). h5wasm cannot create enum types, so H5File writes such
 * datasets and attributes as int8, each with a small placeholder attribute beside it to reserve header
 * room, and after the file is closed this module rewrites the int8 datatypes in place as that enum.
 *
 * The enum's datatype is 24 bytes (v1 headers; 28 in v2) longer than int8's. Where that room comes from,
 * in order (HDF5 File Format Specification, "Disk Format: Level 2A"):
 * 1. an unused placeholder attribute or a NIL message in the same header chunk (the usual case: HDF5 puts
 *    the placeholder, created right after, next to its dataset or attribute); what is left becomes NIL;
 * 2. otherwise the message (with neighbours, never a continuation message, when it alone is smaller than
 *    a continuation message) moves to a new continuation chunk written after the file's allocated space,
 *    a continuation message taking its place — valid HDF5 for v1 and v2 headers whatever is in the other
 *    chunks (v2: "OCHK" chunk with its checksum; a chunk's end gap goes into its NIL message).
 * Placeholders left over become NIL messages, as HDF5 leaves deleted attributes.
 *
 * Every header is parsed whole (continuation chunks followed) and checked strictly before any byte is
 * written (./objectHeader.ts): an address that does not hold a well-formed object header — e.g. because
 * an earlier HDF5 error stopped the library from finishing the file — is one clear error, never a write.
 * Files patched here are new outputs (renamed into place when complete) or staging elements of in-place
 * edits that nothing links to yet, so no reader sees a half-patched header.
 */
import { closeSync, fstatSync, fsyncSync, openSync } from "node:fs";
import { writeFully } from "../../core/fileBytes.ts";
import { CrispyxError } from "../../errors.ts";
import { encodeAddr, endOfAllocation, extendAllocation, openCtx, type Ctx } from "./links.ts";
import {
  MSG_CONTINUATION,
  MSG_NIL,
  messageSize,
  messageSpec,
  nilMessage,
  pread,
  readObjectHeader,
  serializeChunk,
  type Chunk,
  type MessageSpec,
} from "./objectHeader.ts";

/** Names of placeholder attributes start with this (H5File hides them from attribute listings). */
export const BOOL_PLACEHOLDER = "_crispyx_bool_placeholder";

const MSG_DATATYPE = 0x0003;
const MSG_ATTRIBUTE = 0x000c;

/** What to turn into a boolean: the datatype of the dataset whose header is at `header`, or its attribute `attribute`. */
export interface BooleanTarget {
  /** Object header address (relative to the base address, as HDF5 object references hold it). */
  header: number;
  attribute?: string;
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;

/** The datatype message body h5py writes for numpy.bool_: enum of int8 with FALSE=0, TRUE=1. */
export function boolEnumType(): Buffer {
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

/** "int8" when `dt` is a 1-byte integer datatype, "bool" when it already is h5py's boolean enum, else null. */
function datatypeKind(dt: Buffer): "int8" | "bool" | null {
  if (dt.length < 8 || dt.readUInt32LE(4) !== 1) return null;
  if ((dt[0]! & 0x0f) === 0) return "int8";
  return dt.subarray(0, 40).equals(boolEnumType()) ? "bool" : null;
}

/** Where the parts of an attribute message body are (versions 1–3). */
interface AttrLayout {
  name: string;
  /** Offsets of the datatype and dataspace fields and the datatype's stored (unpadded) size. */
  dtAt: number;
  dtSize: number;
  dsAt: number;
  dsSize: number;
  dataAt: number;
}

function attrLayout(body: Buffer): AttrLayout | null {
  const version = body[0]!;
  if (version < 1 || version > 3 || body.length < 8) return null;
  const nameSize = body.readUInt16LE(2);
  const dtSize = body.readUInt16LE(4);
  const dsSize = body.readUInt16LE(6);
  const pad = version === 1 ? align8 : (n: number) => n;
  const nameAt = version === 3 ? 9 : 8;
  const dtAt = nameAt + pad(nameSize);
  const dsAt = dtAt + pad(dtSize);
  const dataAt = dsAt + pad(dsSize);
  if (dataAt > body.length) return null;
  const name = body.toString("utf8", nameAt, nameAt + Math.max(0, nameSize - 1));
  return { name, dtAt, dtSize, dsAt, dsSize, dataAt };
}

function attributeName(body: Buffer): string | null {
  return attrLayout(body)?.name ?? null;
}

/** The attribute message with its int8 datatype replaced by the boolean enum (same name, dataspace and data). */
function boolAttribute(body: Buffer, lay: AttrLayout): Buffer {
  const version = body[0]!;
  const enumType = boolEnumType();
  const out = Buffer.concat([
    body.subarray(0, lay.dtAt),
    version === 1 ? Buffer.concat([enumType, Buffer.alloc(align8(enumType.length) - enumType.length)]) : enumType,
    body.subarray(lay.dsAt),
  ]);
  out.writeUInt16LE(enumType.length, 4);
  return out;
}

/** Turn the int8 datasets and attributes listed into h5py booleans and clear the placeholders of `headers`. */
export function finishBooleans(
  filePath: string,
  targets: BooleanTarget[],
  placeholderHeaders: number[] = [],
  earlierFailure?: string,
): void {
  const byHeader = new Map<number, Array<string | undefined>>();
  for (const t of targets) {
    const list = byHeader.get(t.header) ?? [];
    if (!list.includes(t.attribute)) list.push(t.attribute);
    byHeader.set(t.header, list);
  }
  for (const h of placeholderHeaders) if (!byHeader.has(h)) byHeader.set(h, []);
  if (byHeader.size === 0) return;
  const fd = openSync(filePath, "r+");
  try {
    const ctx = openCtx(fd, filePath);
    for (const [addr, names] of byHeader) {
      try {
        convertHeader(ctx, addr, names);
      } catch (err) {
        const why = err instanceof Error ? err.message.replace(`${filePath}: `, "") : String(err);
        const what = names.length
          ? names.map((n) => (n === undefined ? "a boolean dataset" : `boolean attribute '${n}'`)).join(", ")
          : "boolean placeholders";
        const earlier = earlierFailure ? ` (an earlier error left the file unfinished: ${earlierFailure})` : "";
        throw new CrispyxError(`cannot store ${what} (object header at ${addr}): ${why}${earlier}`, {
          file: filePath,
          cause: err,
        });
      }
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

interface Item {
  spec: MessageSpec;
  placeholder: boolean;
}

interface WorkChunk {
  chunk: Pick<Chunk, "pos" | "length" | "version" | "msgHeader">;
  /** The chunk's bytes before its first message (v2: signature and prefix fields). */
  head: Buffer;
  items: Item[];
  dirty: boolean;
  fresh: boolean;
}

function convertHeader(ctx: Ctx, addr: number, names: Array<string | undefined>): void {
  const header = readObjectHeader(ctx, addr, true);
  const work: WorkChunk[] = header.chunks.map((c) => ({
    chunk: c,
    head: pread(ctx, c.pos, c.start),
    items: [],
    dirty: false,
    fresh: false,
  }));
  for (const m of header.messages) {
    const spec = messageSpec(ctx, m);
    const placeholder = m.type === MSG_ATTRIBUTE && (attributeName(m.body)?.startsWith(BOOL_PLACEHOLDER) ?? false);
    work[header.chunks.indexOf(m.chunk)]!.items.push({ spec, placeholder });
  }
  let countDelta = 0;
  let fileEnd = Math.max(endOfAllocation(ctx.fd, ctx.file), fstatSync(ctx.fd).size);

  for (const name of names) {
    const found = findTarget(work, name);
    if (!found) throw new CrispyxError(name === undefined ? "no datatype message" : `no attribute '${name}'`);
    const { w, item } = found;
    let body: Buffer;
    if (name === undefined) {
      const kind = datatypeKind(item.spec.body);
      if (kind === "bool") continue;
      if (kind !== "int8") throw new CrispyxError("the dataset's datatype is not an 8-bit integer");
      body = boolEnumType();
    } else {
      const lay = attrLayout(item.spec.body)!;
      if (item.spec.body[1]! & 0x03) throw new CrispyxError(`attribute '${name}' has a shared datatype or dataspace`);
      const kind = datatypeKind(item.spec.body.subarray(lay.dtAt, lay.dtAt + lay.dtSize));
      if (kind === "bool") continue;
      if (kind !== "int8") throw new CrispyxError(`attribute '${name}' is not an 8-bit integer`);
      body = boolAttribute(item.spec.body, lay);
    }
    const growth = messageSize(w.chunk, body.length) - messageSize(w.chunk, item.spec.body.length);
    const donor = findRoom(w, item, growth);
    if (donor) {
      const left = messageSize(w.chunk, donor.spec.body.length) - growth;
      item.spec = { ...item.spec, body };
      if (left === 0) {
        w.items.splice(w.items.indexOf(donor), 1);
        countDelta -= 1;
      } else {
        donor.spec = nilMessage(w.chunk, left);
        donor.placeholder = false;
      }
      w.dirty = true;
    } else {
      const moved = relocate(ctx, w, item, body, fileEnd);
      work.push(moved.chunk);
      fileEnd = moved.chunk.chunk.pos + moved.chunk.chunk.length;
      countDelta += moved.countDelta;
    }
  }
  for (const w of work) {
    for (const it of w.items) {
      if (!it.placeholder) continue;
      it.spec = nilMessage(w.chunk, messageSize(w.chunk, it.spec.body.length));
      it.placeholder = false;
      w.dirty = true;
    }
  }
  // New chunks first, then the allocated space that covers them, then the chunks pointing at them.
  const writeChunk = (w: (typeof work)[number]) =>
    writeFully(
      ctx.fd,
      serializeChunk(
        w.chunk,
        w.head,
        w.items.map((i) => i.spec),
      ),
      w.chunk.pos,
    );
  const fresh = work.filter((w) => w.fresh);
  for (const w of fresh) writeChunk(w);
  if (fresh.length) {
    fsyncSync(ctx.fd);
    extendAllocation(ctx, fileEnd);
  }
  for (const w of work) if (!w.fresh && w.dirty) writeChunk(w);
  if (header.version === 1 && countDelta !== 0) {
    const count = Buffer.alloc(2);
    count.writeUInt16LE(header.messageCount + countDelta);
    writeFully(ctx.fd, count, ctx.base + addr + 2);
  }
}

function findTarget(work: WorkChunk[], name: string | undefined): { w: WorkChunk; item: Item } | null {
  for (const w of work) {
    for (const item of w.items) {
      if (
        name === undefined
          ? item.spec.type === MSG_DATATYPE
          : item.spec.type === MSG_ATTRIBUTE && !item.placeholder && attributeName(item.spec.body) === name
      ) {
        return { w, item };
      }
    }
  }
  return null;
}

/** A placeholder or NIL message of `w` (not `item`) that can give `growth` bytes and stay a valid message or vanish. */
function findRoom(w: WorkChunk, item: Item, growth: number): Item | null {
  const fits = (it: Item) => {
    const left = messageSize(w.chunk, it.spec.body.length) - growth;
    return it !== item && (left === 0 || left >= w.chunk.msgHeader);
  };
  return (
    w.items.find((it) => it.placeholder && fits(it)) ??
    w.items.find((it) => it.spec.type === MSG_NIL && fits(it)) ??
    null
  );
}

/**
 * Move `item` (as `body`) to a new continuation chunk at `fileEnd`, with neighbours when it alone is
 * smaller than the continuation message that takes its place; the bytes left over become a NIL message.
 */
function relocate(
  ctx: Ctx,
  w: WorkChunk,
  item: Item,
  body: Buffer,
  fileEnd: number,
): { chunk: WorkChunk; countDelta: number } {
  const { chunk } = w;
  const contSize = messageSize(chunk, ctx.O + ctx.L);
  const sizeOf = (it: Item) => messageSize(chunk, it.spec.body.length);
  const ok = (total: number) => total === contSize || total - contSize >= chunk.msgHeader;
  let a = w.items.indexOf(item);
  let b = a;
  let total = sizeOf(item);
  // Continuation messages stay where they are: HDF5 numbers chunks in the order it meets their pointers.
  const movable = (i: number) => i >= 0 && i < w.items.length && w.items[i]!.spec.type !== MSG_CONTINUATION;
  while (!ok(total) && (movable(b + 1) || movable(a - 1))) {
    if (movable(b + 1)) total += sizeOf(w.items[++b]!);
    else total += sizeOf(w.items[--a]!);
  }
  if (!ok(total)) throw new CrispyxError(`header chunk at ${chunk.pos} has no room for a continuation message`);
  const moved = w.items.slice(a, b + 1).map((it) => (it === item ? { ...it, spec: { ...it.spec, body } } : it));
  const pos = align8(fileEnd);
  // A v1 continuation chunk is just its messages; a v2 one is "OCHK", its messages and a checksum.
  const head = chunk.version === 2 ? Buffer.from("OCHK", "latin1") : Buffer.alloc(0);
  let length = head.length + (chunk.version === 2 ? 4 : 0);
  for (const it of moved) length += messageSize(chunk, it.spec.body.length);
  const fresh: WorkChunk = {
    chunk: { pos, length, version: chunk.version, msgHeader: chunk.msgHeader },
    head,
    items: moved,
    dirty: true,
    fresh: true,
  };
  const lenBytes = encodeAddr({ O: ctx.L }, length);
  const cont: Item = {
    spec: {
      type: MSG_CONTINUATION,
      flags: 0,
      body: Buffer.concat([encodeAddr(ctx, pos - ctx.base), lenBytes]),
      corder: 0,
    },
    placeholder: false,
  };
  const replacement =
    total === contSize ? [cont] : [cont, { spec: nilMessage(chunk, total - contSize), placeholder: false }];
  w.items.splice(a, b - a + 1, ...replacement);
  w.dirty = true;
  return { chunk: fresh, countDelta: replacement.length };
}
