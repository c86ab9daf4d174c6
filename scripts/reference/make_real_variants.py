#!/usr/bin/env python3
"""Write the generated part of the real-file corpus: small .h5ad files as anndata 0.8 writes them.

Run with Debian's Python (anndata 0.8.0, h5py 3.7, numpy, pandas 1.5):
    /usr/bin/python3 scripts/reference/make_real_variants.py
It (re)writes test/fixtures/real/gen_*.h5ad and prints one manifest entry per file (JSON, one a line);
test/fixtures/real/manifest.json holds them. Deterministic: a fixed seed, so a rerun gives the same values
(HDF5 may still place bytes differently).

Each variant covers one layout the real files use (compression, X storage and dtype, categoricals, record
arrays in uns, raw, layers, labels HDF5 cannot name). Two are rewritten with h5py afterwards to what newer
anndata writes and 0.8 cannot: record arrays with variable-length string fields, and a
nullable-string-array column (anndata >= 0.11, pandas >= 3).
"""
import json
import os
import sys

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "real")
rng = np.random.default_rng(20261205)
entries = []


def counts(n_obs, n_vars, dtype=np.float32, density=0.3):
    """Poisson counts with ~density non-zeros."""
    lam = rng.gamma(0.6, 3.0, size=n_vars)
    x = rng.poisson(lam, size=(n_obs, n_vars)).astype(np.float64)
    x[rng.random((n_obs, n_vars)) > density * 2] = 0
    return x.astype(dtype)


def screen(n_obs, n_vars, labels, x, control="control"):
    """An AnnData with a perturbation column (control first), a bool and a float column, gene symbols."""
    pert = np.array([control] + list(labels))[rng.integers(0, len(labels) + 1, n_obs)]
    pert[: len(labels) + 1] = [control] + list(labels)  # every label present at least ...
    pert[len(labels) + 1: 2 * (len(labels) + 1)] = [control] + list(labels)  # ... twice (min cells for DE)
    obs = pd.DataFrame(
        {
            "perturbation": pd.Categorical(pert),
            "is_doublet": rng.random(n_obs) < 0.1,
            "n_counts_raw": rng.random(n_obs) * 1000,
        },
        index=[f"cell{i:04d}" for i in range(n_obs)],
    )
    var = pd.DataFrame({"gene_symbols": [f"G{j}" for j in range(n_vars)]}, index=[f"ENSG{j:05d}" for j in range(n_vars)])
    return ad.AnnData(X=x, obs=obs, var=var, dtype=x.dtype)


def write(name, adata, covers, de=("perturbation", "control"), **kwargs):
    path = os.path.join(OUT, f"{name}.h5ad")
    if os.path.exists(path):
        os.remove(path)
    adata.write_h5ad(path, **kwargs)
    entries.append((name, covers, de))
    return path


LABELS = ["GATA1", "TAL1", "KLF1"]

a = screen(120, 60, LABELS, sp.csr_matrix(counts(120, 60)))
write("gen_csr_f32_gzip", a, ["anndata-0.8", "csr", "float32", "gzip", "categorical", "bool-column"], compression="gzip")

a = screen(120, 60, LABELS, sp.csr_matrix(counts(120, 60)))
write("gen_csr_f32_lzf", a, ["anndata-0.8", "csr", "float32", "lzf", "categorical"], compression="lzf")

a = screen(100, 40, LABELS, counts(100, 40))
write("gen_dense_f32", a, ["anndata-0.8", "dense", "float32", "categorical"])

a = screen(100, 40, LABELS, counts(100, 40, np.float64))
write("gen_dense_f64_lzf", a, ["anndata-0.8", "dense", "float64", "lzf"], compression="lzf")

a = screen(100, 40, LABELS, counts(100, 40, np.int32))
write("gen_dense_i32", a, ["anndata-0.8", "dense", "int32"])

a = screen(120, 60, LABELS, sp.csr_matrix(counts(120, 60, np.int64)))
write("gen_csr_i64", a, ["anndata-0.8", "csr", "int64"])

a = screen(120, 60, LABELS, sp.csc_matrix(counts(120, 60)))
write("gen_csc_f32", a, ["anndata-0.8", "csc", "float32"])

a = screen(120, 60, LABELS, sp.csc_matrix(counts(120, 60, np.float64)))
write("gen_csc_f64_gzip", a, ["anndata-0.8", "csc", "float64", "gzip"], compression="gzip")

# Non-integer float32 values: library sizes must be summed in float64 to agree with Scanpy.
x = counts(150, 80) * rng.random((150, 80)).astype(np.float32) * 7.3
a = screen(150, 80, LABELS, sp.csr_matrix(x.astype(np.float32)))
write("gen_csr_f32_nonint", a, ["anndata-0.8", "csr", "float32", "non-integer"])

# raw, layers, obsm, varm, obsp
x = counts(90, 50)
a = screen(90, 50, LABELS, sp.csr_matrix(x))
a.layers["counts"] = sp.csr_matrix(x)
a.layers["dense"] = x.copy()
a.obsm["X_pca"] = rng.normal(size=(90, 5)).astype(np.float32)
a.varm["PCs"] = rng.normal(size=(50, 5))
a.obsp["connectivities"] = sp.random(90, 90, density=0.05, format="csr", random_state=1)
a.raw = a
write("gen_raw_layers", a, ["anndata-0.8", "csr", "raw", "layers", "obsm", "varm", "obsp"])

