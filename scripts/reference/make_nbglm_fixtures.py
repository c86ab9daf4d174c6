#!/usr/bin/python3
"""Golden files for crispyx's NB-GLM DE (test/fixtures/nbglm/), from code independent of ours.

Run with Debian's python3 (numpy, scipy, statsmodels 0.13, anndata 0.8); see scripts/reference/README.md.

  screen.json        the synthetic counts (cells x genes, planted effects), labels, size factors
  statsmodels.json   (a) statsmodels' NB GLM (sm.GLM, families.NegativeBinomial(alpha fixed), offset = log s)
                     per perturbation x gene at the TRUE dispersion: b0, b1, SE(b1), Wald z, p, LRT stat, p;
                     (b) the same GLM at the dispersions of our definition, computed here with scipy:
                     control-only Cox-Reid gene-wise estimate, DESeq2 parametric trend, MAP, then b, SE, z, p,
                     BH, and the apeGLM-style shrunken LFC (normal-approximated likelihood, Cauchy prior);
                     (c) "pooled": the dispersions of `--dispersion pooled` (every cell, one mean per
                     perturbation: moments start, per-group means held, block Cox-Reid, trend over the pooled
                     base means, prior with cells - groups degrees of freedom, MAP, outlier rule) and
                     statsmodels' b, SE, z, p at them.
  python_crispyx.json  the Python crispyx nb_glm_test on the same file and size factors (when it runs here:
                     scripts/reference/shims stand in for numba/joblib/psutil; pass --crispyx SRC_DIR).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import statsmodels.api as sm
from scipy import optimize, special, stats

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "test", "fixtures", "nbglm")
MIN_DISP = 1e-8


def make_screen(seed=13):
    rng = np.random.default_rng(seed)
    n_genes = 24
    groups = [("NTC", 300), ("P1", 80), ("P2", 50), ("P3", 30)]
    base = np.exp(rng.normal(0.0, 1.3, n_genes))  # mean counts ~0.07 .. 40
    base[5] = 150.0  # a highly expressed gene
    alpha = 0.05 + 0.4 / base  # a DESeq2-like mean-dispersion relation
    alpha[7] = 1.5  # an over-dispersed outlier gene
    effect = {"P1": {0: 0.15, 1: 3.0}, "P2": {2: 0.25, 5: 2.0}, "P3": {3: 4.0}}
    labels, rows = [], []
    for name, n in groups:
        s = np.exp(rng.normal(0.0, 0.35, n))
        mu = s[:, None] * base[None, :]
        for j, f in effect.get(name, {}).items():
            mu[:, j] *= f
        r = 1.0 / alpha
        y = rng.negative_binomial(r[None, :], r[None, :] / (r[None, :] + mu))
        rows.append(y)
        labels += [name] * n
    X = np.vstack(rows).astype(np.int64)
    X[:, 11] = 0  # a gene all-zero everywhere
    X[np.array(labels) == "P3", 12] = 0  # a gene all-zero in one perturbation
    lib = X.sum(axis=1).astype(float)
    sf = lib / math.exp(np.mean(np.log(lib)))  # library size, geometric mean 1
    return X, labels, sf, alpha, effect


def nb_ll(y, mu, a):
    """NB log-likelihood (scipy's gammaln), summed."""
    r = 1.0 / a
    return float(np.sum(special.gammaln(y + r) - special.gammaln(r) - special.gammaln(y + 1)
                        + r * np.log(r / (r + mu)) + y * np.log(mu / (r + mu))))


def fit_mean(y, s, a):
    """NB MLE of log mean for an intercept-only model with offsets log s (scipy root of the score)."""
    if y.sum() == 0:
        return -np.inf
    score = lambda g: np.sum((y - s * np.exp(g)) / (1 + a * s * np.exp(g)))
    g0 = math.log(y.sum() / s.sum())
    return optimize.brentq(score, g0 - 20, g0 + 20, xtol=1e-14)


def moments_disp(y, s):
    m = y.sum() / s.sum()
    mu = s * m
    v = np.sum((y - mu) ** 2 - mu) / np.sum(mu ** 2)
    return max(v, MIN_DISP)


def cr_loglik(loga, y, mu):
    a = math.exp(loga)
    info = np.sum(mu / (1 + a * mu))
    return nb_ll(y, mu, a) - 0.5 * math.log(info)


def genewise(y, s, max_disp):
    """Our definition (DESeq2's, one pass): mu from the NB fit at the moments estimate, then the Cox-Reid
    adjusted profile likelihood maximised over log alpha with mu held fixed."""
    a0 = min(max(moments_disp(y, s), 1e-6), max_disp)
    mu = s * math.exp(fit_mean(y, s, a0))
    lo, hi = math.log(MIN_DISP), math.log(max_disp)
    grid = np.linspace(lo, hi, 200)
    vals = [cr_loglik(g, y, mu) for g in grid]
    k = int(np.argmax(vals))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    res = optimize.minimize_scalar(lambda g: -cr_loglik(g, y, mu), bounds=(a, b), method="bounded",
                                   options={"xatol": 1e-10})
    return math.exp(res.x), mu


def trend_fit(means, disps):
    """DESeq2's parametric trend a0 + a1/mean: gamma GLM (identity link), outliers dropped and refitted."""
    use = disps > 100 * MIN_DISP
    coefs = np.array([0.1, 1.0])
    for _ in range(10):
        Xd = np.column_stack([np.ones(use.sum()), 1.0 / means[use]])
        fam = sm.families.Gamma(link=sm.families.links.identity())
        fit = sm.GLM(disps[use], Xd, family=fam).fit(start_params=coefs, maxiter=100, tol=1e-12)
        new = fit.params
        pred = new[0] + new[1] / means
        ratio = disps / pred
        use_new = (disps > 100 * MIN_DISP) & (ratio > 1e-4) & (ratio < 15)
        converged = np.sum(np.log(new / coefs) ** 2) < 1e-6 if np.all(new > 0) and np.all(coefs > 0) else False
        coefs = new
        if converged and np.array_equal(use_new, use):
            break
        use = use_new
    return coefs


def prior_var(log_resid, m, p):
    mad = 1.4826 * np.median(np.abs(log_resid - np.median(log_resid)))
    return max(mad ** 2 - special.polygamma(1, (m - p) / 2.0), 0.25), mad ** 2


def map_disp(y, mu, log_trend, var, max_disp):
    f = lambda g: -(cr_loglik(g, y, mu) - (g - log_trend) ** 2 / (2 * var))
    lo, hi = math.log(MIN_DISP), math.log(max_disp)
    grid = np.linspace(lo, hi, 200)
    k = int(np.argmin([f(g) for g in grid]))
    res = optimize.minimize_scalar(f, bounds=(grid[max(k - 1, 0)], grid[min(k + 1, 199)]), method="bounded",
                                   options={"xatol": 1e-10})
    return math.exp(res.x)


def sm_fit(y, s, x, a):
    Xd = np.column_stack([np.ones_like(x), x])
    fam = sm.families.NegativeBinomial(alpha=a)
    full = sm.GLM(y, Xd, family=fam, offset=np.log(s)).fit(tol=1e-13, maxiter=200)
    red = sm.GLM(y, Xd[:, :1], family=fam, offset=np.log(s)).fit(tol=1e-13, maxiter=200)
    lr = max(2 * (full.llf - red.llf), 0.0)
    return {"b0": full.params[0], "b1": full.params[1], "se1": full.bse[1], "z": full.tvalues[1],
            "p": full.pvalues[1], "lr": lr, "p_lr": float(stats.chi2.sf(lr, 1))}


def apeglm_prior_var(b, se):
    """apeGLM/PyDESeq2 prior variance: the root A of sum w (b^2 - se^2) / sum w = A, w = 1/(A+se^2)^2."""
    ok = np.isfinite(b) & np.isfinite(se) & (se > 0)
    S, D = b[ok] ** 2, se[ok] ** 2
    f = lambda A: np.sum((S - D) / (A + D) ** 2) / np.sum(1 / (A + D) ** 2) - A
    lo, hi = 1e-6, 400.0
    if f(lo) < 0:
        return lo
    return optimize.brentq(f, lo, hi, xtol=1e-14)


def shrink(b, se, scale):
    f = lambda t: (t - b) ** 2 / (2 * se * se) + math.log1p((t / scale) ** 2)
    # The posterior mode lies between 0 and the MLE.
    lo, hi = min(0.0, b), max(0.0, b)
    if hi - lo < 1e-15:
        return b
    res = optimize.minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
    cands = [res.x, lo, hi]
    return min(cands, key=f)


def bh(p):
    p = np.asarray(p, float)
    n = len(p)
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adj, 1.0)
    return out


