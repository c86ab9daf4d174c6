"""Elements that anndata >= 0.12 writes and anndata 0.8 cannot read, made with h5py as those versions lay them out.

Run: /usr/bin/python3 scripts/reference/make_newer_fixtures.py   (Debian's python3-anndata 0.8 + h5py)
Outputs: test/fixtures/h5ad-newer/uns_null.h5ad

- uns_null: uns['nothing'] = None, written as anndata 0.12's "null" encoding (an empty float32 dataset, see
  anndata's _io/specs/methods.py write_null_h5py), and obs['guide'] a nullable-string-array with the
  `na-value` attribute of anndata 0.12.7 (pandas 3 strings).
"""
import os

import anndata as ad
import h5py
import numpy as np
import scipy.sparse as sp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "h5ad-newer")
rng = np.random.default_rng(20261205)

a = ad.AnnData(X=sp.random(20, 10, density=0.3, format="csr", dtype=np.float32, random_state=7))
a.obs_names = [f"cell{i}" for i in range(20)]
a.var_names = [f"gene{j}" for j in range(10)]
a.uns["kept"] = np.arange(3)
path = os.path.join(OUT, "uns_null.h5ad")
a.write_h5ad(path)
with h5py.File(path, "r+") as f:
    d = f["uns"].create_dataset("nothing", data=h5py.Empty("f"))
    d.attrs["encoding-type"] = "null"
    d.attrs["encoding-version"] = "0.1.0"
    g = f["obs"].create_group("guide")
    g.attrs["encoding-type"] = "nullable-string-array"
    g.attrs["encoding-version"] = "0.1.0"
    g.attrs["na-value"] = "NA"
    vals = ["" if i % 4 == 0 else f"sg{i % 3}" for i in range(20)]
    v = g.create_dataset("values", data=np.array(vals, dtype=object), dtype=h5py.string_dtype("utf-8"))
    v.attrs["encoding-type"] = "string-array"
    v.attrs["encoding-version"] = "0.2.0"
    m = g.create_dataset("mask", data=np.array([i % 4 == 0 for i in range(20)]))
    m.attrs["encoding-type"] = "array"
    m.attrs["encoding-version"] = "0.2.0"
    f["obs"].attrs["column-order"] = np.array(["guide"], dtype=object)
