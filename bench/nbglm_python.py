"""Run the Python crispyx's NB-GLM DE (nb_glm_test) on a file and print {"seconds", "maxrss_kb"} (for bench/nbglm.ts).

    PYTHONPATH=/tmp/pycx/src /usr/bin/python3 bench/nbglm_python.py FILE OUT.h5ad CONTROL N_JOBS

Its defaults (global dispersion, L-BFGS-B, sandwich SE, no LFC shrinkage) with the low-expression filters off,
so that it fits every gene as crispyx does. Needs numba, joblib and psutil (Debian: python3-numba 0.56,
python3-joblib 1.2, python3-psutil).
"""
import json
import resource
import sys
import time

import joblib

# Debian's joblib 1.2 predates Parallel(return_as=...) (1.3): drop it; a list is consumed as the generator would be.
_init = joblib.Parallel.__init__
joblib.Parallel.__init__ = lambda self, *a, return_as=None, **k: _init(self, *a, **k)

import crispyx  # noqa: E402

path, out, control, n_jobs = sys.argv[1:5]
t0 = time.perf_counter()
crispyx.nb_glm_test(path, perturbation_column="perturbation", control_label=control, min_pct_ctrl=0.0,
                    min_pct_pert=0.0, min_mean_ctrl=0.0, min_mean_pert=0.0, min_total_count=0.0,
                    gene_name_column="gene_symbols", output_path=out, verbose=False, n_jobs=int(n_jobs), force=True)
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