def reference(X, labels, sf, true_alpha):
    labels = np.array(labels)
    ctrl = labels == "NTC"
    perts = [g for g in dict.fromkeys(labels) if g != "NTC"]
    n_genes = X.shape[1]
    yc, sc = X[ctrl].astype(float), sf[ctrl]
    max_disp = max(10.0, float(ctrl.sum()))
    base_mean = (yc / sc[:, None]).mean(axis=0)
    gw, mus = np.full(n_genes, np.nan), {}
    for j in range(n_genes):
        if yc[:, j].sum() == 0:
            continue
        gw[j], mus[j] = genewise(yc[:, j], sc, max_disp)
    fit_genes = np.isfinite(gw)
    a0, a1 = trend_fit(base_mean[fit_genes], gw[fit_genes])
    trend = a0 + a1 / base_mean
    resid = np.log(gw[fit_genes & (gw > 100 * MIN_DISP)]) - np.log(trend[fit_genes & (gw > 100 * MIN_DISP)])
    var, var_lr = prior_var(resid, int(ctrl.sum()), 1)
    disp = np.full(n_genes, np.nan)
    for j in mus:
        d = map_disp(yc[:, j], mus[j], math.log(trend[j]), var, max_disp)
        # DESeq2: gene-wise estimates more than 2 SD above the trend are kept (dispersion outliers).
        if math.log(gw[j]) > math.log(trend[j]) + 2 * math.sqrt(var_lr):
            d = gw[j]
        disp[j] = d
    out = {"base_mean": base_mean.tolist(), "genewise": gw.tolist(), "trend_coefs": [a0, a1],
           "trend": trend.tolist(), "prior_var": var, "log_resid_var": var_lr, "dispersion": disp.tolist(),
           "true": {}, "map": {}}
    for p in perts:
        sel = ctrl | (labels == p)
        x = (labels[sel] == p).astype(float)
        s = sf[sel]
        t_rows, m_rows = [], []
        for j in range(n_genes):
            y = X[sel, j].astype(float)
            if y[x == 1].sum() == 0 or y[x == 0].sum() == 0:
                t_rows.append(None)
                m_rows.append(None)
                continue
            t_rows.append(sm_fit(y, s, x, float(true_alpha[j])))
            m_rows.append(sm_fit(y, s, x, float(disp[j])))
        b = np.array([r["b1"] if r else np.nan for r in m_rows])
        se = np.array([r["se1"] if r else np.nan for r in m_rows])
        A = apeglm_prior_var(b, se)
        scale = min(math.sqrt(A), 1.0)
        for r in m_rows:
            if r:
                r["shrunk"] = shrink(r["b1"], r["se1"], scale)
        pv = np.array([r["p"] if r else 1.0 for r in m_rows])
        padj = bh(pv)
        for j, r in enumerate(m_rows):
            if r:
                r["padj"] = padj[j]
        out["true"][p] = t_rows
        out["map"][p] = {"rows": m_rows, "prior_scale": scale}
    return out


