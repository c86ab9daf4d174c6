"""Parity fixtures for the screen-aware helpers (issue 4, part B): column detection, gene-symbol
validation, gene-name standardisation (incl. the MyGene.info request format) and perturbation-label
normalisation, computed by the Python seed on small .h5ad files written by anndata.

Run (from the repository root):
    PYTHONPATH=/tmp/crispyx-seed/src /tmp/pyref/bin/python scripts/reference/make_helpers_b_fixtures.py

The seed's MyGene lookup goes through the `mygene` client (mygene 3.2.2 on biothings_client 0.3.1,
which sends its requests with `requests`). Neither is installable here, so this script unpacks them
from the local git mirrors (/work/.mirror/biothings+mygene.py, /work/.mirror/biothings+biothings_client.py)
into a temporary folder, and replaces `requests.post` by a fake MyGene.info that records every
request (URL, form body, headers) and answers from a small table. Nothing goes to the network.

Outputs: test/fixtures/helpers-b/<dataset>.h5ad and test/fixtures/helpers-b/expected.json.
"""
import builtins
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.environ.get("HELPERS_B_OUT") or os.path.join(ROOT, "test", "fixtures", "helpers-b")
MIRROR = "/work/.mirror"

import crispyx.data as cd  # noqa: E402  (the seed, from PYTHONPATH)

rng = np.random.default_rng(4242)


def counts(n, m):
    x = rng.poisson(1.5, size=(n, m)).astype(np.float32)
    x[rng.random((n, m)) > 0.3] = 0
    return sp.csr_matrix(x)


def pick(values, n):
    return [values[i] for i in rng.integers(0, len(values), n)]


def write(name, obs, var, X=None, convert=True):
    adata = ad.AnnData(X=X if X is not None else counts(len(obs), len(var)), obs=obs, var=var)
    path = os.path.join(OUT, f"{name}.h5ad")
    if os.path.exists(path):
        os.remove(path)
    adata.write_h5ad(path, convert_strings_to_categoricals=convert)
    return path


# ---- datasets -------------------------------------------------------------------------------------

def ds_replogle():
    """K562-like essential screen: categorical 'gene' with 'non-targeting', Ensembl var_names with
    versions, a 'gene_name' symbol column, numeric QC columns."""
    n = 60
    genes = ["non-targeting", "TP53", "MYC", "GATA1", "KLF1", "RPL3", "MT-ND1"]
    obs = pd.DataFrame({
        "gene": pd.Categorical(pick(genes, n)),
        "gene_id": pd.Categorical(pick(["ENSG00000141510", "ENSG00000136997", "non-targeting"], n)),
        "transcript": pd.Categorical(pick(["P1P2", "P1", "P2", "all"], n)),
        "gem_group": rng.integers(1, 4, n),
        "UMI_count": rng.random(n) * 1000,
        "mitopercent": rng.random(n).astype(np.float32),
    }, index=[f"AAAC{i:04d}-1" for i in range(n)])
    syms = ["TP53", "MYC", "GATA1", "KLF1", "RPL3", "ACTB", "GAPDH", "MT-ND1", "MT-CO1", "mt-Nd2",
            "MALAT1", "XIST", "B2M", "FTL", "CD74", "HBG1", "HBG2", "LYZ", "S100A8", "NEAT1"]
    ens = [f"ENSG{10000 + i:011d}.{(i % 7) + 1}" for i in range(len(syms))]
    var = pd.DataFrame({
        "gene_name": syms,
        "chr": pd.Categorical(pick(["chr1", "chr17", "chrM", "chrX"], len(syms))),
        "mean": rng.random(len(syms)),
        "in_matrix": rng.random(len(syms)) > 0.2,
    }, index=ens)
    return write("replogle_like", obs, var, convert=False)


