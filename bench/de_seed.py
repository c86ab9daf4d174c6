"""Run the Python crispyx seed's DE on a file and print {"seconds", "maxrss_kb"} (for bench/de.ts).

    PYTHONPATH=/tmp/crispyx-seed/src python bench/de_seed.py FILE {t-test|wilcoxon} OUTDIR CONTROL

Low-expression filters are switched off so the seed tests every gene, as Scanpy and crispyx do.
anndata 0.11.4's backed sparse reader needs a shim for scipy >= 1.15 (a private method became a function).
"""
import json
import resource
import sys
import time

from scipy.sparse import _index
from anndata._core import sparse_dataset as sd

for cls in (sd.backed_csr_matrix, sd.backed_csc_matrix):
    if not hasattr(cls, "_validate_indices"):
        cls._validate_indices = lambda self, key: _index._validate_indices(key, self.shape, self.format)

import crispyx.de as de  # noqa: E402

path, method, outdir, control = sys.argv[1:5]
fn = de.t_test if method == "t-test" else de.wilcoxon_test
t0 = time.perf_counter()
fn(path, perturbation_column="perturbation", control_label=control, min_pct_both=0.0, min_mean_ctrl=0.0,
   min_mean_pert=0.0, gene_name_column="gene_symbols", output_dir=outdir, force=True)
print(json.dumps({"seconds": time.perf_counter() - t0, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
