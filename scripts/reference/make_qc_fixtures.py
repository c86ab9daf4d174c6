"""Expected QC results from the Python seed (crispyx.qc.quality_control_summary) on small synthetic screens.

Run: PYTHONPATH=/tmp/crispyx-seed/src /tmp/pyref/bin/python scripts/reference/make_qc_fixtures.py
Outputs (test/fixtures/qc/):
  screen_csr.h5ad, screen_dense.h5ad, screen_csc.h5ad   the inputs (same counts; CSR has 3 explicit zeros)
  cases.json                                           one entry per case: input, arguments, expected
  seed_<case>.h5ad                                     the seed's filtered output for each case
"""
import json
import os
import shutil
import tempfile

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from crispyx.qc import quality_control_summary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "qc")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(7)

# --- the screen ---------------------------------------------------------------------------------------
groups = [("non-targeting", 40)] + [(f"KO_{c}", 25) for c in "ABCDEF"] + [("KO_TINY", 3), ("KO_SINGLE", 1)]
labels = np.concatenate([[g] * n for g, n in groups])
rng.shuffle(labels)
n_cells = labels.size
genes = [f"GENE{j}" for j in range(48)] + ["MT-CO1", "MT-ND1", "mt-Atp6"] + [f"NEVER{j}" for j in range(4)] + [f"RARE{j}" for j in range(5)]
n_genes = len(genes)
mt = np.array([g.lower().startswith("mt-") for g in genes])

x = rng.poisson(1.2, size=(n_cells, n_genes)).astype(np.float32)
x[rng.random((n_cells, n_genes)) > 0.45] = 0
x[:, mt] = rng.poisson(6, size=(n_cells, mt.sum()))  # mitochondrial reads in every cell
never = np.array([g.startswith("NEVER") for g in genes])
x[:, never] = 0
rare = np.flatnonzero([g.startswith("RARE") for g in genes])
x[:, rare] = 0
for k, j in enumerate(rare):  # detected in 2, 4, 6, 8, 10 cells
    x[rng.choice(n_cells, 2 * (k + 1), replace=False), j] = 1
low = rng.choice(n_cells, 25, replace=False)  # low-quality cells: a handful of genes
x[low] = 0
for i in low:
    x[i, rng.choice(n_genes, rng.integers(0, 9), replace=False)] = rng.integers(1, 4)
x[low[0]] = 0  # a cell without any counts (pct_counts_mt is NaN)

obs = pd.DataFrame(
    {"perturbation": pd.Categorical(labels), "batch": pd.Categorical(rng.choice(["b1", "b2"], n_cells)), "umis_raw": rng.integers(100, 1000, n_cells)},
    index=[f"cell{i:03d}" for i in range(n_cells)],
)
var = pd.DataFrame({"gene_ids": [f"ID{j:04d}" for j in range(n_genes)]}, index=genes)

csr = sp.csr_matrix(x)
# Three explicit zeros: the seed counts stored entries as detected genes (scipy getnnz).
# They sit in RARE0 (detected in 2 cells), in cells that pass every filter, so the CSR variant keeps
# RARE0 at min_cells_per_gene=5 and the dense one does not.
good = [i for i in range(n_cells) if i not in set(low) and x[i, rare[0]] == 0 and labels[i] == "non-targeting"]
zero_at = [(i, rare[0]) for i in good[:3]]
csr_explicit = csr.copy()
rows, cols = zip(*zero_at)
csr_explicit = sp.csr_matrix((np.concatenate([csr.data, np.zeros(3, np.float32)]),
                              (np.concatenate([csr.tocoo().row, rows]), np.concatenate([csr.tocoo().col, cols]))), shape=x.shape)
csr_explicit.sum_duplicates()  # sorts indices; explicit zeros stay stored
csr_explicit = sp.csr_matrix((csr_explicit.data, csr_explicit.indices, csr_explicit.indptr), shape=x.shape)

inputs = {
    "screen_csr": csr_explicit,
    "screen_dense": x,
    "screen_csc": sp.csc_matrix(x),
}
for name, mat in inputs.items():
    ad.AnnData(X=mat, obs=obs.copy(), var=var.copy()).write_h5ad(os.path.join(OUT, f"{name}.h5ad"))


def scanpy_metrics(m):
    """Scanpy's calculate_qc_metrics definitions (Scanpy is not installable here), float64."""
    d = m.toarray() if sp.issparse(m) else np.asarray(m)
    d = d.astype(np.float64)
    total = d.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100 * d[:, mt].sum(axis=1) / total
    return {"total_counts": total.tolist(), "n_genes_by_counts": (d > 0).sum(axis=1).tolist(),
            "pct_counts_mt": [None if np.isnan(v) else float(v) for v in pct]}


cases = [
    {"name": "csr_given", "input": "screen_csr", "args": dict(min_genes=10, min_cells_per_perturbation=5, min_cells_per_gene=5, control_label="non-targeting")},
    {"name": "dense_inferred", "input": "screen_dense", "args": dict(min_genes=10, min_cells_per_perturbation=5, min_cells_per_gene=5)},
    {"name": "csc_strict", "input": "screen_csc", "args": dict(min_genes=16, min_cells_per_perturbation=12, min_cells_per_gene=40)},
    {"name": "csr_single_cell_kept", "input": "screen_csr", "args": dict(min_genes=0, min_cells_per_perturbation=1, min_cells_per_gene=0)},
    {"name": "dense_everything_filtered", "input": "screen_dense", "args": dict(min_genes=10_000, min_cells_per_perturbation=1, min_cells_per_gene=1)},
]

out_cases = []
for case in cases:
    src = os.path.join(OUT, f"{case['input']}.h5ad")
    with tempfile.TemporaryDirectory() as tmp:
        r = quality_control_summary(src, perturbation_column="perturbation", output_dir=tmp, data_name=case["name"], **case["args"])
        filtered = ad.read_h5ad(r.filtered_path)
        shutil.copy(r.filtered_path, os.path.join(OUT, f"seed_{case['name']}.h5ad"))
    in_cells = ad.read_h5ad(src)
    ctrl = case["args"].get("control_label") or "non-targeting"
    kept_labels = sorted(set(filtered.obs["perturbation"].astype(str)))
    out_cases.append({
        "name": case["name"],
        "input": f"test/fixtures/qc/{case['input']}.h5ad",
        "seed_output": f"test/fixtures/qc/seed_{case['name']}.h5ad",
        "args": case["args"],
        "expected": {
            "control_label": ctrl,
            "kept_cells": filtered.obs_names.tolist(),
            "kept_genes": filtered.var_names.tolist(),
            "kept_perturbations": kept_labels,
            "perturbation_keep": {k: bool(v) for k, v in r.perturbation_keep.items()},
            "cell_gene_counts": np.asarray(r.cell_gene_counts).tolist(),
            "gene_cell_counts": np.asarray(r.gene_cell_counts).tolist(),
            "n_cells_kept": int(r.cell_mask.sum()),
            "n_genes_kept": int(r.gene_mask.sum()),
            "metrics": scanpy_metrics(in_cells.X),
        },
    })

with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump({"generator": "scripts/reference/make_qc_fixtures.py", "anndata": ad.__version__, "numpy": np.__version__, "cases": out_cases}, f, indent=1)
print("wrote", len(out_cases), "cases to", OUT)
