/**
 * Crash-safe in-place edits of an .h5ad file's metadata (obs, var, uns, obsm, …) without touching X.
 *
 * Protocol (each step durable — fsync — before the next):
 *  1. an HDF5 session (guarded by an undo journal, below) that only creates the empty staging group
 *     `__crispyx_staging__` inside /obs (inside /var when obs itself is edited): anndata and crispyx
 *     read a dataframe's columns from its `column-order` attribute, so an extra member is invisible to
 *     both. (The root is no place for it: anndata refuses unknown root keys, and "raw.*" ones clash
 *     with a modern /raw group.)
 *  2. an HDF5 session that writes the new element completely inside the staging group; it allocates
 *     new space and changes no structure outside the staging group, so an interruption here (or an
 *     exception from the writer) leaves the rest of the file as it was;
 *  3. swap: one small write makes the real link point at the new element ("real-link"), one more makes
 *     the staged link point at the old one ("staged-link") — ../h5/links.ts, on the closed file, since
 *     HDF5 (and h5wasm) cannot move or delete links;
 *     (an element that did not exist yet is instead hard-linked under its name in a short guarded session);
 *  4. one write removes the staging group's link from its dataframe group.
 * An interruption at any point leaves the old element or the new one under the real name, never
 * neither; a leftover staging group is invisible to anndata and removed by the next edit.
 * HDF5 has no journal of its own: the two short sessions that add a link to an existing group (steps 1
 * and 3 for a new name) could, if killed while HDF5 flushes, leave that group half-written. So before
 * each, the bytes holding that group's links are copied to `<file>.crispyx-undo` (written whole, then
 * renamed); the next crispyx edit of the file (recoverInterruptedEdit) checks the group and, only if it
 * is damaged, writes those bytes back — the link insertion is undone and the old state returns.
 * The space of the replaced element is not reclaimed (as with h5py's `del`); `h5repack` compacts a file.
 *
 * Limits: another program must not have the file open while it is edited (its HDF5 caches would not
 * see, or would overwrite, these patches; within this process an open handle is refused). Each patch is
 * one write of at most a few hundred bytes: atomic for a killed process; a power cut tearing such a
 * write across a disk sector is not guarded against. A file left damaged by HDF5 being killed mid-flush
 * is repaired by the next crispyx edit (or recoverInterruptedEdit), not by other readers.
 * With byte-level I/O switched off (../directIO.ts) the same checks run, then ./editByRewrite.ts rewrites the
 * whole file through the library instead (no staging, no link patches; costs a copy of the file).
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { H5File, isFileOpen } from "../h5/file.ts";
import type { WriteStore } from "../store.ts";
import { deleteLink, linkStorageRanges, listLinks, retargetLink } from "../h5/links.ts";
import { CrispyxError, InvalidArgumentError } from "../../errors.ts";
import { columnOrder } from "./encodings/dataframe.ts";
import { assertAnnData } from "./anndata.ts";
import { createEncodedGroup } from "./registry.ts";
import { ioSettings, noteDirectUse } from "../directIO.ts";
import { rewriteWithElement } from "./editByRewrite.ts";

export const STAGING_NAME = "__crispyx_staging__";
const STAGING_PARENTS = ["/obs", "/var"] as const;

/** Where the staging group for an edit of `elementPath` lives: never inside the element being replaced. */
function stagingParent(elementPath: string): string {
  return elementPath === "/obs" || elementPath.startsWith("/obs/") ? "/var" : "/obs";
}

export interface EditOptions {
  /**
   * Called after each durable step: "staging-group-journal" (undo journal written), "staging-group",
   * "staged" (new element complete under the staging group), "real-link-journal" (new names only),
   * "real-link" (the real name points at it), "staged-link", "done" (staging removed). For crash tests.
   */
  onStep?: (step: string) => void;
}

function parentAndName(elementPath: string): [string, string] {
  const parts = elementPath.split("/").filter(Boolean);
  if (parts.length === 0) throw new CrispyxError("cannot replace the root of a file");
  if (parts.includes(STAGING_NAME)) throw new CrispyxError(`${elementPath}: is crispyx's staging area, not an element`);
  const name = parts.pop()!;
  return ["/" + parts.join("/"), name];
}

function assertClosed(path: string): void {
  if (isFileOpen(path)) {
    throw new CrispyxError(`is open in this process; close its handle before editing it in place`, { file: path });
  }
}

function session<T>(path: string, mode: "r" | "r+", fn: (f: H5File) => T): T {
  const f = H5File.open(path, mode);
  try {
    return fn(f);
  } finally {
    f.close(); // also fsyncs a file opened for writing
  }
}

// ---- undo journal for the sessions that add a link ------------------------------------------------

const JOURNAL_MAGIC = Buffer.from("CRXUNDO1");

export function journalPath(path: string): string {
  return `${path}.crispyx-undo`;
}

