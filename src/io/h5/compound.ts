/**
 * Compound (numpy structured) datasets: anndata's "rec-array" encoding (Scanpy's rank_genes_groups
 * tables) and the pre-0.7 obs/var tables. Members with numbers, fixed-length strings, sub-arrays and
 * variable-length UTF-8 strings (which h5wasm's high-level API refuses; built from a type description).
 *
 * Cost model: readRecords/writeRecords move packed record bytes through the H5File's scratch buffer
 * (one copy each way); readCompound decodes a whole dataset (small uns tables only).
 */
import { CrispyxError, FileFormatError } from "../../errors.ts";
import { h5wasmDtype, mapDtype, type H5TypeMeta } from "./dtypeMap.ts";
import type { H5File } from "./file.ts";
import { H5T, Module, h5wasm, normalize } from "./wasm.ts";
import { decodeUtf8, NOT_UTF8_HINT, Utf8Error } from "./utf8.ts";
import { BYTES_OF, TYPED_ARRAY_OF, type NumericDtype } from "../dtypes.ts";
import type { CompoundMember } from "../store.ts";

const textEncoder = new TextEncoder();

/** Members of a 1-D compound dataset (name, byte offset, numeric or fixed-string type) and the record size. */
export function compoundInfo(
  f: H5File,
  path: string,
): { length: number; recordSize: number; members: CompoundMember[] } {
  f.check();
  const p = normalize(path);
  if (!f.isDataset(p)) throw new FileFormatError(`${p} is not a dataset`, { file: f.path });
  const meta = Module.get_dataset_metadata(f.fileId, p) as unknown as {
    type: number;
    size: number;
    shape: number[] | null;
    compound_type?: {
      members: (H5TypeMeta & {
        name: string;
        offset: number;
        littleEndian?: boolean;
        array_type?: H5TypeMeta & { shape: number[] };
      })[];
    };
  };
  if (meta.type !== H5T.COMPOUND || !meta.compound_type) {
    throw new FileFormatError(`${p} is not a compound dataset`, { file: f.path });
  }
  const shape = (meta.shape ?? []).map(Number);
  if (shape.length !== 1)
    throw new FileFormatError(`${p} is a ${shape.length}-d compound dataset, expected 1-d`, { file: f.path });
  const members: CompoundMember[] = meta.compound_type.members.map((m) =>
    m.type === H5T.ARRAY && m.array_type
      ? {
          name: m.name,
          offset: Number(m.offset),
          size: Number(m.size),
          dtype: mapDtype(m.array_type),
          arrayShape: m.array_type.shape.map(Number),
        }
      : { name: m.name, offset: Number(m.offset), size: Number(m.size), dtype: mapDtype(m) },
  );
  return { length: shape[0]!, recordSize: Number(meta.size), members };
}

/**
 * Create a 1-D compound dataset of `length` packed records (members in order, numbers little-endian,
 * fixed-length byte strings). Created empty and resized, so nothing of its size is allocated here;
 * fill it with writeRecords.
 */
export function createCompound(
  f: H5File,
  path: string,
  members: { name: string; dtype: NumericDtype | `fixed-string:${number}` | "string" }[],
  length: number,
  chunkRecords?: number | "contiguous",
): void {
  f.check();
  const p = normalize(path);
  if (members.some((m) => m.dtype === "string")) return createCompoundWithStrings(f, p, members, length, chunkRecords);
  // Fixed strings are tagged ASCII ("A<n>"): anndata's rec-array reader decodes UTF-8-tagged fields a
  // second time and fails, while ASCII-tagged ones read as numpy unicode fields.
  const dtype = members.map((m) => [
    m.name,
    m.dtype.startsWith("fixed-string:") ? `A${m.dtype.slice("fixed-string:".length)}` : h5wasmDtype(m.dtype),
  ]);
  // "contiguous": zero-filled records written at creation (for small placeholders, see ../anndata/directArrays.ts).
  const n = chunkRecords === "contiguous" ? length : 0;
  const empty = new Map(
    members.map((m) => [
      m.name,
      m.dtype.startsWith("fixed-string:")
        ? new Array<string>(n).fill("")
        : new TYPED_ARRAY_OF[m.dtype as NumericDtype](n),
    ]),
  );
  try {
    if (chunkRecords === "contiguous") {
      new h5wasm.Group(f.fileId, "/").create_dataset({
        name: p,
        data: empty as never,
        shape: [length],
        dtype: dtype as never,
      });
    } else {
      const chunk = Math.max(1, Math.min(Math.max(1, length), chunkRecords ?? 4096));
      new h5wasm.Group(f.fileId, "/").create_dataset({
        name: p,
        data: empty as never,
        shape: [0],
        maxshape: [length],
        chunks: [chunk],
        dtype: dtype as never,
      });
      Module.resize_dataset(f.fileId, p, [BigInt(length)]);
    }
  } catch (err) {
    f.fail(`cannot create compound dataset ${p}`, err);
  }
  f.created.set(p, new Set());
}

