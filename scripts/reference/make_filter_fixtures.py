"""Write small .h5ad files whose datasets are compressed with HDF5 filters (issue 18 item 3), plus the exact
values Python reads from each.

Run: /usr/bin/python3 scripts/reference/make_filter_fixtures.py
Needs Debian's python3-anndata (0.8), python3-h5py (3.7, HDF5 1.10.8 with LZF and szip), python3-hdf5plugin
python3-zstandard and bitshuffle: `apt-get install python3-anndata python3-hdf5plugin hdf5-filter-plugin
python3-zstandard bitshuffle`.
Outputs: test/fixtures/h5ad-filters/<name>.h5ad and test/fixtures/h5ad-filters/expected.json (the values anndata
reads, equal in every file, and each file's filter ids per dataset)

Files (60 cells x 40 genes, integer counts as float32, obs 'perturbation' categorical + 'n_counts' float64):
- plain_csr, plain_dense: anndata 0.8 write_h5ad without compression (the twins every other file is compared to).
- lzf_csr, lzf_dense: anndata 0.8 write_h5ad(compression="lzf") - every array anndata writes is LZF (filter 32000).
- gzip_csr: anndata 0.8 write_h5ad(compression="gzip").
- lzf_recarray_csr: lzf_csr with uns['rec'], a record array with a variable-length string field (LZF too).
- lzf_shuffle_tiles_dense: plain_dense with numeric datasets LZF + shuffle, X in 7 x 6 chunks (partial ones at
  both edges).
- lzf_fletcher32_csr: plain_csr with numeric datasets LZF + fletcher32; lzf_fletcher32_bad_csr: one byte of
  X/data's data changed (the chunk still decodes; its checksum does not match).
- gzip_shuffle_fletcher32_csr: plain_csr with every non-scalar numeric dataset rewritten gzip(4) + shuffle + fletcher32.
- szip_csr: X's datasets with szip (filter 4, HDF5's own; h5wasm has it built in).
- blosc_lz4_csr, blosc_zstd_csr (bitshuffle), lz4_csr, bzip2_csr: hdf5plugin's filters (32001, 32004, 307) with
  Debian's plugins (hdf5-filter-plugin, hdf5-filter-plugin-blosc-serial).
- zstd_csr: X's datasets as one chunk each under the zstd filter (32015), compressed with python3-zstandard
  and written with write_direct_chunk (Debian has no zstd HDF5 plugin; H5Z-zstd's chunk is one zstd frame).
- lzf_v4index_csr: plain_csr rewritten with libver="latest" (chunk indexes of HDF5 1.10: fixed and extensible
  arrays), numeric datasets LZF; lzf_v4index_strings_csr: the same with the string datasets LZF too.
- unknown_filter_csr: the same with filter id 32999 (registered by no one) and the bytes left raw, for the
  "filter not available" error.
- lzf_corrupt_csr: lzf_csr with the second half of X/data's chunk overwritten with 0xff (h5py cannot read it).
- bshuf_lz4_csr: bitshuffle + LZ4 (32008), with Debian's bitshuffle package.
"""
import json
import os
import shutil
import warnings

import anndata
import bitshuffle.h5  # noqa: F401  (registers the bitshuffle filter, 32008, with h5py)
import h5py
import hdf5plugin
import numpy as np
import pandas as pd
import scipy.sparse as sp
import zstandard

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "h5ad-filters")
N, M = 60, 40


def make_adata(dense):
    rng = np.random.default_rng(20261205)
    x = rng.poisson(1.5, (N, M)).astype(np.float32)
    x[rng.random((N, M)) > 0.3] = 0
    x[5] = 0  # an empty cell
    obs = pd.DataFrame(
        {
            "perturbation": pd.Categorical([["control", "GATA1", "TP53"][i % 3] for i in range(N)]),
            "n_counts": x.sum(axis=1).astype(np.float64),
        },
        index=[f"cell{i}" for i in range(N)],
    )
    var = pd.DataFrame({"gene_symbols": [f"G{j}" for j in range(M)]}, index=[f"ENSG{j:05d}" for j in range(M)])
    a = anndata.AnnData(X=x if dense else sp.csr_matrix(x), obs=obs, var=var)
    a.uns["weights"] = np.arange(12, dtype=np.float64) / 8
    return a


