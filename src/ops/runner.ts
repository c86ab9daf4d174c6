/**
 * One runner for the file → file operators of src/ops. An operator is what it computes; the runner owns
 * everything around it: resolving the input and the one "output ≠ input" check (./paths.ts), opening the
 * input, planning blocks from the memory budget, the output's folder, the temporary output renamed into
 * place only when complete (../io/atomic.ts), carrying the input's other elements over, progress, abort,
 * yielding to the event loop between blocks, and closing everything on every path.
 *
 * Two families share it:
 * - Row operators (`runRowOperator`: normalize, subset/filter): X is read in blocks of cells, each block is
 *   transformed into output rows, and the output's X goes through an XSink (./operatorIO.ts: written
 *   straight into the file, on a worker thread, or in this thread) after obs/var/uns/… are carried over.
 * - Rewriting operators (`runRewrite`: convert, sort, standardize): the output is written element by element
 *   by the operator (X reordered by ./reorderMatrix.ts, or copied), into an HDF5 file the runner opens,
 *   closes and renames; `afterClose` runs once HDF5 has closed it (direct copies of X).
 *
 * To add an operator (row family; cf. BPCells' MatrixIterator.h):
 *  1. Write its block transform as a function of one CSR block of cells (SparseMatrix → output rows); export
 *     it so a test can run it on arrays (normalizeLog1pBlock in ./normalize.ts is the model).
 *  2. Write its `prepare(input)`: check the options against the open input (masks, columns), then return a
 *     RowPlan — `bytesPerRow` (memory one input row costs in a block: the runner sizes blocks from the budget),
 *     `output()` (the output X's shape, dtype, known nnz, and what `carryOver` keeps), `blocks()` (the input
 *     blocks, usually iterMatrixChunks from ./chunks.ts), `transform()` (step 1) and `result()`; add
 *     `firstPass(chunkSize)` when the transform needs a pass over X first (library sizes, output nnz).
 *  3. Export `myOp(input, opts)`: validate plain options, then `return runRowOperator(input, opts, { name, phase, prepare })`.
 *  4. Test it against a reference (test/ops/<op>.test.ts with goldens in test/fixtures/ops, made by the seed or
 *     Scanpy), including chunkSize 1 and the worker-thread writer; add it to bench/operators.ts.
 *  5. For users: a CLI command (src/cli/commands/), its export in src/index.ts, a README line.
 *  That is 1 new file plus index.ts (+ the CLI): no I/O, temp files, progress or abort code of its own.
 *
 * Cost model: the runner adds no pass over X and no copy of a block; its own work is one open of the input,
 * one output file, and one event-loop turn per block.
 */
import { existsSync } from "node:fs";
import { withScratchFile, writeAtomically, type AtomicWriteOptions } from "../io/atomic.ts";
import { openStore, openWriteStore } from "../io/openStore.ts";
import type { ReadStore, WriteStore } from "../io/store.ts";
import type { TypedArray } from "../io/dtypes.ts";
import { assertAnnData } from "../io/anndata/anndata.ts";
import { copyMatrix } from "../io/anndata/carryOver.ts";
import { isLegacyTable } from "../io/anndata/encodings/legacyDataframe.ts";
import type { H5adHandle } from "../io/anndata/handle.ts";
import type { MatrixReader } from "../io/anndata/matrixReader.ts";
import type { CarryOverOptions, SparseWriterOptions } from "../io/anndata/matrixWriter.ts";
import type { DataSource } from "../io/anndata/fileHelpers.ts";
import { ArrayPool } from "../core/arrayPool.ts";
import { DEFAULT_MEMORY_BUDGET, rowsPerStreamBlock, throwIfAborted, type StreamOptions } from "../core/streaming.ts";
import { checkInputOutput, ensureOutputDir, openInput, openXSink, yieldToEventLoop, type XSink } from "./operatorIO.ts";
import { copyRootExcept } from "../io/anndata/copyElements.ts";
import { checkOutputIsNotInput } from "./paths.ts";

// ---- row operators --------------------------------------------------------------------------------

/** Output rows of one block, CSR: `release`, when given, is called once the arrays may be reused. */
export interface RowBlock {
  indptr: TypedArray | Float64Array;
  indices: TypedArray;
  data: TypedArray;
  release?: () => void;
}