def ds_norman():
    """Combinatorial CRISPRa: 'guide_identity' with NegCtrl guides, 'perturbation' with 'control',
    symbols as var_names and an Ensembl 'gene_ids' column."""
    n = 50
    guides = ["NegCtrl0_NegCtrl0__NegCtrl0_NegCtrl0", "CEBPE_RUNX1T1__CEBPE_RUNX1T1", "KLF1_NegCtrl0__KLF1_NegCtrl0",
              "SET_KLF1__SET_KLF1", "NegCtrl10_NegCtrl0__NegCtrl10_NegCtrl0"]
    pert = {"NegCtrl0_NegCtrl0__NegCtrl0_NegCtrl0": "control", "CEBPE_RUNX1T1__CEBPE_RUNX1T1": "CEBPE_RUNX1T1",
            "KLF1_NegCtrl0__KLF1_NegCtrl0": "KLF1", "SET_KLF1__SET_KLF1": "SET_KLF1",
            "NegCtrl10_NegCtrl0__NegCtrl10_NegCtrl0": "control"}
    gi = pick(guides, n)
    obs = pd.DataFrame({
        "guide_identity": pd.Categorical(gi),
        "read_count": rng.integers(10, 500, n),
        "UMI_count": rng.integers(5, 100, n),
        "coverage": rng.random(n),
        "gemgroup": rng.integers(1, 9, n),
        "good_coverage": rng.random(n) > 0.1,
        "number_of_cells": rng.integers(1, 3, n),
        "perturbation": pd.Categorical([pert[g] for g in gi]),
    }, index=[f"CELL{i:03d}" for i in range(n)])
    syms = ["CEBPE", "RUNX1T1", "KLF1", "SET", "HBB", "HBA1", "GYPA", "TFRC", "MPO", "ELANE", "AZU1", "PRTN3"]
    var = pd.DataFrame({
        "gene_ids": [f"ENSG{20000 + i:011d}" for i in range(len(syms))],
        "feature_types": pd.Categorical(["Gene Expression"] * len(syms)),
    }, index=syms)
    return write("norman_like", obs, var)


def ds_mouse_object():
    """Mouse screen stored with plain string (object) columns: 'target_gene' with 'ctrl'/'NTC',
    'sgRNA' with sg-prefixed guide names and _1/_2 suffixes; mt- genes in var_names, a
    'feature_name' column and Ensembl IDs with versions in 'gene_ids'."""
    n = 40
    targets = ["ctrl", "NTC", "Trp53", "Myc", "Cd19", "Pax5"]
    tg = pick(targets, n)
    sg = [("sgNTC" if t in ("ctrl", "NTC") else f"sg{t}") + f"_{1 + i % 2}" for i, t in enumerate(tg)]
    obs = pd.DataFrame({
        "sample": pick(["ctrl_rep1", "ctrl_rep2", "treated_rep1"], n),
        "target_gene": tg,
        "sgRNA": sg,
        "n_counts": rng.random(n) * 5000,
    }, index=[f"m{i}" for i in range(n)])
    names = ["mt-Nd1", "mt-Co1", "mt-Atp6", "Trp53", "Myc", "Cd19", "Pax5", "Actb", "Gapdh", "Mt1", "mt-Cytb", "Malat1"]
    var = pd.DataFrame({
        "gene_ids": [f"ENSMUSG{30000 + i:011d}.{i % 3 + 1}" for i in range(len(names))],
        "feature_name": names,
    }, index=names)
    return write("mouse_object", obs, var, convert=False)


def ds_controls():
    """Many control spellings, mixed case, a missing label, a 'condition' column with 'scrambled'
    and an all-Ensembl var (no symbol column) including yeast ORF and FlyBase IDs."""
    n = 45
    labels = ["Non-Targeting", "non_targeting", "NONTARGET", "non-target", "Control", "CTRL", "scramble",
              "Scrambled", "non-targeting control", "non-targeting-control", "sg-TP53_KO", "sgMYC_KD",
              "sg-GATA1_P1P2", "KLF1_KO", "RPL3"]
    lab = pick(labels, n)
    cat = pd.Categorical(lab)
    codes = np.asarray(cat.codes).copy()
    codes[7] = -1
    codes[30] = -1
    obs = pd.DataFrame({
        "batch": pd.Categorical(pick(["b1", "b2"], n)),
        "perturbation": pd.Categorical.from_codes(codes, categories=cat.categories),
        "condition": pd.Categorical(pick(["scrambled", "treated"], n)),
        "cell_barcode": [f"BC{i:05d}" for i in range(n)],
    }, index=[f"c{i}" for i in range(n)])
    ids = ([f"ENSG{40000 + i:011d}.{i + 1}" for i in range(8)] + ["YAL001C", "YBL002W", "FBgn0000001", "FBgn0000002"]
           + ["ENSMUSG00000000001", "TP53"])
    var = pd.DataFrame({
        "gene_ids": ids,
        "length": rng.integers(100, 10000, len(ids)),
    }, index=ids)
    return write("controls_mixed", obs, var)


