"""Baseline for the operator benchmarks: read X of an .h5ad file once with h5py, in chunks.

    python bench/h5py_read_x.py FILE [--chunk-mb 64]

Reads X/indptr, then X/indices and X/data in slices of --chunk-mb MiB (or a dense X in row blocks), and
prints one JSON line: {"seconds": wall seconds of the read, "bytes": bytes read, "maxrss_kb": peak RSS}.
This is "simply reading the same X once": no decoding, no computation, no output.
"""
import argparse
import json
import resource
import time

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--chunk-mb", type=float, default=64)
    args = ap.parse_args()
    t0 = time.perf_counter()
    total = 0
    with h5py.File(args.file, "r") as f:
        x = f["X"]
        if isinstance(x, h5py.Dataset):
            step = max(1, int(args.chunk_mb * 2**20 // max(1, x.shape[1] * x.dtype.itemsize)))
            for r in range(0, x.shape[0], step):
                total += x[r : r + step].nbytes
        else:
            total += x["indptr"][:].nbytes
            for name in ("indices", "data"):
                d = x[name]
                step = max(1, int(args.chunk_mb * 2**20 // d.dtype.itemsize))
                buf = np.empty(step, dtype=d.dtype)
                n = d.shape[0]
                for s in range(0, n, step):
                    e = min(n, s + step)
                    d.read_direct(buf, np.s_[s:e], np.s_[0 : e - s])
                    total += (e - s) * d.dtype.itemsize
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "bytes": total, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


if __name__ == "__main__":
    main()