# A record array (anndata's rec-array: strings become variable-length fields) for lzf_recarray_csr's uns.
REC = np.rec.fromarrays(
    [np.array(["a", "bé", "", "long string " * 3], dtype=object), np.array([b"x", b"yy", b"zzz", b""], dtype="S3"),
     np.array([1, -2, 2**40, 0], dtype=np.int64), np.array([0.5, 1.25, -3, 7], dtype=np.float32)],
    names=["name", "code", "count", "score"],
)


def refilter(src, dst, strings=False, only="", libver=None, x_chunks=True, **kwargs):
    """Copy src to dst, rewriting every non-scalar numeric dataset (and string one if `strings`) whose path
    starts with `only` with h5py's filter kwargs."""
    with h5py.File(src, "r") as fi, h5py.File(dst, "w", libver=libver) as fo:
        for k, v in fi.attrs.items():
            fo.attrs[k] = v

        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                g = fo.require_group(name)
                for k, v in obj.attrs.items():
                    g.attrs[k] = v
                return
            if obj.shape == () or obj.size == 0 or (obj.dtype.kind not in "iuf" and not strings) or not name.startswith(only):
                d = fo.create_dataset(name, data=obj[()], dtype=obj.dtype)
            else:
                d = fo.create_dataset(name, data=obj[()], dtype=obj.dtype, chunks=x_chunks if name == "X" else True, **kwargs)
            for k, v in obj.attrs.items():
                d.attrs[k] = v

        fi.visititems(visit)


def direct_chunks(src, dst, filter_id, encode):
    """Copy src to dst with X's datasets stored as one chunk each under filter `filter_id`, the chunk bytes
    made by `encode` (for filters this HDF5 has no plugin for: Debian packages no zstd filter)."""
    shutil.copy(src, dst)
    with h5py.File(src, "r") as fi, h5py.File(dst, "a") as fo:
        for name in ("data", "indices", "indptr"):
            a = fi["X"][name][()]
            attrs = dict(fi["X"][name].attrs)
            del fo["X"][name]
            d = fo["X"].create_dataset(name, shape=a.shape, dtype=a.dtype, chunks=a.shape, compression=filter_id, allow_unknown_filter=True)
            d.id.write_direct_chunk((0,), encode(a.tobytes()))
            for k, v in attrs.items():
                d.attrs[k] = v


