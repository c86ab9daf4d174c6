"""Minimal stand-in for psutil (not installed here): memory from /proc/meminfo."""
import os


class _VM:
    def __init__(self):
        info = {}
        with open("/proc/meminfo") as f:
            for line in f:
                k, v = line.split(":")
                info[k] = int(v.split()[0]) * 1024
        self.total = info["MemTotal"]
        self.available = info.get("MemAvailable", info["MemFree"])
        self.used = self.total - self.available
        self.percent = 100.0 * self.used / self.total


def virtual_memory():
    return _VM()


def cpu_count(logical=True):
    return os.cpu_count()


class Process:
    def __init__(self, pid=None):
        self.pid = pid or os.getpid()

    def memory_info(self):
        class M:
            pass
        m = M()
        with open(f"/proc/{self.pid}/statm") as f:
            m.rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        m.vms = m.rss
        return m
