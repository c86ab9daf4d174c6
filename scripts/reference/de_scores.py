#!/usr/bin/env python3
"""DE scores computed with scipy on the very file crispyx tested (a cross-check run by test/real/).

Reads a JSON list of jobs on stdin: {"id", "file", "column", "control", "group", "genes", "method"}
(method "t-test" or "wilcoxon"), reads each file with anndata, and prints a JSON list of
{"id", "scores"} or {"id", "error"}. The formulas are those of make_real_fixtures.py: Scanpy's Welch t-test
(scipy.stats.ttest_ind_from_stats, equal_var=False) and the tie-corrected rank-sum z-score, NaN -> 0.
Reading the file crispyx normalised (rather than normalising again) makes the comparison independent of the
last bits of the normalisation, which move the ranks of near-ties and near-zero t-statistics.
"""
import json
import os
import sys
import warnings

import anndata as ad
import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(__file__))
from make_real_fixtures import ttest, wilcoxon  # noqa: E402

warnings.simplefilter("ignore")


def scores(job, cache):
    if job["file"] not in cache:
        cache.clear()
        cache[job["file"]] = ad.read_h5ad(job["file"])
    a = cache[job["file"]]
    names = [str(v) for v in a.var_names]
    idx = [names.index(g) for g in job["genes"]]
    col = a.obs[job["column"]].astype(object).map(lambda v: None if v is None or v != v else str(v))
    x = a.X[:, idx]
    x = (x.toarray() if sp.issparse(x) else np.asarray(x)).astype(np.float64)
    g, c = x[(col == job["group"]).to_numpy()], x[(col == job["control"]).to_numpy()]
    s = ttest(g, c) if job["method"] == "t-test" else wilcoxon(g, c)
    return [float(v) for v in s]


def main():
    jobs = json.load(sys.stdin)
    out, cache = [], {}
    for job in jobs:
        try:
            out.append({"id": job["id"], "scores": scores(job, cache)})
        except Exception as exc:  # noqa: BLE001
            out.append({"id": job["id"], "error": f"{type(exc).__name__}: {exc}"})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
