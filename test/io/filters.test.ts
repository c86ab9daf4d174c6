// Compressed datasets (issue 18 item 3): LZF through our reader, gzip/shuffle/fletcher32/szip through HDF5,
// blosc/zstd/lz4/bzip2 through h5wasm-plugins, and one clear line for a filter nothing here decodes.
// Fixtures and the values Python reads from them: scripts/reference/make_filter_fixtures.py.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import h5wasm from "h5wasm/node";
import { openH5ad, iterMatrixChunks, categoricalValues, normalizeTotalLog1p } from "../../src/index.ts";
import { H5File } from "../../src/io/h5/file.ts";
import { FileFormatError } from "../../src/errors.ts";
import { lzfDecompress } from "../../src/io/h5/lzf.ts";
import { fletcher32 } from "../../src/io/h5/filteredChunks.ts";
import { crispyx, tempDir, REPO } from "../cli/helpers.ts";
import { DIRECT_IO } from "../helpers/directIO.ts";

const DIR = join(REPO, "test", "fixtures", "h5ad-filters");
const fixture = (name: string) => join(DIR, `${name}.h5ad`);
interface Expected {
  X: number[][];
  n_counts: number[];
  perturbation: string[];
  weights: number[];
  files: Record<string, { filters: Record<string, number[]> }>;
  recarray: Record<string, (string | number)[]>;
}
const Module = (await h5wasm.ready) as unknown as { get_dataset_filters(id: bigint, p: string): { id: number }[] };
const expected = JSON.parse(readFileSync(join(DIR, "expected.json"), "utf8")) as Expected;
const NAMES = Object.keys(expected.files);

/** The filter ids of every dataset of `file`, as HDF5 reports them (the fixture is what it says it is). */
function filterIds(file: string, paths: string[]): Record<string, number[]> {
  const f = new h5wasm.File(file, "r");
  try {
    return Object.fromEntries(paths.map((p) => [p, Module.get_dataset_filters(f.file_id, p).map((x) => Number(x.id))]));
  } finally {
    f.close();
  }
}

/** X of `file` as dense rows, through iterMatrixChunks along `axis` in uneven chunks. */
function denseX(file: string, axis: 0 | 1): number[][] {
  const h = openH5ad(file);
  try {
    const [n, m] = h.shape;
    const out = Array.from({ length: n }, () => new Array<number>(m).fill(NaN));
    for (const { start, end, block } of iterMatrixChunks(h, { axis, chunkSize: axis === 0 ? 7 : 9, dense: true })) {
      assert.equal(block.type, "array");
      const data = (block as { data: ArrayLike<number> }).data;
      const w = end - start;
      // Row-major blocks: rows start…end-1 × all genes, or all cells × genes start…end-1.
      if (axis === 0)
        for (let a = 0; a < w; a++) for (let b = 0; b < m; b++) out[start + a]![b] = Number(data[a * m + b]);
      else for (let b = 0; b < n; b++) for (let a = 0; a < w; a++) out[b]![start + a] = Number(data[b * w + a]);
    }
    return out;
  } finally {
    h.close();
  }
}

test("the fixtures hold the filters they are named for", () => {
  assert.ok(NAMES.length >= 12, `${NAMES.length} fixtures`);
  for (const name of NAMES) {
    const want = expected.files[name]!.filters;
    assert.deepEqual(filterIds(fixture(name), Object.keys(want)), want, name);
    if (name.startsWith("plain")) assert.deepEqual(want, {});
    else
      assert.ok(
        Object.keys(want).some((p) => p.startsWith("/X")),
        `${name}: X is compressed`,
      );
  }
});

