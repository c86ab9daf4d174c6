/**
 * The checkpoint of a batched DE run (./batchedRun.ts): a folder beside the output,
 * `.crispyx-resume-<output name>/`, holding
 * - `batch-<k>.bin`: batch k's result arrays ([group × gene] rows of the batch's groups), each written
 *   under a temporary name, fsynced and renamed: a part is whole or absent;
 * - `rows.csv`: the tidy CSV so far (header, then the finished batches' rows in order);
 * - `manifest.json` (renamed into place after each batch): the run's fingerprint — input file (path,
 *   size, modification time), method and options, the batch bounds — and, per finished batch, the CSV's
 *   length after it.
 * `--resume` continues after the last batch the manifest lists, when the fingerprint is the run's and
 * every listed part is whole (length, header and trailer checked); otherwise the folder is started anew.
 * A completed run removes the folder. Unlike `.crispyx-tmp-*` files, the folder outlives its process on
 * purpose (it is what a resumed run continues from), so it has its own prefix that the stale-file sweep
 * leaves alone; `crispyx clean` lists it (and removes it with --checkpoints).
 *
 * Cost model: the parts hold what the .h5ad needs of each batch (~40 bytes per perturbation × gene, ~64
 * when Scanpy's ranked record arrays are written); each is written once and read back once by the
 * assembly, sequentially or in slices.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { commitFile } from "../io/atomic.ts";
import { writeFully } from "../core/fileBytes.ts";
import { ownedTemporaryPath } from "../io/tempFiles.ts";

export const RESUME_PREFIX = ".crispyx-resume-";
const MAGIC = "CRXDEPT1";
const TRAILER = "CRXDEEND";

type PartArray = Float64Array | Float32Array | Int32Array;
type PartDtype = "float64" | "float32" | "int32";

/** One array of a part: its name, type and length. */
interface PartEntry {
  name: string;
  dtype: PartDtype;
  offset: number;
  length: number;
}

interface PartHeader {
  fingerprint: string;
  batch: number;
  entries: PartEntry[];
}

export interface Manifest {
  fingerprint: string;
  /** Finished batches, in order: batch k's CSV ends at csvBytes[k]. */
  csvBytes: number[];
}

/** Magic (8 bytes) and the header's JSON length (uint32, padded to 8) before the JSON. */
const HEAD_BYTES = 16;
/** Arrays start on 8-byte boundaries (typed-array views of the bytes read need it). */
const pad8 = (n: number) => Math.ceil(n / 8) * 8;

const BYTES: Record<PartDtype, number> = { float64: 8, float32: 4, int32: 4 };
const CTOR = { float64: Float64Array, float32: Float32Array, int32: Int32Array } as const;

function dtypeOf(a: PartArray): PartDtype {
  return a instanceof Float64Array ? "float64" : a instanceof Float32Array ? "float32" : "int32";
}

/** The checkpoint folder of the output at `outputPath`. */
export function checkpointDir(outputPath: string): string {
  const abs = resolve(outputPath);
  return join(dirname(abs), RESUME_PREFIX + basename(abs));
}

export class DeCheckpoint {
  /** The CSV's end after each finished batch: batches 0..n-1 are finished (always a prefix). */
  private csvBytes: number[];

  private constructor(
    readonly dir: string,
    readonly fingerprint: string,
    manifest: Manifest | null,
  ) {
    this.csvBytes = manifest ? [...manifest.csvBytes] : [];
  }

  /** How many batches are finished (the first this many). */
  get finished(): number {
    return this.csvBytes.length;
  }

  /**
   * Open the checkpoint of `outputPath` for a run with this fingerprint: with `resume`, what an earlier
   * run left when it is this run's and whole (`reason` says why not otherwise); without, a new folder.
   */
  static open(
    outputPath: string,
    fingerprint: string,
    resume: boolean,
  ): { checkpoint: DeCheckpoint; resumedFrom: number; reason: string | null } {
    const dir = checkpointDir(outputPath);
    let reason: string | null = null;
    if (resume) {
      const found = readManifest(dir);
      if (found === null) reason = "no checkpoint of an earlier run was found";
      else if (found.fingerprint !== fingerprint)
        reason = "the checkpoint found is of another run (input, method, options or batches differ)";
      else {
        const cp = new DeCheckpoint(dir, fingerprint, found);
        const bad = cp.firstDamagedPart();
        if (bad === null) return { checkpoint: cp, resumedFrom: cp.finished, reason: null };
        reason = `the checkpoint's part of batch ${bad + 1} is damaged`;
      }
    }
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const cp = new DeCheckpoint(dir, fingerprint, null);
    cp.writeManifest();
    return { checkpoint: cp, resumedFrom: 0, reason };
  }

  /** The CSV of the rows so far. */
  get csvPath(): string {
    return join(this.dir, "rows.csv");
  }

  /** The CSV's length after the finished batches (0 before the header is written). */
  get csvLength(): number {
    return this.csvBytes.length ? this.csvBytes[this.csvBytes.length - 1]! : 0;
  }

  /** Open the CSV for appending after the finished batches (a killed run's extra bytes are cut off). */
  openCsv(header: string): { fd: number; at: number } {
    const fd = openSync(this.csvPath, existsSync(this.csvPath) ? "r+" : "w+");
    const at = this.csvLength || writeFully(fd, Buffer.from(header, "latin1"), 0);
    ftruncateSync(fd, at);
    return { fd, at };
  }

  partPath(batch: number): string {
    return join(this.dir, `batch-${String(batch).padStart(5, "0")}.bin`);
  }

