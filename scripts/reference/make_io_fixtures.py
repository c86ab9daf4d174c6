"""Write small golden .h5ad fixtures with the REAL anndata, plus anndata's canonical dump of each.

Run: /tmp/pyref/bin/python scripts/reference/make_io_fixtures.py
Outputs: test/fixtures/h5ad/<name>.h5ad and test/fixtures/h5ad/expected/<name>.json
"""
import json
import os
import subprocess
import sys

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "h5ad")
ad.settings.allow_write_nullable_strings = True
rng = np.random.default_rng(20240601)


def counts(n, m, density=0.3, dtype=np.float32):
    x = rng.poisson(2.0, size=(n, m)).astype(dtype)
    x[rng.random((n, m)) > density] = 0
    return x


def obs_df(n):
    cat = pd.Categorical(rng.choice(["ctrl", "KD_A", "KD_B"], n))
    codes = np.asarray(cat.codes).copy()
    codes[::5] = -1  # missing values
    cat = pd.Categorical.from_codes(codes, categories=cat.categories)
    ordc = pd.Categorical(rng.choice(["low", "mid", "high"], n), categories=["low", "mid", "high"], ordered=True)
    ints = pd.array(rng.integers(-5, 100, n), dtype="Int64")
    ints[1] = pd.NA
    bools = pd.array(rng.random(n) > 0.5, dtype="boolean")
    bools[2] = pd.NA
    strs = pd.array([f"s{i}" for i in range(n)], dtype=pd.StringDtype())
    strs[3] = pd.NA
    df = pd.DataFrame(
        {
            "perturbation": cat,
            "level": ordc,
            "n_int": ints,
            "flag_na": bools,
            "label_na": strs,
            "label": [f"cell label {i} é" for i in range(n)],
            "is_ok": rng.random(n) > 0.3,
            "count": rng.integers(0, 1000, n).astype(np.int64),
            "count32": rng.integers(0, 1000, n).astype(np.int32),
            "score": np.r_[rng.standard_normal(n - 3), np.nan, np.inf, -np.inf].astype(np.float64),
            "score32": rng.standard_normal(n).astype(np.float32),
        },
        index=pd.Index([f"cell_{i}" for i in range(n)], name="barcode"),
    )
    return df


def var_df(m):
    return pd.DataFrame(
        {
            "gene_symbol": [f"G{j}" for j in range(m)],
            "highly_variable": rng.random(m) > 0.5,
            "mean": rng.random(m),
            "chrom": pd.Categorical(rng.choice(["chr1", "chr2"], m)),
        },
        index=pd.Index([f"ENSG{j:05d}" for j in range(m)], name="gene_id"),
    )


def full(n=20, m=12):
    x = counts(n, m)
    a = ad.AnnData(sp.csr_matrix(x), obs=obs_df(n), var=var_df(m))
    a.uns["nested"] = {"a": {"b": {"c": np.int64(3)}}, "method": "wilcoxon", "params": {"alpha": 0.05, "use": True}}
    a.uns["int_scalar"] = 7
    a.uns["float_scalar"] = 2.5
    a.uns["bool_scalar"] = False
    a.uns["str_scalar"] = "hello ü"
    a.uns["str_array"] = np.array(["x", "yy", "zzz"], dtype=object)
    a.uns["num_array"] = np.arange(5, dtype=np.int32)
    a.uns["float_array"] = np.array([0.1, np.nan, np.inf])
    a.uns["mat2d"] = rng.standard_normal((3, 4))
    a.uns["df"] = pd.DataFrame({"p": [0.1, 0.2], "name": ["a", "b"]}, index=["r1", "r2"])
    a.obsm["X_pca"] = rng.standard_normal((n, 3)).astype(np.float32)
    a.obsm["sparse_emb"] = sp.random(n, 4, density=0.3, format="csr", random_state=1)
    a.obsm["df_emb"] = pd.DataFrame({"u": rng.random(n), "c": pd.Categorical(rng.choice(["a", "b"], n))}, index=a.obs_names)
    a.varm["PCs"] = rng.standard_normal((m, 3))
    a.obsp["distances"] = sp.random(n, n, density=0.1, format="csr", random_state=2)
    a.varp["corr"] = rng.standard_normal((m, m))
    a.layers["dense"] = x.astype(np.float64)
    a.layers["sparse_csc"] = sp.csc_matrix(x)
    a.raw = ad.AnnData(sp.csr_matrix(counts(n, m + 3)), var=pd.DataFrame({"orig": np.arange(m + 3)}, index=[f"RG{j}" for j in range(m + 3)]))
    return a


