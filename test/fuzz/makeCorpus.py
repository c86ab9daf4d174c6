"""
Makes the damaged corpus of the fuzz harness (test/fuzz/run.ts) from two demo files: raw counts and
log-normalised. Every category of issue 20: truncations, byte flips (anywhere and in object headers),
inconsistent sparse structure, wrong encodings and shapes, NaN/Inf/negative values, non-UTF-8
strings, broken categoricals, columns of the wrong length, deeply nested uns.

usage: python3 makeCorpus.py COUNTS.h5ad LOGNORM.h5ad OUTDIR [--sample N]

Writes OUTDIR/<name>.h5ad and OUTDIR/manifest.json: one record per file with its category, what was
done, and `refuse`: the commands that must refuse it ("all" = every command, "values" = those that
read X's values and need them finite/non-negative, see run.ts), or null when any outcome whose output
checks out is right (random damage). Deterministic (seeded).
"""
import json, os, random, shutil, sys
import numpy as np
import h5py

counts, lognorm, out = sys.argv[1], sys.argv[2], sys.argv[3]
sample = int(sys.argv[sys.argv.index("--sample") + 1]) if "--sample" in sys.argv else 0
os.makedirs(out, exist_ok=True)
manifest = []
rng = random.Random(20)
BASES = {"c": counts, "l": lognorm}
STR = h5py.string_dtype("utf-8")


def add(name, base, category, what, refuse, edit=None, raw=None):
    path = os.path.join(out, name + ".h5ad")
    shutil.copyfile(BASES[base], path)
    if edit is not None:
        with h5py.File(path, "r+") as f:
            edit(f)
    if raw is not None:
        raw(path)
    manifest.append({"file": name + ".h5ad", "base": base, "category": category, "what": what, "refuse": refuse})


def replace(f, path, data, attrs=None):
    old = dict(f[path].attrs) if attrs is None else attrs
    del f[path]
    d = f.create_dataset(path, data=data)
    for k, v in old.items():
        d.attrs[k] = v


def header_addresses(path):
    addrs = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            addrs.append((name, h5py.h5o.get_info(obj.id).addr))
        f.visititems(visit)
        addrs.append(("/", h5py.h5o.get_info(f.id).addr))
    return addrs


def flip(path, at, mask):
    with open(path, "r+b") as fh:
        fh.seek(at)
        b = fh.read(1)
        if not b:
            return
        fh.seek(at)
        fh.write(bytes([b[0] ^ mask]))


