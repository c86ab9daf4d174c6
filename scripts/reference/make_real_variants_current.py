#!/usr/bin/env python3
"""The current-anndata part of the real-file corpus: files as the newest anndata writes them.

Run with a Python that has a current anndata (CI's /opt/crispyx-sid/python, made by .ci/sid-anndata):
    /opt/crispyx-sid/python scripts/reference/make_real_variants_current.py
It (re)writes test/fixtures/real/gen_current_*.h5ad and prints their manifest entries (JSON, one a line).
What anndata 0.8 never wrote: string columns as nullable-string-array with missing values
(allow_write_nullable_strings), nullable integer/boolean columns, record arrays with variable-length strings,
an obsm data frame, and anndata's current attribute types.
"""
import json
import os
import sys

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "real")
rng = np.random.default_rng(20261206)
ad.settings.allow_write_nullable_strings = True
entries = []


def counts(n_obs, n_vars, dtype):
    lam = rng.gamma(0.6, 3.0, size=n_vars)
    x = rng.poisson(lam, size=(n_obs, n_vars)).astype(np.float64)
    x[rng.random((n_obs, n_vars)) > 0.6] = 0
    return x.astype(dtype)


def screen(n_obs, n_vars, x):
    labels = ["control", "CD4+/CD25 T Reg", "GATA1", "TAL1"]
    pert = np.array(labels)[np.arange(n_obs) % len(labels)]
    guide = pd.array([None if i % 9 == 0 else f"sg{i % 5}" for i in range(n_obs)], dtype="string")
    obs = pd.DataFrame(
        {
            "perturbation": pd.Categorical(pert),
            "guide": guide,
            "umis": pd.array([None if i % 7 == 0 else i for i in range(n_obs)], dtype="Int64"),
            "kept": pd.array([None if i % 11 == 0 else i % 2 == 0 for i in range(n_obs)], dtype="boolean"),
            "score": rng.random(n_obs),
        },
        index=[f"cell{i:04d}" for i in range(n_obs)],
    )
    var = pd.DataFrame({"gene_symbols": pd.array([f"G{j}" for j in range(n_vars)], dtype="string")},
                       index=[f"ENSG{j:05d}" for j in range(n_vars)])
    a = ad.AnnData(X=x, obs=obs, var=var)
    groups = labels[1:]
    a.uns["rank_genes_groups"] = {
        "params": {"groupby": "perturbation", "method": "t-test", "reference": "control"},
        "names": np.rec.fromarrays([np.array(rng.choice(a.var_names, 5, replace=False), dtype=object) for _ in groups], names=groups),
        "scores": np.rec.fromarrays([rng.normal(size=5).astype(np.float32) for _ in groups], names=groups),
    }
    a.obsm["meta"] = pd.DataFrame({"depth": rng.random(n_obs)}, index=a.obs_names)
    a.obsm["X_pca"] = rng.normal(size=(n_obs, 4)).astype(np.float32)
    return a


def write(name, a, covers, **kwargs):
    path = os.path.join(OUT, f"{name}.h5ad")
    if os.path.exists(path):
        os.remove(path)
    a.write_h5ad(path, convert_strings_to_categoricals=False, **kwargs)  # keep string columns as strings
    entries.append((name, covers))


a = screen(120, 50, sp.csr_matrix(counts(120, 50, np.float32)))
a.layers["counts"] = a.X.copy()
a.raw = a.copy()
write("gen_current_csr_nullable_strings", a,
      ["anndata-current", "csr", "float32", "nullable-string-array", "nullable-integer", "nullable-boolean",
       "labels-with-slash", "uns-recarray", "vlen-string-fields", "obsm-dataframe", "raw", "layers"])

a = screen(80, 30, counts(80, 30, np.float64))
write("gen_current_dense_f64_gzip", a, ["anndata-current", "dense", "float64", "gzip", "nullable-string-array"],
      compression="gzip")

version = ad.__version__
for name, covers in entries:
    print(json.dumps({
        "name": f"{name}.h5ad", "repository": "generated", "commit": None,
        "path": "scripts/reference/make_real_variants_current.py", "licence": "MIT (this project)",
        "covers": covers, "written_by": f"anndata {version}",
        "de": {"column": "perturbation", "control": "control"},
    }))
print(f"wrote {len(entries)} files with anndata {version} to {os.path.normpath(OUT)}", file=sys.stderr)
