"""Expected outputs of the seed's normalize_total_log1p and write_filtered_subset (issue 3 parity).

Run: PYTHONPATH=/tmp/crispyx-seed/src /tmp/pyref/bin/python scripts/reference/make_ops_fixtures.py
Inputs: test/fixtures/h5ad/*.h5ad (golden files) and test/fixtures/ops/screen.h5ad (a small synthetic
screen written here with a fixed seed). Outputs: test/fixtures/ops/expected/*.h5ad (the seed's own
output files) and test/fixtures/ops/cases.json (arguments of every case, masks included).
"""
import json
import os
import shutil

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

import crispyx.data as cxd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLD = os.path.join(ROOT, "test", "fixtures", "h5ad")
OUT = os.path.join(ROOT, "test", "fixtures", "ops")
EXP = os.path.join(OUT, "expected")
rng = np.random.default_rng(20241127)

# anndata 0.11.4's backed sparse slicing is broken with scipy 1.17 ('backed_csr_matrix' object has no
# attribute '_validate_indices'). These inputs are tiny, so the seed reads them fully into memory:
# its code sees the same blocks and values; only where they come from changes.
def _read_whole(path):
    a = ad.read_h5ad(str(path))
    a.file.close = lambda: None
    return a


cxd.read_backed = _read_whole


def rel(p):
    return os.path.relpath(p, ROOT)


def make_screen(path):
    """400 cells x 120 genes, float32 CSR counts, a perturbation column with 8 groups."""
    n, m = 400, 120
    means = rng.gamma(0.6, 2.0, m)
    x = rng.poisson(means[None, :] * rng.gamma(4.0, 0.25, n)[:, None]).astype(np.float32)
    x[7] = 0  # a cell without counts: library size 0
    x[:, 11] = 0  # a gene never detected
    groups = ["NTC"] + [f"KO_{g}" for g in "ABCDEFG"]
    pert = pd.Categorical(rng.choice(groups, n), categories=groups)
    obs = pd.DataFrame(
        {
            "perturbation": pert,
            "batch": pd.Categorical(rng.choice(["b1", "b2", "b3"], n)),
            "n_counts": x.sum(1).astype(np.float64),
        },
        index=[f"cell{i}" for i in range(n)],
    )
    var = pd.DataFrame({"gene_symbols": [f"G{j}" for j in range(m)]}, index=[f"ENSG{j:05d}" for j in range(m)])
    a = ad.AnnData(sp.csr_matrix(x), obs=obs, var=var)
    a.uns["screen"] = {"seed": 20241127}
    a.write_h5ad(path)
    return a


def main():
    os.makedirs(EXP, exist_ok=True)
    screen = os.path.join(OUT, "screen.h5ad")
    make_screen(screen)
    cases = {"normalize": [], "subset": []}

    # --- normalize_total_log1p ---------------------------------------------------------------
    norm_inputs = [screen] + [os.path.join(GOLD, f"{n}.h5ad") for n in ("full_csr", "x_csc", "x_dense_f32", "x_dense_f64", "x_csr_int32", "zero_cells")]
    variants = [
        ("default", {}),
        ("normalize_only", {"log1p": False}),
        ("log1p_only", {"normalize": False}),
        ("target1e6", {"target_sum": 1e6}),
    ]
    for src in norm_inputs:
        base = os.path.splitext(os.path.basename(src))[0]
        for vname, kwargs in variants:
            if base != "screen" and vname not in ("default",):
                continue
            out = os.path.join(EXP, f"normalize_{base}_{vname}.h5ad")
            cxd.normalize_total_log1p(src, out, chunk_size=64, verbose=False, **kwargs)
            cases["normalize"].append({"input": rel(src), "expected": rel(out), "options": {
                "normalize": kwargs.get("normalize", True), "log1p": kwargs.get("log1p", True),
                "targetSum": kwargs.get("target_sum", 1e4)}})

    # --- write_filtered_subset ---------------------------------------------------------------
    a = ad.read_h5ad(screen)
    n, m = a.shape
    pert = np.asarray(a.obs["perturbation"])
    subset_cases = []
    subset_cases.append(("screen_random", screen, rng.random(n) < 0.6, rng.random(m) < 0.7, None))
    # Every cell of KO_C and KO_F dropped: both categories must disappear from obs.
    subset_cases.append(("screen_drop_categories", screen, ~np.isin(pert, ["KO_C", "KO_F"]), np.ones(m, bool), None))
    gm = rng.random(m) < 0.5
    subset_cases.append(("screen_var_assign", screen, rng.random(n) < 0.5, gm,
                         {"highly_variable": rng.random(int(gm.sum())) < 0.3, "score": rng.random(int(gm.sum()))}))
    subset_cases.append(("screen_no_cells", screen, np.zeros(n, bool), rng.random(m) < 0.5, None))
    subset_cases.append(("screen_no_genes", screen, rng.random(n) < 0.5, np.zeros(m, bool), None))
    subset_cases.append(("screen_all", screen, np.ones(n, bool), np.ones(m, bool), None))
    for name in ("full_csr", "x_csc", "x_dense_f32", "x_csr_int32", "x_dense_int"):
        src = os.path.join(GOLD, f"{name}.h5ad")
        b = ad.read_h5ad(src, backed="r")
        nn, mm = b.shape
        b.file.close()
        subset_cases.append((name, src, rng.random(nn) < 0.6, rng.random(mm) < 0.7, None))
    for cname, src, cm, gm, va in subset_cases:
        out = os.path.join(EXP, f"subset_{cname}.h5ad")
        cxd.write_filtered_subset(src, cell_mask=cm, gene_mask=gm, output_path=out, chunk_size=7, var_assignments=va)
        cases["subset"].append({
            "name": cname, "input": rel(src), "expected": rel(out),
            "cellMask": [bool(v) for v in cm], "geneMask": [bool(v) for v in gm],
            "varAssignments": None if va is None else {k: [v.item() for v in np.asarray(vals)] for k, vals in va.items()},
        })

    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
    total = sum(os.path.getsize(os.path.join(EXP, p)) for p in os.listdir(EXP))
    print(f"wrote {len(cases['normalize'])} normalize and {len(cases['subset'])} subset cases, {total} bytes")


if __name__ == "__main__":
    main()