def pooled_reference(X, labels, sf):
    """Our pooled definition, written here from the formulas (numpy/scipy), not from crispyx's code."""
    labels = np.array(labels)
    groups = list(dict.fromkeys(labels))
    n_genes = X.shape[1]
    cells = len(labels)
    max_disp = max(10.0, float(cells))
    members = [labels == g for g in groups]

    def start_means(j):
        num = den = 0.0
        for m in members:
            y, s = X[m, j].astype(float), sf[m]
            lam = y.sum() / s.sum()
            if lam > 0:
                mu = s * lam
                num += np.sum((y - mu) ** 2 - mu)
                den += np.sum(mu ** 2)
        a0 = min(max(num / den, 1e-6), max_disp)
        out = []
        for m in members:
            y, s = X[m, j].astype(float), sf[m]
            lm = fit_mean(y, s, a0)
            out.append(math.log(0.5 / s.sum()) if lm == -np.inf else lm)
        return out

    def cr_blocks(loga, j, lms):
        a = math.exp(loga)
        t = 0.0
        for m, lm in zip(members, lms):
            mu = sf[m] * math.exp(lm)
            t += nb_ll(X[m, j].astype(float), mu, a) - 0.5 * math.log(np.sum(mu / (1 + a * mu)))
        return t

    def argmax(f):
        lo, hi = math.log(MIN_DISP), math.log(max_disp)
        grid = np.linspace(lo, hi, 200)
        k = int(np.argmax([f(g) for g in grid]))
        res = optimize.minimize_scalar(lambda g: -f(g), bounds=(grid[max(k - 1, 0)], grid[min(k + 1, 199)]),
                                       method="bounded", options={"xatol": 1e-10})
        return math.exp(res.x)

    base_mean = (X / sf[:, None]).mean(axis=0)
    gw = np.full(n_genes, np.nan)
    lms = {}
    for j in range(n_genes):
        if X[:, j].sum() == 0:
            continue
        lms[j] = start_means(j)
        gw[j] = argmax(lambda g: cr_blocks(g, j, lms[j]))
    fit_genes = np.isfinite(gw)
    a0, a1 = trend_fit(base_mean[fit_genes], gw[fit_genes])
    ok = fit_genes & (gw > 100 * MIN_DISP)
    if a0 > 0 and a1 > 0:
        trend = a0 + a1 / base_mean
    else:  # our rule (as DESeq2 gives up on the parametric fit): the mean of the fitted dispersions
        a0, a1 = float(np.mean(gw[ok])), 0.0
        trend = np.full(n_genes, a0)
    var, var_lr = prior_var(np.log(gw[ok]) - np.log(trend[ok]), cells, len(groups))
    disp = np.full(n_genes, np.nan)
    for j in lms:
        d = argmax(lambda g: cr_blocks(g, j, lms[j]) - (g - math.log(trend[j])) ** 2 / (2 * var))
        if math.log(gw[j]) > math.log(trend[j]) + 2 * math.sqrt(var_lr):
            d = gw[j]
        disp[j] = d
    out = {"genewise": gw.tolist(), "trend_coefs": [a0, a1], "prior_var": var, "dispersion": disp.tolist(), "rows": {}}
    ctrl = labels == "NTC"
    for p in groups:
        if p == "NTC":
            continue
        sel = ctrl | (labels == p)
        x = (labels[sel] == p).astype(float)
        rows = []
        for j in range(n_genes):
            y = X[sel, j].astype(float)
            if y[x == 1].sum() == 0 or y[x == 0].sum() == 0:
                rows.append(None)
                continue
            rows.append(sm_fit(y, sf[sel], x, float(disp[j])))
        out["rows"][p] = rows
    return out


