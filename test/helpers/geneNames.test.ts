// standardizeGeneNames with symbol lookup: against a MyGene.info stand-in on loopback that answers what the fake
// server of the seed's fixture run answered, so crispyx's requests must be byte-identical to the seed's client's;
// plus server down / slow / failing, offline mapping files, bad input, and in-place edits (X untouched).
import { categoricalValues } from "../../src/io/anndata/encodings/categorical.ts";
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FileFormatError, InvalidArgumentError } from "../../src/errors.ts";
import { standardizeGeneNames, normalizeGeneId } from "../../src/helpers/geneNames.ts";
import { formEncode, LookupServiceError, lookupSymbolsMyGene, myGeneQueryFields } from "../../src/helpers/myGene.ts";
import { readSymbolMapping } from "../../src/helpers/geneMappingFile.ts";
import { loadVar } from "../../src/io/anndata/fileHelpers.ts";
import { writeH5ad } from "../../src/io/anndata/anndata.ts";
import { categorical, dataframe, emptyAnnData, strings } from "../../src/io/anndata/model.ts";
import { dumpH5ad, findPython, SKIP_MESSAGE } from "./anndataChecker.ts";
import { assertOnlyChanged, fileBytes, scratchDir, xDatasets } from "./editCheck.ts";

const DIR = join(import.meta.dirname, "..", "fixtures", "helpers-b");
const expected = JSON.parse(readFileSync(join(DIR, "expected.json"), "utf8"));
const file = (name: string) => join(DIR, `${name}.h5ad`);
const scratch = scratchDir("crispyx-genenames-");
test.after(() => scratch.cleanup());

interface Seen {
  method: string;
  url: string;
  contentType: string;
  body: string;
}
type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

/** A loopback HTTP server; `handler` answers, every request is recorded. */
async function serve(handler: Handler): Promise<{ baseUrl: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      seen.push({ method: req.method!, url: req.url!, contentType: String(req.headers["content-type"]), body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v3`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Answers, term by term, what the seed's fake MyGene.info answered (hits per query term; unknown terms not found). */
const hitsByTerm = new Map<string, unknown[]>();
for (const c of expected.mygene) {
  for (const r of c.requests) {
    for (const h of r.response ?? []) {
      if (!hitsByTerm.has(h.query)) hitsByTerm.set(h.query, []);
      const list = hitsByTerm.get(h.query)!;
      if (!list.some((x) => JSON.stringify(x) === JSON.stringify(h))) list.push(h);
    }
  }
}
const replay: Handler = (_req, body, res) => {
  const q = new URLSearchParams(body).get("q") ?? "";
  const hits = q
    .split(",")
    .flatMap((t) => hitsByTerm.get(t.replace(/^"|"$/g, "")) ?? [{ query: t.replace(/^"|"$/g, ""), notfound: true }]);
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify(hits));
};

const camel = (o: any) => ({
  column: o.column,
  species: o.species,
  stripVersion: o.strip_version,
  normaliseMtPrefix: o.normalise_mt_prefix,
  unmappedAction: o.unmapped_action,
});

test("MyGene lookup: same requests as the seed's client (URL, form body byte for byte), same names, same unmapped", async () => {
  const srv = await serve(replay);
  try {
    let i = 0;
    for (const c of expected.mygene) {
      const keepCase = expected.mygene.find(
        (k: any) =>
          k.dataset === c.dataset &&
          JSON.stringify({ ...k.options, unmapped_action: 0 }) ===
            JSON.stringify({ ...c.options, unmapped_action: 0 }) &&
          k.options.unmapped_action === "keep",
      );
      const warnings: string[] = [];
      srv.seen.length = 0;
      const run = standardizeGeneNames(file(c.dataset), {
        ...camel(c.options),
        lookupSymbols: true,
        baseUrl: srv.baseUrl,
        delayMs: 0,
        log: (m) => warnings.push(m),
      });
      const label = `${c.dataset} ${JSON.stringify(c.options)}`;
      if (c.error) {
        await assert.rejects(run, (err: unknown) => {
          assert.ok(err instanceof InvalidArgumentError, label);
          const seedFirst10 = [...c.error.matchAll(/'([^']*)'/g)].map((m) => m[1]);
          const ours = [...err.message.split("First 10: ")[1]!.matchAll(/'([^']*)'/g)].map((m) => m[1]);
          assert.deepEqual(ours, seedFirst10, label);
          assert.match(
            err.message,
            new RegExp(
              `^${file(c.dataset).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: ${c.error.split(" ")[0]} gene IDs could not be mapped`,
            ),
          );
          return true;
        });
      } else {
        const got = await run;
        assert.deepEqual(got.names, c.names, label);
        assert.equal(got.written, false);
        if (c.options.unmapped_action === "warn") assert.equal(warnings.length, got.unmapped.length ? 1 : 0, label);
        if (c.options.unmapped_action === "keep") assert.deepEqual(warnings, [], label);
      }
      // Requests: same number, same size, and (compared with the keep run's full record) the same bytes.
      assert.deepEqual(
        srv.seen.map((s) => (new URLSearchParams(s.body).get("q") ?? "").split(",").length),
        c.requests.map((r: any) => r.n_terms),
        label,
      );
      for (const [j, s] of srv.seen.entries()) {
        const want = keepCase.requests[j];
        assert.equal(s.method, "POST");
        assert.equal(s.url, new URL(want.url).pathname, label);
        assert.equal(s.contentType, want.content_type, label);
        assert.equal(s.body, want.body, `${label}: request ${j} body differs from the seed's`);
      }
      i++;
    }
    assert.equal(i, expected.mygene.length);
    assert.ok(
      expected.mygene.some((c: any) => c.requests.length === 2),
      "a case needs two batches",
    );
  } finally {
    await srv.close();
  }
});

