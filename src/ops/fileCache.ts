/**
 * dropFileCache: the seed's drop_file_cache — advise the kernel to drop a file's pages from the page
 * cache (posix_fadvise POSIX_FADV_DONTNEED), so a streaming pass over a large file does not fill a
 * cgroup's memory limit (on SLURM/containers, cached file pages count against the job's memory).
 *
 * Node has no posix_fadvise and crispyx takes no native addon, so this runs GNU coreutils
 * `dd if=FILE iflag=nocache count=0`, which is documented to do exactly this for the whole file and
 * reads no data. Linux only; anywhere else, or when dd is missing/unsuitable (e.g. BusyBox) or the file
 * cannot be opened, it does nothing. It never throws: it returns whether the advice was given.
 */
import { spawnSync } from "node:child_process";

let ddWorks: boolean | undefined;

/** Drop `path`'s cached pages (Linux); true when the kernel was advised. Never throws. */
export function dropFileCache(path: string): boolean {
  if (process.platform !== "linux" || ddWorks === false) return false;
  try {
    const r = spawnSync("dd", [`if=${path}`, "iflag=nocache", "count=0", "status=none"], {
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 10_000,
    });
    if (r.error) {
      // dd not installed: remember, so later calls cost nothing.
      if ((r.error as NodeJS.ErrnoException).code === "ENOENT") ddWorks = false;
      return false;
    }
    if (r.status !== 0 && /invalid input flag|unknown|nocache/i.test(r.stderr?.toString() ?? "")) ddWorks = false;
    if (r.status === 0) ddWorks = true;
    return r.status === 0;
  } catch {
    return false;
  }
}
