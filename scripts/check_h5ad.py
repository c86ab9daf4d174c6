#!/usr/bin/env python3
"""Check .h5ad files with the real anndata (reference side of crispyx's I/O tests).

Subcommands (each accepts several files in one process, to save the ~1 s import cost):
  read FILE [FILE...]   JSON summary per file (shape, obs/var dtypes, uns tree, mapping keys+shapes, raw)
  dump FILE [FILE...]   canonical JSON of every element as anndata read it
  compare A B           compare every element exactly; print differences
Exit codes: 0 ok / same, 1 read failure / different, 3 anndata not importable.
Canonical values: floats as JSON numbers (repr-exact), NaN/Inf as "NaN"/"Infinity"/"-Infinity",
NA as null, categoricals as {codes, categories, ordered}.
"""
import json
import math
import sys

try:
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
    import anndata as ad
except Exception as exc:  # noqa: BLE001
    print(json.dumps({"error": f"anndata not importable: {exc}"}))
    sys.exit(3)


def _float(x):
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def _scalar(x):
    if x is None or x is pd.NA or x is pd.NaT:
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return _float(x)
    if isinstance(x, bytes):
        return x.decode("utf-8")
    if isinstance(x, str):
        return x
    return str(x)


def _values(arr):
    a = np.asarray(arr)
    if a.dtype.names:  # record array
        return [{n: _scalar(r[n]) for n in a.dtype.names} for r in a.reshape(-1)]
    if a.ndim == 0:
        return _scalar(a[()])
    return [_values(v) for v in a] if a.ndim > 1 else [_scalar(v) for v in a.tolist()]


def _scalar_type(x):
    """The type of a scalar read from uns, the same whichever anndata read it: anndata 0.8 returns numpy scalars
    (bool_, int64, float64), 0.11 Python bools and numpy numbers, 0.13 Python bools, ints and floats. Named as
    anndata 0.11 reads them (the fixtures' expected dumps): bool, str, the numpy dtype of a number (a Python int or
    float as numpy would store it: int64, float64; 0.13 no longer tells an int32 scalar from an int64 one)."""
    if isinstance(x, (bool, np.bool_)):
        return "bool"
    if isinstance(x, (str, np.str_)):
        return "str"
    if isinstance(x, bytes):
        return "bytes"
    if isinstance(x, (int, float)):
        return np.asarray(x).dtype.name
    if isinstance(x, np.generic):
        return x.dtype.name
    return type(x).__name__


def _dtype(d):
    return str(d)


def dump_series(s):
    if isinstance(s.dtype, pd.CategoricalDtype):
        return {
            "kind": "categorical",
            "ordered": bool(s.cat.ordered),
            "codes": [int(c) for c in s.cat.codes],
            "categories": dump_index_values(s.cat.categories),
            "categories_dtype": _dtype(s.cat.categories.dtype),
        }
    if pd.api.types.is_extension_array_dtype(s.dtype):
        return {
            "kind": "nullable",
            "dtype": _dtype(s.dtype),
            "values": [None if pd.isna(v) else _scalar(v) for v in s.tolist()],
        }
    return {"kind": "array", "dtype": _dtype(s.dtype), "values": [_scalar(v) for v in s.tolist()]}


def dump_index_values(idx):
    return [_scalar(v) for v in idx.tolist()]


def dump_df(df):
    return {
        "kind": "dataframe",
        "index_name": df.index.name,
        "index": dump_index_values(df.index),
        "columns": [str(c) for c in df.columns],
        "data": {str(c): dump_series(df[c]) for c in df.columns},
    }


def dump_elem(x):
    if isinstance(x, pd.DataFrame):
        return dump_df(x)
    if sp.issparse(x):
        fmt = x.format
        x = x.tocsr() if fmt == "csr" else x.tocsc()
        x.sort_indices()
        return {
            "kind": "sparse",
            "format": fmt,
            "shape": list(x.shape),
            "dtype": _dtype(x.dtype),
            "indptr": [int(v) for v in x.indptr],
            "indices": [int(v) for v in x.indices],
            "data": _values(x.data),
        }
    if isinstance(x, dict):
        return {"kind": "dict", "items": {str(k): dump_elem(v) for k, v in sorted(x.items())}}
    if isinstance(x, (pd.Categorical,)):
        return dump_series(pd.Series(x))
    if isinstance(x, pd.api.extensions.ExtensionArray):
        return dump_series(pd.Series(x))
    if isinstance(x, np.ndarray):
        return {"kind": "ndarray", "dtype": _dtype(x.dtype), "shape": list(x.shape), "values": _values(x)}
    if isinstance(x, (str, bytes, bool, int, float, np.generic)):
        return {"kind": "scalar", "type": _scalar_type(x), "value": _scalar(x)}
    return {"kind": "other", "type": type(x).__name__, "repr": repr(x)}


def _keys(mapping):
    """Sorted keys of obsm/varm/obsp/varp/layers. anndata >= 0.13 lists X among the layers under the key None
    (the same matrix as X, which is dumped on its own): left out, so that every anndata gives the same keys."""
    return sorted(k for k in mapping.keys() if k is not None)