def covariate_screen(seed=31):
    """Cells in 3 gem groups with their own depth-independent level effects; P's cells mostly in gem group 2."""
    rng = np.random.default_rng(seed)
    n_genes, alpha = 8, 0.2
    base = np.exp(rng.normal(1.0, 0.7, n_genes))
    gem_effect = np.array([1.0, 0.5, 2.5])
    labels = ["NTC"] * 240 + ["P"] * 60
    gem = np.concatenate([rng.integers(0, 3, 240), rng.choice(3, 60, p=[0.1, 0.1, 0.8])])
    s = np.exp(rng.normal(0.0, 0.3, len(labels)))
    mu = s[:, None] * base[None, :] * gem_effect[gem][:, None] ** np.linspace(0.5, 1.5, n_genes)[None, :]
    mu[np.array(labels) == "P", 0] *= 0.3
    r = 1.0 / alpha
    X = rng.negative_binomial(r, r / (r + mu)).astype(np.int64)
    out = {"X": X.tolist(), "labels": labels, "gem": gem.tolist(), "size_factors": s.tolist(), "alpha": alpha, "fits": []}
    x = (np.array(labels) == "P").astype(float)
    D = np.column_stack([np.ones(len(x)), x, gem == 1, gem == 2]).astype(float)
    for j in range(n_genes):
        fam = sm.families.NegativeBinomial(alpha=alpha)
        f = sm.GLM(X[:, j], D, family=fam, offset=np.log(s)).fit(tol=1e-13, maxiter=200)
        g = sm.GLM(X[:, j], D[:, :2], family=fam, offset=np.log(s)).fit(tol=1e-13, maxiter=200)
        out["fits"].append({"b1": f.params[1], "se1": f.bse[1], "z": f.tvalues[1], "b1_no_cov": g.params[1]})
    return out