test("MyGene lookup: progress per batch of 1,000; pause between batches; duplicate IDs queried once", async () => {
  const srv = await serve(replay);
  try {
    const progress: Array<[number, number]> = [];
    const times: number[] = [];
    const handlerTimes = srv.seen;
    const t0 = Date.now();
    const got = await standardizeGeneNames(file("many_genes"), {
      lookupSymbols: true,
      baseUrl: srv.baseUrl,
      delayMs: 150,
      unmappedAction: "keep",
      onProgress: (p) => {
        progress.push([p.done, p.total]);
        times.push(Date.now() - t0);
        assert.equal(p.unit, "batch");
      },
    });
    assert.deepEqual(progress, [
      [1, 2],
      [2, 2],
    ]);
    assert.ok(times[1]! - times[0]! >= 140, `pause between batches: ${times[1]! - times[0]!} ms`);
    assert.equal(handlerTimes.length, 2);
    assert.equal(got.names.length, 1500);
    // Duplicates: the same ID twice is sent once.
    srv.seen.length = 0;
    const m = await lookupSymbolsMyGene(["ENSG00000010002", "ENSG00000010002", "TP53"], { baseUrl: srv.baseUrl });
    assert.equal(srv.seen.length, 1);
    assert.equal(srv.seen[0]!.body, formEncode(myGeneQueryFields(["ENSG00000010002", "TP53"], "human")));
    assert.ok(m instanceof Map);
  } finally {
    await srv.close();
  }
});

test("MyGene lookup: server down is a clear error, and the file is untouched even with inplace", async () => {
  const srv = await serve(replay);
  const deadUrl = srv.baseUrl;
  await srv.close(); // nothing listens on that port any more
  const path = scratch.copy(file("replogle_like"));
  const before = fileBytes(path);
  await assert.rejects(
    standardizeGeneNames(path, { lookupSymbols: true, baseUrl: deadUrl, inplace: true, retries: 0 }),
    (err: unknown) => {
      assert.ok(err instanceof LookupServiceError, String(err));
      assert.match(
        err.message,
        /gene symbol lookup failed at http:\/\/127\.0\.0\.1:\d+\/v3\/query\/ \(batch 1 of 1\): connection refused/,
      );
      assert.match(err.hint ?? "", /mapping file/);
      return true;
    },
  );
  assert.ok(fileBytes(path).equals(before), "file changed");
});

test("MyGene lookup: a slow server ends in a timeout error (not a hang); retries are counted; file untouched", async () => {
  const srv = await serve(() => {
    /* never answers */
  });
  try {
    const path = scratch.copy(file("mouse_object"));
    const before = fileBytes(path);
    const t0 = Date.now();
    await assert.rejects(
      standardizeGeneNames(path, {
        lookupSymbols: true,
        baseUrl: srv.baseUrl,
        timeoutMs: 300,
        retries: 0,
        inplace: true,
      }),
      (err: unknown) => {
        assert.ok(err instanceof LookupServiceError);
        assert.match(err.message, /no answer within 0\.3 s/);
        return true;
      },
    );
    assert.ok(Date.now() - t0 < 5000, "took too long");
    assert.ok(fileBytes(path).equals(before), "file changed");
    srv.seen.length = 0;
    await assert.rejects(
      lookupSymbolsMyGene(["A"], { baseUrl: srv.baseUrl, timeoutMs: 100, retries: 1 }),
      /2 attempts\): no answer within 0\.1 s/,
    );
    assert.equal(srv.seen.length, 2);
  } finally {
    await srv.close();
  }
});

