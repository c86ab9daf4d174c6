"""Random adaptive-QC cases checked live against the seed (used by test/helpers/adaptiveQcLive.test.ts).

Usage: PYTHONPATH=<seed src> python scripts/reference/helpers_a_live_qc.py OUT_DIR N_CASES RNG_SEED
Writes OUT_DIR/case<i>.h5ad (random shape, storage, sparsity, labels) and prints one JSON list with
each case's arguments, the seed's result and its unclamped intermediates (np.random.seed before each call).
"""
import json
import logging
import os
import sys

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_capture import capture_intermediates  # noqa: E402
from crispyx.data import calculate_adaptive_qc_thresholds  # noqa: E402

logging.disable(logging.CRITICAL)
out, n_cases, rng_seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
gen = np.random.default_rng(rng_seed)
cases = []
for i in range(n_cases):
    n_obs, n_vars = int(gen.integers(1, 3000)), int(gen.integers(1, 300))
    density = float(gen.uniform(0.01, 0.6))
    X = (gen.random((n_obs, n_vars)) < density) * gen.integers(1, 20, (n_obs, n_vars))
    X = X.astype(gen.choice([np.float32, np.float64, np.int32]))
    n_labels = int(gen.integers(1, 60))
    labels = pd.Categorical(gen.integers(0, n_labels, n_obs).astype(str))
    fmt = str(gen.choice(["csr", "csc", "dense"]))
    matrix = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X) if fmt == "csc" else X
    path = os.path.join(out, f"case{i}.h5ad")
    obs = pd.DataFrame({"label": labels}, index=[f"c{j}" for j in range(n_obs)])
    ad.AnnData(X=matrix, obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(n_vars)])).write_h5ad(path)
    mode = str(gen.choice(["conservative", "aggressive"]))
    sample_size = int(gen.integers(1, 2 * n_obs + 1))
    chunk_size = int(gen.integers(1, 2000))
    seed = int(gen.integers(0, 2**32))
    adata = ad.read_h5ad(path)
    np.random.seed(seed)
    with capture_intermediates() as seen:
        res = calculate_adaptive_qc_thresholds(adata, "label", mode=mode, sample_size=sample_size, chunk_size=chunk_size)
    cases.append({"file": path, "format": fmt, "mode": mode, "sample_size": sample_size, "chunk_size": chunk_size,
                  "seed": seed, "result": {k: int(v) for k, v in res.items()}, "intermediates": seen})
print(json.dumps(cases))