# Labels HDF5 cannot use as names, and others that must survive as data.
odd = ["CD4+/CD25 T Reg", "a.b", " padded ", "Ünïcødé-β", "L" * 300, "x/y/z"]
a = screen(160, 40, odd, sp.csr_matrix(counts(160, 40)))
write("gen_labels_special", a, ["anndata-0.8", "csr", "labels-with-slash", "non-ascii", "long-label"],
      de=("perturbation", "control"))

# Unused categories and their colours (filter must drop both, as anndata's subset does).
a = screen(120, 40, LABELS, sp.csr_matrix(counts(120, 40)))
a.obs["perturbation"] = a.obs["perturbation"].cat.add_categories(["UNUSED1", "UNUSED2"])
a.uns["perturbation_colors"] = np.array(["#1f77b4", "#ff7f0e", "#279e68", "#d62728", "#aa40fc", "#8c564b"], dtype=object)
write("gen_unused_categories", a, ["anndata-0.8", "csr", "unused-categories", "colors"])

# Ordered categorical with > 127 categories (int16 codes), nullable integer and boolean columns.
a = screen(400, 30, LABELS, sp.csr_matrix(counts(400, 30)))
a.obs["clone"] = pd.Categorical([f"clone{i % 150:03d}" for i in range(400)], ordered=True)
a.obs["umi_nullable"] = pd.array([None if i % 7 == 0 else i for i in range(400)], dtype="Int32")
a.obs["flag_nullable"] = pd.array([None if i % 5 == 0 else i % 2 == 0 for i in range(400)], dtype="boolean")
write("gen_ordered_int16_nullable", a, ["anndata-0.8", "csr", "ordered-categorical", "int16-codes", "nullable-integer", "nullable-boolean"])

# All-zero cells and genes in float64 CSR.
x = counts(100, 50, np.float64)
x[::9] = 0
x[:, ::7] = 0
a = screen(100, 50, LABELS, sp.csr_matrix(x))
write("gen_csr_f64_zeros", a, ["anndata-0.8", "csr", "float64", "empty-rows", "empty-columns"])

# The layout of issue 18 item 6: a clean dense 200 x 459 file with 3 groups.
a = screen(200, 459, ["B", "C"], counts(200, 459), control="A")
write("gen_dense_200x459_3groups", a, ["anndata-0.8", "dense", "float32"], de=("perturbation", "A"))

# uns record arrays (Scanpy's rank_genes_groups), as anndata 0.8 writes them (fixed-length strings) ...
def rank_genes_groups(groups, genes, n=10):
    names = np.rec.fromarrays([rng.choice(genes, n, replace=False) for _ in groups], names=groups)
    scores = np.rec.fromarrays([rng.normal(size=n).astype(np.float32) for _ in groups], names=groups)
    return {"params": {"groupby": "perturbation", "method": "t-test", "reference": "control"}, "names": names, "scores": scores}


a = screen(120, 60, LABELS, sp.csr_matrix(counts(120, 60)))
a.uns["rank_genes_groups"] = rank_genes_groups(LABELS, list(a.var_names))
write("gen_uns_recarray", a, ["anndata-0.8", "csr", "uns-recarray"])

# ... and with variable-length string fields, as anndata >= 0.10 writes them (rewritten with h5py).
a = screen(120, 60, LABELS, sp.csr_matrix(counts(120, 60)))
a.uns["rank_genes_groups"] = rank_genes_groups(LABELS, list(a.var_names))
path = write("gen_uns_recarray_vlen", a, ["anndata-0.8+h5py", "csr", "uns-recarray", "vlen-string-fields"])
with h5py.File(path, "r+") as f:
    old = f["uns/rank_genes_groups/names"]
    attrs = dict(old.attrs)
    rec = old[()]
    vlen = h5py.string_dtype("utf-8")
    dt = np.dtype([(n, vlen) for n in rec.dtype.names])
    new = np.array([tuple(x.decode() for x in row) for row in rec], dtype=dt)
    del f["uns/rank_genes_groups/names"]
    d = f["uns/rank_genes_groups"].create_dataset("names", data=new)
    for k, v in attrs.items():
        d.attrs[k] = v

# A string column as anndata >= 0.11 writes it under pandas 3 (nullable-string-array, with a missing value).
a = screen(120, 60, LABELS, sp.csr_matrix(counts(120, 60)))
path = write("gen_nullable_string_array", a, ["anndata-0.8+h5py", "csr", "nullable-string-array"])
with h5py.File(path, "r+") as f:
    obs = f["obs"]
    g = obs.create_group("guide")
    g.attrs["encoding-type"] = "nullable-string-array"
    g.attrs["encoding-version"] = "0.1.0"
    g.attrs["na-value"] = "NA"
    vals = [("" if i % 11 == 0 else f"sg{i % 13}") for i in range(a.n_obs)]
    v = g.create_dataset("values", data=np.array(vals, dtype=object), dtype=h5py.string_dtype("utf-8"))
    v.attrs["encoding-type"] = "string-array"
    v.attrs["encoding-version"] = "0.2.0"
    m = g.create_dataset("mask", data=np.array([i % 11 == 0 for i in range(a.n_obs)]))
    m.attrs["encoding-type"] = "array"
    m.attrs["encoding-version"] = "0.2.0"
    order = list(obs.attrs["column-order"]) + ["guide"]
    obs.attrs["column-order"] = np.array(order, dtype=object)

for name, covers, de in entries:
    print(json.dumps({
        "name": f"{name}.h5ad", "repository": "generated", "commit": None,
        "path": "scripts/reference/make_real_variants.py", "licence": "MIT (this project)",
        "covers": covers,
        "de": None if de is None else {"column": de[0], "control": de[1]},
    }))
print(f"wrote {len(entries)} files to {os.path.normpath(OUT)}", file=sys.stderr)
