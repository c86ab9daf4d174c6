/**
 * How much memory this process may use: the smaller of the machine's available memory and the
 * process's cgroup memory limit. The Python original asks psutil for the machine's available memory
 * only, so on a SLURM node or in a container it plans for memory the job is not allowed to use and gets
 * killed; reading the cgroup limit fixes that.
 */
import { readFileSync } from "node:fs";
import { freemem } from "node:os";

/** Where the probe reads from; tests replace these to simulate cgroup v1/v2 machines. */
export interface MemoryProbeSources {
  /** Read a small text file; return undefined when it does not exist or cannot be read. */
  readFile?: (path: string) => string | undefined;
  /** The process's cgroup membership file. Default /proc/self/cgroup. */
  procSelfCgroup?: string;
  /** Where cgroup file systems are mounted. Default /sys/fs/cgroup. */
  cgroupRoot?: string;
  /** Default /proc/meminfo. */
  meminfo?: string;
  /** Fallback when meminfo has no MemAvailable line. Default os.freemem(). */
  freemem?: () => number;
}

export interface AvailableMemory {
  /** min(systemAvailableBytes, cgroupLimitBytes): what planners should assume. */
  availableBytes: number;
  /** The machine's available memory (MemAvailable, or os.freemem()). */
  systemAvailableBytes: number;
  /** The tightest cgroup memory limit on the process's cgroup path, or null when unlimited / none. */
  cgroupLimitBytes: number | null;
  /** The file the cgroup limit was read from. */
  cgroupLimitFile: string | null;
  /** Which of the two decided `availableBytes`. */
  source: "cgroup" | "system";
}

/** cgroup v1 reports "no limit" as LONG_MAX rounded down to a page; anything this large is no limit. */
const UNLIMITED_V1 = 2 ** 60;

function defaultRead(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** The cgroup directory and every ancestor up to the mount root, deepest first. */
function pathAndAncestors(mount: string, cgroupPath: string): string[] {
  const parts = cgroupPath.split("/").filter(Boolean);
  const dirs: string[] = [];
  for (let k = parts.length; k >= 0; k--) dirs.push([mount, ...parts.slice(0, k)].join("/"));
  return dirs;
}

/**
 * The tightest memory limit on the process's cgroup and its ancestors (limits nest), for cgroup v2
 * (`memory.max`, "max" = none) and v1 (`memory.limit_in_bytes`). When /proc/self/cgroup names a path the
 * mount does not have (a container without a cgroup namespace), the mount root's own file counts.
 */
export function cgroupMemoryLimit(sources: MemoryProbeSources = {}): { bytes: number; file: string } | null {
  const read = sources.readFile ?? defaultRead;
  const root = (sources.cgroupRoot ?? "/sys/fs/cgroup").replace(/\/+$/, "");
  const membership = read(sources.procSelfCgroup ?? "/proc/self/cgroup") ?? "";
  let v2Path = "/";
  let v1Path = "/";
  for (const line of membership.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === "0" && m[2] === "") v2Path = m[3]!;
    else if (m[2]!.split(",").includes("memory")) v1Path = m[3]!;
  }
  const candidates: { file: string; v1: boolean }[] = [
    ...pathAndAncestors(root, v2Path).map((d) => ({ file: `${d}/memory.max`, v1: false })),
    ...pathAndAncestors(`${root}/memory`, v1Path).map((d) => ({ file: `${d}/memory.limit_in_bytes`, v1: true })),
  ];
  let best: { bytes: number; file: string } | null = null;
  for (const { file, v1 } of candidates) {
    const text = read(file)?.trim();
    if (!text || text === "max") continue;
    const bytes = Number(text);
    if (!Number.isFinite(bytes) || bytes <= 0 || (v1 && bytes >= UNLIMITED_V1)) continue;
    if (!best || bytes < best.bytes) best = { bytes, file };
  }
  return best;
}

/** The machine's available memory: MemAvailable from /proc/meminfo, else os.freemem(). */
export function systemAvailableMemory(sources: MemoryProbeSources = {}): number {
  const read = sources.readFile ?? defaultRead;
  const text = read(sources.meminfo ?? "/proc/meminfo");
  const m = text ? /^MemAvailable:\s+(\d+)\s*kB/m.exec(text) : null;
  if (m) return Number(m[1]) * 1024;
  return (sources.freemem ?? freemem)();
}

/** Available memory for planning, with where it came from (for `crispyx plan` to show). */
export function detectAvailableMemory(sources: MemoryProbeSources = {}): AvailableMemory {
  const system = systemAvailableMemory(sources);
  const limit = cgroupMemoryLimit(sources);
  const useCgroup = limit !== null && limit.bytes < system;
  return {
    availableBytes: useCgroup ? limit.bytes : system,
    systemAvailableBytes: system,
    cgroupLimitBytes: limit?.bytes ?? null,
    cgroupLimitFile: limit?.file ?? null,
    source: useCgroup ? "cgroup" : "system",
  };
}

/** Available memory in decimal gigabytes (1e9 bytes), the unit the seed's planners take. */
export function availableMemoryGb(sources: MemoryProbeSources = {}): number {
  return detectAvailableMemory(sources).availableBytes / 1e9;
}
