/**
 * Issue "h5ad I/O": files larger than 4 GiB open and their last rows read correctly.
 *
 *   node --import ./bin/register.mjs bench/large-file.ts [--cells 1200000] [--per-row 500] [--dir bench/data]
 *
 * Writes a CSR .h5ad whose X is > 4 GiB (streaming, never holding it in memory), with values that are
 * a formula of (row, k) so any row can be checked, then opens it lazily and checks the first and last
 * rows and a few in between. Prints sizes, timings and peak RSS.
 */
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { H5File } from "../src/io/h5/file.ts";
import { openH5ad } from "../src/io/anndata/handle.ts";
import { writeElem } from "../src/io/anndata/registry.ts";
import { dataframe } from "../src/io/anndata/model.ts";
import type { SparseMatrix } from "../src/io/anndata/model.ts";

const { values } = parseArgs({
  options: {
    cells: { type: "string", default: "1200000" },
    "per-row": { type: "string", default: "500" },
    genes: { type: "string", default: "20000" },
    dir: { type: "string", default: "bench/data" },
  },
});
const nCells = Number(values.cells);
const perRow = Number(values["per-row"]);
const nGenes = Number(values.genes);
const stride = Math.floor(nGenes / perRow);
const value = (i: number, k: number) => ((i * 31 + k) % 4096) + 1;
const column = (i: number, k: number) => k * stride + (i % stride);

mkdirSync(values.dir!, { recursive: true });
const path = join(values.dir!, `large_${nCells}x${nGenes}.h5ad`);

const t0 = performance.now();
const f = H5File.open(path, "w");
f.setAttr("/", "encoding-type", "anndata");
f.setAttr("/", "encoding-version", "0.1.0");
f.createGroup("/X");
f.setAttr("/X", "encoding-type", "csr_matrix");
f.setAttr("/X", "encoding-version", "0.1.0");
f.setAttr("/X", "shape", BigInt64Array.of(BigInt(nCells), BigInt(nGenes)));
const nnz = nCells * perRow;
const CH = 1 << 20;
f.createDataset("/X/data", { dtype: "float32", shape: [nnz], chunks: [CH] });
f.createDataset("/X/indices", { dtype: "int32", shape: [nnz], chunks: [CH] });
f.createDataset("/X/indptr", { dtype: "int64", shape: [nCells + 1], chunks: [Math.min(CH, nCells + 1)] });
const rowsPerBlock = Math.max(1, Math.floor((8 << 20) / perRow));
const data = new Float32Array(rowsPerBlock * perRow);
const idx = new Int32Array(rowsPerBlock * perRow);
const ptr = new BigInt64Array(rowsPerBlock + 1);
for (let r0 = 0; r0 < nCells; r0 += rowsPerBlock) {
  const r1 = Math.min(nCells, r0 + rowsPerBlock);
  const n = (r1 - r0) * perRow;
  let p = 0;
  for (let i = r0; i < r1; i++) {
    for (let k = 0; k < perRow; k++) {
      data[p] = value(i, k);
      idx[p++] = column(i, k);
    }
  }
  f.write("/X/data", [r0 * perRow], [n], data.subarray(0, n));
  f.write("/X/indices", [r0 * perRow], [n], idx.subarray(0, n));
  const first = r0 === 0 ? 0 : 1; // indptr[r0] was written by the previous block
  for (let i = first; i <= r1 - r0; i++) ptr[i - first] = BigInt((r0 + i) * perRow);
  f.write("/X/indptr", [r0 + first], [r1 - r0 + 1 - first], ptr.subarray(0, r1 - r0 + 1 - first));
}
writeElem(f, "/obs", dataframe(Array.from({ length: nCells }, (_, i) => `cell${i}`)));
writeElem(f, "/var", dataframe(Array.from({ length: nGenes }, (_, j) => `gene${j}`)));
for (const g of ["obsm", "varm", "obsp", "varp", "layers", "uns"]) {
  f.createGroup(`/${g}`);
  f.setAttr(`/${g}`, "encoding-type", "dict");
  f.setAttr(`/${g}`, "encoding-version", "0.1.0");
}
f.close();
const writeSec = (performance.now() - t0) / 1000;
const bytes = statSync(path).size;

const t1 = performance.now();
using h = openH5ad(path);
const openMs = performance.now() - t1;
let checked = 0;
for (const i of [0, 1, Math.floor(nCells / 2), nCells - 2, nCells - 1]) {
  const row = h.X.rows(i, i + 1, "csr") as SparseMatrix;
  if (row.data.length !== perRow) throw new Error(`row ${i}: ${row.data.length} values, expected ${perRow}`);
  for (let k = 0; k < perRow; k++) {
    if (row.data[k] !== value(i, k) || row.indices[k] !== column(i, k)) {
      throw new Error(
        `row ${i}, entry ${k}: got (${row.indices[k]}, ${row.data[k]}), expected (${column(i, k)}, ${value(i, k)})`,
      );
    }
  }
  checked++;
}
const readMs = performance.now() - t1 - openMs;
console.log(
  JSON.stringify(
    {
      file: path,
      cells: nCells,
      genes: nGenes,
      nnz,
      fileBytes: bytes,
      fileGiB: +(bytes / 2 ** 30).toFixed(2),
      over4GiB: bytes > 4 * 2 ** 30,
      writeSeconds: +writeSec.toFixed(1),
      openMs: +openMs.toFixed(1),
      rowsChecked: checked,
      readLastRowsMs: +readMs.toFixed(1),
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      lastRowOk: true,
    },
    null,
    2,
  ),
);
