// standardizeDataset: the seed's renames and standardization_metadata, X copied as stored (byte for
// byte equal datasets), cache reuse, errors, abort and SIGKILL.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pyJsonDumps, standardizeDataset, standardizedPath } from "../../src/ops/standardize.ts";
import { normalizeTotalLog1p } from "../../src/ops/normalize.ts";
import { directCopySpec } from "../../src/io/anndata/directSparseWriter.ts";
import { readH5ad } from "../../src/io/anndata/anndata.ts";
import { H5File } from "../../src/io/h5/file.ts";
import { categoricalValues } from "../../src/io/anndata/encodings/categorical.ts";
import { InvalidArgumentError } from "../../src/errors.ts";
import { h5adOpenFailures, skipWithoutAnndata } from "../helpers/anndataChecker.ts";
import { dumpElement, diffDumps } from "../helpers/canonicalDump.ts";
import { sha256, writeBigInput } from "./opsTestHelpers.ts";
import { ioSettings } from "../../src/io/directIO.ts";
import { EXPECTED, ROOT, asWrittenByDefault, killAtFirstProgress, listDir } from "./convertSortHelpers.ts";

const dir = mkdtempSync(join(tmpdir(), "crispyx-std-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const written: string[] = [];

/** Every dataset under `group` of two files holds the same values, dtype, shape and chunking. */
function assertSameDatasets(a: string, b: string, group: string): void {
  const fa = H5File.open(a, "r"),
    fb = H5File.open(b, "r");
  try {
    const walk = (p: string): void => {
      if (fa.isGroup(p)) {
        assert.deepEqual(fa.keys(p), fb.keys(p), p);
        assert.deepEqual(fa.attrs(p), fb.attrs(p), `${p} attributes`);
        for (const k of fa.keys(p)) walk(`${p}/${k}`);
        return;
      }
      const ia = fa.info(p),
        ib = fb.info(p);
      assert.deepEqual(
        { shape: ia.shape, dtype: ia.dtype, chunks: ia.chunks },
        { shape: ib.shape, dtype: ib.dtype, chunks: ib.chunks },
        p,
      );
      assert.deepEqual(fa.readValue(p), fb.readValue(p), p);
    };
    walk(group);
  } finally {
    fa.close();
    fb.close();
  }
}

for (const [name, exp] of Object.entries<any>(EXPECTED.standardize)) {
  test(`${name}: as the seed`, async () => {
    const input = join(ROOT, exp.input);
    const before = sha256(input);
    const outDir = join(dir, name);
    const out = await standardizeDataset(input, {
      perturbationColumn: exp.perturbation_column,
      controlLabel: exp.control_label,
      geneNameColumn: exp.gene_name_column,
      outputDir: outDir,
      blockBytes: 256, // stream X in many small blocks
    });
    assert.equal(
      out,
      join(
        outDir,
        ".cache",
        `standardized_${input
          .split("/")
          .pop()!
          .replace(/\.h5ad$/, "")}.h5ad`,
      ),
    );
    assert.equal(out, standardizedPath(input, outDir));
    assert.equal(sha256(input), before);
    const a = readH5ad(out);
    assert.deepEqual(a.obs.columnOrder, exp.obs_columns);
    const pert = a.obs.columns.perturbation!;
    assert.equal(pert.type, "categorical");
    assert.deepEqual(categoricalValues(pert as never), exp.perturbation);
    assert.deepEqual(a.var.index, exp.var_names);
    const meta = a.uns.standardization_metadata as any;
    const values = Object.fromEntries(Object.entries<any>(meta.items).map(([k, v]) => [k, v.value]));
    assert.equal(values.original_path, input);
    assert.match(values.standardization_timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    delete values.original_path;
    delete values.standardization_timestamp;
    assert.deepEqual(values, exp.standardization_metadata);
    // X, layers, obsm copied as stored; other obs columns and uns entries unchanged.
    for (const g of ["/X", "/layers", "/obsm", "/uns/screen"]) assertSameDatasets(out, input, g);
    const inp = readH5ad(input);
    for (const c of inp.obs.columnOrder)
      if (c !== exp.perturbation_column)
        assert.deepEqual(
          diffDumps(dumpElement(a.obs.columns[c]!), dumpElement(asWrittenByDefault(inp.obs).columns[c]!)),
          [],
          c,
        );
    assert.deepEqual(a.obs.index, inp.obs.index);
    written.push(out);
  });
}

test("a contiguous sparse X (as anndata writes it) is copied straight into the output, as stored", async () => {
  // normalizeTotalLog1p writes X contiguously (directly); standardising its output takes the direct copy.
  const exp = EXPECTED.standardize.screen_csr;
  const input = join(dir, "contiguous.h5ad");
  await normalizeTotalLog1p(join(ROOT, exp.input), { output: input });
  const fi = H5File.open(input, "r");
  // With byte-level I/O off (CRISPYX_DIRECT_IO=0, test/io/directIoSwitch.test.ts) X is chunked, copied through HDF5.
  if (ioSettings.directIO) {
    assert.equal(fi.info("/X/data").chunks, null);
    assert.ok(directCopySpec(fi, "/X"), "eligible for the direct copy");
  }
  fi.close();
  const before = sha256(input);
  const out = await standardizeDataset(input, {
    perturbationColumn: exp.perturbation_column,
    controlLabel: exp.control_label,
    geneNameColumn: exp.gene_name_column,
    outputDir: join(dir, "contiguous"),
    blockBytes: 256, // many small blocks
  });
  assert.equal(sha256(input), before);
  assertSameDatasets(out, input, "/X");
  assert.deepEqual(readH5ad(out).var.index, exp.var_names);
  written.push(out);
});

test("every standardised file opens in Python anndata", skipWithoutAnndata(), () => {
  assert.equal(written.length, 4);
  assert.deepEqual(h5adOpenFailures(written), []); // in anndata 0.8 and the newest
});

test("pyJsonDumps writes what Python's json.dumps writes", () => {
  assert.equal(pyJsonDumps({}), "{}");
  assert.equal(
    pyJsonDumps({ perturbation: "gene", "var.index": "sym" }),
    '{"perturbation": "gene", "var.index": "sym"}',
  );
  assert.equal(pyJsonDumps({ Gène: 'a"b' }), '{"G\\u00e8ne": "a\\"b"}');
});

test("the cached copy is reused unless force; nothing to rename still gives a copy with metadata", async () => {
  const outDir = join(dir, "cache");
  const input = join(ROOT, "test/fixtures/ops-b/screen_csr.h5ad");
  const out = await standardizeDataset(input, { perturbationColumn: "gene", outputDir: outDir });
  const t0 = statSync(out).mtimeMs;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(await standardizeDataset(input, { perturbationColumn: "gene", outputDir: outDir }), out);
  assert.equal(statSync(out).mtimeMs, t0);
  await standardizeDataset(input, { perturbationColumn: "gene", outputDir: outDir, force: true });
  assert.ok(statSync(out).mtimeMs > t0);
  // Standardising the standardised file: already `perturbation` / `control`, empty mappings.
  const again = await standardizeDataset(out, { perturbationColumn: "perturbation", outputDir: join(dir, "again") });
  const meta = (readH5ad(again).uns.standardization_metadata as any).items;
  assert.equal(meta.column_mappings.value, "{}");
  assert.equal(meta.label_mappings.value, "{}");
});

test("an explicit output path replaces the cache path", async () => {
  const out = join(dir, "explicit", "std.h5ad");
  assert.equal(
    await standardizeDataset(join(ROOT, "test/fixtures/ops-b/screen_csr.h5ad"), {
      perturbationColumn: "gene",
      output: out,
    }),
    out,
  );
  assert.deepEqual(
    categoricalValues(readH5ad(out).obs.columns.perturbation as never).filter((v) => v === "control").length > 0,
    true,
  );
  await assert.rejects(
    standardizeDataset(join(ROOT, "test/fixtures/ops-b/screen_csr.h5ad"), { perturbationColumn: "gene" }),
    /needs outputDir/,
  );
});

test("bad input: clear errors before any work", async () => {
  const input = join(ROOT, "test/fixtures/ops-b/screen_csr.h5ad");
  const outDir = join(dir, "bad");
  await assert.rejects(
    standardizeDataset(input, { perturbationColumn: "guide", outputDir: outDir }),
    (e: any) =>
      e instanceof InvalidArgumentError &&
      /no column 'guide'/.test(e.message) &&
      /gene, batch, n_counts/.test(e.hint ?? ""),
  );
  await assert.rejects(
    standardizeDataset(input, { perturbationColumn: "gene", geneNameColumn: "symbol", outputDir: outDir }),
    (e: any) =>
      e instanceof InvalidArgumentError &&
      /var has no column 'symbol'/.test(e.message) &&
      /gene_symbols, mean/.test(e.hint ?? ""),
  );
  await assert.rejects(
    standardizeDataset(input, { perturbationColumn: "batch", outputDir: outDir }),
    /cannot infer the control label/,
  );
  await assert.rejects(
    standardizeDataset(input, { perturbationColumn: "gene", controlLabel: "NTC", outputDir: outDir }),
    /'NTC' does not occur/,
  );
  assert.equal(existsSync(join(outDir, ".cache")) && readdirSync(join(outDir, ".cache")).length > 0, false);
});

test("output == input is refused (the input is the cache file, through a link)", async () => {
  const outDir = join(dir, "self");
  const cached = await standardizeDataset(join(ROOT, "test/fixtures/ops-b/screen_csr.h5ad"), {
    perturbationColumn: "gene",
    outputDir: outDir,
  });
  // A link called screen_csr.h5ad to the cache file: its standardised copy would be the cache file itself.
  const link = join(dir, "screen_csr.h5ad");
  symlinkSync(cached, link);
  const before = sha256(cached);
  await assert.rejects(
    standardizeDataset(link, { perturbationColumn: "perturbation", outputDir: outDir, force: true }),
    (e: any) => e instanceof InvalidArgumentError && /overwrite the input/.test(e.message),
  );
  assert.equal(sha256(cached), before);
});

test("cancelled mid-way (AbortSignal): no output, no temporary file, input unchanged", async () => {
  const sub = mkdtempSync(join(dir, "abort-"));
  const input = join(sub, "in.h5ad");
  writeBigInput(input, 4000, 40);
  const before = sha256(input);
  const ctl = new AbortController();
  await assert.rejects(
    standardizeDataset(input, {
      perturbationColumn: "perturbation",
      controlLabel: "NTC",
      outputDir: sub,
      blockBytes: 4096,
      signal: ctl.signal,
      onProgress: () => ctl.abort(new Error("stop")),
    }),
    /stop/,
  );
  assert.deepEqual(
    listDir(sub).filter((f) => f !== ".cache"),
    ["in.h5ad"],
  );
  if (existsSync(join(sub, ".cache"))) assert.deepEqual(listDir(join(sub, ".cache")), []);
  assert.equal(sha256(input), before);
});

test("SIGKILL mid-way: nothing under the output name, input unchanged", async () => {
  const sub = mkdtempSync(join(dir, "kill-"));
  const input = join(sub, "in.h5ad");
  writeBigInput(input, 4000, 40);
  const before = sha256(input);
  const { signal } = await killAtFirstProgress("standardizeDataset", input, {
    perturbationColumn: "perturbation",
    controlLabel: "NTC",
    outputDir: sub,
    blockBytes: 4096,
  });
  assert.equal(signal, "SIGKILL");
  assert.equal(existsSync(standardizedPath(input, sub)), false);
  assert.equal(sha256(input), before);
  for (const f of listDir(join(sub, ".cache"))) assert.ok(f.startsWith(".crispyx-tmp-"), f);
});
