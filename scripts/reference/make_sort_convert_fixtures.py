"""Reference outputs of the seed's conversion, sorting and standardisation functions (crispyx.data).

Run: PYTHONPATH=/tmp/crispyx-seed/src /tmp/pyref/bin/python scripts/reference/make_sort_convert_fixtures.py
Inputs:  test/fixtures/h5ad/*.h5ad (golden files) and a small synthetic screen written here
         (test/fixtures/ops-b/screen_{csr,csc,dense}.h5ad, fixed seed).
Outputs: test/fixtures/ops-b/expected/*.h5ad (the seed's files) and test/fixtures/ops-b/expected.json
         (what the seed returned / wrote, without timestamps and machine paths).
"""
import json
import os
import shutil
import tempfile

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from crispyx import data as cxd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLD = os.path.join(ROOT, "test", "fixtures", "h5ad")
OUT = os.path.join(ROOT, "test", "fixtures", "ops-b")
EXP = os.path.join(OUT, "expected")
rng = np.random.default_rng(20261127)

# anndata 0.11.4's backed sparse slicing fails with scipy 1.17 ('backed_csr_matrix' has no
# '_validate_indices'). The files here are tiny, so let the seed read them into memory instead: its
# functions see the same blocks and values, only the I/O path differs.
_orig_read_backed = cxd.read_backed


def _read_in_memory(path):
    a = ad.read_h5ad(path)
    a.file.close = lambda: None
    return a


cxd.read_backed = _read_in_memory


def write_screen():
    """240 cells x 30 genes, scattered perturbation labels with a 'non-targeting' control."""
    n, m = 240, 30
    labels = rng.choice(["KD_B", "non-targeting", "KD_A", "KD_C", "Ab_1", "KD_D"], n, p=[0.2, 0.3, 0.15, 0.15, 0.1, 0.1])
    x = rng.poisson(1.5, size=(n, m)).astype(np.float32)
    x[rng.random((n, m)) > 0.35] = 0
    obs = pd.DataFrame(
        {
            "gene": pd.Categorical(labels),
            "batch": rng.choice(["b1", "b2"], n),
            "n_counts": x.sum(axis=1).astype(np.float64),
        },
        index=[f"AAAC{i:04d}" for i in range(n)],
    )
    var = pd.DataFrame(
        {"gene_symbols": [f"G{j}" for j in range(m)], "mean": x.mean(axis=0).astype(np.float64)},
        index=[f"ENSG{j:011d}" for j in range(m)],
    )
    base = ad.AnnData(X=sp.csr_matrix(x), obs=obs, var=var)
    base.uns["screen"] = {"name": "synthetic", "n_guides": 6}
    base.obsm["X_pca"] = rng.standard_normal((n, 3)).astype(np.float32)
    base.layers["counts"] = sp.csr_matrix(x)
    paths = {}
    for kind in ("csr", "csc", "dense"):
        a = base.copy()
        a.X = sp.csr_matrix(x) if kind == "csr" else sp.csc_matrix(x) if kind == "csc" else x.copy()
        p = os.path.join(OUT, f"screen_{kind}.h5ad")
        a.write_h5ad(p)
        paths[kind] = p
    return paths


def rel(p):
    return os.path.relpath(p, ROOT)


def x_summary(path):
    a = ad.read_h5ad(path)
    X = a.X
    fmt = X.format if sp.issparse(X) else "dense"
    return {"format": fmt, "dtype": str(X.dtype), "shape": list(X.shape)}


def clean_meta(meta):
    out = {}
    for k, v in meta.items():
        if k in ("timestamp", "original_path", "standardization_timestamp"):
            continue
        if isinstance(v, dict):
            v = clean_meta(v)
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, (np.integer,)):
            v = int(v)
        out[k] = v
    return out