def fixtures():
    yield "full_csr", full()
    n, m = 15, 8
    yield "x_csc", ad.AnnData(sp.csc_matrix(counts(n, m)), obs=obs_df(n), var=var_df(m))
    yield "x_dense_f32", ad.AnnData(counts(n, m, dtype=np.float32))
    yield "x_dense_f64", ad.AnnData(rng.standard_normal((n, m)))
    yield "x_dense_int", ad.AnnData(counts(n, m, dtype=np.int64))
    yield "x_csr_int32", ad.AnnData(sp.csr_matrix(counts(n, m, dtype=np.int32)))
    yield "empty_columns", ad.AnnData(sp.csr_matrix(counts(6, 4)), obs=pd.DataFrame(index=[f"c{i}" for i in range(6)]), var=pd.DataFrame(index=[f"g{j}" for j in range(4)]))
    yield "zero_cells", ad.AnnData(sp.csr_matrix((0, 5), dtype=np.float32), obs=pd.DataFrame({"x": pd.Categorical([], categories=["a"])}), var=var_df(5))
    yield "no_x", ad.AnnData(obs=obs_df(5), var=var_df(3))
    rec = ad.AnnData(np.ones((2, 2), dtype=np.float32))
    rec.uns["rec"] = np.rec.fromarrays([np.array([1, 2], dtype=np.int32), np.array([0.5, 1.5])], names=["i", "f"])
    yield "uns_recarray", rec


def write_legacy(path):
    """Pre-0.7 style file: no encoding attributes; categoricals via __categories; no column-order."""
    n, m = 4, 3
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=np.arange(n * m, dtype=np.float32).reshape(n, m))
        for name, size, prefix in (("obs", n, "c"), ("var", m, "g")):
            g = f.create_group(name)
            g.attrs["_index"] = "index"
            g.create_dataset("index", data=np.array([f"{prefix}{i}" for i in range(size)], dtype=h5py.string_dtype()))
        obs = f["obs"]
        obs.create_dataset("group", data=np.array([0, 1, 0, 1], dtype=np.int8))
        cats = obs.create_group("__categories")
        cats.create_dataset("group", data=np.array(["A", "B"], dtype=h5py.string_dtype()))
        obs["group"].attrs["categories"] = cats["group"].ref
        obs.create_dataset("n", data=np.array([1, 2, 3, 4], dtype=np.int64))
        f["var"].create_dataset("m", data=np.array([0.5, 1.5, 2.5]))


def main():
    os.makedirs(os.path.join(OUT, "expected"), exist_ok=True)
    names = []
    for name, a in fixtures():
        p = os.path.join(OUT, name + ".h5ad")
        # keep string columns as strings (anndata would otherwise turn repeated strings into categoricals)
        a.write_h5ad(p, convert_strings_to_categoricals=False)
        names.append(name)
    # write_legacy() is kept for reference but not used: anndata 0.11 reads such an unencoded obs group as a
    # frame with "__categories" as a column (no categorical), so it makes no meaningful golden file.
    checker = os.path.join(ROOT, "scripts", "check_h5ad.py")
    for name in names:
        p = os.path.join(OUT, name + ".h5ad")
        dump = subprocess.run([sys.executable, checker, "dump", p], check=True, capture_output=True, text=True).stdout
        with open(os.path.join(OUT, "expected", name + ".json"), "w") as fh:
            json.dump(json.loads(dump), fh, indent=1, sort_keys=True)
            fh.write("\n")
        print(name, os.path.getsize(p))


if __name__ == "__main__":
    main()
