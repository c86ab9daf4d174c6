/**
 * Temporary files that know their owner. Every temporary output, scratch copy and spill file crispyx
 * makes is named `.crispyx-tmp-h<host>-p<pid>-s<start>-<random>-<final name>[suffix]`, where <host> is a
 * hash of the machine's hostname and <start> the owning process's start time (Linux: clock ticks since
 * boot, /proc/PID/stat; elsewhere the start in epoch seconds). A file is *stale* when its owner is
 * provably gone: written on this machine, and no process with that pid and start time runs (the start
 * time guards against a reused pid). Files written on another machine (a shared filesystem) are never
 * touched: their owner cannot be checked from here. Files from crispyx versions before owner names
 * (`.crispyx-tmp-<8 hex>-<name>`) are stale only when no process on this machine holds them open and
 * they have not changed for an hour.
 *
 * `removeStaleFor(output)` runs before every write (../io/atomic.ts) and removes stale files of the same
 * output; `clean(dir)` lists and removes every stale one in a folder (`crispyx clean`).
 *
 * Cost model: naming is constant time (the process's identity is read once). A stale scan is one
 * readdir of the output's folder plus one /proc stat per temporary file found; the open-file scan of
 * /proc/*\/fd runs only when an old-style name is found.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { InvalidArgumentError } from "../errors.ts";

export const TEMP_PREFIX = ".crispyx-tmp-";

const OWNED = /^\.crispyx-tmp-h([0-9a-f]{8})-p(\d+)-s(\d+)-([0-9a-f]{8})-(.+)$/;
const LEGACY = /^\.crispyx-tmp-([0-9a-f]{8})-(.+)$/;
/** Old-style files younger than this may belong to a running older crispyx: left alone. */
const LEGACY_QUIET_MS = 60 * 60 * 1000;

/** Hash of a hostname: enough to tell machines apart on a shared filesystem, no private name in file names. */
function hostId(name: string): string {
  return createHash("sha256").update(name).digest("hex").slice(0, 8);
}

/** Start time of process `pid` as written in temporary names, or null when it is not running (or unknown). */
function startTimeOf(pid: number): string | null {
  if (process.platform === "linux") {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
      // Field 22 (starttime); the command name (field 2) may hold spaces and parentheses, so count from its end.
      return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
    } catch {
      return null;
    }
  }
  return pid === process.pid ? String(Math.floor(Date.now() / 1000 - process.uptime())) : null;
}

let self: { host: string; pid: number; start: string } | undefined;
function identity(): { host: string; pid: number; start: string } {
  self ??= { host: hostId(hostname()), pid: process.pid, start: startTimeOf(process.pid) ?? "0" };
  return self;
}

/** How every temporary name of this process begins (nested names and spill files `<temporary>.runs` too). */
export function ownTemporaryPrefix(): string {
  const { host, pid, start } = identity();
  return `${TEMP_PREFIX}h${host}-p${pid}-s${start}-`;
}

/** Folders this process has made temporary names in, and who wants to hear of a new one (./tempReaper.ts). */
const ownFolders = new Set<string>();
const folderListeners: ((dir: string) => void)[] = [];

/** Call `listener` with every folder this process makes temporary names in: those so far, then each new one. */
export function onOwnTemporaryFolder(listener: (dir: string) => void): void {
  folderListeners.push(listener);
  for (const dir of ownFolders) listener(dir);
}

/** A fresh temporary path beside `finalPath`, carrying this process's identity. */
export function ownedTemporaryPath(finalPath: string): string {
  const abs = resolve(finalPath);
  const dir = dirname(abs);
  if (!ownFolders.has(dir)) {
    ownFolders.add(dir);
    for (const listener of folderListeners) listener(dir);
  }
  return join(dir, `${ownTemporaryPrefix()}${randomBytes(4).toString("hex")}-${basename(abs)}`);
}

/**
 * Remove every temporary file of this process (by its name's prefix, in the folders it made names in): what
 * an exit after an error must not leave. Only names carrying this process's identity are touched, so never
 * an input, an output or another run's file. Never throws; returns the paths removed.
 */
export function removeOwnTemporaryFiles(): string[] {
  const prefix = ownTemporaryPrefix();
  const removed: string[] = [];
  for (const dir of ownFolders) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.startsWith(prefix)) continue;
      try {
        rmSync(join(dir, name), { force: true });
        removed.push(join(dir, name));
      } catch {
        // a folder, or no permission: `crispyx clean` reports it
      }
    }
  }
  return removed;
}

export type TempOwner = "dead" | "live" | "other-machine" | "old-style, in use or recent";

