"""Expected outputs of the seed's planners, control-label inference, overlap and adaptive QC thresholds.

Run: PYTHONPATH=/tmp/crispyx-seed/src /tmp/pyref/bin/python scripts/reference/make_helpers_a_fixtures.py
Outputs (test/fixtures/helpers/):
  planners.json        every chunk planner and memory estimate on a grid of inputs (memory passed explicitly)
  control_labels.json  resolve_control_label on label lists (value or error)
  overlap.json         compute_overlap on named sets, all three metrics
  numpy_choice.json    np.random.seed(s); np.random.choice(n, k, replace=False) for several (n, k, s)
  qc_*.h5ad            small deterministic files (csr, csc, dense X)
  qc_thresholds.json   calculate_adaptive_qc_thresholds on those files (np.random.seed before each call)
"""
import itertools
import json
import logging
import os
import random

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

import crispyx
from seed_capture import capture_intermediates
from crispyx import _memory
from crispyx.data import (
    calculate_adaptive_qc_thresholds,
    calculate_nb_glm_chunk_size,
    calculate_optimal_chunk_size,
    calculate_optimal_gene_chunk_size,
    calculate_pca_chunk_size,
    calculate_wilcoxon_chunk_size,
    compute_overlap,
    resolve_control_label,
)

logging.disable(logging.CRITICAL)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "helpers")
os.makedirs(OUT, exist_ok=True)
rnd = random.Random(20261127)


def dump(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, indent=0, allow_nan=False)
        f.write("\n")


def random_memories(k):
    # Awkward floats (not round numbers) exercise the same floating-point rounding on both sides.
    return [round(rnd.uniform(0.05, 600.0), rnd.choice([1, 3, 7, 15])) for _ in range(k)]


# ---- planners -----------------------------------------------------------------------------------
MEM = [0.0, 0.25, 1.0, 4.0, 15.7, 31.9, 32.0, 64.0, 128.0, 1000.3]
planners = {"optimal": [], "gene": [], "wilcoxon": [], "nb_glm": [], "pca": [], "memory": []}

for n_obs, n_vars, mem, sf, (lo, hi) in itertools.product(
    [0, 1000, 100_000, 1_000_000], [1, 100, 2000, 20000, 38000, 100_000], MEM, [8.0, 2.5], [(512, 4096), (1, 100_000)]
):
    if (lo, hi) != (512, 4096) and sf != 8.0:
        continue
    kw = dict(available_memory_gb=mem, safety_factor=sf, min_chunk=lo, max_chunk=hi)
    planners["optimal"].append({"n_obs": n_obs, "n_vars": n_vars, **kw, "result": calculate_optimal_chunk_size(n_obs, n_vars, **kw)})
for mem in random_memories(40):
    n_obs, n_vars = rnd.randint(0, 5_000_000), rnd.randint(1, 60_000)
    kw = dict(available_memory_gb=mem, safety_factor=8.0, min_chunk=512, max_chunk=4096)
    planners["optimal"].append({"n_obs": n_obs, "n_vars": n_vars, **kw, "result": calculate_optimal_chunk_size(n_obs, n_vars, **kw)})

for n_obs, n_groups, mem, frac in itertools.product(
    [0, 1000, 250_000, 300_001, 500_001, 1_000_001, 4_000_000],
    [None, 0, 100, 2001, 5001, 10001, 18000],
    [0.5, 8.0, 31.9, 32.0, 128.0],
    [0.5, 0.25],
):
    kw = dict(n_groups=n_groups, available_memory_gb=mem, safety_factor=8.0, memory_fraction=frac, min_chunk=32, max_chunk=512)
    planners["gene"].append({"n_obs": n_obs, "n_vars": 20000, **kw, "result": calculate_optimal_gene_chunk_size(n_obs, 20000, **kw)})
for mem in random_memories(40):
    n_obs, n_groups = rnd.randint(0, 8_000_000), rnd.choice([None, rnd.randint(0, 20000)])
    kw = dict(n_groups=n_groups, available_memory_gb=mem, safety_factor=rnd.choice([8.0, 4.0, 1.5]),
              memory_fraction=rnd.choice([0.5, 0.3, 0.9]), min_chunk=rnd.choice([32, 1]), max_chunk=rnd.choice([512, 2048]))
    planners["gene"].append({"n_obs": n_obs, "n_vars": 30000, **kw, "result": calculate_optimal_gene_chunk_size(n_obs, 30000, **kw)})

for n_obs, mem, (lo, hi) in itertools.product(
    [1, 1000, 396_458, 1_161_864, 4_000_000, 10_000_000], [0.0, 0.1, 1.0, 16.0, 128.0, 512.0] + random_memories(4),
    [(32, 4096), (1, 100_000)]
):
    kw = dict(available_memory_gb=mem, min_chunk=lo, max_chunk=hi)
    planners["wilcoxon"].append({"n_obs": n_obs, "n_vars": 33000, **kw, "result": calculate_wilcoxon_chunk_size(n_obs, 33000, **kw)})