  /** Write batch `batch`'s arrays as a whole part (temporary name, fsync, rename). */
  writePart(batch: number, arrays: Record<string, PartArray>): void {
    const entries: PartEntry[] = [];
    let offset = 0;
    for (const [name, a] of Object.entries(arrays)) {
      entries.push({ name, dtype: dtypeOf(a), offset, length: a.length });
      offset += pad8(a.byteLength);
    }
    const header: PartHeader = { fingerprint: this.fingerprint, batch, entries };
    const json = Buffer.from(JSON.stringify(header));
    const start = pad8(HEAD_BYTES + json.length);
    const path = this.partPath(batch);
    const tmp = ownedTemporaryPath(path);
    const fd = openSync(tmp, "w");
    try {
      const head = Buffer.alloc(start);
      head.write(MAGIC, 0, "latin1");
      head.writeUInt32LE(json.length, 8);
      json.copy(head, HEAD_BYTES);
      writeFully(fd, head, 0);
      for (const [k, a] of Object.values(arrays).entries())
        writeFully(fd, new Uint8Array(a.buffer, a.byteOffset, a.byteLength), start + entries[k]!.offset);
      writeFully(fd, Buffer.from(TRAILER, "latin1"), start + offset);
    } finally {
      closeSync(fd);
    }
    commitFile(tmp, path);
  }

  /** Record batch `batch` as finished, its CSV rows ending at `csvEnd` (after the part is in place). */
  finish(batch: number, csvEnd: number): void {
    if (batch !== this.csvBytes.length) throw new Error(`internal: batch ${batch} finished out of order`);
    this.csvBytes.push(csvEnd);
    this.writeManifest();
  }

  /** An open part for slice reads (close it with `closeSync(part.fd)`). */
  openPart(batch: number): { fd: number; header: PartHeader; start: number; slice: SliceReader } {
    const fd = openSync(this.partPath(batch), "r");
    try {
      const head = Buffer.alloc(HEAD_BYTES);
      readSync(fd, head, 0, HEAD_BYTES, 0);
      if (head.toString("latin1", 0, 8) !== MAGIC) throw new Error("not a part");
      const len = head.readUInt32LE(8);
      const json = Buffer.alloc(len);
      readSync(fd, json, 0, len, HEAD_BYTES);
      const header = JSON.parse(json.toString()) as PartHeader;
      const start = pad8(HEAD_BYTES + len);
      const byName = new Map(header.entries.map((e) => [e.name, e]));
      const slice: SliceReader = (name, from, count) => readArray(fd, byName.get(name)!, start, from, count);
      return { fd, header, start, slice };
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Remove the folder (the run is complete). */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The first finished batch whose part is missing or not whole, or null. */
  private firstDamagedPart(): number | null {
    for (let k = 0; k < this.finished; k++) {
      try {
        const { fd, header, start } = this.openPart(k);
        try {
          let end = 0;
          for (const e of header.entries) end = Math.max(end, e.offset + pad8(e.length * BYTES[e.dtype]));
          const size = fstatSync(fd).size;
          const tail = Buffer.alloc(8);
          readSync(fd, tail, 0, 8, start + end);
          if (header.fingerprint !== this.fingerprint || header.batch !== k) return k;
          if (size !== start + end + 8 || tail.toString("latin1") !== TRAILER) return k;
        } finally {
          closeSync(fd);
        }
      } catch {
        return k;
      }
    }
    if (this.finished > 0 && (!existsSync(this.csvPath) || statSync(this.csvPath).size < this.csvLength))
      return this.finished - 1;
    return null;
  }

  private writeManifest(): void {
    const path = join(this.dir, "manifest.json");
    const tmp = `${path}.tmp`;
    const m: Manifest = { fingerprint: this.fingerprint, csvBytes: this.csvBytes };
    writeFileSync(tmp, JSON.stringify(m));
    commitFile(tmp, path);
  }
}

/** A DE checkpoint folder found in a directory (`crispyx clean` lists them). */
export interface CheckpointInfo {
  path: string;
  /** The output it is for (its name beside the folder). */
  forName: string;
  bytes: number;
  /** Batches it holds finished (0 when its manifest is missing or unreadable). */
  finishedBatches: number;
}

/** The DE checkpoint folders directly in `dir`. */
export function listCheckpoints(dir: string): CheckpointInfo[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(RESUME_PREFIX));
  } catch {
    return [];
  }
  const out: CheckpointInfo[] = [];
  for (const name of names.sort()) {
    const path = join(dir, name);
    try {
      if (!statSync(path).isDirectory()) continue;
      let bytes = 0;
      for (const f of readdirSync(path)) bytes += statSync(join(path, f)).size;
      out.push({
        path,
        forName: name.slice(RESUME_PREFIX.length),
        bytes,
        finishedBatches: readManifest(path)?.csvBytes.length ?? 0,
      });
    } catch {
      // removed meanwhile
    }
  }
  return out;
}

export type SliceReader = (name: string, from: number, count: number) => PartArray;

function readManifest(dir: string): Manifest | null {
  try {
    const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as Manifest;
    if (typeof m.fingerprint !== "string" || !Array.isArray(m.csvBytes)) return null;
    if (!m.csvBytes.every((b, k) => Number.isInteger(b) && b > 0 && (k === 0 || b >= m.csvBytes[k - 1]!))) return null;
    return m;
  } catch {
    return null;
  }
}

function readArray(fd: number, e: PartEntry, start: number, from: number, count: number): PartArray {
  const size = BYTES[e.dtype];
  const out = new CTOR[e.dtype](count);
  const bytes = new Uint8Array(out.buffer);
  let done = 0;
  const at = start + e.offset + from * size;
  while (done < bytes.length) {
    const got = readSync(fd, bytes, done, bytes.length - done, at + done);
    if (got === 0) throw new Error("part ends early");
    done += got;
  }
  return out;
}
