"""Small AnnData zarr stores (v2 and v3) and the same data as .h5ad, for the zarr backend's tests.

Run both (each writes only the stores of its own zarr version; same seed, so the same data):
  /usr/bin/python3 scripts/reference/make_zarr_fixtures.py              (Debian bookworm: anndata 0.8, zarr-python 2)
  /opt/crispyx-sid/python scripts/reference/make_zarr_fixtures.py       (Debian sid via .ci/sid-anndata: anndata 0.13, zarr-python 3)
Outputs in test/fixtures/zarr/:
  counts.h5ad, lognorm.h5ad            the data (written by anndata 0.8; the sid run checks its own copy equals them)
  v2_counts.zarr, v2_lognorm.zarr      anndata 0.8 write_zarr: zarr v2, Blosc(lz4, byte shuffle), vlen-utf8 strings
  v3_counts.zarr, v3_lognorm.zarr      anndata 0.13 write_zarr: zarr v3 (sharding_indexed + zstd, 'string' dtype,
                                       consolidated metadata inline in zarr.json)
  v2z3_counts.zarr                     anndata 0.13 with zarr_format=2 (zarr-python 3 writing v2: zstd, '|O' + vlen-utf8)

The data: 240 cells x 48 genes; counts: sparse CSR float32 (Poisson, a knocked-down target per perturbation);
lognorm: dense float32 normalize_total(1e4) + log1p of the counts. obs: perturbation (categorical, control
'non-targeting'), guide (string), n_counts (float64), batch_id (int64), is_doublet (bool); var: gene_symbols
(string), mean (float32); uns: a nested dict with a string array, an int scalar and a float array, and
rank_genes_groups record arrays (string and float32 fields); obsm: X_pca.
Small chunks (64 rows) so reads cross chunk boundaries.
"""
import os
import sys

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "zarr")


def make(kind):
    rng = np.random.default_rng(20261206)
    n_cells, n_genes = 240, 48
    perts = ["non-targeting", "GENE3", "GENE7", "GENE11"]
    labels = np.array([perts[i % 4] for i in range(n_cells)])
    rate = rng.gamma(2.0, 1.5, size=n_genes)
    lam = np.tile(rate, (n_cells, 1))
    for p in perts[1:]:
        g = int(p[4:])
        lam[labels == p, g] *= 0.1
    counts = rng.poisson(lam).astype(np.float32)
    obs = pd.DataFrame(
        {
            "perturbation": pd.Categorical(labels, categories=perts),
            "guide": [f"{labels[i]}_g{i % 3}" for i in range(n_cells)],
            "n_counts": counts.sum(1).astype(np.float64),
            "batch_id": np.arange(n_cells, dtype=np.int64) % 5,
            "is_doublet": np.arange(n_cells) % 7 == 0,
        },
        index=[f"cell{i:03d}" for i in range(n_cells)],
    )
    var = pd.DataFrame(
        {"gene_symbols": [f"SYM{j}" for j in range(n_genes)], "mean": counts.mean(0).astype(np.float32)},
        index=[f"GENE{j}" for j in range(n_genes)],
    )
    if kind == "counts":
        X = sp.csr_matrix(counts)
    else:
        tot = counts.sum(1, keepdims=True)
        X = np.log1p(counts / np.where(tot == 0, 1, tot) * 1e4).astype(np.float32)
    a = ad.AnnData(X=X, obs=obs, var=var)
    a.uns["screen"] = {
        "name": "zarr fixture",
        "guides": np.array(["g0", "g1", "g2"], dtype=object),
        "n_perturbations": 3,
        "weights": np.array([0.5, 1.5, 2.5]),
    }
    a.uns["library"] = np.array(["lib_a", "lib_b"], dtype=object)
    # Scanpy's rank_genes_groups tables: record arrays (zarr: numpy structured dtypes, '<U' and '<f4' fields).
    groups = ["GENE3", "GENE7"]
    a.uns["rank_genes_groups"] = {
        "names": np.rec.fromarrays([np.array([f"GENE{j}" for j in range(5)], dtype="<U6")] * 2, names=groups),
        "scores": np.rec.fromarrays([rng.normal(size=5).astype(np.float32) for _ in groups], names=groups),
    }
    a.obsm["X_pca"] = rng.normal(size=(n_cells, 4)).astype(np.float64)
    return a