/** The open input a row operator plans from. */
export interface RowInput {
  path: string;
  handle: H5adHandle;
  x: MatrixReader;
}

/** What a row operator computes, planned against its open input (see "To add an operator" above). */
export interface RowPlan<B, R> {
  /** Memory one input row costs while its block is in flight (input and output arrays): sets rows per block. */
  bytesPerRow: number;
  /** A pass over X before the output exists, once the block size is known (e.g. counting stored elements). */
  firstPass?(chunkSize: number): void;
  /** The output's X (its stored-element count, when known, lets X be written straight into the file) and carry-over. */
  output(): {
    x: SparseWriterOptions;
    carry?: CarryOverOptions;
    /** Estimated bytes of the output's X (worker-thread writer above a size). */
    xBytes: number;
    /** Bytes the output will take, when known: refused up front when the disk has less free (../io/atomic.ts). */
    expectedBytes?: number;
  };
  /** The input's blocks in order; `pool` (CSR input only) recycles their arrays. */
  blocks(chunkSize: number, pool: ArrayPool | undefined): Iterable<B>;
  /** One block's output rows. The block's arrays are the operator's to overwrite or recycle. */
  transform(block: B, pool: ArrayPool | undefined): RowBlock;
  result(nnz: number): R;
  /**
   * Open the output at the first block with stored elements, appending the empty rows before it then
   * (subset does, so its outputs stay byte for byte what they were); default: before the first block.
   */
  openAtFirstElement?: boolean;
}

export interface RowOperator<B, R> {
  /** The operator's API name, for messages. */
  name: string;
  /** Progress phase; progress counts output cells. */
  phase: string;
  prepare(input: RowInput): RowPlan<B, R>;
}

export interface RowRunOptions extends StreamOptions {
  output: string;
  /** Write X on a worker thread (default: when the output's X is large). */
  background?: boolean;
}

/** Run a row operator from `input` to `opts.output` (see the module comment). */
export async function runRowOperator<B, R>(input: DataSource, opts: RowRunOptions, op: RowOperator<B, R>): Promise<R> {
  const { inputPath, outputPath } = checkInputOutput(input, opts?.output, op.name);
  const h = openInput(inputPath);
  try {
    const x = h.X;
    const plan = op.prepare({ path: inputPath, handle: h, x });
    const chunkSize = rowsPerStreamBlock(plan.bytesPerRow, x.shape[0], opts);
    plan.firstPass?.(chunkSize);
    const out = plan.output();
    const totalRows = out.x.shape[0];
    ensureOutputDir(outputPath);
    return await writeAtomically(
      outputPath,
      async (tmp) => {
        let sink: XSink | undefined;
        let emptyRows = 0;
        const open = async (): Promise<XSink> => {
          sink = await openXSink(tmp, {
            carryFrom: inputPath,
            carry: out.carry,
            x: out.x,
            background: opts.background,
            xBytes: out.xBytes,
          });
          for (let done = 0; done < emptyRows; done += 1 << 20) {
            const m = Math.min(1 << 20, emptyRows - done);
            await sink.append(new Int32Array(m + 1), new Int32Array(0), new Float32Array(0));
          }
          return sink;
        };
        try {
          if (!plan.openAtFirstElement) await open();
          // CSR input: blocks are read into, and transformed into, recycled buffers.
          const pool = x.format === "csr" ? new ArrayPool() : undefined;
          let done = 0;
          for (const block of plan.blocks(chunkSize, pool)) {
            throwIfAborted(opts.signal);
            const b = plan.transform(block, pool);
            const rows = b.indptr.length - 1;
            if (sink || b.data.length > 0)
              await (sink ?? (await open())).append(b.indptr, b.indices, b.data, b.release);
            else {
              emptyRows += rows;
              b.release?.();
            }
            done += rows;
            opts.onProgress?.({ phase: op.phase, done, total: totalRows, unit: "cells" });
            await yieldToEventLoop();
            throwIfAborted(opts.signal);
          }
          const { nnz } = await (sink ?? (await open())).finish();
          return plan.result(nnz);
        } catch (err) {
          await sink?.abort();
          throw err;
        }
      },
      out.expectedBytes !== undefined ? { expectedBytes: out.expectedBytes } : {},
    );
  } finally {
    h.close();
  }
}

// ---- rewriting operators --------------------------------------------------------------------------