for (const name of NAMES) {
  test(`${name}: X (both directions), obs, var and uns read exactly as anndata reads them`, () => {
    assert.deepEqual(denseX(fixture(name), 0), expected.X);
    assert.deepEqual(denseX(fixture(name), 1), expected.X);
    const h = openH5ad(fixture(name));
    try {
      assert.deepEqual(
        h.obsNames,
        expected.X.map((_, i) => `cell${i}`),
      );
      assert.equal(h.varNames[39], "ENSG00039");
      const pert = h.obs.column("perturbation");
      assert.equal(pert.type, "categorical");
      assert.deepEqual(categoricalValues(pert as Parameters<typeof categoricalValues>[0]), expected.perturbation);
      const nc = h.obs.column("n_counts") as { data: Float64Array };
      assert.deepEqual(Array.from(nc.data), expected.n_counts);
      const gs = h.var.column("gene_symbols") as { data: string[] };
      assert.equal(gs.data[7], "G7");
      const w = h.uns.get("weights") as { data: Float64Array };
      assert.deepEqual(Array.from(w.data), expected.weights);
    } finally {
      h.close();
    }
  });
}

test("an LZF record array with a variable-length string field (uns) reads as anndata reads it", () => {
  const h = openH5ad(fixture("lzf_recarray_csr"));
  try {
    assert.ok((h.file as H5File).readsWithOwnFilters("/uns/rec")); // an .h5ad opens as the HDF5 store
    const rec = h.uns.get("rec") as { type: string; fields: { name: string; data: ArrayLike<unknown> }[] };
    assert.equal(rec.type, "rec-array");
    const got = Object.fromEntries(
      rec.fields.map((f) => [f.name, Array.from(f.data, (v) => (typeof v === "bigint" ? Number(v) : v))]),
    );
    assert.deepEqual(got, expected.recarray);
  } finally {
    h.close();
  }
});

test("LZF datasets are read by our reader, never by the direct path; other filters by HDF5", () => {
  const cases: [string, string, boolean][] = [
    ["lzf_csr", "/X/data", true],
    ["lzf_csr", "/obs/_index", true],
    ["lzf_dense", "/X", true],
    ["lzf_shuffle_tiles_dense", "/X", true],
    ["lzf_fletcher32_csr", "/X/indices", true],
    ["lzf_v4index_csr", "/X/data", false], // a chunk index our reader does not walk: the plugin, numbers only
    ["gzip_csr", "/X/data", false],
    ["blosc_lz4_csr", "/X/indices", false],
    ["plain_csr", "/X/data", false],
  ];
  for (const [name, p, own] of cases) {
    const h = H5File.open(fixture(name), "r");
    try {
      assert.equal(h.readsWithOwnFilters(p), own, `${name} ${p}`);
      // Only an unfiltered dataset is read directly, and only while direct I/O is on (CRISPYX_DIRECT_IO=0 turns it off).
      assert.equal(h.readsDirectly(p), DIRECT_IO && name.startsWith("plain"), `${name} ${p} direct`);
    } finally {
      h.close();
    }
  }
});

test("crispyx info of LZF files says what it says of the uncompressed ones", async () => {
  for (const kind of ["csr", "dense"]) {
    const [lzf, plain] = await Promise.all([
      crispyx(["info", fixture(`lzf_${kind}`)]),
      crispyx(["info", fixture(`plain_${kind}`)]),
    ]);
    assert.equal(lzf.code, 0, lzf.stderr);
    assert.equal(lzf.stderr, "");
    const body = (s: string) =>
      s
        .split("\n")
        .filter((l) => !l.includes("file:"))
        .join("\n");
    assert.equal(body(lzf.stdout), body(plain.stdout));
    assert.match(lzf.stdout, /60 × 40/);
  }
});

test("normalize of an LZF file equals normalize of the same uncompressed file, value for value", async () => {
  const tmp = tempDir("crispyx-filters-");
  try {
    for (const kind of ["csr", "dense"]) {
      const outs: string[] = [];
      for (const src of [`lzf_${kind}`, `plain_${kind}`]) {
        const output = join(tmp.path, `${src}_norm.h5ad`);
        await normalizeTotalLog1p(fixture(src), { output });
        outs.push(output);
      }
      const [a, b] = outs.map((o) => denseX(o, 0));
      assert.deepEqual(a, b);
      assert.ok(
        a!.flat().some((v) => v > 0 && !Number.isInteger(v)),
        "normalized values",
      );
      const [ha, hb] = outs.map((o) => openH5ad(o));
      try {
        assert.deepEqual(ha!.obsNames, hb!.obsNames);
        assert.deepEqual(ha!.obs.column("perturbation"), hb!.obs.column("perturbation"));
      } finally {
        ha!.close();
        hb!.close();
      }
    }
  } finally {
    tmp.cleanup();
  }
});

