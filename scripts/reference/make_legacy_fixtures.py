"""Write small .h5ad files in pre-0.7 anndata layouts (no encoding attributes), with h5py + numpy only,
plus anndata 0.11.4's canonical dump of each (what `anndata.read_h5ad` returns).

Run: /tmp/pyref/bin/python scripts/reference/make_legacy_fixtures.py
Outputs: test/fixtures/h5ad-legacy/<name>.h5ad and test/fixtures/h5ad-legacy/expected/<name>.json

Layouts (as anndata 0.6 wrote them):
- legacy_dense: X a plain 2-D float32 dataset; obsm/varm compound datasets with sub-array fields (X_pca (3,),
  X_umap (2,); PCs (2,)); raw as root datasets raw.X and raw.var (compound); obs/var compound datasets whose first field `index` holds the
  names (fixed-length byte strings); categorical columns stored as integer codes with the categories in
  uns['<col>_categories']; uns plain groups/datasets (a 1-element byte-string array, which anndata reads as a str).
- legacy_sparse: X a group data/indices/indptr with `h5sparse_format='csr'` and `h5sparse_shape` attributes;
  uns holds a compound dataset without encoding attributes (a record array); obsm as in legacy_dense.
- legacy_unreadable: like legacy_dense but uns['ragged'] is a variable-length int32 dataset (anndata reads it as
  an object array of arrays; crispyx cannot and must say so, naming the element).
"""
import json
import os
import subprocess
import sys
import warnings

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "h5ad-legacy")
rng = np.random.default_rng(20261127)


def compound(f, name, fields):
    """Write a 1-D structured dataset from [(field, numpy array)] (no attributes, like anndata 0.6)."""
    dtype = np.dtype([(k, v.dtype) for k, v in fields])
    rec = np.empty(len(fields[0][1]), dtype=dtype)
    for k, v in fields:
        rec[k] = v
    f.create_dataset(name, data=rec)


def write_obs_var(f, n, m, extra_obs=()):
    obs_names = np.array([f"cell{i}" for i in range(n)], dtype="S8")
    compound(f, "obs", [
        ("index", obs_names),
        ("n_counts", rng.random(n).astype(np.float32) * 100),
        ("louvain", np.array([i % 3 for i in range(n)], dtype=np.int8)),  # codes into uns/louvain_categories
        ("batch", np.array(["b1" if i < n // 2 else "b2" for i in range(n)], dtype="S2")),  # plain string column
        ("phase", np.arange(n, dtype=np.int64)),  # codes exceed phase_categories: anndata keeps them numeric
        *extra_obs,
    ])
    compound(f, "var", [
        ("index", np.array([f"gene{j}" for j in range(m)], dtype="S6")),
        ("gene_ids", np.array([f"ENSG{j:05d}" for j in range(m)], dtype="S10")),
        ("means", rng.random(m)),
        ("chrom", np.array([j % 2 for j in range(m)], dtype=np.int32)),  # codes into uns/chrom_categories
    ])


def write_uns(f):
    f.create_dataset("uns/louvain_categories", data=np.array([b"T", b"B", b"NK"], dtype="S2"))
    f.create_dataset("uns/chrom_categories", data=np.array([b"chr1", b"chrX"], dtype="S4"))
    f.create_dataset("uns/phase_categories", data=np.array([b"G1", b"S"], dtype="S2"))
    f.create_dataset("uns/neighbors/params/n_neighbors", data=np.int64(15))
    f.create_dataset("uns/neighbors/params/method", data=np.array([b"umap"], dtype="S4"))
    f.create_dataset("uns/pca/variance_ratio", data=np.array([0.5, 0.25, 0.125]))


def write_obsm(f, n):
    """obsm as one compound dataset with a sub-array field per embedding (anndata 0.6)."""
    dt = np.dtype([("X_pca", "<f4", (3,)), ("X_umap", "<f8", (2,))])
    rec = np.zeros(n, dtype=dt)
    rec["X_pca"] = rng.standard_normal((n, 3)).astype(np.float32)
    rec["X_umap"] = rng.standard_normal((n, 2))
    f.create_dataset("obsm", data=rec)


def legacy_dense(path):
    n, m = 6, 4
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=rng.poisson(2.0, (n, m)).astype(np.float32))
        write_obs_var(f, n, m)
        write_uns(f)
        write_obsm(f, n)
        vm = np.zeros(m, dtype=np.dtype([("PCs", "<f4", (2,))]))
        vm["PCs"] = rng.standard_normal((m, 2)).astype(np.float32)
        f.create_dataset("varm", data=vm)
        # raw as root elements raw.X / raw.var (anndata < 0.7), with one more gene than X
        f.create_dataset("raw.X", data=rng.poisson(2.0, (n, m + 1)).astype(np.float32))
        compound(f, "raw.var", [
            ("index", np.array([f"gene{j}" for j in range(m + 1)], dtype="S6")),
            ("n_cells", np.arange(m + 1, dtype=np.int32)),
        ])


def legacy_sparse(path):
    n, m = 5, 3
    dense = rng.poisson(1.0, (n, m)).astype(np.float32)
    dense[rng.random((n, m)) > 0.5] = 0
    indptr, indices, data = [0], [], []
    for r in dense:
        nz = np.nonzero(r)[0]
        indices.extend(nz)
        data.extend(r[nz])
        indptr.append(len(indices))
    with h5py.File(path, "w") as f:
        g = f.create_group("X")
        g.attrs["h5sparse_format"] = "csr"
        g.attrs["h5sparse_shape"] = np.array([n, m], dtype=np.int64)
        g.create_dataset("data", data=np.array(data, dtype=np.float32))
        g.create_dataset("indices", data=np.array(indices, dtype=np.int32))
        g.create_dataset("indptr", data=np.array(indptr, dtype=np.int64))
        write_obs_var(f, n, m)
        write_uns(f)
        write_obsm(f, n)
        compound(f, "uns/rank_genes_groups_names", [
            ("T", np.array([b"gene0", b"gene2"], dtype="S5")),
            ("B", np.array([b"gene1", b"gene0"], dtype="S5")),
        ])


def legacy_unreadable(path):
    legacy_dense(path)
    with h5py.File(path, "a") as f:
        d = f.create_dataset("uns/ragged", shape=(2,), dtype=h5py.vlen_dtype(np.int32))
        d[0] = np.array([1, 2, 3], dtype=np.int32)
        d[1] = np.array([4], dtype=np.int32)


def main():
    os.makedirs(os.path.join(OUT, "expected"), exist_ok=True)
    checker = os.path.join(ROOT, "scripts", "check_h5ad.py")
    for name, make in [("legacy_dense", legacy_dense), ("legacy_sparse", legacy_sparse), ("legacy_unreadable", legacy_unreadable)]:
        p = os.path.join(OUT, name + ".h5ad")
        if os.path.exists(p):
            os.remove(p)
        make(p)
        if name == "legacy_unreadable":
            continue  # anndata reads it (ragged -> object array); crispyx refuses uns/ragged, tested directly
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dump = subprocess.run([sys.executable, checker, "dump", p], check=True, capture_output=True, text=True).stdout
        with open(os.path.join(OUT, "expected", name + ".json"), "w") as fh:
            json.dump(json.loads(dump), fh, indent=1, sort_keys=True)
        print("wrote", p, os.path.getsize(p), "bytes")


if __name__ == "__main__":
    main()