def expected_of(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = anndata.read_h5ad(path)
    x = a.X.toarray() if sp.issparse(a.X) else np.asarray(a.X)
    with h5py.File(path, "r") as f:
        filters = {}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                ids = [obj.id.get_create_plist().get_filter(i)[0] for i in range(obj.id.get_create_plist().get_nfilters())]
                if ids:
                    filters["/" + name] = ids

        f.visititems(visit)
    return {
        "shape": list(x.shape),
        "dtype": str(x.dtype),
        "X": [[float(v) for v in row] for row in x],
        "n_counts": [float(v) for v in a.obs["n_counts"]],
        "perturbation": [str(v) for v in a.obs["perturbation"]],
        "weights": [float(v) for v in a.uns["weights"]],
        "filters": filters,
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    for fn in os.listdir(OUT):
        if fn.endswith(".h5ad"):
            os.remove(os.path.join(OUT, fn))
    p = lambda name: os.path.join(OUT, name + ".h5ad")  # noqa: E731
    make_adata(False).write_h5ad(p("plain_csr"))
    make_adata(True).write_h5ad(p("plain_dense"))
    make_adata(False).write_h5ad(p("lzf_csr"), compression="lzf")
    make_adata(True).write_h5ad(p("lzf_dense"), compression="lzf")
    make_adata(False).write_h5ad(p("gzip_csr"), compression="gzip")
    a = make_adata(False)
    a.uns["rec"] = REC
    a.write_h5ad(p("lzf_recarray_csr"), compression="lzf")
    refilter(p("plain_csr"), p("gzip_shuffle_fletcher32_csr"), compression="gzip", compression_opts=4, shuffle=True, fletcher32=True)
    refilter(p("plain_dense"), p("lzf_shuffle_tiles_dense"), x_chunks=(7, 6), compression="lzf", shuffle=True)
    refilter(p("plain_csr"), p("lzf_fletcher32_csr"), compression="lzf", fletcher32=True)
    # lzf_fletcher32_bad_csr: one literal byte of X/data's chunk changed - valid LZF, a wrong checksum.
    shutil.copy(p("lzf_fletcher32_csr"), p("lzf_fletcher32_bad_csr"))
    with h5py.File(p("lzf_fletcher32_bad_csr"), "r") as f:
        info = f["X/data"].id.get_chunk_info(0)
    with open(p("lzf_fletcher32_bad_csr"), "r+b") as fh:
        fh.seek(info.byte_offset)
        head = fh.read(2)
        assert head[0] < 32, "the chunk starts with a literal run"
        fh.seek(info.byte_offset + 1)
        fh.write(bytes([head[1] ^ 0x01]))
    refilter(p("plain_csr"), p("szip_csr"), only="X/", compression="szip")  # szip refuses int8 and tiny datasets
    refilter(p("plain_csr"), p("blosc_lz4_csr"), **hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE))
    refilter(p("plain_csr"), p("blosc_zstd_csr"), **hdf5plugin.Blosc(cname="zstd", clevel=5, shuffle=hdf5plugin.Blosc.BITSHUFFLE))
    direct_chunks(p("plain_csr"), p("zstd_csr"), 32015, lambda b: zstandard.ZstdCompressor(level=3).compress(b))
    refilter(p("plain_csr"), p("lz4_csr"), **hdf5plugin.LZ4())
    refilter(p("plain_csr"), p("bzip2_csr"), **hdf5plugin.BZip2())
    refilter(p("plain_csr"), p("bshuf_lz4_csr"), **hdf5plugin.Bitshuffle(cname="lz4"))
    # The newest file format: chunk indexes other than the version-1 B-tree (h5py's default).
    refilter(p("plain_csr"), p("lzf_v4index_csr"), libver="latest", compression="lzf")
    refilter(p("plain_csr"), p("lzf_v4index_strings_csr"), strings=True, libver="latest", compression="lzf")
    direct_chunks(p("plain_csr"), p("unknown_filter_csr"), 32999, lambda b: b)
    # lzf_corrupt_csr: X/data's LZF chunk overwritten from its middle on (a back reference before the start).
    shutil.copy(p("lzf_csr"), p("lzf_corrupt_csr"))
    with h5py.File(p("lzf_corrupt_csr"), "r") as f:
        info = f["X/data"].id.get_chunk_info(0)
    with open(p("lzf_corrupt_csr"), "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(b"\xff" * (info.size - info.size // 2))

    # zstd_csr: Debian's HDF5 cannot read it back, so check its chunks decode to plain_csr's arrays here.
    with h5py.File(p("plain_csr"), "r") as fp, h5py.File(p("zstd_csr"), "r") as fz:
        for name in ("data", "indices", "indptr"):
            mask, chunk = fz["X"][name].id.read_direct_chunk((0,))
            assert mask == 0 and zstandard.ZstdDecompressor().decompress(chunk) == fp["X"][name][()].tobytes()
    for name in ("unknown_filter_csr", "lzf_corrupt_csr", "lzf_fletcher32_bad_csr"):
        with h5py.File(p(name), "r") as f:
            try:
                f["X/data"][()]
                raise AssertionError(f"{name}: X/data reads")
            except OSError:
                pass

    # Every file holds the same values (Python reads each and they must agree); expected.json keeps them once.
    values = None
    files = {}
    for fn in sorted(f for f in os.listdir(OUT) if f.endswith(".h5ad")):
        name = fn[: -len(".h5ad")]
        if name in ("unknown_filter_csr", "lzf_v4index_strings_csr", "lzf_corrupt_csr", "lzf_fletcher32_bad_csr"):
            continue  # crispyx refuses them (tested); anndata reads lzf_v4index_strings_csr
        e = expected_of(p("plain_csr" if name == "zstd_csr" else name))
        files[name] = {"filters": e.pop("filters")}
        if name == "zstd_csr":
            files[name]["filters"] = {"/X/" + k: [32015] for k in ("data", "indices", "indptr")}
        assert values is None or e == values, name
        values = e
        print("wrote", p(name), os.path.getsize(p(name)), "bytes, filters", sorted({i for v in files[name]["filters"].values() for i in v}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = anndata.read_h5ad(p("lzf_recarray_csr")).uns["rec"]
    with h5py.File(p("lzf_recarray_csr"), "r") as f:
        assert f["uns/rec"].compression == "lzf" and h5py.check_string_dtype(f["uns/rec"].dtype["name"]) is not None
    recarray = {k: [v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v for v in rec[k]] for k in rec.dtype.names}
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump({**values, "files": files, "recarray": recarray}, fh, indent=None, sort_keys=True)


if __name__ == "__main__":
    main()
