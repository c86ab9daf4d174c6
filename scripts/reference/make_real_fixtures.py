#!/usr/bin/env python3
"""Expectations for the real-file corpus (test/fixtures/real/), from numpy/scipy/anndata 0.8.

Run with Debian's Python (anndata 0.8.0, h5py 3.7, numpy, scipy, pandas 1.5):
    /usr/bin/python3 scripts/reference/make_real_fixtures.py [NAME ...]
For each file of test/fixtures/real/manifest.json it writes test/fixtures/real/expected/<name>.json:
  - shape, obs/var names (head), raw, layers and obsm keys, obs column kinds, the decoded categories of each categorical column and
    the first labels of each (what `info --json` and `obs export` must show);
  - X checksums: total, and sum / stored non-zeros of a few rows (what `convert` must keep exactly);
  - normalize_total(target_sum=1e4) + log1p of those rows, in float64 as Scanpy computes it;
  - the `filter --cells` arguments the test uses and the cells / X total they keep;
  - DE of one group against the manifest's control on the normalised X (float32, as crispyx writes it), or on
    X itself where the manifest says "input": "X" (X is not counts):
    Welch t-test scores (scipy.stats.ttest_ind_from_stats, equal_var=False, as Scanpy) and Wilcoxon
    rank-sum z-scores with tie correction (crispyx's default), for a few genes.
A file anndata 0.8 cannot read (nullable-string-array columns, anndata >= 0.11) is read with anndata after
those columns are dropped from obs/var/raw.var of a temporary copy, and obs's with h5py ("read_by" says so).
Non-finite numbers are written as the strings "NaN", "Infinity", "-Infinity".
"""
import json
import math
import os
import shutil
import sys
import tempfile
import warnings

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

warnings.simplefilter("ignore")
HERE = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "real")
TARGET = 1e4


def num(x):
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def label(v):
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    return str(v)


def read(path):
    """(AnnData, read_by, extra obs columns read with h5py)."""
    try:
        return ad.read_h5ad(path), "anndata-0.8", {}
    except Exception:  # noqa: BLE001 -- a layout 0.8 does not know: drop it from a copy
        pass
    tmp = tempfile.mkdtemp()
    try:
        copy = os.path.join(tmp, "x.h5ad")
        shutil.copy(path, copy)
        extra = {}
        with h5py.File(copy, "r+") as f:
            for frame in ("obs", "var", "raw/var"):
                if frame not in f:
                    continue
                df = f[frame]
                order = [c.decode() if isinstance(c, bytes) else c for c in df.attrs["column-order"]]
                for c in list(order):
                    g = df[c]
                    if isinstance(g, h5py.Group) and g.attrs.get("encoding-type") == "nullable-string-array":
                        vals = [v.decode() if isinstance(v, bytes) else v for v in g["values"][()]]
                        mask = g["mask"][()]
                        if frame == "obs":
                            extra[c] = [None if m else v for v, m in zip(vals, mask)]
                        del df[c]
                        order.remove(c)
                df.attrs["column-order"] = np.array(order, dtype=h5py.string_dtype())
        return ad.read_h5ad(copy), "anndata-0.8 without nullable-string-array columns, those with h5py", extra
    finally:
        shutil.rmtree(tmp)