export interface TempFileInfo {
  path: string;
  /** Bytes on disk (apparent size). */
  bytes: number;
  /** The final name the temporary file was written for (nested temporary names resolved). */
  forName: string;
  owner: TempOwner;
  /** The owning process, for owner-named files. */
  pid?: number;
  stale: boolean;
}

/** The final name behind a temporary name (a temporary output may itself be written beside a temporary name). */
function finalNameOf(name: string): string {
  for (;;) {
    const m = OWNED.exec(name) ?? LEGACY.exec(name);
    if (!m) return name;
    name = m[m.length - 1]!;
  }
}

/** Is process `pid` (started at `start`) running on this machine? Unknown counts as running. */
function isRunning(pid: number, start: string): boolean {
  if (pid === process.pid) return start === identity().start;
  if (process.platform === "linux" && existsSync("/proc/self/stat")) {
    const now = startTimeOf(pid);
    return now !== null && now === start;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Paths some process on this machine holds open (those we may look at), or null when /proc cannot tell. */
function openPaths(): Set<string> | null {
  if (process.platform !== "linux" || !existsSync("/proc/self/fd")) return null;
  const open = new Set<string>();
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        open.add(readlinkSync(`/proc/${pid}/fd/${fd}`));
      } catch {
        // closed meanwhile
      }
    }
  }
  return open;
}

function describe(dir: string, name: string, lazyOpen: () => Set<string> | null): TempFileInfo | null {
  const path = join(dir, name);
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return null;
  }
  if (!st.isFile()) return null;
  const forName = finalNameOf(name);
  const m = OWNED.exec(name);
  if (m) {
    const pid = Number(m[2]);
    const owner: TempOwner = m[1] !== identity().host ? "other-machine" : isRunning(pid, m[3]!) ? "live" : "dead";
    return { path, bytes: st.size, forName, owner, pid, stale: owner === "dead" };
  }
  if (!LEGACY.test(name)) return null;
  const quiet = Date.now() - st.mtimeMs > LEGACY_QUIET_MS;
  const open = quiet ? lazyOpen() : null;
  const stale = quiet && open !== null && !open.has(resolve(path));
  return { path, bytes: st.size, forName, owner: stale ? "dead" : "old-style, in use or recent", stale };
}

/** Every crispyx temporary file directly in `dir`, with its owner's state. */
export function listTemporaryFiles(dir: string, filter: (forName: string) => boolean = () => true): TempFileInfo[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(TEMP_PREFIX));
  } catch {
    return [];
  }
  let open: Set<string> | null | undefined;
  const lazyOpen = () => (open === undefined ? (open = openPaths()) : open);
  const out: TempFileInfo[] = [];
  for (const n of names.sort()) {
    if (!filter(finalNameOf(n))) continue;
    const info = describe(dir, n, lazyOpen);
    if (info) out.push(info);
  }
  return out;
}

/**
 * Remove stale temporary files left for `finalPath` (by killed runs writing the same output, their spill
 * files included). Returns what was removed. Never throws: a file that cannot be removed is left.
 */
export function removeStaleFor(finalPath: string): TempFileInfo[] {
  const abs = resolve(finalPath);
  const name = basename(abs);
  const stale = listTemporaryFiles(dirname(abs), (f) => f === name || f.startsWith(`${name}.`)).filter((t) => t.stale);
  const removed: TempFileInfo[] = [];
  for (const t of stale) {
    try {
      rmSync(t.path, { force: true });
      removed.push(t);
    } catch {
      // not ours to fight over (permissions): `crispyx clean` will report it
    }
  }
  return removed;
}

export interface CleanOptions {
  /** List only; remove nothing. */
  dryRun?: boolean;
}

export interface CleanResult {
  dir: string;
  /** Every temporary file found, stale or not. */
  files: TempFileInfo[];
  /** Stale files removed (none with dryRun). */
  removed: TempFileInfo[];
  /** Bytes freed (with dryRun: that would be freed). */
  bytesFreed: number;
}

/**
 * List crispyx's temporary files in `dir` and remove the stale ones (those of crispyx processes that are
 * gone). Files of running processes and of other machines are listed, never removed.
 *
 *   const r = clean("results/"); console.log(`freed ${r.bytesFreed} bytes`);
 */
export function clean(dir: string, opts: CleanOptions = {}): CleanResult {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir)
    throw new InvalidArgumentError(`not a folder`, { file: dir, hint: "give the folder that holds the outputs" });
  const files = listTemporaryFiles(dir);
  const stale = files.filter((f) => f.stale);
  const removed: TempFileInfo[] = [];
  if (!opts.dryRun) {
    for (const f of stale) {
      rmSync(f.path, { force: true });
      removed.push(f);
    }
  }
  const bytesFreed = (opts.dryRun ? stale : removed).reduce((s, f) => s + f.bytes, 0);
  return { dir, files, removed, bytesFreed };
}