test("MyGene lookup: cancellation through the signal stops a pending request at once", async () => {
  const srv = await serve(() => {
    /* never answers */
  });
  try {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(new Error("cancelled by the user")), 100);
    await assert.rejects(
      lookupSymbolsMyGene(["A"], { baseUrl: srv.baseUrl, timeoutMs: 10_000, signal: ac.signal }),
      /cancelled by the user/,
    );
    assert.ok(Date.now() - t0 < 3000);
  } finally {
    await srv.close();
  }
});

test("MyGene lookup: HTTP 503 is retried; 400 and non-JSON answers are errors naming the reason", async () => {
  let calls = 0;
  const srv = await serve((_req, body, res) => {
    calls++;
    if (calls === 1) {
      res.writeHead(503);
      res.end("busy");
      return;
    }
    if (body.includes("BAD")) {
      res.writeHead(400);
      res.end("bad query");
      return;
    }
    if (body.includes("HTML")) {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html>oops</html>");
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify([{ query: "X", symbol: "XSYM" }]));
  });
  try {
    const m = await lookupSymbolsMyGene(["X"], { baseUrl: srv.baseUrl, retries: 1 });
    assert.deepEqual([...m], [["X", "XSYM"]]);
    assert.equal(calls, 2);
    await assert.rejects(lookupSymbolsMyGene(["BAD"], { baseUrl: srv.baseUrl, retries: 3 }), /HTTP 400: bad query/);
    assert.equal(calls, 3, "a 400 is not retried");
    await assert.rejects(lookupSymbolsMyGene(["HTML"], { baseUrl: srv.baseUrl }), /the answer is not JSON: <html>/);
  } finally {
    await srv.close();
  }
});

test("MyGene lookup: bad arguments are refused before any request", async () => {
  await assert.rejects(lookupSymbolsMyGene(["A"], { baseUrl: "not a url" }), InvalidArgumentError);
  await assert.rejects(lookupSymbolsMyGene(["A"], { batchSize: 1001 }), /batch size/);
  await assert.rejects(lookupSymbolsMyGene(["A"], { timeoutMs: 0 }), /timeout/);
  await assert.rejects(lookupSymbolsMyGene(["A"], { species: " " }), /species/);
  await assert.rejects(
    standardizeGeneNames(file("ties"), { unmappedAction: "ignore" as never }),
    /unmappedAction must be/,
  );
});

/** The seed's lookup knowledge as a mapping table: the last hit's symbol for every found query. */
function seedMappingRows(): Array<[string, string]> {
  const map = new Map<string, string>();
  for (const c of expected.mygene)
    for (const r of c.requests) for (const h of r.response ?? []) if (!h.notfound) map.set(h.query, h.symbol);
  return [...map];
}

test("offline mapping file (TSV with header, CSV without): same names as the seed's online lookup, no network", async () => {
  const rows = seedMappingRows();
  const tsv = join(scratch.dir, "map.tsv");
  writeFileSync(tsv, "gene_id\tgene_symbol\n" + rows.map((r) => r.join("\t")).join("\n") + "\n");
  const csv = join(scratch.dir, "map.csv");
  writeFileSync(csv, rows.map((r) => r.join(",")).join("\r\n"));
  assert.deepEqual(readSymbolMapping(tsv).header, ["gene_id", "gene_symbol"]);
  assert.equal(readSymbolMapping(csv).header, null);
  for (const c of expected.mygene.filter((k: any) => k.options.unmapped_action === "keep")) {
    for (const mappingFile of [tsv, csv]) {
      const got = await standardizeGeneNames(file(c.dataset), {
        ...camel(c.options),
        mappingFile,
        unmappedAction: "keep",
      });
      assert.deepEqual(got.names, c.names, `${c.dataset} ${mappingFile}`);
    }
  }
});

