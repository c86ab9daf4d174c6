// Available memory = min(MemAvailable, the process's cgroup limit), read from fake /proc and /sys files.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  availableMemoryGb,
  cgroupMemoryLimit,
  detectAvailableMemory,
  systemAvailableMemory,
  type MemoryProbeSources,
} from "../../src/helpers/systemMemory.ts";

const GiB = 2 ** 30;
function fake(files: Record<string, string>, extra: Partial<MemoryProbeSources> = {}): MemoryProbeSources {
  return { readFile: (p) => files[p], freemem: () => 123 * GiB, ...extra };
}
const meminfo = (kb: number) => `MemTotal:       65000000 kB\nMemFree:         1000000 kB\nMemAvailable:   ${kb} kB\n`;

test("cgroup v2: memory.max of the process's cgroup caps MemAvailable", () => {
  const src = fake({
    "/proc/self/cgroup": "0::/user.slice/job.scope\n",
    "/sys/fs/cgroup/user.slice/job.scope/memory.max": "8589934592\n",
    "/sys/fs/cgroup/user.slice/memory.max": "max\n",
    "/proc/meminfo": meminfo(60_000_000),
  });
  const d = detectAvailableMemory(src);
  assert.deepEqual(d, {
    availableBytes: 8 * GiB,
    systemAvailableBytes: 60_000_000 * 1024,
    cgroupLimitBytes: 8 * GiB,
    cgroupLimitFile: "/sys/fs/cgroup/user.slice/job.scope/memory.max",
    source: "cgroup",
  });
  assert.equal(availableMemoryGb(src), (8 * GiB) / 1e9);
});

test("cgroup v2: an ancestor's tighter limit wins (limits nest); 'max' means none", () => {
  const src = fake({
    "/proc/self/cgroup": "0::/a/b/c\n",
    "/sys/fs/cgroup/a/b/c/memory.max": "max\n",
    "/sys/fs/cgroup/a/b/memory.max": "3000000000\n",
    "/sys/fs/cgroup/a/memory.max": "5000000000\n",
    "/proc/meminfo": meminfo(60_000_000),
  });
  assert.deepEqual(cgroupMemoryLimit(src), { bytes: 3e9, file: "/sys/fs/cgroup/a/b/memory.max" });
});

test("cgroup v2 inside a container: the namespace root's own memory.max counts", () => {
  const src = fake({
    "/proc/self/cgroup": "0::/\n",
    "/sys/fs/cgroup/memory.max": "2147483648",
    "/proc/meminfo": meminfo(60_000_000),
  });
  assert.equal(detectAvailableMemory(src).availableBytes, 2 * GiB);
});

test("cgroup v1: memory.limit_in_bytes of the memory controller; the 'unlimited' sentinel is ignored", () => {
  const files: Record<string, string> = {
    "/proc/self/cgroup": "12:cpu,cpuacct:/slurm/uid_1/job_9\n11:memory:/slurm/uid_1/job_9\n",
    "/sys/fs/cgroup/memory/slurm/uid_1/job_9/memory.limit_in_bytes": "17179869184\n",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
    "/proc/meminfo": meminfo(100_000_000),
  };
  const d = detectAvailableMemory(fake(files));
  assert.equal(d.availableBytes, 16 * GiB);
  assert.equal(d.source, "cgroup");
  delete files["/sys/fs/cgroup/memory/slurm/uid_1/job_9/memory.limit_in_bytes"];
  const d2 = detectAvailableMemory(fake(files));
  assert.equal(d2.cgroupLimitBytes, null, "LONG_MAX-ish value means no limit");
  assert.equal(d2.availableBytes, 100_000_000 * 1024);
  assert.equal(d2.source, "system");
});

test("a cgroup limit above MemAvailable does not raise the answer", () => {
  const src = fake({
    "/proc/self/cgroup": "0::/big\n",
    "/sys/fs/cgroup/big/memory.max": String(512 * GiB),
    "/proc/meminfo": meminfo(1_000_000),
  });
  const d = detectAvailableMemory(src);
  assert.equal(d.availableBytes, 1_000_000 * 1024);
  assert.equal(d.source, "system");
  assert.equal(d.cgroupLimitBytes, 512 * GiB);
});

test("no cgroup files and no MemAvailable: os.freemem() is the answer", () => {
  const src = fake({ "/proc/meminfo": "MemTotal: 1 kB\n" });
  assert.equal(systemAvailableMemory(src), 123 * GiB);
  assert.equal(cgroupMemoryLimit(src), null);
  assert.equal(detectAvailableMemory(src).availableBytes, 123 * GiB);
});

test("the real machine gives a positive answer no larger than MemAvailable", () => {
  const d = detectAvailableMemory();
  assert.ok(d.availableBytes > 0);
  assert.ok(d.availableBytes <= d.systemAvailableBytes);
});
