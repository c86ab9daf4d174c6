"""
Checks files for the fuzz harness (test/fuzz/run.ts) with the reference Python stack: anndata opens the
file (strings decode, shapes agree), a sparse X passes scipy's check_format(full_check=True), and, when
asked, X's values are finite. One JSON line per file: {"file", "ok", "why"}.

usage: python3 checkOutputs.py [--finite] FILE...
"""
import json, sys, warnings
warnings.filterwarnings("ignore")
import numpy as np
import anndata
import scipy.sparse as sp

finite = "--finite" in sys.argv
for path in [a for a in sys.argv[1:] if not a.startswith("--")]:
    why = None
    try:
        ad = anndata.read_h5ad(path)
        X = ad.X
        if X is None:
            why = "no X"
        elif sp.issparse(X):
            X.check_format(full_check=True)
            if X.indices.dtype.kind not in "iu" or X.indptr.dtype.kind not in "iu":
                why = "indices/indptr not integers"
            elif len(X.indices) and len(np.unique(X.indices)) and sp.isspmatrix_csr(X):
                Y = X.copy(); Y.sum_duplicates()
                if Y.nnz != X.nnz:
                    why = "duplicate entries in X"
            vals = X.data
        else:
            vals = np.asarray(X)
        if why is None and finite and vals.dtype.kind == "f" and not np.isfinite(vals).all():
            why = "X has NaN or Inf"
        if why is None:
            for df in (ad.obs, ad.var):
                for c in df.columns:
                    if hasattr(df[c], "cat"):
                        pass
            ad.obs_names.tolist(); ad.var_names.tolist()
    except Exception as e:  # noqa: BLE001 - any failure to read is the finding
        why = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    print(json.dumps({"file": path, "ok": why is None, "why": why}), flush=True)