test("mapping file first, then MyGene.info for the rest only", async () => {
  const srv = await serve(replay);
  try {
    const map = join(scratch.dir, "partial.tsv");
    writeFileSync(map, "Gene stable ID,HGNC symbol\nENSG00000010000,FROMFILE\n");
    const got = await standardizeGeneNames(file("replogle_like"), {
      mappingFile: map,
      lookupSymbols: true,
      baseUrl: srv.baseUrl,
      unmappedAction: "keep",
    });
    assert.equal(got.names[0], "FROMFILE");
    assert.equal(srv.seen.length, 1);
    assert.ok(!srv.seen[0]!.body.includes("ENSG00000010000"), "an ID mapped by the file was looked up online");
    assert.ok(srv.seen[0]!.body.includes("ENSG00000010001"));
  } finally {
    await srv.close();
  }
});

test("mapping file: quoted cells, BOM, comments; bad files are clear errors", () => {
  const p = join(scratch.dir, "quoted.csv");
  writeFileSync(p, '\ufeff# exported\n"query","symbol","other"\n"ENSG1","A,B",x\nENSG2,,y\nENSG3,C\n');
  const t = readSymbolMapping(p);
  assert.deepEqual(
    [...t.map],
    [
      ["ENSG1", "A,B"],
      ["ENSG3", "C"],
    ],
  );
  assert.throws(
    () => readSymbolMapping(join(scratch.dir, "missing.tsv")),
    (e: unknown) => e instanceof FileFormatError && /ENOENT/.test(e.message),
  );
  const one = join(scratch.dir, "one.tsv");
  writeFileSync(one, "ENSG1\nENSG2\n");
  assert.throws(() => readSymbolMapping(one), /needs two columns/);
  const empty = join(scratch.dir, "empty.tsv");
  writeFileSync(empty, "\n\n");
  assert.throws(() => readSymbolMapping(empty), /is empty/);
  assert.throws(() => readSymbolMapping(scratch.dir), /is a directory/);
});

test("normalizeGeneId: Python's \\d and $ rules for the version suffix; mt- only at the start, case-sensitive", () => {
  assert.equal(normalizeGeneId("ENSG00000141510.16"), "ENSG00000141510");
  assert.equal(normalizeGeneId("ENSG1.2.3"), "ENSG1.2");
  assert.equal(normalizeGeneId("ENSG1.2\n"), "ENSG1\n");
  assert.equal(normalizeGeneId("ENSG1.\u0663"), "ENSG1"); // Arabic-Indic digit three: a Python \d
  assert.equal(normalizeGeneId("ENSG1.a"), "ENSG1.a");
  assert.equal(normalizeGeneId("mt-Nd1"), "MT-Nd1");
  assert.equal(normalizeGeneId("Mt-Nd1"), "Mt-Nd1");
  assert.equal(normalizeGeneId("xmt-Nd1"), "xmt-Nd1");
  assert.equal(normalizeGeneId("mt-Nd1.1", { stripVersion: false, normaliseMtPrefix: false }), "mt-Nd1.1");
});

test("standardizeGeneNames: unknown column lists the available ones; inplace false leaves the file byte-identical", async () => {
  await assert.rejects(standardizeGeneNames(file("replogle_like"), { column: "symbols" }), (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError);
    assert.match(err.message, /var has no column 'symbols'/);
    assert.equal(err.hint, "available var columns: 'gene_name', 'chr', 'mean', 'in_matrix'");
    return true;
  });
  const path = scratch.copy(file("replogle_like"));
  const before = fileBytes(path);
  const r = await standardizeGeneNames(path);
  assert.equal(r.changed, 20);
  assert.ok(fileBytes(path).equals(before));
});

test("standardizeGeneNames inplace: var index rewritten, X's stored values and everything else identical (anndata)", {
  skip: findPython() ? undefined : SKIP_MESSAGE,
}, async () => {
  const path = scratch.copy(file("replogle_like"));
  const dumpBefore = dumpH5ad(path);
  const xBefore = xDatasets(path);
  const r = await standardizeGeneNames(path, { inplace: true });
  assert.equal(r.written, true);
  assert.deepEqual(xDatasets(path), xBefore);
  const dumpAfter = dumpH5ad(path);
  assertOnlyChanged(dumpBefore, dumpAfter, { varIndex: true });
  const seed = expected.datasets.replogle_like.gene_names.find(
    (g: any) => g.column === null && Object.keys(g.options).length === 0,
  );
  assert.deepEqual(dumpAfter.var.index, seed.names);
});