# ---- sparse structure ------------------------------------------------------------------------
def sparse_cases(base):
    def indptr(fn):
        def e(f):
            p = f["X/indptr"][...].astype(np.int64)
            fn(p, f)
            replace(f, "X/indptr", p.astype(f["X/indptr"].dtype))
        return e

    def indices(fn, dtype=None):
        def e(f):
            p = f["X/indptr"][...]
            i = f["X/indices"][...].astype(np.int64)
            fn(i, p, f)
            replace(f, "X/indices", i.astype(dtype or f["X/indices"].dtype))
        return e

    def rowspan(p, r):
        return int(p[r]), int(p[r + 1])

    def swap_in_row(i, p, r):
        s, e = rowspan(p, r)
        i[s:e] = i[s:e][::-1].copy()

    def dup_in_row(i, p, r):
        s, e = rowspan(p, r)
        if e - s >= 2:
            i[s + 1] = i[s]

    n = 0
    for where, r in (("first", 0), ("middle", 150), ("last", 299)):
        def dec(p, f, r=r):
            p[r + 1] = p[r] - 1 if r + 1 < len(p) - 1 else p[r + 1]
            if r + 1 == len(p) - 1:
                p[r] = p[r + 1] + 5
        add(f"sparse_indptr_decreasing_{where}_{base}", base, "sparse", f"indptr decreases at row {r}", "all", indptr(dec))
        add(f"sparse_indices_ge_nvars_{where}_{base}", base, "sparse", f"an index of row {r} is n_vars", "all",
            indices(lambda i, p, f, r=r: i.__setitem__(rowspan(p, r)[0], 200)))
        add(f"sparse_indices_huge_{where}_{base}", base, "sparse", f"an index of row {r} is 2^31-1", "all",
            indices(lambda i, p, f, r=r: i.__setitem__(rowspan(p, r)[0], 2**31 - 1)))
        add(f"sparse_indices_negative_{where}_{base}", base, "sparse", f"an index of row {r} is -1", "all",
            indices(lambda i, p, f, r=r: i.__setitem__(rowspan(p, r)[0], -1)))
        add(f"sparse_indices_duplicate_{where}_{base}", base, "sparse", f"row {r} holds one column twice", "all",
            indices(lambda i, p, f, r=r: dup_in_row(i, p, r)))
        add(f"sparse_indices_unsorted_{where}_{base}", base, "legal", f"row {r}'s indices reversed (legal)", [],
            indices(lambda i, p, f, r=r: swap_in_row(i, p, r)))
    add(f"sparse_indices_unsorted_all_{base}", base, "legal", "every row's indices reversed (legal)", [],
        indices(lambda i, p, f: [swap_in_row(i, p, r) for r in range(len(p) - 1)]))
    add(f"sparse_indptr_negative_{base}", base, "sparse", "indptr[1] = -5", "all", indptr(lambda p, f: p.__setitem__(1, -5)))
    add(f"sparse_indptr_huge_{base}", base, "sparse", "indptr[100] = 2^40", "all",
        lambda f: replace(f, "X/indptr", np.where(np.arange(301) == 100, 2**40, f["X/indptr"][...].astype(np.int64))))
    add(f"sparse_indptr_not_zero_{base}", base, "sparse", "indptr[0] = 3", "all", indptr(lambda p, f: p.__setitem__(0, 3)))
    add(f"sparse_indptr_short_end_{base}", base, "sparse", "indptr[-1] = nnz - 10", "all", indptr(lambda p, f: p.__setitem__(-1, p[-1] - 10)))
    add(f"sparse_indptr_long_end_{base}", base, "sparse", "indptr[-1] = nnz + 10", "all", indptr(lambda p, f: p.__setitem__(-1, p[-1] + 10)))
    add(f"sparse_indptr_too_short_{base}", base, "sparse", "indptr has n_obs entries", "all",
        lambda f: replace(f, "X/indptr", f["X/indptr"][:-1]))
    add(f"sparse_indptr_too_long_{base}", base, "sparse", "indptr has n_obs + 2 entries", "all",
        lambda f: replace(f, "X/indptr", np.append(f["X/indptr"][...], f["X/indptr"][-1])))
    add(f"sparse_indptr_float_{base}", base, "sparse", "indptr stored as float64", "all",
        lambda f: replace(f, "X/indptr", f["X/indptr"][...].astype(np.float64)))
    add(f"sparse_indices_float_{base}", base, "sparse", "indices stored as float32", "all",
        lambda f: replace(f, "X/indices", f["X/indices"][...].astype(np.float32)))
    add(f"sparse_data_short_{base}", base, "sparse", "data has nnz - 5 entries", "all",
        lambda f: replace(f, "X/data", f["X/data"][:-5]))
    add(f"sparse_indices_short_{base}", base, "sparse", "indices has nnz - 5 entries", "all",
        lambda f: replace(f, "X/indices", f["X/indices"][:-5]))
    add(f"sparse_all_indptr_zero_{base}", base, "sparse", "indptr all 0 but data non-empty", "all",
        lambda f: replace(f, "X/indptr", np.zeros(301, dtype=np.int32)))
    add(f"sparse_csr_labelled_csc_{base}", base, "encoding", "CSR X labelled csc_matrix", "all",
        lambda f: f["X"].attrs.__setitem__("encoding-type", "csc_matrix"))
    add(f"sparse_shape_attr_wrong_{base}", base, "shape", "X's shape attribute [300, 150]", "all",
        lambda f: f["X"].attrs.__setitem__("shape", np.array([300, 150])))
    add(f"sparse_shape_attr_3d_{base}", base, "shape", "X's shape attribute has 3 entries", "all",
        lambda f: f["X"].attrs.__setitem__("shape", np.array([300, 200, 1])))
    add(f"sparse_shape_attr_negative_{base}", base, "shape", "X's shape attribute [-300, 200]", "all",
        lambda f: f["X"].attrs.__setitem__("shape", np.array([-300, 200])))


def values_cases(base):
    def setv(k, v):
        def e(f):
            d = f["X/data"][...]
            d[k] = v
            replace(f, "X/data", d)
        return e
    for label, v in (("nan", np.nan), ("posinf", np.inf), ("neginf", -np.inf)):
        for k in (0, 13000, 26778):
            add(f"values_{label}_{k}_{base}", base, "values", f"X.data[{k}] = {v}", "values", setv(k, v))
    for k in (0, 13000):
        add(f"values_negative_{k}_{base}", base, "values", f"X.data[{k}] = -1", "counts", setv(k, -1.0))
    add(f"values_negative_many_{base}", base, "values", "50 values of X negative", "counts",
        lambda f: replace(f, "X/data", np.where(np.arange(f["X/data"].shape[0]) % 500 == 0, -2.0, f["X/data"][...]).astype(np.float32)))


