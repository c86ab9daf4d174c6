/**
 * What every file → file operator checks before doing any work, and how it yields between blocks:
 * the input exists and is AnnData with an X, the output is not the input, the output's folder exists
 * (created like the seed's `mkdir(parents=True)`).
 */
import { assertValidStructure } from "../io/anndata/validate.ts";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { InvalidArgumentError } from "../errors.ts";
import { openH5ad, type H5adHandle } from "../io/anndata/handle.ts";
import { resolveDataPath, type DataSource } from "../io/anndata/fileHelpers.ts";
import { checkOutputIsNotInput } from "./paths.ts";
import { openStore, openWriteStore } from "../io/openStore.ts";
import type { WriteStore } from "../io/store.ts";
import type { TypedArray } from "../io/dtypes.ts";
import {
  SparseMatrixWriter,
  startAnnData,
  carryOver,
  type CarryOverOptions,
  type SparseWriterOptions,
} from "../io/anndata/matrixWriter.ts";
import { BackgroundMatrixWriter, useBackgroundWriter } from "../io/anndata/backgroundWriter.ts";
import { DirectSparseWriter, canWriteDirect, createDirectPlaceholders } from "../io/anndata/directSparseWriter.ts";

/** Resolve and check input/output paths; returns the input path. Throws before anything is written. */
export function checkInputOutput(
  input: DataSource,
  output: string | undefined,
  what: string,
): { inputPath: string; outputPath: string } {
  const inputPath = resolveDataPath(input);
  if (!output || typeof output !== "string") {
    throw new InvalidArgumentError(`${what}: an output path is required`, { file: inputPath });
  }
  checkOutputIsNotInput(inputPath, output);
  return { inputPath, outputPath: output };
}

/** Open the input lazily and make sure it has an X matrix (errors name the file). */
export function openInput(inputPath: string): H5adHandle {
  const h = openH5ad(inputPath);
  try {
    // A file whose metadata contradicts itself is refused before anything is read or written (issue 20).
    assertValidStructure(h.file);
    void h.X;
  } catch (err) {
    h.close();
    throw err;
  }
  return h;
}

export function ensureOutputDir(outputPath: string): void {
  mkdirSync(dirname(resolve(outputPath)), { recursive: true });
}

/** Let the event loop run (abort signals, Ctrl-C, timers) between blocks of synchronous HDF5 work. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/**
 * Where an operator's X goes: a new file with the input's carried-over elements and a sparse X, written
 * on this thread or on a worker thread (./../io/anndata/backgroundWriter.ts) for large outputs.
 */
export interface XSink {
  /**
   * Queue a block. `release`, when given, is called once the block's arrays are no longer needed (so
   * they can be reused); sinks that keep or transfer the arrays never call it.
   */
  append(indptr: TypedArray | Float64Array, indices: TypedArray, data: TypedArray, release?: () => void): Promise<void>;
  /** Check completeness and close the file. */
  finish(): Promise<{ nnz: number }>;
  /** Close after a failure (the caller removes the file). */
  abort(): Promise<void>;
}

export interface XSinkSpec {
  carryFrom: string;
  carry?: CarryOverOptions;
  x: SparseWriterOptions;
  /** Write on a worker thread (default: when the output's X is large). */
  background?: boolean;
  /** Estimated bytes of the output's X, for the default above. */
  xBytes: number;
}

export async function openXSink(tmp: string, spec: XSinkSpec): Promise<XSink> {
  if (canWriteDirect(spec.x)) return openDirectXSink(tmp, spec);
  if (useBackgroundWriter(spec.xBytes, spec.background)) {
    const w = await BackgroundMatrixWriter.open(tmp, { carryFrom: spec.carryFrom, carry: spec.carry, x: spec.x });
    return { append: (p, i, d) => w.append(p, i, d), finish: () => w.finish(), abort: () => w.abort() };
  }
  const out = startOutput(tmp, spec);
  let w: SparseMatrixWriter;
  try {
    w = SparseMatrixWriter.create(out, "/X", spec.x);
  } catch (err) {
    out.close();
    throw err;
  }
  return {
    append: async (p, i, d, release) => {
      w.appendParts(p, i, d);
      release?.();
    },
    finish: async () => {
      const r = w.finish();
      out.close();
      return r;
    },
    abort: async () => {
      try {
        out.close();
      } catch {
        // Closing a half-written file may fail; it is removed anyway.
      }
    },
  };
}

/**
 * When the number of stored elements is known: the file's other elements through HDF5, then X's arrays
 * written straight into the file (../io/anndata/directSparseWriter.ts) on libuv's thread pool while the
 * caller computes the next block; at most two blocks in flight.
 */
async function openDirectXSink(tmp: string, spec: XSinkSpec): Promise<XSink> {
  const out = startOutput(tmp, spec);
  try {
    createDirectPlaceholders(out, "/X", spec.x);
  } finally {
    out.close();
  }
  const w = DirectSparseWriter.open(tmp, "/X", spec.x);
  return {
    append: (p, i, d, release) => w.queue(p, i, d, release),
    finish: () => w.finishQueued(),
    abort: () => w.abortQueued(),
  };
}

/** The output file with the input's carried-over elements (everything but X), open for writing. */
function startOutput(tmp: string, spec: XSinkSpec): WriteStore {
  const out = openWriteStore(tmp, "w");
  try {
    startAnnData(out);
    const src = openStore(spec.carryFrom, "r");
    try {
      carryOver(src, out, spec.carry ?? {});
    } finally {
      src.close();
    }
    return out;
  } catch (err) {
    out.close();
    throw err;
  }
}