def main():
    os.makedirs(EXP, exist_ok=True)
    screen = write_screen()
    expected = {"convert": {}, "sort": {}, "needs_sorting": {}, "slices": {}, "standardize": {}}

    # ---- conversion ----------------------------------------------------------------------------
    inputs = {
        "full_csr": os.path.join(GOLD, "full_csr.h5ad"),
        "x_csc": os.path.join(GOLD, "x_csc.h5ad"),
        "x_dense_f32": os.path.join(GOLD, "x_dense_f32.h5ad"),
        "x_csr_int32": os.path.join(GOLD, "x_csr_int32.h5ad"),
        "screen_csr": screen["csr"],
        "screen_csc": screen["csc"],
        "screen_dense": screen["dense"],
    }
    for name, p in inputs.items():
        for target, fn in (("csc", cxd.convert_to_csc), ("csr", cxd.convert_to_csr)):
            out = os.path.join(EXP, f"{name}_to_{target}.h5ad")
            res = fn(p, output_path=out, chunk_size=7, verbose=False)
            returned = str(res.path)
            res.close()
            converted = os.path.abspath(returned) != os.path.abspath(p)
            if not converted and os.path.exists(out):
                os.remove(out)
            expected["convert"][f"{name}_to_{target}"] = {
                "input": rel(p),
                "converted": converted,
                "output": rel(out) if converted else None,
                "x": x_summary(returned),
            }

    # ---- sorting -------------------------------------------------------------------------------
    sorts = {
        "screen_csr": (screen["csr"], "gene", None),
        "screen_csc": (screen["csc"], "gene", None),
        "screen_dense": (screen["dense"], "gene", None),
        "screen_csr_ctrl_KD_C": (screen["csr"], "gene", "KD_C"),
        "full_csr": (inputs["full_csr"], "perturbation", None),
    }
    for name, (p, col, ctrl) in sorts.items():
        out = os.path.join(EXP, f"{name}_sorted.h5ad")
        if os.path.exists(out):
            os.remove(out)
        cxd.sort_by_perturbation(p, col, ctrl, output_path=out, chunk_size=16)
        a = ad.read_h5ad(out)
        meta = clean_meta(a.uns["sorting_metadata"])
        expected["sort"][name] = {
            "input": rel(p),
            "column": col,
            "control_label": ctrl,
            "output": rel(out),
            "x": x_summary(out),
            "sorting_metadata": meta,
            "obs_names": list(map(str, a.obs_names)),
            "uns_keys": sorted(a.uns.keys()),
            "obsm_keys": sorted(a.obsm.keys()),
            "layers_keys": sorted(a.layers.keys()),
        }
        slices = {}
        for label in list(meta["perturbation_boundaries"].keys()) + ["not_a_label"]:
            s, ok = cxd.get_perturbation_slice(out, label, col)
            slices[label] = [None if s is None else [s.start, s.stop], ok]
        s, ok = cxd.get_perturbation_slice(out, "KD_A", "other_column")
        slices["__other_column__"] = [None if s is None else [s.start, s.stop], ok]
        expected["slices"][name] = slices

    # ---- needs_sorting_for_nbglm ----------------------------------------------------------------
    checks = {
        "defaults": (screen["csr"], "gene", {}),
        "small_thresholds": (screen["csr"], "gene", {"min_cells": 100, "min_perturbations": 3}),
        "too_few_perturbations": (screen["csr"], "gene", {"min_cells": 100, "min_perturbations": 7}),
        "high_contiguity_threshold": (screen["csr"], "gene", {"min_cells": 100, "min_perturbations": 3, "contiguity_threshold": 0.05}),
        "missing_column": (screen["csr"], "nope", {"min_cells": 1, "min_perturbations": 1}),
        "already_sorted": (os.path.join(EXP, "screen_csr_sorted.h5ad"), "gene", {"min_cells": 1, "min_perturbations": 1}),
        "sorted_other_column": (os.path.join(EXP, "screen_csr_sorted.h5ad"), "batch", {"min_cells": 1, "min_perturbations": 1, "contiguity_threshold": 1.01}),
    }
    for name, (p, col, kw) in checks.items():
        expected["needs_sorting"][name] = {"input": rel(p), "column": col, "kwargs": kw, "result": bool(cxd.needs_sorting_for_nbglm(p, col, **kw))}

    # ---- standardize_dataset --------------------------------------------------------------------
    cases = {
        "screen_csr": (screen["csr"], "gene", None, "gene_symbols"),
        "screen_dense_explicit": (screen["dense"], "gene", "non-targeting", None),
        "screen_csc_ctrl_KD_A": (screen["csc"], "gene", "KD_A", "gene_symbols"),
    }
    for name, (p, col, ctrl, gcol) in cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            res = cxd.standardize_dataset(p, col, ctrl, gcol, tmp, force=True)
            out = os.path.join(EXP, f"standardized_{name}.h5ad")
            shutil.copy(res, out)
        a = ad.read_h5ad(out)
        meta = clean_meta(dict(a.uns["standardization_metadata"]))
        expected["standardize"][name] = {
            "input": rel(p),
            "perturbation_column": col,
            "control_label": ctrl,
            "gene_name_column": gcol,
            "output": rel(out),
            "obs_columns": list(a.obs.columns),
            "perturbation": list(map(str, a.obs["perturbation"])),
            "var_names": list(map(str, a.var_names)),
            "standardization_metadata": meta,
            "x": x_summary(out),
        }

    versions = {"anndata": ad.__version__, "numpy": np.__version__, "pandas": pd.__version__}
    expected["versions"] = versions
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump(expected, fh, indent=1, sort_keys=True, default=lambda o: o.item() if hasattr(o, "item") else o.tolist())
    print(json.dumps(versions))


if __name__ == "__main__":
    main()
