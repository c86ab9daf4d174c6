"""Small AnnData zarr stores (v2 and v3) and the same data as .h5ad, for the zarr backend's tests.

Run both (each writes only the stores of its own zarr version; same seed, so the same data):
  /usr/bin/python3 scripts/reference/make_zarr_fixtures.py              (Debian bookworm: anndata 0.8, zarr-python 2)
  /opt/crispyx-sid/python scripts/reference/make_zarr_fixtures.py       (Debian sid via .ci/sid-anndata: anndata 0.13, zarr-python 3)
Outputs in test/fixtures/zarr/:
  counts.h5ad, lognorm.h5ad            the data (written by anndata 0.8; the sid run checks its own copy equals them)
  v2_counts.zarr, v2_lognorm.zarr      anndata 0.8 write_zarr: zarr v2, Blosc(lz4, byte shuffle), vlen-utf8 strings
  v3_counts.zarr, v3_lognorm.zarr      anndata 0.13 write_zarr: zarr v3 (sharding_indexed + zstd, 'string' dtype,
                                       consolidated metadata inline in zarr.json)
  v2z3_counts.zarr                     anndata 0.13 with zarr_format=2 (zarr-python 3 writing v2: zstd, '|O' + vlen-utf8)

The data: 240 cells x 48 genes; counts: sparse CSR float32 (Poisson, a knocked-down target per perturbation);
lognorm: dense float32 normalize_total(1e4) + log1p of the counts. obs: perturbation (categorical, control
'non-targeting'), guide (string), n_counts (float64), batch_id (int64), is_doublet (bool); var: gene_symbols
(string), mean (float32); uns: a nested dict with a string array, an int scalar and a float array; obsm: X_pca.
Small chunks (64 rows) so reads cross chunk boundaries.
"""
import os
import sys

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "zarr")


def make(kind):
    rng = np.random.default_rng(20261206)
    n_cells, n_genes = 240, 48
    perts = ["non-targeting", "GENE3", "GENE7", "GENE11"]
    labels = np.array([perts[i % 4] for i in range(n_cells)])
    rate = rng.gamma(2.0, 1.5, size=n_genes)
    lam = np.tile(rate, (n_cells, 1))
    for p in perts[1:]:
        g = int(p[4:])
        lam[labels == p, g] *= 0.1
    counts = rng.poisson(lam).astype(np.float32)
    obs = pd.DataFrame(
        {
            "perturbation": pd.Categorical(labels, categories=perts),
            "guide": [f"{labels[i]}_g{i % 3}" for i in range(n_cells)],
            "n_counts": counts.sum(1).astype(np.float64),
            "batch_id": np.arange(n_cells, dtype=np.int64) % 5,
            "is_doublet": np.arange(n_cells) % 7 == 0,
        },
        index=[f"cell{i:03d}" for i in range(n_cells)],
    )
    var = pd.DataFrame(
        {"gene_symbols": [f"SYM{j}" for j in range(n_genes)], "mean": counts.mean(0).astype(np.float32)},
        index=[f"GENE{j}" for j in range(n_genes)],
    )
    if kind == "counts":
        X = sp.csr_matrix(counts)
    else:
        tot = counts.sum(1, keepdims=True)
        X = np.log1p(counts / np.where(tot == 0, 1, tot) * 1e4).astype(np.float32)
    a = ad.AnnData(X=X, obs=obs, var=var)
    a.uns["screen"] = {
        "name": "zarr fixture",
        "guides": np.array(["g0", "g1", "g2"], dtype=object),
        "n_perturbations": 3,
        "weights": np.array([0.5, 1.5, 2.5]),
    }
    a.uns["library"] = np.array(["lib_a", "lib_b"], dtype=object)
    a.obsm["X_pca"] = rng.normal(size=(n_cells, 4)).astype(np.float64)
    return a


def write_zarr(a, path, **kw):
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    a.write_zarr(path, chunks=(64, a.n_vars) if not sp.issparse(a.X) else None, **kw)


def main():
    import zarr

    major = int(zarr.__version__.split(".")[0])
    os.makedirs(OUT, exist_ok=True)
    for kind in ("counts", "lognorm"):
        a = make(kind)
        if major == 2:
            a.write_h5ad(os.path.join(OUT, f"{kind}.h5ad"))
            write_zarr(a, os.path.join(OUT, f"v2_{kind}.zarr"))
        else:
            ref = ad.read_h5ad(os.path.join(OUT, f"{kind}.h5ad"))
            x = ref.X.toarray() if sp.issparse(ref.X) else ref.X
            y = a.X.toarray() if sp.issparse(a.X) else a.X
            assert np.array_equal(x, y), "the sid run made other data than the bookworm run"
            ad.settings.zarr_write_format = 3
            write_zarr(a, os.path.join(OUT, f"v3_{kind}.zarr"))
            if kind == "counts":
                ad.settings.zarr_write_format = 2
                write_zarr(a, os.path.join(OUT, f"v2z3_{kind}.zarr"))
                ad.settings.zarr_write_format = 3
        print(f"{kind}: anndata {ad.__version__}, zarr {zarr.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
