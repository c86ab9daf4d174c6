/**
 * Pseudo-bulk: raw counts summed per perturbation (optionally per perturbation × another obs column, e.g.
 * guide or replicate), streaming over X (the DE statistics pass, ./groupStats.ts, with one slot per
 * sample), written as a .h5ad: obs = the samples (their labels and cell counts), X = the summed counts
 * (dense float64, exact for sums below 2⁵³), var carried over.
 *
 * Cost: one read of X per batch of samples; a batch's sums (12 bytes per sample × gene with the non-zero
 * counts) take half the memory budget, so the memory is bounded whatever the number of samples × genes
 * (18,000 perturbations × 3 replicates × 36,000 genes: 23 GB of sums, 44 passes at 1G); each batch's rows
 * go straight into the output's X.
 */
import { InvalidArgumentError } from "../errors.ts";
import { openH5ad } from "../io/anndata/handle.ts";
import { writeAnnDataTo } from "../io/anndata/anndata.ts";
import { DenseMatrixWriter } from "../io/anndata/matrixWriter.ts";
import { openWriteStore } from "../io/openStore.ts";
import { writeAtomically } from "../io/atomic.ts";
import { readDataFrame } from "../io/anndata/encodings/dataframe.ts";
import { categorical, dataframe, emptyAnnData, ndarray, scalar } from "../io/anndata/model.ts";
import { resolveDataPath, resolveOutputPath, type DataSource } from "../io/anndata/fileHelpers.ts";
import { assertValidStructure } from "../io/anndata/validate.ts";
import { DEFAULT_MEMORY_BUDGET, throwIfAborted, type StreamOptions } from "../core/streaming.ts";
import { readLabelCodes } from "../ops/sort.ts";
import { accumulateGroupStats } from "./groupStats.ts";
import { DE_INPUTS } from "./methods/inputs.ts";

export interface PseudobulkOptions extends StreamOptions {
  /** obs column with the perturbation labels. */
  perturbationColumn: string;
  /** Also split by this obs column (guide, replicate, gem group): one sample per perturbation × value. */
  by?: string;
  /** Sum this layer instead of X. */
  layer?: string;
  /** Output .h5ad (default `<input>_pseudobulk.h5ad`). */
  output?: string;
}

export interface PseudobulkResult {
  outputPath: string;
  /** Samples written (non-empty groups). */
  samples: number;
  nVars: number;
}

/** The separator of a sample's name: `<perturbation>|<by value>`. */
const SEP = "|";

/**
 * Samples [start, end) per pass over X: a batch's sums and non-zero counts (12 bytes per sample × gene)
 * within half the budget (the streamed bands take a quarter), at least one sample.
 */
export function sampleBatches(samples: number, genes: number, budget: number): [number, number][] {
  const per = Math.max(1, Math.floor((budget * 0.5) / Math.max(1, genes * 12)));
  const out: [number, number][] = [];
  for (let s = 0; s < samples; s += per) out.push([s, Math.min(samples, s + per)]);
  return out;
}

/** Sum raw counts per perturbation (× `by`) and write them as a .h5ad. */
export async function pseudobulk(input: DataSource, options: PseudobulkOptions): Promise<PseudobulkResult> {
  if (!options.perturbationColumn)
    throw new InvalidArgumentError("perturbationColumn is required (the obs column with perturbation labels)");
  const inputPath = resolveDataPath(input);
  const outputPath = options.output ?? resolveOutputPath(inputPath, { suffix: "pseudobulk" });
  if (!outputPath.endsWith(".h5ad")) throw new InvalidArgumentError(`output '${outputPath}' must end in .h5ad`);
  const h = openH5ad(inputPath);
  try {
    assertValidStructure(h.file);
    const pert = readLabelCodes(h.file, options.perturbationColumn);
    const by = options.by
      ? readLabelCodes(h.file, options.by)
      : { codes: new Int32Array(pert.codes.length), labels: [""] };
    const nBy = by.labels.length;
    // Slots: perturbation code × nBy + by code; only the non-empty ones are written.
    const nSlots = pert.labels.length * nBy;
    const cellSlot = new Int32Array(pert.codes.length);
    const cells = new Float64Array(nSlots);
    for (let i = 0; i < cellSlot.length; i++) {
      const p = pert.codes[i]!,
        b = by.codes[i]!;
      const s = p < 0 || b < 0 ? -1 : p * nBy + b; // a missing label (code −1) is left out
      cellSlot[i] = s;
      if (s >= 0) cells[s]++;
    }
    const reader = h.matrix(options.layer);
    DE_INPUTS.counts.check(reader, inputPath, "pseudobulk");
    reader.values = "counts";
    const nGenes = reader.shape[1];
    const kept: number[] = [];
    for (let s = 0; s < nSlots; s++) if (cells[s]! > 0) kept.push(s);
    const batches = sampleBatches(kept.length, nGenes, options.memoryBudget ?? DEFAULT_MEMORY_BUDGET);
    const pertOf = kept.map((s) => pert.labels[Math.floor(s / nBy)]!);
    const byOf = kept.map((s) => by.labels[s % nBy]!);
    const names = kept.map((_, r) => (options.by ? `${pertOf[r]}${SEP}${byOf[r]}` : pertOf[r]!));
    if (new Set(names).size !== names.length)
      throw new InvalidArgumentError(`pseudo-bulk sample names are not unique (a label contains '${SEP}')`, {
        file: inputPath,
        hint: "rename the labels, or group by another column",
      });
    const ad = emptyAnnData(kept.length, nGenes);
    ad.obs = dataframe(names, {
      [options.perturbationColumn]: categorical(pertOf),
      ...(options.by && options.by !== options.perturbationColumn ? { [options.by]: categorical(byOf) } : {}),
      n_cells: ndarray(Int32Array.from(kept, (s) => cells[s]!)),
    });
    ad.var = readDataFrame(h.file, "/var");
    ad.uns = {
      pseudobulk: {
        type: "dict",
        items: {
          source: scalar(inputPath),
          perturbation_column: scalar(options.perturbationColumn),
          by: scalar(options.by ?? ""),
          layer: scalar(options.layer ?? "X"),
        },
      },
    } as typeof ad.uns;
    // The samples' slots, batch by batch: a batch's cells get local slots 0.., every other cell −1.
    const local = new Int32Array(nSlots).fill(-1);
    const batchSlot = new Int32Array(cellSlot.length);
    await writeAtomically(outputPath, async (tmp) => {
      const file = openWriteStore(tmp, "w");
      try {
        writeAnnDataTo(file, ad);
        const w = DenseMatrixWriter.create(file, "/X", { shape: [kept.length, nGenes], dtype: "float64" });
        for (const [k, [b0, b1]] of batches.entries()) {
          if (b1 === b0) continue;
          throwIfAborted(options.signal);
          local.fill(-1);
          for (let r = b0; r < b1; r++) local[kept[r]!] = r - b0;
          for (let i = 0; i < cellSlot.length; i++) batchSlot[i] = cellSlot[i]! < 0 ? -1 : local[cellSlot[i]!]!;
          const phase =
            batches.length > 1 ? `pseudo-bulk sums, pass ${k + 1} of ${batches.length}` : "pseudo-bulk sums";
          const stats = await accumulateGroupStats(reader, batchSlot, b1 - b0, false, { ...options, phase });
          w.appendRows(b1 - b0, stats.sums.subarray(0, (b1 - b0) * nGenes));
        }
        w.finish();
      } finally {
        file.close();
      }
    });
    return { outputPath, samples: kept.length, nVars: nGenes };
  } finally {
    h.close();
  }
}
