"""Expected outputs for crispyx's differential expression (src/de) on small synthetic screens.

Scanpy cannot be installed in the reference environment, so the expected values are computed here with
numpy/scipy/statsmodels following scanpy.tl.rank_genes_groups(reference=<control>, pts=True) step by
step (scanpy/tools/_rank_genes_groups.py: _RankGenes.t_test / .wilcoxon / _build_stats_dataframe):

* t-test: group means and ddof=1 variances (scanpy's aggregate: (E[x²] − E[x]²)·n/(n−1)), then
  scipy.stats.ttest_ind_from_stats(equal_var=False); NaN scores → 0, NaN p-values → 1.
* wilcoxon: rank the stacked group + control cells per gene with average ranks (scipy.stats.rankdata),
  rank sum of the group, optional scipy.stats.tiecorrect, z = (R − n(N+1)/2)/sqrt(tc·n·m·(N+1)/12),
  NaN → 0, p = 2·norm.sf(|z|).
* pvals_adj: statsmodels multipletests(p, method="fdr_bh") per group over all genes.
* logfoldchanges: log2((expm1(mean_group) + 1e-9) / (expm1(mean_control) + 1e-9)).
* pts: fraction of cells with a non-zero value.

The Python crispyx seed is run on the same files as a cross-check (its filters switched off) and the
largest differences to the Scanpy-equivalent values are printed into README.md.

Run: /tmp/pyref/bin/python scripts/reference/make_de_fixtures.py   (PYTHONPATH=/tmp/crispyx-seed/src for the seed)
"""
import json
import os
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy
import scipy.sparse as sp
from scipy import stats
from statsmodels.stats.multitest import multipletests

OUT = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "de"


def make_screen(seed=0):
    """A log-normalised screen: control "non-targeting", 7 perturbations (one with 1 cell), edge-case genes."""
    rng = np.random.default_rng(seed)
    sizes = {"non-targeting": 120, "KD_A": 40, "KD_B": 30, "KD_C": 25, "OE_D": 35, "KD_E": 8, "KD_F": 3, "SINGLE": 1}
    labels = np.concatenate([[k] * v for k, v in sizes.items()])
    rng.shuffle(labels)
    n_cells, n_genes = len(labels), 150
    base = rng.gamma(0.6, 1.5, n_genes)
    counts = rng.poisson(base[None, :] * rng.gamma(5, 0.2, (n_cells, 1)))
    # Planted effects: KD_A knocks down genes 0-9, OE_D raises 10-19, KD_B halves 20-29.
    for lab, genes, f in (("KD_A", range(0, 10), 0.1), ("OE_D", range(10, 20), 4.0), ("KD_B", range(20, 30), 0.5)):
        rows = labels == lab
        for g in genes:
            counts[rows, g] = rng.poisson(base[g] * f * 2, rows.sum())
    counts[:, 140] = 0  # gene all-zero everywhere
    counts[:, 141] = 0
    counts[labels == "KD_C", 141] = 3  # all-zero in control, constant in one group
    x = counts.astype(np.float64)
    lib = x.sum(1, keepdims=True)
    lib[lib == 0] = 1
    x = np.log1p(x / lib * 1e4).astype(np.float32)
    x[:, 142] = np.float32(0.5)  # every cell tied
    genes = [f"G{j:03d}" for j in range(n_genes)]
    genes[0] = "Gene,with comma"
    cats = ["OE_D", "non-targeting", "KD_C", "KD_A", "KD_B", "KD_E", "KD_F", "SINGLE", "UNUSED"]  # not sorted; one empty
    obs = pd.DataFrame({"perturbation": pd.Categorical(labels, categories=cats)}, index=[f"c{i}" for i in range(n_cells)])
    return x, obs, pd.DataFrame(index=genes)


def group_stats(x, mask):
    sub = x[mask].astype(np.float64)
    n = sub.shape[0]
    mean = sub.mean(0)
    var = (np.square(sub).mean(0) - mean**2) * (n / (n - 1)) if n > 1 else np.full(sub.shape[1], np.nan)
    pts = np.count_nonzero(sub, axis=0) / n
    return n, mean, var, pts


def ttest(x, gmask, cmask):
    n1, m1, v1, _ = group_stats(x, gmask)
    n2, m2, v2, _ = group_stats(x, cmask)
    with np.errstate(invalid="ignore", divide="ignore"):
        s, p = stats.ttest_ind_from_stats(m1, np.sqrt(v1), n1, m2, np.sqrt(v2), n2, equal_var=False)
    s = np.asarray(s, dtype=float).copy()
    p = np.asarray(p, dtype=float).copy()
    s[np.isnan(s)] = 0
    p[np.isnan(p)] = 1
    return s, p


def wilcoxon(x, gmask, cmask, tie_correct):
    n, m = int(gmask.sum()), int(cmask.sum())
    both = np.vstack([x[gmask], x[cmask]])
    ranks = np.column_stack([stats.rankdata(both[:, j]) for j in range(both.shape[1])])
    r = ranks[:n].sum(0)
    tc = np.array([stats.tiecorrect(ranks[:, j]) for j in range(both.shape[1])]) if tie_correct else 1
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (r - n * (n + m + 1) / 2.0) / np.sqrt(tc * n * m * (n + m + 1) / 12.0)
    z[np.isnan(z)] = 0
    return z, 2 * stats.norm.sf(np.abs(z))