def ds_ties():
    """Two equally good label columns (first wins) and two symbol-like var columns; no alias names."""
    n = 30
    a = pick(["ctrl", "A", "B"], n)
    obs = pd.DataFrame({
        "labels_a": pd.Categorical(a),
        "labels_b": pd.Categorical(pick(["control", "C", "D"], n)),
        "score": rng.random(n),
    }, index=[f"t{i}" for i in range(n)])
    syms = ["AAA1", "BBB2", "CCC3", "ENSG00000000001", "DDD4", "EEE5"]
    var = pd.DataFrame({
        "sym1": syms,
        "sym2": [s.lower() for s in syms],
    }, index=[f"ENSG{50000 + i:011d}" for i in range(len(syms))])
    return write("ties", obs, var, convert=False)


def ds_numeric():
    """No text columns in obs, but categoricals with integer and float categories (their text is how
    numpy prints them: "3", "0.5", "1e-05"); a numeric var column: detection falls back to numeric
    columns/None."""
    n = 20
    obs = pd.DataFrame({
        "n_genes": rng.integers(100, 200, n),
        "frac": rng.random(n).astype(np.float32),
        "plate": pd.Categorical(pick([1, 2, 3, 10], n)),
        "dose": pd.Categorical(pick([0.5, 1e-05, 2.0, 1.5e16], n)),
    }, index=[f"n{i}" for i in range(n)])
    var = pd.DataFrame({"means": rng.random(8)}, index=[f"ENSG{60000 + i:011d}" for i in range(8)])
    return write("numeric_only", obs, var)


def ds_many_genes():
    """1,500 distinct var_names (Ensembl IDs with versions, mt- genes, symbols, unknown IDs) so the
    MyGene lookup takes two batches."""
    m = 1500
    names = []
    for i in range(m):
        if i % 50 == 0:
            names.append(f"mt-Gene{i}")
        elif i % 7 == 0:
            names.append(f"SYM{i}")
        else:
            names.append(f"ENSG{70000 + i:011d}.{i % 9 + 1}")
    var = pd.DataFrame({"gene_ids": names}, index=names)
    obs = pd.DataFrame(index=[f"g{i}" for i in range(4)])
    obs["perturbation"] = pd.Categorical(["NTC", "A", "B", "NTC"])
    return write("many_genes", obs, var, X=sp.random(4, m, density=0.01, format="csr", dtype=np.float32, random_state=1))


# ---- capture the seed's per-column scores ---------------------------------------------------------

class ScoreRecorder:
    """The seed keeps its per-column scores in a local dict and picks with `max(scores.items(), ...)`;
    shadowing `max` in the seed's module records them without changing the result."""

    def __init__(self):
        self.calls = []

    def __call__(self, *args, **kwargs):
        if len(args) == 1 and "key" in kwargs:
            items = list(args[0])
            self.calls.append({k: int(v) for k, v in items})
            return builtins.max(items, **kwargs)
        return builtins.max(*args, **kwargs)


class LogCapture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def detection(path):
    rec = ScoreRecorder()
    cd.max = rec
    cap = LogCapture()
    cd.logger.addHandler(cap)
    cd.logger.setLevel(logging.INFO)
    try:
        out = {}
        p = cd.detect_perturbation_column(path, verbose=True)
        out["perturbation"] = {"column": p, "scores": rec.calls[-1] if rec.calls else {}, "log": cap.messages[-1] if p else None}
        for ctrl in ["NTC", "control", "non-targeting", "ctrl", "A"]:
            rec.calls.clear()
            p = cd.detect_perturbation_column(path, control_label=ctrl, verbose=False)
            out[f"perturbation_control={ctrl}"] = {"column": p, "scores": rec.calls[-1] if rec.calls else {}}
        rec.calls.clear()
        p = cd.detect_perturbation_column(path, min_unique=5, verbose=False)
        out["perturbation_min_unique=5"] = {"column": p, "scores": rec.calls[-1] if rec.calls else {}}
        rec.calls.clear()
        cap.messages.clear()
        g = cd.detect_gene_symbol_column(path, verbose=True)
        out["gene_symbol"] = {"column": g, "scores": rec.calls[-1] if rec.calls else {}, "log": cap.messages[-1] if g else None}
        out["infer"] = cd.infer_columns(path, verbose=False)
        return out
    finally:
        del cd.max
        cd.logger.removeHandler(cap)