for n_obs, n_groups, mem, limit in itertools.product(
    [0, 1000, 100_000, 1_200_000, 5_000_000], [None, 0, 100, 500, 10000], [1.0, 16.0, 128.0] + random_memories(2), [None, 8.0, 200.0]
):
    kw = dict(n_groups=n_groups, available_memory_gb=mem, memory_limit_gb=limit, safety_factor=8.0, memory_fraction=0.5, min_chunk=32, max_chunk=256)
    planners["nb_glm"].append({"n_obs": n_obs, "n_vars": 36000, **kw, "result": calculate_nb_glm_chunk_size(n_obs, 36000, **kw)})

for n_vars, mem, method, n_comps, frac in itertools.product(
    [1, 500, 2000, 8000, 20000, 50000, 120000], [0.5, 4.0, 32.0, 128.0] + random_memories(2),
    ["auto", "sparse_cov", "incremental"], [50, 100], [0.5, 0.8]
):
    kw = dict(n_comps=n_comps, available_memory_gb=mem, method=method, memory_fraction=frac, min_chunk=256, max_chunk=4096)
    size, chosen = calculate_pca_chunk_size(100_000, n_vars, **kw)
    planners["pca"].append({"n_obs": 100_000, "n_vars": n_vars, **kw, "result": [size, chosen]})

# _memory.py estimates (memory passed explicitly; cpu_count fixed by passing it to the TS side).
cpu = os.cpu_count() or 4
for n_cells, n_genes in itertools.product([1, 1000, 250_000, 3_000_000], [1, 2000, 33000]):
    entry = {"n_cells": n_cells, "n_genes": n_genes,
             "dense_gb": _memory._estimate_dense_memory_gb(n_cells, n_genes),
             "dense_gb_5": _memory._estimate_dense_memory_gb(n_cells, n_genes, 5),
             "batch": _memory._estimate_gene_batch_size_fitter(n_cells, n_genes),
             "batch_6_250": _memory._estimate_gene_batch_size_fitter(n_cells, n_genes, 6, 250.0),
             "cpu_count": cpu,
             "workers": [], "streaming": []}
    for avail, limit, per in [(64000.0, None, None), (3000.0, None, None), (64000.0, 1000.0, None), (500.0, None, 7.5), (1e6, 20000.0, 0.3)]:
        entry["workers"].append({"available_mb": avail, "memory_limit_mb": limit, "memory_per_worker_mb": per,
                                 "result": _memory._estimate_max_workers(n_cells, n_genes, per, avail, limit)})
    for n_groups, limit in [(10, 1.0), (2000, 16.0), (18000, 128.0), (50000, 8.0), (300, 0.05)]:
        use, peak, budget, batch = _memory._should_use_streaming(n_groups, n_genes, memory_limit_gb=limit)
        entry["streaming"].append({"n_groups": n_groups, "memory_limit_gb": limit, "result": [use, peak, budget, batch]})
    planners["memory"].append(entry)

dump("planners.json", planners)

# ---- control labels ----------------------------------------------------------------------------
label_sets = [
    ["KD_A", "ctrl", "KD_B"],
    ["KD_A", "NTC_1", "Control", "CTRL"],
    ["non-targeting", "GENE1"],
    ["GENE1", "my_ctrl_guide", "control"],
    ["GENE1", "sgNonTarget_3", "GENE2"],
    ["GENE1", "non targeting", "GENE2"],
    ["NON_TARGET", "x"],
    ["x", "Non-Target", "y", "nontarget"],
    ["A_ctrlish", "B_controls"],
    ["ΣCTRL", "İctrl"],
    ["GENE1", "GENE2", "NTC"],
    ["scramble", "GENE1"],
    ["", "GENE"],
    [],
    ["targetnon"],
    ["KD_A", "KD_A", "ctrl", "ctrl"],
]
controls = []
for labels in label_sets:
    for explicit in [None, "GIVEN"]:
        try:
            controls.append({"labels": labels, "control_label": explicit,
                             "result": resolve_control_label(labels, explicit, verbose=False)})
        except ValueError as err:
            controls.append({"labels": labels, "control_label": explicit, "error": str(err)})
dump("control_labels.json", controls)

# ---- overlap ------------------------------------------------------------------------------------
overlap_cases = [
    {"dataset_A": ["BRCA1", "TP53", "EGFR"], "dataset_B": ["TP53", "KRAS"]},
    {"a": ["x", "y", "y", "z"], "b": [], "c": ["z", "x", "w"], "d": []},
    {"only": ["g1", "g2"]},
    {},
    {f"s{i}": sorted(rnd.sample([f"G{j}" for j in range(40)], rnd.randint(0, 25))) for i in range(6)},
]
overlap = []
for sets in overlap_cases:
    for metric in ["both", "count", "jaccard"]:
        r = compute_overlap(sets, metric=metric)
        overlap.append({
            "sets": sets, "metric": metric, "names": list(r.count_matrix.index),
            "count": r.count_matrix.to_numpy().tolist(), "jaccard": r.jaccard_matrix.to_numpy().tolist(),
            "set_sizes": {k: int(v) for k, v in r.set_sizes.items()}, "set_sizes_name": r.set_sizes.name,
        })