/** A rewriting operator (sort, standardize): what the runner needs to know around its `run`. */
export interface RewriteOperator<R> {
  /** The input's path (./paths.ts inputPath) and the output's. */
  input: string;
  output: string;
  /** Whether an existing output may be returned as it is (e.g. it has sorting metadata and no `force`). */
  reuse?: (output: string) => boolean;
  /** Checks of plain options, after the output checks and before any file is read. */
  check?: () => void;
  /**
   * How to run on a current-layout copy when the input is in the pre-0.7 layout (obs a compound dataset),
   * which the element-by-element rewrite does not read; absent = run on the input as it is.
   */
  onLegacyCopy?: (copy: string) => Promise<R>;
  /** The stream options for that copy (budget, abort). */
  stream?: StreamOptions;
  /** With the input open and checked as AnnData: plan, then write the output with `runRewrite`. */
  run: (src: ReadStore) => Promise<R>;
}

/** Run a rewriting operator (see RewriteOperator); an output reused as it is is returned as its path. */
export async function runRewriteOperator<R>(op: RewriteOperator<R>): Promise<R | string> {
  checkOutputIsNotInput(op.input, op.output);
  if (op.reuse && existsSync(op.output) && op.reuse(op.output)) return op.output;
  op.check?.();
  if (op.onLegacyCopy && needsCurrentLayoutCopy(op.input))
    return onCurrentLayoutCopy(op.input, op.output, op.stream ?? {}, op.onLegacyCopy);
  const src = openStore(op.input, "r");
  try {
    assertAnnData(src);
    return await op.run(src);
  } finally {
    src.close();
  }
}

/**
 * Write the output of a rewriting operator: its folder made, `write(dst, tmp)` given a new HDF5 file at a
 * temporary path (closed by the runner whatever happens; `write` may close it early to write bytes
 * directly), then `afterClose(tmp)`, then the rename into place. An error removes the temporary file.
 * `atomic`: e.g. the output's expected size, refused up front when the disk lacks it (../io/atomic.ts).
 */
export async function runRewrite<T>(
  output: string,
  write: (dst: WriteStore, tmp: string) => T,
  afterClose?: (tmp: string) => Promise<void>,
  atomic: AtomicWriteOptions = {},
): Promise<T> {
  ensureOutputDir(output);
  return writeAtomically(
    output,
    async (tmp) => {
      const dst = openWriteStore(tmp, "w");
      let result: T;
      try {
        result = write(dst, tmp);
      } finally {
        dst.close();
      }
      if (afterClose) await afterClose(tmp);
      return result;
    },
    atomic,
  );
}

// ---- pre-0.7 inputs -------------------------------------------------------------------------------

/** A copy of `src` in the current layout, X stored as it is (atomically at `output`). */
export async function writeCurrentLayoutCopy(src: ReadStore, output: string, opts: StreamOptions = {}): Promise<void> {
  await writeAtomically(output, (tmp) => {
    const dst = openWriteStore(tmp, "w");
    try {
      copyRootExcept(src, dst, ["X"], { signal: opts.signal });
      if (src.exists("/X"))
        copyMatrix(src, "/X", dst, "/X", undefined, undefined, opts.memoryBudget ?? DEFAULT_MEMORY_BUDGET);
    } finally {
      dst.close();
    }
  });
}

/** Whether `input` is in the pre-0.7 layout (obs a compound dataset), which sort and standardize do not read. */
export function needsCurrentLayoutCopy(input: string): boolean {
  const f = openStore(input, "r");
  try {
    return isLegacyTable(f, "/obs");
  } finally {
    f.close();
  }
}

/**
 * For operators that rewrite a file element by element (sort, standardize): a pre-0.7 input is first
 * copied in the current layout beside `output` (one more pass over X; the copy is removed afterwards, also
 * on error) and `run` gets that copy; errors name the input, not the copy.
 */
export async function onCurrentLayoutCopy<T>(
  input: string,
  output: string,
  opts: StreamOptions,
  run: (copy: string) => Promise<T>,
): Promise<T> {
  return withScratchFile(output, async (copy) => {
    const src = openStore(input, "r");
    try {
      await writeCurrentLayoutCopy(src, copy, opts);
    } finally {
      src.close();
    }
    try {
      return await run(copy);
    } catch (err) {
      if (err instanceof Error) err.message = err.message.replaceAll(copy, input);
      throw err;
    }
  });
}