function fsyncDir(path: string): void {
  const fd = openSync(dirname(path), "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Copy the bytes holding `group`'s links into the journal, with the group's link names and the one name
 * the session is about to add: written to a temporary name, then renamed.
 */
function writeJournal(path: string, group: string, adds: string): void {
  const ranges = linkStorageRanges(path, group);
  const meta = Buffer.from(JSON.stringify({ group, names: listLinks(path, group), adds }), "utf8");
  const head = Buffer.alloc(8);
  head.writeUInt32LE(meta.length, 0);
  head.writeUInt32LE(ranges.length, 4);
  const parts: Buffer[] = [JOURNAL_MAGIC, head, meta];
  const fd = openSync(path, "r");
  try {
    for (const [pos, len] of ranges) {
      const r = Buffer.alloc(12 + len);
      r.writeBigUInt64LE(BigInt(pos), 0);
      r.writeUInt32LE(len, 8);
      for (let got = 0; got < len; ) {
        const n = readSync(fd, r, 12 + got, len - got, pos + got);
        if (n === 0) throw new CrispyxError(`unexpected end of file`, { file: path });
        got += n;
      }
      parts.push(r);
    }
  } finally {
    closeSync(fd);
  }
  const body = Buffer.concat(parts);
  const tmp = `${journalPath(path)}.tmp`;
  writeFileSync(tmp, Buffer.concat([body, createHash("sha256").update(body).digest()]));
  const tfd = openSync(tmp, "r+");
  fsyncSync(tfd);
  closeSync(tfd);
  renameSync(tmp, journalPath(path));
  fsyncDir(path);
}

function dropJournal(path: string): void {
  rmSync(journalPath(path), { force: true });
  rmSync(`${journalPath(path)}.tmp`, { force: true });
  fsyncDir(path);
}

export interface Journal {
  group: string;
  /** The group's link names before the session, and the name the session adds. */
  names: string[];
  adds: string;
  ranges: Array<{ pos: number; bytes: Buffer }>;
}

/** The saved bytes of an unfinished guarded session (null when there is none or it was never completed). */
export function readJournal(path: string): Journal | null {
  if (!existsSync(journalPath(path))) return null;
  const buf = readFileSync(journalPath(path));
  if (buf.length < 48) return null;
  const body = buf.subarray(0, buf.length - 32);
  if (
    !body.subarray(0, 8).equals(JOURNAL_MAGIC) ||
    !createHash("sha256")
      .update(body)
      .digest()
      .equals(buf.subarray(buf.length - 32))
  ) {
    return null; // never completed, so the session it guards never started
  }
  const metaLen = body.readUInt32LE(8);
  const count = body.readUInt32LE(12);
  const meta = JSON.parse(body.toString("utf8", 16, 16 + metaLen)) as Omit<Journal, "ranges">;
  const ranges: Journal["ranges"] = [];
  for (let p = 16 + metaLen, i = 0; i < count; i++) {
    const pos = Number(body.readBigUInt64LE(p));
    const len = body.readUInt32LE(p + 8);
    ranges.push({ pos, bytes: body.subarray(p + 12, p + 12 + len) });
    p += 12 + len;
  }
  return { ...meta, ranges };
}

/**
 * True when the guarded group is in one of the two states the session could leave complete: its old
 * links, or its old links plus the one it was adding — read by our parser (signatures, checksums, name
 * order) and by HDF5, which must open every member.
 */
function groupIsHealthy(path: string, j: Journal): boolean {
  try {
    linkStorageRanges(path, j.group);
    const now = [...listLinks(path, j.group)].sort();
    const before = [...j.names].sort();
    const after = [...j.names, j.adds].sort();
    const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
    if (!same(now, before) && !same(now, after)) return false;
    return session(path, "r", (f) => {
      const prefix = j.group === "/" ? "" : j.group;
      for (const k of f.keys(j.group)) if (f.kind(`${prefix}/${k}`) === null) return false;
      return true;
    });
  } catch {
    return false;
  }
}

/**
 * Finish off an edit that was interrupted while HDF5 was adding a link: if the journal exists and the
 * group it guards is damaged, write the saved bytes back. Returns what was done.
 */
export function recoverInterruptedEdit(path: string): "none" | "kept" | "restored" {
  assertClosed(path);
  const journal = readJournal(path);
  if (!journal) {
    if (existsSync(`${journalPath(path)}.tmp`) || existsSync(journalPath(path))) dropJournal(path);
    return "none";
  }
  const healthy = groupIsHealthy(path, journal);
  if (!healthy) {
    const fd = openSync(path, "r+");
    try {
      for (const r of journal.ranges) {
        let done = 0;
        while (done < r.bytes.length) done += writeSync(fd, r.bytes, done, r.bytes.length - done, r.pos + done);
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  dropJournal(path);
  return healthy ? "kept" : "restored";
}

/** An HDF5 session that adds a link to `group`, guarded by the undo journal. */
function guardedSession(
  path: string,
  group: string,
  adds: string,
  step: string,
  opts: EditOptions,
  fn: (f: H5File) => void,
): void {
  writeJournal(path, group, adds);
  opts.onStep?.(`${step}-journal`);
  session(path, "r+", fn);
  opts.onStep?.(step);
  dropJournal(path);
}

/** Remove a staging group left behind by an interrupted edit (after undoing a damaged link insertion). */
export function removeLeftoverStaging(path: string): void {
  assertClosed(path);
  recoverInterruptedEdit(path);
  const leftovers = session(path, "r", (f) => STAGING_PARENTS.filter((p) => f.exists(`${p}/${STAGING_NAME}`)));
  for (const parent of leftovers) deleteLink(path, parent, STAGING_NAME);
}

/**
 * Replace (or create) the element at `elementPath` in the file at `path`: `write(file, at)` must write
 * the new element at the path `at` it is given. Parent groups are created as needed.
 * If `write` throws, the file keeps its old element and the error is passed on.
 */
export function replaceElement(
  path: string,
  elementPath: string,
  write: (file: WriteStore, at: string) => void,
  opts: EditOptions = {},
): void {
  assertClosed(path);
  const [parent, name] = parentAndName(elementPath);
  const stage = stagingParent(elementPath);
  // Byte-level I/O off (../directIO.ts): the same checks, then the whole file rewritten by the library.
  const direct = ioSettings.directIO;
  if (direct) removeLeftoverStaging(path);
  const { existed, parentExists } = session(path, "r", (f) => {
    assertAnnData(f);
    if (!f.isGroup(stage)) {
      throw new CrispyxError(
        `${stage} is not a group (a pre-0.7 anndata layout); save the file once with anndata >= 0.7 before editing it in place`,
        { file: path },
      );
    }
    return { existed: f.exists(elementPath), parentExists: f.isGroup(parent) };
  });
  if (!parentExists && session(path, "r", (f) => f.exists(parent))) {
    throw new CrispyxError(`cannot write ${elementPath}: ${parent} is not a group`, { file: path });
  }
  if (!direct) {
    rewriteWithElement(path, elementPath, write, STAGING_NAME);
    opts.onStep?.("done");
    return;
  }
  noteDirectUse("links");
  // Before any write: the groups whose links will change must be in a layout we can patch (this throws
  // a clear error for dense link storage).
  listLinks(path, stage);
  listLinks(path, existed ? parent : session(path, "r", (f) => nearestGroup(f, parent)));
  const stagingGroup = `${stage}/${STAGING_NAME}`;
  guardedSession(path, stage, STAGING_NAME, "staging-group", opts, (f) => f.createGroup(stagingGroup));
  const staged = `${stagingGroup}/${name}`;
  try {
    session(path, "r+", (f) => write(f, staged));
  } catch (err) {
    removeLeftoverStaging(path);
    throw err;
  }
  opts.onStep?.("staged");
  if (existed) {
    retargetLink(path, parent, name, staged, { onStep: opts.onStep });
  } else {
    // A new name: HDF5 adds the link (a hard link, so the staged link can then simply be dropped).
    const existing = session(path, "r", (f) => nearestGroup(f, parent));
    const adds = elementPath.slice(existing.length).split("/").filter(Boolean)[0]!;
    guardedSession(path, existing, adds, "real-link", opts, (f) => {
      ensureDictGroups(f, parent);
      f.hardLink(staged, elementPath);
    });
  }
  deleteLink(path, stage, STAGING_NAME);
  opts.onStep?.("done");
}

/** Create the missing groups along `group` as anndata dicts (mappings such as /obsm, or nested uns dicts). */
function ensureDictGroups(f: H5File, group: string): void {
  let cur = "";
  for (const part of group.split("/").filter(Boolean)) {
    cur += "/" + part;
    if (f.exists(cur)) continue;
    createEncodedGroup(f, cur, "dict");
  }
}

/** The closest existing group at or above `group` (where HDF5 will add the first new link). */
function nearestGroup(f: H5File, group: string): string {
  const parts = group.split("/").filter(Boolean);
  while (parts.length && !f.isGroup("/" + parts.join("/"))) parts.pop();
  return "/" + parts.join("/");
}

/** Delete the element at `elementPath` (no-op when absent). One durable write. */
export function deleteElement(path: string, elementPath: string): void {
  assertClosed(path);
  const direct = ioSettings.directIO;
  if (direct) removeLeftoverStaging(path);
  const [parent, name] = parentAndName(elementPath);
  const exists = session(path, "r", (f) => {
    assertAnnData(f);
    if (parent === "/" && (name === "obs" || name === "var")) {
      throw new InvalidArgumentError(`/${name} cannot be deleted: every AnnData file needs it`, { file: path });
    }
    if ((parent === "/obs" || parent === "/var") && f.exists(elementPath)) {
      const order = columnOrder(f, parent);
      if (order.includes(name) || f.attr(parent, "_index") === name) {
        throw new InvalidArgumentError(
          `${elementPath} is part of the ${parent.slice(1)} table; write the table without it (writeObs / writeVar) instead`,
          { file: path },
        );
      }
    }
    return f.exists(elementPath);
  });
  if (!exists) return;
  if (!direct) return rewriteWithElement(path, elementPath, null, STAGING_NAME);
  noteDirectUse("links");
  deleteLink(path, parent, name);
}