# ---- encodings, shapes, metadata -------------------------------------------------------------
def meta_cases(base):
    def attr(path, k, v):
        return lambda f: f[path].attrs.__setitem__(k, v)
    add(f"enc_unknown_root_{base}", base, "encoding", "root encoding-type 'anndota'", "all", attr("/", "encoding-type", "anndota"))
    add(f"enc_unknown_obs_{base}", base, "encoding", "obs encoding-type 'dataframe2'", "all", attr("obs", "encoding-type", "dataframe2"))
    add(f"enc_unknown_column_{base}", base, "encoding", "obs/gem_group encoding-type 'arrray'", "all", attr("obs/gem_group", "encoding-type", "arrray"))
    add(f"enc_unknown_X_{base}", base, "encoding", "X encoding-type 'coo_matrix'", "all", attr("X", "encoding-type", "coo_matrix"))
    # No X is legal AnnData (X=None): info and validate accept it, every operator must refuse it.
    add(f"enc_x_missing_{base}", base, "encoding", "X deleted", "ops", lambda f: f.__delitem__("X"))
    def dense(f, shape):
        d = np.zeros(shape, dtype=np.float32)
        del f["X"]
        x = f.create_dataset("X", data=d)
        x.attrs["encoding-type"] = "array"; x.attrs["encoding-version"] = "0.2.0"
    add(f"shape_dense_x_1d_{base}", base, "shape", "X dense 1-D", "all", lambda f: dense(f, (300,)))
    add(f"shape_dense_x_wrong_{base}", base, "shape", "X dense 300 x 150", "all", lambda f: dense(f, (300, 150)))
    add(f"shape_dense_x_transposed_{base}", base, "shape", "X dense 200 x 300", "all", lambda f: dense(f, (200, 300)))
    def obsm(f, shape, key="obsm", name="X_pca"):
        d = f[key].create_dataset(name, data=np.zeros(shape, dtype=np.float32))
        d.attrs["encoding-type"] = "array"; d.attrs["encoding-version"] = "0.2.0"
    add(f"shape_obsm_rows_{base}", base, "shape", "obsm['X_pca'] has 299 rows", "all", lambda f: obsm(f, (299, 5)))
    add(f"shape_varm_rows_{base}", base, "shape", "varm['PCs'] has 201 rows", "all", lambda f: obsm(f, (201, 5), "varm", "PCs"))
    add(f"shape_layers_{base}", base, "shape", "layers['counts'] is 300 x 199", "all", lambda f: obsm(f, (300, 199), "layers", "counts"))
    add(f"shape_obsp_{base}", base, "shape", "obsp['d'] is 300 x 299", "all", lambda f: obsm(f, (300, 299), "obsp", "d"))
    add(f"shape_obsm_ok_{base}", base, "legal", "obsm['X_pca'] 300 x 5 (legal)", [], lambda f: obsm(f, (300, 5)))
    add(f"col_obs_short_{base}", base, "columns", "obs/gem_group has 299 values", "all",
        lambda f: replace(f, "obs/gem_group", f["obs/gem_group"][:-1]))
    add(f"col_obs_long_{base}", base, "columns", "obs/gem_group has 301 values", "all",
        lambda f: replace(f, "obs/gem_group", np.append(f["obs/gem_group"][...], 1).astype(np.int32)))
    add(f"col_var_short_{base}", base, "columns", "var/gene_symbols has 150 values", "all",
        lambda f: replace(f, "var/gene_symbols", f["var/gene_symbols"][:150]))
    add(f"col_codes_short_{base}", base, "columns", "obs/perturbation/codes has 290 values", "all",
        lambda f: replace(f, "obs/perturbation/codes", f["obs/perturbation/codes"][:290]))
    add(f"col_obs_index_short_{base}", base, "columns", "obs/_index has 299 names (X has 300 rows)", "all",
        lambda f: replace(f, "obs/_index", f["obs/_index"][:-1]))
    add(f"col_var_index_long_{base}", base, "columns", "var/_index has 201 names", "all",
        lambda f: replace(f, "var/_index", np.append(f["var/_index"][...], b"extra").astype(object), {**dict(f["var/_index"].attrs)}))
    add(f"col_order_missing_{base}", base, "columns", "column-order names a missing column", "all",
        attr("obs", "column-order", np.array(["perturbation", "guide_id", "gem_group", "nope"], dtype=object)))
    # categoricals
    def codes(fn, dtype=None):
        def e(f):
            c = f["obs/perturbation/codes"][...].astype(np.int64)
            fn(c)
            replace(f, "obs/perturbation/codes", c.astype(dtype or f["obs/perturbation/codes"].dtype))
        return e
    add(f"cat_code_too_big_{base}", base, "categorical", "a perturbation code is 5 (5 categories)", "all", codes(lambda c: c.__setitem__(7, 5)))
    add(f"cat_code_too_small_{base}", base, "categorical", "a perturbation code is -2", "all", codes(lambda c: c.__setitem__(7, -2)))
    add(f"cat_code_missing_{base}", base, "legal", "a perturbation code is -1 (missing, legal)", [], codes(lambda c: c.__setitem__(7, -1)))
    add(f"cat_code_float_{base}", base, "categorical", "perturbation codes stored as float64", "all", codes(lambda c: None, np.float64))
    add(f"cat_duplicate_{base}", base, "categorical", "guide_id has a duplicate category", "all",
        lambda f: replace(f, "obs/guide_id/categories", np.array([f["obs/guide_id/categories"][0]] + list(f["obs/guide_id/categories"][1:-1]) + [f["obs/guide_id/categories"][0]], dtype=object)))
    add(f"cat_var_code_big_{base}", base, "categorical", "a var feature_types code is 9", "all",
        lambda f: replace(f, "var/feature_types/codes", np.where(np.arange(200) == 3, 9, f["var/feature_types/codes"][...]).astype(np.int8)))
    # strings that are not UTF-8
    def bad_strings(path, k, raw=b"\xed\xa0\x80x"):
        def e(f):
            a = list(f[path][...])
            a[k] = raw
            attrs = dict(f[path].attrs)
            del f[path]
            d = f.create_dataset(path, (len(a),), dtype=STR)
            d[...] = np.array(a, dtype=object)
            for kk, vv in attrs.items():
                d.attrs[kk] = vv
        return e
    add(f"utf8_obs_index_{base}", base, "strings", "obs_names[5] not UTF-8", "all", bad_strings("obs/_index", 5))
    add(f"utf8_var_index_{base}", base, "strings", "var_names[5] not UTF-8", "all", bad_strings("var/_index", 5))
    add(f"utf8_categories_{base}", base, "strings", "a guide_id category not UTF-8", "all", bad_strings("obs/guide_id/categories", 2, b"g\xff\xfe"))
    add(f"utf8_perturbation_cat_{base}", base, "strings", "a perturbation category not UTF-8", "all", bad_strings("obs/perturbation/categories", 1, b"\xc3("))
    add(f"utf8_var_column_{base}", base, "strings", "var/gene_symbols[0] not UTF-8", "all", bad_strings("var/gene_symbols", 0))
    add(f"utf8_uns_array_{base}", base, "strings", "uns/demo/truth/targets[0] not UTF-8", "all", bad_strings("uns/demo/truth/targets", 0))
    # deep uns
    for depth in (63, 65, 500, 5000):
        def nest(f, depth=depth):
            g = f["uns"]
            for i in range(depth):
                g = g.create_group("d")
                g.attrs["encoding-type"] = "dict"; g.attrs["encoding-version"] = "0.1.0"
        add(f"uns_nested_{depth}_{base}", base, "nesting", f"uns nested {depth} levels", "all" if depth > 64 else [], nest)