def kind(s):
    if isinstance(s.dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_bool_dtype(s.dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(s.dtype):
        return "int"
    if pd.api.types.is_float_dtype(s.dtype):
        return "float"
    return "string"


def as_csr64(x):
    return sp.csr_matrix(x, dtype=np.float64) if not sp.issparse(x) else x.tocsr().astype(np.float64)


def stored_nnz(x, rows):
    """Non-zero values of each row (a dense X's zeros are not stored once converted)."""
    m = sp.csr_matrix(x) if not sp.issparse(x) else x.tocsr()
    m.eliminate_zeros()
    return [int(m.indptr[i + 1] - m.indptr[i]) for i in rows]


def normalized(x64):
    """Scanpy's normalize_total(target_sum=1e4) then log1p, float64; all-zero cells stay zero."""
    s = np.asarray(x64.sum(axis=1)).ravel()
    s = s / TARGET
    s[s == 0] = 1
    y = sp.diags(1 / s) @ x64
    y = y.tocsr()
    y.data = np.log1p(y.data)
    return y


def ttest(a, b):
    """Welch t-test of a (group) vs b (control) per column, Scanpy's way; NaN scores -> 0."""
    with np.errstate(all="ignore"):
        m1, m2 = a.mean(0), b.mean(0)
        v1, v2 = a.var(0, ddof=1), b.var(0, ddof=1)
        t, _ = stats.ttest_ind_from_stats(m1, np.sqrt(v1), a.shape[0], m2, np.sqrt(v2), b.shape[0], equal_var=False)
    return np.where(np.isnan(t), 0.0, t)


def wilcoxon(a, b):
    """Rank-sum z-scores of a vs b per column with tie correction, as Scanpy's formula; NaN -> 0."""
    n1, n2 = a.shape[0], b.shape[0]
    n = n1 + n2
    out = np.zeros(a.shape[1])
    for j in range(a.shape[1]):
        v = np.concatenate([a[:, j], b[:, j]])
        r = stats.rankdata(v)
        _, t = np.unique(v, return_counts=True)
        tie = 1 - (t**3 - t).sum() / (n**3 - n)
        with np.errstate(all="ignore"):
            z = (r[:n1].sum() - n1 * (n + 1) / 2) / math.sqrt(tie * n1 * n2 * (n + 1) / 12) if tie > 0 else float("nan")
        out[j] = 0.0 if math.isnan(z) else z
    return out


def rank_stable(v, x, lib):
    """No two non-zero values within 1e-6 (relative) of each other unless they come from the same count and library size."""
    nz = np.flatnonzero(v != 0)
    order = nz[np.argsort(v[nz], kind="stable")]
    for i, k in zip(order[:-1], order[1:]):
        if abs(v[k] - v[i]) <= 1e-6 * abs(v[k]) and (x[i] != x[k] or lib[i] != lib[k]):
            return False
    return True


def filter_args(a, de, obs_extra):
    """A `filter --cells` selection of about half the cells; kept = boolean mask."""
    n = a.n_obs
    if de is not None:
        col = a.obs[de["column"]]
        counts = col.value_counts()
        chosen, total = [], 0
        for lab in sorted(counts.index, key=str):
            if counts[lab] == 0:
                continue
            chosen.append(str(lab))
            total += counts[lab]
            if total >= n / 2:
                break
        esc = [c.replace("\\", "\\\\").replace("'", "\\'") for c in chosen]
        expr = f"obs['{de['column']}'] in [" + ", ".join(f"'{c}'" for c in esc) + "]"
        kept = col.astype(object).isin(chosen).to_numpy()
        return {"cells": expr}, kept
    for c in a.obs.columns:
        s = a.obs[c]
        if kind(s) in ("int", "float") and s.notna().all() and s.nunique() > 2:
            med = float(np.median(s))
            return {"cells": f"obs['{c}'] >= {med!r}"}, (s >= med).to_numpy()
    kept = np.arange(n) % 2 == 0
    return {"cells_from": [str(x) for x in a.obs_names[kept]]}, kept


def expectations(entry):
    path = os.path.join(HERE, entry["name"])
    a, read_by, extra = read(path)
    n, m = a.shape
    rows = sorted({0, min(1, n - 1), n // 2, n - 1}) if n else []
    obs_kinds = {str(c): kind(a.obs[c]) for c in a.obs.columns}
    obs_kinds.update({c: "string" for c in extra})
    cats = {str(c): [label(x) for x in a.obs[c].cat.categories] for c in a.obs.columns if obs_kinds[str(c)] == "categorical"}
    head = {str(c): [label(x) for x in a.obs[c].astype(object).iloc[:10]] for c in a.obs.columns if obs_kinds[str(c)] == "categorical"}
    head.update({c: v[:10] for c, v in extra.items()})
    e = {
        "name": entry["name"], "read_by": read_by, "n_obs": n, "n_vars": m,
        "obs_names_head": [str(x) for x in a.obs_names[:5]], "var_names_head": [str(x) for x in a.var_names[:5]],
        "obs_columns": obs_kinds, "var_columns": [str(c) for c in a.var.columns],
        "categories": cats, "obs_head": head,
        "raw": None if a.raw is None else {"n_vars": int(a.raw.n_vars)},
        "layers": sorted(str(k) for k in a.layers.keys()), "obsm": sorted(str(k) for k in a.obsm.keys()),
        "x": None, "normalize": None, "filter": None, "de": None,
    }
    if a.X is None:
        return e
    x64 = as_csr64(a.X)
    rs = np.asarray(x64.sum(axis=1)).ravel()
    e["x"] = {
        "dtype": str(a.X.dtype), "format": a.X.format if sp.issparse(a.X) else "dense",
        "sum": num(x64.sum()),
        "rows": [{"row": i, "sum": num(rs[i]), "nnz": k} for i, k in zip(rows, stored_nnz(a.X, rows))],
    }
    y = normalized(x64)
    nrows = []
    for i in rows:
        r = y.getrow(i)
        nz = [(int(j), float(v)) for j, v in zip(r.indices, r.data) if v != 0]
        nrows.append({"row": i, "sum": num(r.data.sum()), "first": [[j, num(v)] for j, v in nz[:8]]})
    e["normalize"] = {"target_sum": TARGET, "rows": nrows}
    de = entry.get("de")
    args, kept = filter_args(a, de, extra)
    e["filter"] = {**args, "n_obs": int(kept.sum()), "x_sum": num(x64[np.flatnonzero(kept)].sum())}
    if de is not None:
        col = a.obs[de["column"]].astype(object).map(label)
        counts = col.value_counts()
        others = [l for l in counts.index if l != de["control"] and counts[l] >= 2]
        slashed = [l for l in others if "/" in l]
        group = (slashed or sorted(others, key=lambda l: (-counts[l], l)))[0]
        on_x = de.get("input") == "X"  # DE of X itself (X is not counts), else of the normalised X
        yf = x64.toarray() if on_x else y.astype(np.float32).astype(np.float64).toarray()  # crispyx's float32 output
        g, c = yf[(col == group).to_numpy()], yf[(col == de["control"]).to_numpy()]
        t = ttest(g, c)
        names = [str(v) for v in a.var_names]
        unique = {v for v, k in pd.Series(names).value_counts().items() if k == 1}
        # Genes whose normalised values are all finite (log1p of a negative X is NaN, and a rank of NaN is
        # undefined), with unique names (the CSV names genes).
        # Also genes whose ranks cannot depend on rounding: float32 normalised values that differ in the last
        # bit between two correct computations (x·(1e4/s) or x/(s/1e4)) must not make or break a tie.
        members = np.flatnonzero((col == group).to_numpy() | (col == de["control"]).to_numpy())
        xs = x64[members].toarray()
        libs = np.asarray(x64[members].sum(axis=1)).ravel()
        ok = [names[j] in unique and np.isfinite(g[:, j]).all() and np.isfinite(c[:, j]).all()
              and (on_x or rank_stable(yf[members, j], xs[:, j], libs)) for j in range(m)]
        order = [j for j in np.argsort(-np.abs(t), kind="stable") if ok[j]]
        genes = sorted(set(order[:5]) | set(j for j in range(min(m, 3)) if ok[j]))
        w = wilcoxon(g[:, genes], c[:, genes])
        e["de"] = {
            "column": de["column"], "control": de["control"], "group": group, "input": "X" if on_x else "normalized",
            "n_group": int(len(g)), "n_control": int(len(c)),
            "genes": [names[j] for j in genes], "ttest": [num(t[j]) for j in genes], "wilcoxon": [num(v) for v in w],
        }
    return e


def main(argv):
    manifest = json.load(open(os.path.join(HERE, "manifest.json")))
    os.makedirs(os.path.join(HERE, "expected"), exist_ok=True)
    for entry in manifest["files"]:
        if argv and entry["name"].removesuffix(".h5ad") not in argv and entry["name"] not in argv:
            continue
        e = expectations(entry)
        out = os.path.join(HERE, "expected", entry["name"].removesuffix(".h5ad") + ".json")
        with open(out, "w") as f:
            json.dump(e, f, indent=1, allow_nan=False)
        print(f"{entry['name']}: {e['n_obs']} x {e['n_vars']}, read by {e['read_by']}, de group {e['de'] and e['de']['group']}")


if __name__ == "__main__":
    main(sys.argv[1:])