def _attr_str(v):
    return v.decode("utf-8") if isinstance(v, bytes) else v


def _stored_index_names(path):
    """{(obsm|varm, key): index name} of the DataFrames in obsm/varm, as stored in the file (the `_index` attribute).
    anndata 0.8-0.11 read that name; 0.13 replaces the frame's index with obs_names/var_names, name included."""
    import h5py

    names = {}
    with h5py.File(path, "r") as f:
        for m in ("obsm", "varm"):
            if m not in f or not isinstance(f[m], h5py.Group):
                continue
            for k, v in f[m].items():
                if isinstance(v, h5py.Group) and _attr_str(v.attrs.get("encoding-type")) == "dataframe":
                    idx = _attr_str(v.attrs.get("_index"))
                    names[(m, k)] = None if idx in (None, "_index") else idx
    return names


def dump_file(path):
    """dump_adata of the file, with obsm/varm DataFrames' index names as stored (the same in every anndata)."""
    out = dump_adata(read(path))
    for (m, k), name in _stored_index_names(path).items():
        d = out.get(m, {}).get(k)
        if isinstance(d, dict) and d.get("kind") == "dataframe":
            d["index_name"] = name
    return out


def dump_adata(a):
    out = {
        "shape": list(a.shape),
        "X": None if a.X is None else dump_elem(a.X),
        "obs": dump_df(a.obs),
        "var": dump_df(a.var),
        "uns": dump_elem(dict(a.uns)),
    }
    for m in ("obsm", "varm", "obsp", "varp", "layers"):
        mp = getattr(a, m)
        out[m] = {k: dump_elem(mp[k]) for k in _keys(mp)}
    if a.raw is None:
        out["raw"] = None
    else:
        out["raw"] = {
            "shape": list(a.raw.shape),
            "X": dump_elem(a.raw.X),
            "var": dump_df(a.raw.var),
            "varm": {k: dump_elem(a.raw.varm[k]) for k in sorted(a.raw.varm.keys())},
        }
    return out


def shape_of(v):
    return list(v.shape) if hasattr(v, "shape") else None


def uns_tree(d):
    return {
        str(k): (uns_tree(v) if isinstance(v, dict) else type(v).__name__ + (str(list(v.shape)) if hasattr(v, "shape") else ""))
        for k, v in d.items()
    }


def summary(a):
    xfmt = None
    if a.X is not None:
        xfmt = a.X.format if sp.issparse(a.X) else "dense"
    return {
        "shape": list(a.shape),
        "X": None if a.X is None else {"format": xfmt, "dtype": _dtype(a.X.dtype)},
        "obs": {"index_name": a.obs.index.name, "columns": {str(c): _dtype(a.obs[c].dtype) for c in a.obs.columns}},
        "var": {"index_name": a.var.index.name, "columns": {str(c): _dtype(a.var[c].dtype) for c in a.var.columns}},
        "uns": uns_tree(a.uns),
        **{m: {k: shape_of(getattr(a, m)[k]) for k in _keys(getattr(a, m))} for m in ("obsm", "varm", "obsp", "varp", "layers")},
        "raw": None if a.raw is None else {"shape": list(a.raw.shape), "var_columns": [str(c) for c in a.raw.var.columns]},
    }


def diff(a, b, path, out):
    if len(out) > 50:
        return
    if type(a) is not type(b):
        out.append(f"{path}: {json.dumps(a)[:200]} != {json.dumps(b)[:200]}")
    elif isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in {'B' if k not in a else 'A'}")
            else:
                diff(a[k], b[k], f"{path}/{k}", out)
    elif isinstance(a, list):
        if len(a) != len(b):
            out.append(f"{path}: length {len(a)} != {len(b)}")
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                diff(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: {json.dumps(a)[:200]} != {json.dumps(b)[:200]}")


def read(path):
    return ad.read_h5ad(path)


def main(argv):
    if len(argv) < 2 or argv[0] not in ("read", "dump", "compare"):
        print(__doc__, file=sys.stderr)
        return 2
    cmd, files = argv[0], argv[1:]
    try:
        if cmd == "compare":
            if len(files) != 2:
                print("compare needs exactly two files", file=sys.stderr)
                return 2
            da, db = dump_file(files[0]), dump_file(files[1])
            out = []
            diff(da, db, "", out)
            print(json.dumps({"same": not out, "differences": out}))
            return 0 if not out else 1
        fn = (lambda f: summary(read(f))) if cmd == "read" else dump_file
        if len(files) == 1:
            print(json.dumps(fn(files[0]), allow_nan=False))
            return 0
        # batch mode: one result per file, failures reported per file
        results, failed = [], False
        for f in files:
            try:
                results.append({"file": f, "result": fn(f)})
            except Exception as exc:  # noqa: BLE001
                failed = True
                results.append({"file": f, "error": f"{type(exc).__name__}: {exc}"})
        print(json.dumps(results, allow_nan=False))
        return 1 if failed else 0
    except Exception as exc:  # noqa: BLE001
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