test("a filter nothing here decodes, or a corrupt LZF chunk: one line naming the file, dataset and problem; exit 1; no abort", async () => {
  const file = fixture("unknown_filter_csr");
  const h = openH5ad(file);
  try {
    assert.throws(
      () => [...iterMatrixChunks(h, { chunkSize: 10 })],
      (err: unknown) => {
        assert.ok(err instanceof FileFormatError);
        assert.match(
          err.message,
          /unknown_filter_csr\.h5ad: \/X\/\w+ is compressed with HDF5 filter of unknown name \(id 32999\), which crispyx cannot decode/,
        );
        return true;
      },
    );
  } finally {
    h.close();
  }
  const tmp = tempDir("crispyx-filters-");
  try {
    for (const [src, want] of [
      [file, /unknown_filter_csr\.h5ad: \/X\/\w+ is compressed with HDF5 filter of unknown name \(id 32999\)/],
      [
        fixture("lzf_v4index_strings_csr"),
        /lzf_v4index_strings_csr\.h5ad: \/obs\/_index is LZF-compressed \(HDF5 filter 32000\) in a layout crispyx cannot decode/,
      ],
      [fixture("lzf_corrupt_csr"), /lzf_corrupt_csr\.h5ad: cannot read \/X\/data: corrupt LZF data/],
      [
        fixture("lzf_fletcher32_bad_csr"),
        /lzf_fletcher32_bad_csr\.h5ad: cannot read \/X\/data: a chunk fails its fletcher32 checksum/,
      ],
    ] as const) {
      const r = await crispyx(["normalize", src, "-o", join(tmp.path, "out.h5ad")]);
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.trim().split("\n");
      assert.match(lines[0]!, want);
      assert.ok(lines.length <= 2 && (lines.length === 1 || lines[1]!.startsWith("hint:")), r.stderr);
      assert.doesNotMatch(r.stderr, /Aborted|RuntimeError|memory access|\n\s+at |HDF5-DIAG|#\d+:/);
    }
  } finally {
    tmp.cleanup();
  }
});

test("lzfDecompress: literal runs, overlapping back references, a short buffer and corrupt input", () => {
  // "abcabcabcabc!": 3 literals; a back reference of 7+0+2 = 9 bytes at distance 2+1 (overlapping); 1 literal.
  const input = Uint8Array.of(2, 97, 98, 99, 7 << 5, 0, 2, 0, 33);
  const out = new Uint8Array(13);
  assert.equal(lzfDecompress(input, out), 13);
  assert.equal(Buffer.from(out).toString("latin1"), "abcabcabcabc!");
  assert.equal(lzfDecompress(input, new Uint8Array(5)), -1);
  assert.throws(() => lzfDecompress(Uint8Array.of(5, 1, 2), new Uint8Array(10)), /corrupt LZF/);
  assert.throws(() => lzfDecompress(Uint8Array.of(0, 1, 0x20, 9), new Uint8Array(10)), /corrupt LZF/);
});

test("fletcher32 is HDF5's (H5_checksum_fletcher32 values for short inputs, odd lengths included)", () => {
  // Worked by hand from HDF5's definition: 16-bit big-endian words; sum1 += word, sum2 += sum1.
  assert.equal(fletcher32(Uint8Array.of()), 0);
  assert.equal(fletcher32(Uint8Array.of(0x01, 0x02)), ((0x0102 << 16) | 0x0102) >>> 0);
  assert.equal(fletcher32(Uint8Array.of(0x01, 0x02, 0x03)), (((0x0102 + 0x0402) << 16) | 0x0402) >>> 0);
});