def ensure_symbols(path):
    adata = ad.read_h5ad(path, backed="r")
    out = {}
    try:
        for col in [None, "gene_symbols", *adata.var.columns, "no_such_column"]:
            key = "<var_names>" if col is None else col
            try:
                names = cd.ensure_gene_symbol_column(adata, col)
                out[key] = {"ok": True, "names": [str(x) for x in names]}
            except (ValueError, KeyError) as e:
                out[key] = {"ok": False, "error": type(e).__name__, "message": str(e)}
    finally:
        adata.file.close()
    return out


LABEL_OPTIONS = [
    {},
    {"strip_prefixes": ["sg-", "sg"]},
    {"strip_suffixes": ["_KO", "_KD", "_P1P2"]},
    {"strip_prefixes": ["sg-", "sg"], "strip_suffixes": ["_KO", "_KD", "_P1P2"], "canonical_control": "control"},
    {"strip_suffix_regex": r"_\d+$"},
    {"strip_prefixes": ["sg"], "strip_suffix_regex": r"_\d+$", "control_aliases": ["NTC", "Trp53"], "canonical_control": "CTRL"},
    {"control_aliases": ["NegCtrl0_NegCtrl0__NegCtrl0_NegCtrl0", "NEGCTRL10_NEGCTRL0__NEGCTRL10_NEGCTRL0"]},
    {"strip_suffix_regex": r"(?i)__.*$", "control_aliases": ["negctrl0_negctrl0"]},
]


def labels(path, column):
    out = []
    dtype_before = str(cd.load_obs(path)[column].dtype)
    for opts in LABEL_OPTIONS:
        s = cd.normalise_perturbation_labels(path, column, inplace=False, **opts)
        entry = {"options": opts, "labels": [str(x) for x in s]}
        # In place on a copy, to see what the seed writes (categories of a categorical column).
        with tempfile.TemporaryDirectory() as td:
            cp = os.path.join(td, "copy.h5ad")
            shutil.copyfile(path, cp)
            cd.normalise_perturbation_labels(cp, column, inplace=True, **opts)
            after = ad.read_h5ad(cp).obs[column]
            entry["dtype_after"] = str(after.dtype)
            if isinstance(after.dtype, pd.CategoricalDtype):
                entry["categories_after"] = [str(c) for c in after.cat.categories]
        out.append(entry)
    return {"column": column, "dtype_before": dtype_before, "results": out}


GENE_OPTIONS = [
    {},
    {"strip_version": False},
    {"normalise_mt_prefix": False},
    {"strip_version": False, "normalise_mt_prefix": False},
]


def gene_names(path):
    var = cd.load_var(path)
    out = []
    for column in [None, *[c for c in var.columns if var[c].dtype == object or isinstance(var[c].dtype, pd.CategoricalDtype)]]:
        for opts in GENE_OPTIONS:
            s = cd.standardise_gene_names(path, column=column, inplace=False, **opts)
            out.append({"column": column, "options": opts, "names": [str(x) for x in s]})
    return out


# ---- MyGene: the real client, a fake server ---------------------------------------------------------

def load_mygene():
    tmp = tempfile.mkdtemp(prefix="helpersb-mygene-")
    for repo, ref, sub in [("biothings+biothings_client.py", "v0.3.1", "biothings_client"), ("biothings+mygene.py", "HEAD", "mygene")]:
        git_dir = os.path.join(MIRROR, repo, "repo")
        archive = subprocess.run(["git", "--git-dir", git_dir, "archive", ref, sub], check=True, capture_output=True).stdout
        subprocess.run(["tar", "x", "-C", tmp], input=archive, check=True)
    sys.path.insert(0, tmp)
    import mygene  # noqa: F401
    return tmp


def fake_symbol(term):
    """The fake MyGene.info's knowledge: Ensembl IDs divisible by 3 (after 70000/40000/10000/30000
    offsets) map to GENE<n>; known symbols map to themselves; SYM<n> with n % 2 == 0 map to SYM<n>
    (found as symbols); 'mt-Nd1'-style names are not found; one ID has two hits (the last wins)."""
    if term.startswith("ENSG") or term.startswith("ENSMUSG"):
        digits = term.replace("ENSMUSG", "").replace("ENSG", "")
        if not digits.isdigit():
            return None
        k = int(digits)
        if k % 3 == 0:
            return [f"GENE{k}"] if k % 4 else [f"OLD{k}", f"GENE{k}"]
        return None
    if term.startswith("SYM"):
        k = int(term[3:])
        return [term] if k % 2 == 0 else None
    if term in {"TP53", "MYC", "GATA1", "KLF1", "RPL3", "ACTB", "GAPDH", "MT-ND1", "MT-CO1", "MT-Nd2", "Trp53", "Myc"}:
        return [term.upper() if term.startswith("MT-") else term]
    return None


