/**
 * Pseudo-bulk: raw counts summed per perturbation (optionally per perturbation × another obs column, e.g.
 * guide or replicate), in one streaming pass over X (the DE statistics pass, ./groupStats.ts, with one
 * slot per group), written as a small .h5ad: obs = the groups (their labels and cell counts), X = the
 * summed counts (float64, exact for sums below 2⁵³), var carried over.
 *
 * Cost: one read of X; memory O(groups × genes) for the sums (8 bytes each) plus one streamed band.
 */
import { InvalidArgumentError } from "../errors.ts";
import { openH5ad } from "../io/anndata/handle.ts";
import { writeH5ad } from "../io/anndata/anndata.ts";
import { readDataFrame } from "../io/anndata/encodings/dataframe.ts";
import { categorical, dataframe, emptyAnnData, ndarray, scalar } from "../io/anndata/model.ts";
import { resolveDataPath, resolveOutputPath, type DataSource } from "../io/anndata/fileHelpers.ts";
import { assertValidStructure } from "../io/anndata/validate.ts";
import type { StreamOptions } from "../core/streaming.ts";
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
    const stats = await accumulateGroupStats(reader, cellSlot, nSlots, false, {
      ...options,
      phase: "pseudo-bulk sums",
    });
    const kept: number[] = [];
    for (let s = 0; s < nSlots; s++) if (cells[s]! > 0) kept.push(s);
    const X = new Float64Array(kept.length * nGenes);
    for (let r = 0; r < kept.length; r++)
      X.set(stats.sums.subarray(kept[r]! * nGenes, (kept[r]! + 1) * nGenes), r * nGenes);
    const pertOf = kept.map((s) => pert.labels[Math.floor(s / nBy)]!);
    const byOf = kept.map((s) => by.labels[s % nBy]!);
    const names = kept.map((_, r) => (options.by ? `${pertOf[r]}${SEP}${byOf[r]}` : pertOf[r]!));
    if (new Set(names).size !== names.length)
      throw new InvalidArgumentError(`pseudo-bulk sample names are not unique (a label contains '${SEP}')`, {
        file: inputPath,
        hint: "rename the labels, or group by another column",
      });
    const ad = emptyAnnData(kept.length, nGenes);
    ad.X = ndarray(X, [kept.length, nGenes]);
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
    writeH5ad(outputPath, ad);
    return { outputPath, samples: kept.length, nVars: nGenes };
  } finally {
    h.close();
  }
}
