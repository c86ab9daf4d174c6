"""Write a small .h5ad in anndata 0.7's layout (h5py + numpy only), plus what anndata 0.8 reads from it.

Run: /usr/bin/python3 scripts/reference/make_v07_fixtures.py   (Debian's python3-anndata 0.8, h5py, numpy)
Outputs: test/fixtures/h5ad-legacy/v07_categoricals.h5ad and test/fixtures/h5ad-legacy/expected/v07_categoricals.json

The layout, as anndata 0.7 wrote it (compare the v0.7.0/v0.7.8 archives in anndata's tests/data):
- obs/var are dataframe groups, encoding-version 0.1.0; a categorical column is its integer codes (no encoding
  attributes) with an attribute `categories` holding an object reference to `<table>/__categories/<column>`,
  whose own attribute `ordered` says whether the categories are ordered.
- uns holds a record array whose string field is variable-length UTF-8 (as Scanpy's rank_genes_groups 'names').
- X is a csr_matrix group (encoding-version 0.1.0).
"""
import json
import os

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "h5ad-legacy")
rng = np.random.default_rng(20261205)
n_obs, n_vars = 24, 9
str_dt = h5py.special_dtype(vlen=str)


def write_table(f, name, index, cols):
    g = f.create_group(name)
    g.attrs["encoding-type"] = "dataframe"
    g.attrs["encoding-version"] = "0.1.0"
    g.attrs["_index"] = "_index"
    g.attrs["column-order"] = np.array(list(cols), dtype=object)
    g.create_dataset("_index", data=np.array(index, dtype=object), dtype=str_dt)
    cats = g.create_group("__categories")
    for col, (kind, values, extra) in cols.items():
        if kind == "cat":
            categories, ordered = extra
            c = cats.create_dataset(col, data=np.array(categories, dtype=object), dtype=str_dt)
            c.attrs["ordered"] = ordered
            d = g.create_dataset(col, data=np.asarray(values, dtype=np.int8))
            d.attrs["categories"] = c.ref
        else:
            g.create_dataset(col, data=values)


def main():
    path = os.path.join(OUT, "v07_categoricals.h5ad")
    with h5py.File(path, "w", libver="earliest") as f:
        pert_cats = ["control", "KD/A", "KD B", "Ünï"]
        pert = rng.integers(0, 4, n_obs).astype(np.int8)
        pert[:4] = [0, 0, 0, 0]
        pert[5] = -1  # a missing value
        dose = rng.integers(0, 3, n_obs).astype(np.int8)
        write_table(f, "obs", [f"cell{i}" for i in range(n_obs)], {
            "perturbation": ("cat", pert, (pert_cats, False)),
            "dose": ("cat", dose, (["low", "mid", "high"], True)),
            "n_counts": ("num", rng.random(n_obs).astype(np.float32), None),
        })
        write_table(f, "var", [f"gene{j}" for j in range(n_vars)], {
            "kind": ("cat", rng.integers(0, 2, n_vars).astype(np.int8), (["coding", "noncoding"], False)),
        })
        x = rng.poisson(1.5, (n_obs, n_vars)).astype(np.float32)
        x[rng.random((n_obs, n_vars)) < 0.4] = 0
        X = f.create_group("X")
        X.attrs["encoding-type"] = "csr_matrix"
        X.attrs["encoding-version"] = "0.1.0"
        X.attrs["shape"] = np.array([n_obs, n_vars])
        indptr = np.concatenate([[0], np.cumsum((x != 0).sum(1))]).astype(np.int64)
        X.create_dataset("data", data=x[x != 0])
        X.create_dataset("indices", data=np.nonzero(x)[1].astype(np.int32))
        X.create_dataset("indptr", data=indptr)
        uns = f.create_group("uns")
        rec = np.array([("g1", 1.5), ("g2/x", -2.0), ("ü", 0.25)], dtype=[("names", str_dt), ("scores", "<f4")])
        uns.create_dataset("ranked", data=rec)
        for k in ("obsm", "varm", "layers"):
            f.create_group(k)

    import anndata as ad
    a = ad.read_h5ad(path)
    expected = {
        "anndata": ad.__version__,
        "obs": {c: [None if v != v else str(v) for v in a.obs[c].astype(object)] for c in ["perturbation", "dose"]},
        "obs_categories": {c: [str(x) for x in a.obs[c].cat.categories] for c in ["perturbation", "dose"]},
        "ordered": {c: bool(a.obs[c].cat.ordered) for c in ["perturbation", "dose"]},
        "var_kind": [str(v) for v in a.var["kind"]],
        "uns_ranked": {"names": [str(v) for v in a.uns["ranked"]["names"]], "scores": [float(v) for v in a.uns["ranked"]["scores"]]},
        "X_row_sums": [float(v) for v in np.asarray(a.X.sum(1)).ravel()],
    }
    with open(os.path.join(OUT, "expected", "v07_categoricals.json"), "w") as fh:
        json.dump(expected, fh, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