def reference(x, obs, genes, method, control, min_cells, tie_correct=True):
    labels = obs["perturbation"].astype(str).to_numpy()
    cats = [c for c in obs["perturbation"].cat.categories if c != control]
    cmask = labels == control
    _, mc, _, ptsc = group_stats(x, cmask)
    out = {"control": control, "control_pts": ptsc.tolist(), "groups": {}, "skipped": []}
    for g in cats:
        gmask = labels == g
        if gmask.sum() < min_cells:
            out["skipped"].append(g)
            continue
        s, p = ttest(x, gmask, cmask) if method == "t-test" else wilcoxon(x, gmask, cmask, tie_correct)
        _, mg, _, ptsg = group_stats(x, gmask)
        adj = multipletests(np.where(np.isnan(p), 1.0, p), alpha=0.05, method="fdr_bh")[1]
        lfc = np.log2((np.expm1(mg) + 1e-9) / (np.expm1(mc) + 1e-9))
        order = np.argsort(-s, kind="stable")
        out["groups"][g] = {
            "scores": s.tolist(), "pvals": p.tolist(), "pvals_adj": adj.tolist(), "logfoldchanges": lfc.tolist(),
            "pts": ptsg.tolist(), "top100": [genes[j] for j in order[:100]],
        }
    return out


def patch_anndata_for_scipy():
    """anndata 0.11.4's backed sparse indexing calls a scipy method that scipy >= 1.15 moved to a module
    function; the seed reads X through it. Route the call (no behaviour change)."""
    from scipy.sparse import _index
    from anndata._core import sparse_dataset as sd
    for cls in (sd.backed_csr_matrix, sd.backed_csc_matrix):
        if not hasattr(cls, "_validate_indices"):
            cls._validate_indices = lambda self, key: _index._validate_indices(key, self.shape, self.format)


def seed_crosscheck(path, method, expected):
    """Run the Python crispyx seed (filters off) and return its largest differences to `expected`."""
    try:
        patch_anndata_for_scipy()
        import crispyx.de as de
    except Exception as e:  # noqa: BLE001
        return f"seed not importable: {e}"
    fn = de.t_test if method == "t-test" else de.wilcoxon_test
    kw = dict(perturbation_column="perturbation", control_label="non-targeting", min_pct_both=0.0, min_mean_ctrl=0.0,
              min_mean_pert=0.0, output_dir=str(Path(path).parent / "_seed"), force=True)
    if method == "wilcoxon":
        kw["tie_correct"] = True
    try:
        res = fn(path, **kw)
    except Exception as e:  # noqa: BLE001
        return f"seed failed: {type(e).__name__}: {e}"
    out = ad.read_h5ad(res.result_path if hasattr(res, "result_path") else res.result.path)
    worst = {"scores": 0.0, "pvals": 0.0, "pvals_adj": 0.0, "logfoldchanges": 0.0}
    nan_cells = {}
    for g, exp in expected["groups"].items():
        i = list(out.obs_names).index(g)
        for key, layer in (("scores", "z_score"), ("pvals", "pvalue"), ("pvals_adj", "pvalue_adj"), ("logfoldchanges", "logfoldchanges")):
            ours = np.asarray(out.layers[layer][i], dtype=float)
            diff = np.abs(ours - np.asarray(exp[key]))
            worst[key] = float(np.nanmax([worst[key], *diff]))
            nan_cells[key] = nan_cells.get(key, 0) + int(np.isnan(ours).sum())
    return ("max |seed − scanpy-equivalent| where the seed has a value: " + ", ".join(f"{k} {v:.2e}" for k, v in worst.items())
            + "; seed NaN (untestable genes, where Scanpy gives score 0 / p 1): " + ", ".join(f"{k} {v}" for k, v in nan_cells.items()))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    x, obs, var = make_screen()
    genes = list(var.index)
    csr = ad.AnnData(sp.csr_matrix(x), obs=obs, var=var)
    csr.write_h5ad(OUT / "screen_csr.h5ad")
    dense = ad.AnnData(x.copy(), obs=obs, var=var)
    dense.write_h5ad(OUT / "screen_dense.h5ad")
    csc = ad.AnnData(sp.csc_matrix(x), obs=obs, var=var)
    csc.write_h5ad(OUT / "screen_csc.h5ad")
    expected = {
        "t-test": reference(x, obs, genes, "t-test", "non-targeting", 2),
        "wilcoxon": reference(x, obs, genes, "wilcoxon", "non-targeting", 2, tie_correct=True),
        "wilcoxon_no_tie_correct": reference(x, obs, genes, "wilcoxon", "non-targeting", 2, tie_correct=False),
        "wilcoxon_min1": reference(x, obs, genes, "wilcoxon", "non-targeting", 1, tie_correct=True),
        "t-test_min1": reference(x, obs, genes, "t-test", "non-targeting", 1),
    }
    (OUT / "expected.json").write_text(json.dumps({"genes": genes, **expected}))
    checks = []
    sys.path.insert(0, "/tmp/crispyx-seed/src")
    for method in ("t-test", "wilcoxon"):
        checks.append(f"- seed {method}: {seed_crosscheck(str(OUT / 'screen_csr.h5ad'), method, expected[method])}")
    import shutil
    shutil.rmtree(OUT / "_seed", ignore_errors=True)
    versions = f"numpy {np.__version__}, scipy {scipy.__version__}, pandas {pd.__version__}, anndata {ad.__version__}"
    (OUT / "crosscheck.txt").write_text("\n".join(checks) + "\n")
    print(versions)
    print("\n".join(checks))


if __name__ == "__main__":
    main()