test("standardizeGeneNames inplace on a column: only that column changes; a categorical column stays categorical", {
  skip: findPython() ? undefined : SKIP_MESSAGE,
}, async () => {
  const path = scratch.copy(file("replogle_like"));
  const dumpBefore = dumpH5ad(path);
  const xBefore = xDatasets(path);
  await standardizeGeneNames(path, { column: "gene_name", inplace: true });
  assert.deepEqual(xDatasets(path), xBefore);
  const after = dumpH5ad(path);
  assertOnlyChanged(dumpBefore, after, { var: ["gene_name"] });
  const seed = expected.datasets.replogle_like.gene_names.find(
    (g: any) => g.column === "gene_name" && Object.keys(g.options).length === 0,
  );
  assert.deepEqual(after.var.data.gene_name.values, seed.names);

  // A categorical var column (mapping the categories through a file) stays categorical.
  const map = join(scratch.dir, "chr.tsv");
  writeFileSync(map, "id\tsymbol\nchr1\tchromosome1\nchrM\tMT\n");
  await standardizeGeneNames(path, { column: "chr", mappingFile: map, unmappedAction: "keep", inplace: true });
  const col = loadVar(path).columns.chr!;
  assert.equal(col.type, "categorical");
  const again = dumpH5ad(path);
  assert.equal(again.var.data.chr.kind, "categorical");
  const old = dumpBefore.var.data.chr;
  const oldValues = old.codes.map((k: number) => old.categories[k]);
  const newValues = again.var.data.chr.codes.map((k: number) => again.var.data.chr.categories[k]);
  assert.deepEqual(
    newValues,
    oldValues.map((v: string) => (v === "chr1" ? "chromosome1" : v === "chrM" ? "MT" : v)),
  );
});

test("standardizeGeneNames: missing values in a var column stay missing (not looked up, not written as text)", async () => {
  const a = emptyAnnData(2, 4);
  a.var = dataframe(["g0", "g1", "g2", "g3"], {
    symbol: categorical(["mt-Nd1", null, "ENSG5.2", "mt-Nd1"]),
    alias: { type: "nullable-string", values: strings(["ENSG7.1", "", "x", "y"]), mask: Uint8Array.from([0, 1, 0, 0]) },
  });
  const path = join(scratch.dir, "missing_var.h5ad");
  writeH5ad(path, a);
  const map = join(scratch.dir, "missing_map.tsv");
  writeFileSync(map, "ENSG5\tFIVE\nENSG7\tSEVEN\n");
  const r = await standardizeGeneNames(path, {
    column: "symbol",
    mappingFile: map,
    unmappedAction: "keep",
    inplace: true,
  });
  assert.deepEqual(r.names, ["MT-Nd1", "nan", "FIVE", "MT-Nd1"]);
  assert.deepEqual(r.unmapped, ["MT-Nd1"]);
  assert.equal(r.changed, 3);
  const col = loadVar(path).columns.symbol!;
  assert.equal(col.type, "categorical");
  if (col.type === "categorical") {
    assert.deepEqual(col.categories.data, ["FIVE", "MT-Nd1"]);
    assert.deepEqual(Array.from(col.codes as Int8Array), [1, -1, 0, 1]);
  }
  await standardizeGeneNames(path, { column: "alias", mappingFile: map, unmappedAction: "keep", inplace: true });
  // Written as anndata < 0.11 can read it: a categorical with the missing value kept (writeSettings).
  const alias = loadVar(path).columns.alias!;
  assert.equal(alias.type, "categorical");
  if (alias.type === "categorical") assert.deepEqual(categoricalValues(alias), ["SEVEN", null, "x", "y"]);
});

test("mapping file header: an ID in the first cell is data; the header can be forced either way", () => {
  const p = join(scratch.dir, "idfirst.tsv");
  writeFileSync(p, "ENSG1_gene\tTP53\nENSG2\tMYC\n"); // "gene" in an ID is no header
  assert.equal(readSymbolMapping(p).header, null);
  assert.equal(readSymbolMapping(p).map.get("ENSG1_gene"), "TP53");
  const q = join(scratch.dir, "symbols_only.tsv");
  writeFileSync(q, "gene_1\tA\ngene_2\tB\n"); // looks like a header by its words
  assert.deepEqual(readSymbolMapping(q).header, ["gene_1", "A"]);
  assert.equal(readSymbolMapping(q, { header: false }).map.get("gene_1"), "A");
  const r = join(scratch.dir, "noheaderwords.tsv");
  writeFileSync(r, "from\tto\nX\tY\n");
  assert.equal(readSymbolMapping(r, { header: false }).map.get("from"), "to");
  assert.equal(readSymbolMapping(r).map.get("X"), "Y");
});