dump("overlap.json", overlap)

# ---- numpy legacy choice ------------------------------------------------------------------------
choices = []
for n, k, seed in [(10, 3, 0), (10, 10, 1), (1, 1, 5), (5, 0, 7), (1000, 17, 42), (70000, 3000, 0),
                   (2**16 + 3, 500, 123456789), (3000, 2999, 4294967295), (100_000, 5, 2024)]:
    np.random.seed(seed)
    idx = np.sort(np.random.choice(n, k, replace=False))
    choices.append({"n": n, "k": k, "seed": seed, "result": idx.tolist()})
dump("numpy_choice.json", choices)

# ---- adaptive QC thresholds ---------------------------------------------------------------------
gen = np.random.default_rng(7)
n_obs, n_vars = 1000, 250
lam = gen.gamma(0.7, 0.5, size=n_vars) + 0.01  # a spread from rarely to commonly detected genes
cell_depth = gen.gamma(3.0, 0.4, size=n_obs)
counts = np.minimum(gen.poisson(np.outer(cell_depth, lam)), 60).astype(np.float32)
counts[:, 5] = 0  # a gene seen in no cell
counts[:, 6] = 0
counts[::97, 6] = 1  # a rare gene
perts = np.array(["ctrl"] * 150 + [f"G{i % 37}" for i in range(n_obs - 150)], dtype=object)
perts[gen.choice(n_obs, 120, replace=False)] = "G_rare"
perts[gen.choice(n_obs, 3, replace=False)] = "G_tiny"
gen.shuffle(perts)
pert_cat = pd.Categorical(perts, categories=sorted(set(perts)) + ["G_unused"])
codes = np.asarray(pert_cat.codes).copy()
codes[::53] = -1  # missing labels
pert_cat = pd.Categorical.from_codes(codes, categories=pert_cat.categories)
obs = pd.DataFrame(
    {"perturbation": pert_cat, "batch": gen.integers(0, 6, n_obs), "guide": np.array([f"sg{i % 83}" for i in range(n_obs)], dtype=object)},
    index=[f"cell{i}" for i in range(n_obs)],
)
var = pd.DataFrame(index=[f"gene{j}" for j in range(n_vars)])

csr = sp.csr_matrix(counts)
# Stored zeros count as "expressed" in the seed's sparse path (it counts indptr steps): keep a few.
csr.data[::41] = 0.0
dense = counts.copy()
dense[::13, ::7] = -1.0  # negative values: the dense path counts X > 0 only
files = {
    "qc_csr.h5ad": csr,
    "qc_csc.h5ad": sp.csc_matrix(csr),
    "qc_dense.h5ad": dense,
}
for name, X in files.items():
    ad.AnnData(X=X, obs=obs.copy(), var=var.copy()).write_h5ad(os.path.join(OUT, name), compression="gzip")



qc = []
for name in files:
    path = os.path.join(OUT, name)
    for column, mode, sample_size, chunk_size, seed in [
        ("perturbation", "conservative", 10000, 500, 0),
        ("perturbation", "aggressive", 10000, 500, 0),
        ("perturbation", "conservative", 700, 256, 0),
        ("perturbation", "conservative", 700, 1000, 1),
        ("perturbation", "aggressive", 50, 2048, 42),
        ("perturbation", "conservative", 400, 7, 2),
        ("batch", "conservative", 1500, 333, 3),
        ("guide", "aggressive", 999, 100, 12345),
    ]:
        # In memory: backed sparse reads fail in this anndata/scipy pairing; the function slices X the same way.
        adata = ad.read_h5ad(path)
        np.random.seed(seed)
        with capture_intermediates() as seen:
            res = calculate_adaptive_qc_thresholds(adata, column, mode=mode, sample_size=sample_size, chunk_size=chunk_size)
        qc.append({"file": name, "column": column, "mode": mode, "sample_size": sample_size, "chunk_size": chunk_size,
                   "seed": seed, "result": {k: int(v) for k, v in res.items()}, "intermediates": seen})
dump("qc_thresholds.json", qc)

versions = {"crispyx_seed": getattr(crispyx, "__version__", "?"), "numpy": np.__version__, "pandas": pd.__version__,
            "anndata": ad.__version__, "scipy": sp.__name__ and __import__("scipy").__version__}
dump("versions.json", versions)
print("wrote", OUT, {k: len(v) for k, v in planners.items()}, len(controls), len(overlap), len(qc))