def write_zarr(a, path, **kw):
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    a.write_zarr(path, chunks=(64, a.n_vars) if not sp.issparse(a.X) else None, **kw)


def main():
    import zarr

    major = int(zarr.__version__.split(".")[0])
    os.makedirs(OUT, exist_ok=True)
    for kind in ("counts", "lognorm"):
        a = make(kind)
        if major == 2:
            a.write_h5ad(os.path.join(OUT, f"{kind}.h5ad"))
            write_zarr(a, os.path.join(OUT, f"v2_{kind}.zarr"))
        else:
            ref = ad.read_h5ad(os.path.join(OUT, f"{kind}.h5ad"))
            x = ref.X.toarray() if sp.issparse(ref.X) else ref.X
            y = a.X.toarray() if sp.issparse(a.X) else a.X
            assert np.array_equal(x, y), "the sid run made other data than the bookworm run"
            ad.settings.zarr_write_format = 3
            write_zarr(a, os.path.join(OUT, f"v3_{kind}.zarr"))
            if kind == "counts":
                ad.settings.zarr_write_format = 2
                write_zarr(a, os.path.join(OUT, f"v2z3_{kind}.zarr"))
                ad.settings.zarr_write_format = 3
        print(f"{kind}: anndata {ad.__version__}, zarr {zarr.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()


# ---- codec coverage (not anndata stores: one zarr group per zarr version, arrays with each codec) ----------

def codec_arrays():
    """The arrays of codecs_v2.zarr / codecs_v3.zarr, as name → numpy array (the same for both versions)."""
    rng = np.random.default_rng(7)
    return {
        "f4": rng.normal(size=(37, 11)).astype(np.float32),
        "f8": rng.normal(size=(29,)).astype(np.float64),
        "i8": rng.integers(-(2**40), 2**40, size=(23, 5)).astype(np.int64),
        "i4": rng.integers(-1000, 1000, size=(41,)).astype(np.int32),
        "u1": rng.integers(0, 255, size=(19,)).astype(np.uint8),
        "b1": rng.random(31) > 0.5,
        "s": np.array([f"é{i}" * (i % 4) for i in range(17)], dtype=object),
    }


def write_codec_fixtures_v2():
    import shutil

    import numcodecs
    import zarr

    path = os.path.join(OUT, "codecs_v2.zarr")
    shutil.rmtree(path, ignore_errors=True)
    g = zarr.open_group(path, mode="w")
    arrays = codec_arrays()
    B = numcodecs.Blosc
    compressors = {
        "blosc_lz4": B(cname="lz4", shuffle=B.SHUFFLE),
        "blosc_zstd": B(cname="zstd", shuffle=B.SHUFFLE),
        "blosc_zlib": B(cname="zlib", shuffle=B.NOSHUFFLE),
        "blosc_lz4hc": B(cname="lz4hc", shuffle=B.SHUFFLE, blocksize=256),
        "zstd": numcodecs.Zstd(level=3),
        "gzip": numcodecs.GZip(level=5),
        "zlib": numcodecs.Zlib(level=5),
        "lz4": numcodecs.LZ4(),
        "none": None,
    }
    for cname, comp in compressors.items():
        for name, a in arrays.items():
            kw = dict(chunks=tuple(max(1, d // 3) for d in a.shape), compressor=comp)
            if a.dtype == object:
                g.create_dataset(f"{cname}/{name}", data=a, dtype=object, object_codec=numcodecs.VLenUTF8(), **kw)
            else:
                g.create_dataset(f"{cname}/{name}", data=a, **kw)
    # Layout variants: big-endian, F order, '/' separator, missing chunks (fill value), fixed strings.
    f4 = arrays["f4"]
    g.create_dataset("layout/big_endian", data=f4.astype(">f4"), chunks=(10, 4))
    g.create_dataset("layout/f_order", data=f4, chunks=(10, 4), order="F")
    zarr.open_array(os.path.join(path, "layout", "slash"), mode="w", shape=f4.shape, chunks=(10, 4), dtype="<f4",
                    dimension_separator="/")[:] = f4
    miss = g.create_dataset("layout/missing", shape=(40,), chunks=(10,), dtype="<f8", fill_value=-1.5)
    miss[10:20] = np.arange(10)
    nanfill = g.create_dataset("layout/missing_nan", shape=(12,), chunks=(5,), dtype="<f4", fill_value=np.nan)
    nanfill[0:5] = 1.0
    g.create_dataset("layout/fixed_S", data=np.array([b"ab", b"", b"xyz", b"q"], dtype="S3"), chunks=(3,))
    g.create_dataset("layout/fixed_U", data=np.array(["ab", "", "xÿz", "q"], dtype="<U3"), chunks=(3,))
    # Compressible (else Blosc stores the bytes as they are, and these decode).
    g.create_dataset("layout/bitshuffle", data=np.arange(2000, dtype="<i4"), compressor=B(cname="lz4", shuffle=B.BITSHUFFLE))
    g.create_dataset("layout/blosclz", data=np.arange(2000, dtype="<i4"), compressor=B(cname="blosclz", shuffle=B.SHUFFLE))


def write_codec_fixtures_v3():
    import shutil

    import zarr
    from zarr.codecs import BloscCodec, BytesCodec, GzipCodec, ShardingCodec, ZstdCodec

    path = os.path.join(OUT, "codecs_v3.zarr")
    shutil.rmtree(path, ignore_errors=True)
    g = zarr.open_group(path, mode="w", zarr_format=3)
    arrays = codec_arrays()
    compressors = {
        "zstd": [ZstdCodec(level=3)],
        "gzip": [GzipCodec(level=5)],
        "blosc_lz4": [BloscCodec(cname="lz4", shuffle="shuffle")],
        "blosc_zstd": [BloscCodec(cname="zstd", shuffle="noshuffle")],
        "none": [],
    }
    for cname, comp in compressors.items():
        for name, a in arrays.items():
            chunks = tuple(max(1, d // 3) for d in a.shape)
            arr = g.create_array(f"{cname}/{name}", shape=a.shape, dtype=str if a.dtype == object else a.dtype,
                                 chunks=chunks, compressors=comp)
            arr[...] = a
    f4 = arrays["f4"]
    big = g.create_array("layout/big_endian", shape=f4.shape, dtype="float32", chunks=(10, 4),
                         serializer=BytesCodec(endian="big"), compressors=[ZstdCodec()])
    big[...] = f4
    sh = g.create_array("layout/sharded", shape=f4.shape, dtype="float32", shards=(20, 8), chunks=(5, 4))
    sh[...] = f4
    part = g.create_array("layout/sharded_missing", shape=(40,), dtype="float64", shards=(20,), chunks=(5,), fill_value=-1.5)
    part[20:25] = np.arange(5)
    miss = g.create_array("layout/missing", shape=(40,), dtype="float64", chunks=(10,), fill_value=-1.5)
    miss[10:20] = np.arange(10)
    dot = g.create_array("layout/v2_keys", shape=f4.shape, dtype="float32", chunks=(10, 4),
                         chunk_key_encoding={"name": "v2", "separator": "."})
    dot[...] = f4
    fixed = g.create_array("layout/fixed_U", shape=(4,), dtype="<U3", chunks=(3,))
    fixed[...] = np.array(["ab", "", "xÿz", "q"], dtype="<U3")


def write_codec_expected():
    import json

    arrays = codec_arrays()
    out = {k: (v.tolist() if v.dtype != np.int64 else [str(x) for x in v.ravel()]) for k, v in arrays.items()}
    out["shapes"] = {k: list(v.shape) for k, v in arrays.items()}
    with open(os.path.join(OUT, "codecs_expected.json"), "w") as f:
        json.dump(out, f)


def codecs_main():
    import zarr

    if int(zarr.__version__.split(".")[0]) == 2:
        write_codec_fixtures_v2()
        write_codec_expected()
    else:
        write_codec_fixtures_v3()


if __name__ == "__main__":
    codecs_main()