def mygene_cases(paths):
    import requests  # the client's HTTP layer

    records = []

    class FakeResponse:
        def __init__(self, payload):
            self.payload = payload
            self.from_cache = False
            self.status_code = 200

        def raise_for_status(self):
            pass

        def json(self):
            return self.payload

    def fake_post(url, data=None, headers=None, **kw):
        prepared = requests.Request("POST", url, data=data, headers=headers).prepare()
        body = prepared.body if isinstance(prepared.body, str) else prepared.body.decode()
        terms = [t.strip('"') for t in data["q"].split(",")]
        hits = []
        for t in terms:
            syms = fake_symbol(t)
            if syms is None:
                hits.append({"query": t, "notfound": True})
            else:
                for j, s in enumerate(syms):
                    hits.append({"query": t, "_id": f"id-{t}-{j}", "_score": 10.0 - j, "symbol": s})
        records[-1]["requests"].append({
            "url": url, "body": body, "form": [[k, v] for k, v in data.items()],
            "content_type": prepared.headers.get("Content-Type"), "n_terms": len(terms), "response": hits,
        })
        return FakeResponse(hits)

    sleeps = []
    orig_post, orig_sleep = requests.post, __import__("time").sleep
    requests.post = fake_post
    import time
    time.sleep = lambda s: sleeps.append(s)
    out = []
    try:
        cases = [
            ("replogle_like", {"column": None}),
            ("replogle_like", {"column": "gene_name"}),
            ("mouse_object", {"column": "gene_ids", "species": "mouse"}),
            ("mouse_object", {"column": None, "species": "mouse"}),
            ("many_genes", {"column": None}),
            ("controls_mixed", {"column": None, "strip_version": False}),
        ]
        for name, opts in cases:
            for action in ["keep", "warn", "error"]:
                records.append({"requests": []})
                sleeps.clear()
                entry = {"dataset": name, "options": {**opts, "lookup_symbols": True, "unmapped_action": action}}
                try:
                    s = cd.standardise_gene_names(paths[name], lookup_symbols=True, unmapped_action=action, inplace=False, **opts)
                    entry["names"] = [str(x) for x in s]
                except ValueError as e:
                    entry["error"] = str(e)
                entry["requests"] = records[-1]["requests"]
                entry["sleeps"] = list(sleeps)
                if action != "keep":
                    # The requests do not depend on the action: keep only the first copy.
                    entry["requests"] = [{k: r[k] for k in ("n_terms",)} for r in entry["requests"]]
                out.append(entry)
    finally:
        requests.post = orig_post
        time.sleep = orig_sleep
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    paths = {
        "replogle_like": ds_replogle(),
        "norman_like": ds_norman(),
        "mouse_object": ds_mouse_object(),
        "controls_mixed": ds_controls(),
        "ties": ds_ties(),
        "numeric_only": ds_numeric(),
        "many_genes": ds_many_genes(),
    }
    label_columns = {
        "replogle_like": ["gene", "gene_id"],
        "norman_like": ["guide_identity", "perturbation"],
        "mouse_object": ["target_gene", "sgRNA", "sample"],
        "controls_mixed": ["perturbation", "condition"],
        "ties": ["labels_a"],
        "numeric_only": ["n_genes", "plate", "dose", "frac"],
        "many_genes": ["perturbation"],
    }
    expected = {"datasets": {}}
    for name, path in paths.items():
        entry = {"file": os.path.basename(path)}
        entry["detection"] = detection(path)
        entry["ensure_gene_symbols"] = ensure_symbols(path)
        entry["labels"] = [labels(path, c) for c in label_columns[name]]
        if name != "many_genes":
            entry["gene_names"] = gene_names(path)
        expected["datasets"][name] = entry
    tmp = load_mygene()
    try:
        import mygene
        expected["mygene_client"] = {"mygene": mygene.__version__, "biothings_client": "0.3.1"}
        expected["mygene"] = mygene_cases(paths)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    expected["versions"] = {"anndata": ad.__version__, "pandas": pd.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=False)
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