def python_crispyx(h5ad, sf, src):
    sys.path[:0] = [os.path.join(HERE, "shims"), src]
    import anndata as ad
    import crispyx

    res_path = h5ad.replace(".h5ad", "_pycx_nb_glm.h5ad")
    crispyx.nb_glm_test(h5ad, perturbation_column="perturbation", control_label="NTC", size_factors=sf,
                        optimization_method="irls", se_method="fisher", min_mu=0.0, min_pct_ctrl=0.0,
                        min_pct_pert=0.0, min_mean_ctrl=0.0, min_mean_pert=0.0, min_total_count=0.0,
                        lfc_shrinkage_type="apeglm", output_path=res_path, verbose=False, n_jobs=1, force=True)
    r = ad.read_h5ad(res_path)
    from crispyx._size_factors import _median_of_ratios_size_factors

    out = {"groups": [str(g) for g in r.obs_names],
           "size_factors_ratio": _median_of_ratios_size_factors(h5ad).tolist()}
    for key in ["logfoldchange_raw", "standard_error", "z_score", "pvalue", "pvalue_adj", "dispersion",
                "dispersion_raw", "dispersion_trend", "logfoldchanges"]:
        if key in r.layers:
            out[key] = np.where(np.isfinite(r.layers[key]), r.layers[key], np.nan).tolist()
    out["X"] = np.asarray(r.X).tolist()
    return out


def write_h5ad(path, X, labels):
    import anndata as ad
    import pandas as pd
    import scipy.sparse as sp
    obs = pd.DataFrame({"perturbation": pd.Categorical(labels)}, index=[f"c{i}" for i in range(len(labels))])
    var = pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])])
    ad.AnnData(sp.csr_matrix(X.astype(np.float32)), obs=obs, var=var).write_h5ad(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--crispyx", help="the Python crispyx's src/ directory (git archive of its HEAD)")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    X, labels, sf, alpha, effect = make_screen()
    nan_to_none = lambda o: json.loads(json.dumps(o, allow_nan=True).replace("-Infinity", "null").replace("Infinity", "null").replace("NaN", "null"))
    with open(os.path.join(OUT, "screen.json"), "w") as f:
        json.dump({"X": X.tolist(), "labels": labels, "size_factors": sf.tolist(), "true_alpha": alpha.tolist(),
                   "effects": {p: {str(k): v for k, v in e.items()} for p, e in effect.items()}}, f)
    ref = reference(X, labels, sf, alpha)
    ref["covariates"] = covariate_screen()
    ref["pooled"] = pooled_reference(X, labels, sf)
    with open(os.path.join(OUT, "statsmodels.json"), "w") as f:
        f.write(json.dumps(nan_to_none(ref)))
    h5 = os.path.join(OUT, "screen.h5ad")
    write_h5ad(h5, X, labels)
    if args.crispyx:
        with open(os.path.join(OUT, "python_crispyx.json"), "w") as f:
            f.write(json.dumps(nan_to_none(python_crispyx(h5, sf, args.crispyx))))
        os.remove(h5.replace(".h5ad", "_pycx_nb_glm.h5ad"))
    print("wrote", os.path.abspath(OUT))


if __name__ == "__main__":
    main()