/**
 * A compound dataset with variable-length UTF-8 string members, as h5py writes numpy's object fields
 * (and anndata's record arrays). h5wasm's high-level API refuses them, but its type builder handles a
 * variable-length string member (a 4-byte char* in the WebAssembly heap), so the dataset is created
 * from that description directly; records are written with writeRecordsWithStrings.
 */
export function createCompoundWithStrings(
  f: H5File,
  p: string,
  members: { name: string; dtype: NumericDtype | `fixed-string:${number}` | "string" }[],
  length: number,
  chunkRecords?: number | "contiguous",
): void {
  let offset = 0;
  const described = members.map((m) => {
    let meta: { type: number; size: number; signed: boolean; vlen: boolean; cset?: number };
    if (m.dtype === "string") meta = { type: H5T.STRING, size: 4, signed: false, vlen: true, cset: 1 };
    else if (m.dtype.startsWith("fixed-string:"))
      meta = {
        type: H5T.STRING,
        size: Number(m.dtype.slice("fixed-string:".length)),
        signed: false,
        vlen: false,
        cset: 0,
      };
    else
      meta = {
        type: m.dtype.startsWith("float") ? H5T.FLOAT : H5T.INTEGER,
        size: BYTES_OF[m.dtype as NumericDtype],
        signed: !m.dtype.startsWith("uint"),
        vlen: false,
      };
    const member = { ...meta, littleEndian: true, name: m.name, offset };
    offset += meta.size;
    return member;
  });
  const contiguous = chunkRecords === "contiguous";
  const chunk = Math.max(1, Math.min(Math.max(1, length), contiguous ? 1 : (chunkRecords ?? 4096)));
  const metadata = {
    type: H5T.COMPOUND,
    size: offset,
    signed: false,
    vlen: false,
    littleEndian: true,
    compound_type: { members: described, nmembers: described.length },
    shape: [BigInt(contiguous ? length : 0)],
    maxshape: [BigInt(length)],
    chunks: contiguous ? null : [BigInt(chunk)],
    compression: 0,
    compression_opts: [],
    track_order: false,
  };
  // Zero-filled records (null string pointers read back as empty strings) for a contiguous dataset.
  const ptr = f.scratch(Math.max(1, contiguous ? offset * length : 1));
  Module.HEAPU8.fill(0, ptr, ptr + (contiguous ? offset * length : 1));
  try {
    Module.create_dataset(f.fileId, p, BigInt(ptr), metadata as never);
    if (!contiguous) Module.resize_dataset(f.fileId, p, [BigInt(length)]);
  } catch (err) {
    f.fail(`cannot create compound dataset ${p}`, err);
  }
  f.created.set(p, new Set());
}

/**
 * Write records [start, start+count) of a compound dataset whose variable-length string members are at
 * `strings[k].offset` of each packed record: `bytes` holds the other members; the strings are placed in
 * the WebAssembly heap and their pointers written into the records for HDF5 to copy.
 */
export function writeRecordsWithStrings(
  f: H5File,
  path: string,
  start: number,
  count: number,
  bytes: Uint8Array,
  recordSize: number,
  strings: { offset: number; values: string[] }[],
): void {
  f.check();
  const p = normalize(path);
  if (count === 0) return;
  const encoded = strings.map((s) => s.values.slice(0, count).map((v) => textEncoder.encode(v)));
  let heapBytes = 0;
  for (const col of encoded) for (const b of col) heapBytes += b.length + 1;
  const heap = Module._malloc(Math.max(1, heapBytes));
  if (!heap) throw new CrispyxError(`${f.path}: out of WebAssembly memory writing ${p}`);
  try {
    const records = bytes.slice(0, count * recordSize);
    const view = new DataView(records.buffer);
    let at = heap;
    encoded.forEach((col, k) => {
      col.forEach((b, i) => {
        Module.HEAPU8.set(b, at);
        Module.HEAPU8[at + b.length] = 0;
        view.setUint32(i * recordSize + strings[k]!.offset, at, true);
        at += b.length + 1;
      });
    });
    f.writeRecords(p, start, count, records);
  } finally {
    Module._free(heap);
  }
}