for b in ("c", "l"):
    sparse_cases(b)
    values_cases(b)
    meta_cases(b)

# ---- random damage ---------------------------------------------------------------------------
for b in ("c", "l"):
    size = os.path.getsize(BASES[b])
    for k in range(18):
        cut = rng.randrange(1, size)
        add(f"trunc_{k}_{b}", b, "truncation", f"truncated to {cut} of {size} bytes", None,
            raw=lambda p, cut=cut: os.truncate(p, cut))
    for k in range(30):
        at, mask = rng.randrange(0, size), 1 << rng.randrange(8)
        add(f"flip_{k}_{b}", b, "byteflip", f"bit flip at byte {at} (mask {mask})", None,
            raw=lambda p, at=at, mask=mask: flip(p, at, mask))
    heads = header_addresses(BASES[b])
    for k in range(22):
        name, addr = rng.choice(heads)
        off, mask = rng.randrange(0, 48), rng.choice([0xff, 0x80, 0x01, 0x10])
        add(f"header_{k}_{b}", b, "headerflip", f"object header of {name}: byte {off} xor {mask:#x}", None,
            raw=lambda p, at=addr + off, mask=mask: flip(p, at, mask))

if sample:
    # a few files per category for the fast test: keep the first `sample` of each category
    seen, keep = {}, []
    for m in manifest:
        seen[m["category"]] = seen.get(m["category"], 0) + 1
        if seen[m["category"]] <= sample:
            keep.append(m)
        else:
            os.remove(os.path.join(out, m["file"]))
    manifest = keep

with open(os.path.join(out, "manifest.json"), "w") as fh:
    json.dump(manifest, fh, indent=1)
print(f"{len(manifest)} files in {out}")
