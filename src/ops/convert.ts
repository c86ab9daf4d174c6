/**
 * Change how X is stored: CSR (fast cell blocks: size factors, NB-GLM) <-> CSC (fast gene blocks:
 * Wilcoxon), the seed's convert_to_csr / convert_to_csc.
 *
 * Unlike the seed, which buffers every non-zero in RAM, this is an external-memory conversion with peak
 * memory set by `memoryBudget` (see ./externalScatter.ts): the input is read once, sequentially; when
 * the non-zeros do not fit in the budget they are spilled as sorted runs to one temporary file beside
 * the output, read back once while the output is written sequentially. Passes over the input: 1;
 * temporary I/O: 0 when nnz × (16 + 2 × value bytes) ≲ 0.6 × budget, else one write and one read of at
 * most nnz × (8 + value bytes) plus, per run, ~1 byte per output line it touches (not per output line:
 * a CSC -> CSR run touches most cells, but dense per-run counts made the merge cost cells × runs).
 *
 * Differences from the seed, on purpose: values keep their dtype (the seed casts to float32); obs, var,
 * uns, obsm, varm, obsp, varp, layers and raw are carried over (the seed keeps only obs and var).
 */
import { assertValidStructure } from "../io/anndata/validate.ts";
import { openStore } from "../io/openStore.ts";
import { assertAnnData } from "../io/anndata/anndata.ts";
import { MatrixReader } from "../io/anndata/matrixReader.ts";
import { isLegacyTable } from "../io/anndata/encodings/legacyDataframe.ts";
import { dtypeBytes, sparseMatrixBytes } from "../io/writeErrors.ts";
import { DEFAULT_MEMORY_BUDGET, type StreamOptions } from "../core/streaming.ts";
import { FileFormatError, InvalidArgumentError } from "../errors.ts";
import { copyRootExcept } from "../io/anndata/copyElements.ts";
import { writeReorderedSparse } from "./reorderMatrix.ts";
import { runRewrite, writeCurrentLayoutCopy } from "./runner.ts";
import { checkOutputIsNotInput, inputPath, seedOutputPath, type FileSource } from "./paths.ts";

export interface ConvertOptions extends StreamOptions {
  /** Output file. Default: the seed's name, `crispyx_csc.h5ad` / `crispyx_csr.h5ad` (with dataName: `crispyx_<dataName>_csc.h5ad`) in outputDir. */
  output?: string;
  /** Directory for the default output name (default: the input's directory). */
  outputDir?: string;
  dataName?: string;
  /** Sort-buffer size in elements; for tests that need spilling on tiny files. */
  bufferElements?: number;
}

export interface ConvertResult {
  /** The converted file, or the input itself when X was already in the requested format. */
  path: string;
  converted: boolean;
  /** The input's storage format. */
  from: "csr" | "csc" | "dense";
  to: "csr" | "csc";
  nnz: number;
  /** Sequential reads of the input's X (1), and sorted runs spilled to a temporary file (0 = in memory). */
  inputPasses: number;
  spilledRuns: number;
}

async function convertTo(target: "csr" | "csc", data: FileSource, opts: ConvertOptions): Promise<ConvertResult> {
  const input = inputPath(data);
  const src = openStore(input, "r");
  try {
    assertAnnData(src);
    if (!src.exists("/X")) throw new FileFormatError(`has no X matrix to convert`, { file: input });
    assertValidStructure(src);
    const reader = new MatrixReader(src, "/X");
    const from = reader.format;
    const legacy = isLegacyTable(src, "/obs");
    // X already in the target format: the input is the answer (as the seed), unless an output was asked
    // of a pre-0.7 file — that gets a copy in the current layout, which anndata reads without warnings.
    if (from === target && !(legacy && opts.output)) {
      return { path: input, converted: false, from, to: target, nnz: reader.info.nnz, inputPasses: 0, spilledRuns: 0 };
    }
    const output = opts.output ?? seedOutputPath(input, target, opts.outputDir, opts.dataName);
    checkOutputIsNotInput(input, output);
    if (from === target) {
      await writeCurrentLayoutCopy(src, output, opts);
      return { path: output, converted: true, from, to: target, nnz: reader.info.nnz, inputPasses: 1, spilledRuns: 0 };
    }
    if (opts.memoryBudget !== undefined && !(opts.memoryBudget > 0))
      throw new InvalidArgumentError(`memory budget must be positive, got ${opts.memoryBudget}`);
    if (opts.chunkSize !== undefined && !(Number.isInteger(opts.chunkSize) && opts.chunkSize >= 1))
      throw new InvalidArgumentError(`chunk size must be a positive integer, got ${opts.chunkSize}`);
    // Transposing (CSR<->CSC, dense->CSC) takes each element's stored minor index as its output line;
    // dense->CSR keeps rows as they are.
    const destFrom = from === "dense" && target === "csr" ? "line" : "index";
    const stats = await runRewrite(
      output,
      (dst, tmp) => {
        copyRootExcept(src, dst, ["X"], { signal: opts.signal });
        return writeReorderedSparse(reader, dst, "/X", {
          format: target,
          destFrom,
          memoryBudget: opts.memoryBudget ?? DEFAULT_MEMORY_BUDGET,
          spillPath: `${tmp}.runs`,
          directFile: tmp, // X is written last
          bufferElements: opts.bufferElements,
          chunkSize: opts.chunkSize,
          signal: opts.signal,
          onProgress: opts.onProgress,
        });
      },
      undefined,
      from === "dense"
        ? {}
        : {
            expectedBytes: sparseMatrixBytes(
              reader.info.nnz,
              dtypeBytes(reader.info.dtype),
              reader.shape[target === "csr" ? 0 : 1],
            ),
          },
    );
    return {
      path: output,
      converted: true,
      from,
      to: target,
      nnz: stats.nnz,
      inputPasses: stats.inputPasses,
      spilledRuns: stats.spilledRuns,
    };
  } finally {
    src.close();
  }
}

/**
 * X as CSC (gene-major). Returns the input path untouched when X already is CSC, as the seed does.
 * @param data path to an .h5ad file (or an open handle)
 */
export function convertToCsc(data: FileSource, opts: ConvertOptions = {}): Promise<ConvertResult> {
  return convertTo("csc", data, opts);
}

/** X as CSR (cell-major). Returns the input path untouched when X already is CSR, as the seed does. */
export function convertToCsr(data: FileSource, opts: ConvertOptions = {}): Promise<ConvertResult> {
  return convertTo("csr", data, opts);
}