/** Write packed records [start, start+count) of a compound dataset from their raw bytes. */
export function writeRecords(f: H5File, path: string, start: number, count: number, bytes: Uint8Array): void {
  f.check();
  const p = normalize(path);
  if (count === 0) return;
  const ptr = f.scratch(bytes.byteLength);
  Module.HEAPU8.set(bytes, ptr);
  try {
    Module.set_dataset_data(f.fileId, p, [BigInt(count)], [BigInt(start)], [1n], BigInt(ptr));
  } catch (err) {
    f.fail(`cannot write ${p}`, err);
  }
}

/**
 * A whole 1-D compound dataset decoded, one array per member (numbers as numbers or bigints, strings —
 * fixed or variable length — as strings). For small uns record arrays; big ones use readRecords.
 */
export function readCompound(f: H5File, path: string): { members: CompoundMember[]; columns: unknown[][] } {
  const { members, length } = f.compoundInfo(path);
  const own = f.filtered(normalize(path), f.info(path));
  if (own) {
    const { names, columns } = f.readOwn(normalize(path), () => own.readCompound());
    if (names.join("\0") !== members.map((m) => m.name).join("\0")) {
      throw new FileFormatError(`cannot read ${path}: its fields are not the ones HDF5 lists`, { file: f.path });
    }
    return { members, columns };
  }
  let rows: unknown[][];
  try {
    rows = length === 0 ? [] : (new h5wasm.Dataset(f.fileId, normalize(path)).value as unknown as unknown[][]);
  } catch (err) {
    f.fail(`cannot read compound dataset ${path}`, err);
  }
  const columns = members.map((_, k) => rows.map((r) => r[k]));
  strictStringMembers(f, normalize(path), members, length, columns);
  return { members, columns };
}

/**
 * Replace the string members h5wasm decoded (with replacement characters, ASCII-tagged ones as windows-1252)
 * by the raw bytes decoded strictly as UTF-8 (./utf8.ts): a member that is not UTF-8 is refused naming the
 * record and field. One raw read of the records; variable-length members freed after.
 */
function strictStringMembers(f: H5File, p: string, members: CompoundMember[], length: number, columns: unknown[][]) {
  // Sub-array members (arrayShape) keep h5wasm's decoding.
  const strs = members.flatMap((m, k) =>
    !m.arrayShape && (m.dtype === "string" || m.dtype.startsWith("fixed-string:")) ? [k] : [],
  );
  if (strs.length === 0 || length === 0) return;
  const recordSize = Number((Module.get_dataset_metadata(f.fileId, p) as unknown as { size: number }).size);
  const ptr = f.scratch(length * recordSize);
  try {
    Module.get_dataset_data(f.fileId, p, null, null, null, BigInt(ptr));
  } catch (err) {
    f.fail(`cannot read compound dataset ${p}`, err);
  }
  const vlen = strs.some((k) => members[k]!.dtype === "string");
  try {
    const heap = Module.HEAPU8;
    for (const k of strs) {
      const m = members[k]!;
      const col = new Array<string>(length);
      for (let i = 0; i < length; i++) {
        const at = ptr + i * recordSize + m.offset;
        let s: number, e: number;
        if (m.dtype === "string") {
          s = (heap[at]! | (heap[at + 1]! << 8) | (heap[at + 2]! << 16) | (heap[at + 3]! << 24)) >>> 0;
          e = s === 0 ? 0 : heap.indexOf(0, s);
        } else {
          s = at;
          const nul = heap.subarray(at, at + m.size).indexOf(0);
          e = nul < 0 ? at + m.size : at + nul;
        }
        try {
          col[i] = decodeUtf8(heap.subarray(s, Math.max(s, e)));
        } catch (err) {
          if (!(err instanceof Utf8Error)) throw err;
          throw new FileFormatError(`${p.slice(1)}[${i}].${m.name} ${err.problem}`, {
            file: f.path,
            hint: NOT_UTF8_HINT,
          });
        }
      }
      columns[k] = col;
    }
  } finally {
    if (vlen) Module.reclaim_vlen_memory(f.fileId, p, "", BigInt(ptr));
  }
}

/** Raw bytes of records [start, start+count) of a compound dataset, in the file's packed layout. */
export function readRecords(f: H5File, path: string, start: number, count: number, recordSize: number): Uint8Array {
  f.check();
  const p = normalize(path);
  const out = new Uint8Array(count * recordSize);
  if (count === 0) return out;
  f.filtered(p, f.info(p), false);
  const ptr = f.scratch(out.byteLength);
  try {
    Module.get_dataset_data(f.fileId, p, [BigInt(count)], [BigInt(start)], [1n], BigInt(ptr));
  } catch (err) {
    f.fail(`cannot read ${p}`, err);
  }
  out.set(Module.HEAPU8.subarray(ptr, ptr + out.byteLength));
  return out;
}
