"""Agreement of two NB-GLM results (crispyx nb-glm .h5ad, Python crispyx nb_glm_test .h5ad): top-100 overlap by |z|,
Spearman of z, |delta log2FC|, Jaccard of the hits.   /usr/bin/python3 bench/nbglm_compare.py OURS.h5ad PYTHON.h5ad"""
import sys, anndata as ad, numpy as np
ours = ad.read_h5ad(sys.argv[1]); py = ad.read_h5ad(sys.argv[2])
assert ours.n_vars == py.n_vars
pz = np.asarray(py.layers["z_score"], float); oz = np.asarray(ours.layers["scores"], float)
pp = np.asarray(py.layers["pvalue"], float); op = np.asarray(ours.layers["pvals"], float)
idx = {g: i for i, g in enumerate(py.obs_names)}
ov, ovp, rho, lfcd = [], [], [], []
from scipy.stats import spearmanr
ol = np.asarray(ours.X, float); pl = np.asarray(py.layers["logfoldchange_raw"], float) if "logfoldchange_raw" in py.layers else np.asarray(py.X, float)
for k, g in enumerate(ours.obs_names):
    i = idx[g]
    a = set(np.argsort(-np.abs(np.nan_to_num(oz[k])))[:100]); b = set(np.argsort(-np.abs(np.nan_to_num(pz[i])))[:100])
    ov.append(len(a & b) / 100)
    m = np.isfinite(oz[k]) & np.isfinite(pz[i]); rho.append(spearmanr(oz[k][m], pz[i][m]).correlation)
    m2 = np.isfinite(ol[k]) & np.isfinite(pl[i]) & (np.abs(ol[k]) < 29); lfcd.append(np.median(np.abs(ol[k][m2] - pl[i][m2])))
    sa = set(np.where(np.asarray(ours.layers["pvals_adj"])[k] < 0.05)[0]); sb = set(np.where(np.asarray(py.layers["pvalue_adj"])[i] < 0.05)[0])
    ovp.append(len(sa & sb) / max(1, len(sa | sb)))
print(f"perturbations {len(ov)}; top-100 by |z| shared: median {np.median(ov):.2f}, min {np.min(ov):.2f}, mean {np.mean(ov):.3f}")
print(f"Spearman of z: median {np.median(rho):.3f}, min {np.min(rho):.3f}; median |Δ log2FC| {np.median(lfcd):.3f}")
print(f"hits (padj<0.05) Jaccard: median {np.median(ovp):.2f}, min {np.min(ovp):.2f}")
