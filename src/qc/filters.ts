/**
 * The masks of QC, computed from the per-cell and per-gene numbers of ./metrics.ts, in the seed's order:
 * cells with too few detected genes go first, then perturbations with too few of the remaining cells
 * (never the control), then genes detected in too few of the cells that are left.
 */
import { CrispyxError, InvalidArgumentError } from "../errors.ts";
import { resolveControlLabel } from "../helpers/controlLabel.ts";
import type { LabelCodes } from "../ops/sort.ts";

/** Labels in the order their first cell appears (the order the seed scans them to infer the control). */
export function labelsInCellOrder(lc: LabelCodes): string[] {
  const first = new Float64Array(lc.labels.length).fill(Infinity);
  for (let i = 0; i < lc.codes.length; i++) if (first[lc.codes[i]!] === Infinity) first[lc.codes[i]!] = i;
  return lc.labels
    .map((_, k) => k)
    .filter((k) => first[k] !== Infinity)
    .sort((a, b) => first[a]! - first[b]!)
    .map((k) => lc.labels[k]!);
}

/** The control label: checked to occur when given, inferred as the seed does otherwise. */
export function controlLabelFor(
  lc: LabelCodes,
  given: string | null | undefined,
  file: string,
  column: string,
): string {
  const present = labelsInCellOrder(lc);
  if (given !== undefined && given !== null) {
    const label = String(given);
    if (!present.includes(label)) {
      throw new InvalidArgumentError(`control label '${label}' does not occur in obs['${column}']`, {
        file,
        hint: `labels: ${present.slice(0, 10).join(", ")}${present.length > 10 ? ", …" : ""}`,
      });
    }
    return label;
  }
  try {
    return resolveControlLabel(present, null);
  } catch (err) {
    if (err instanceof CrispyxError)
      throw new InvalidArgumentError(`obs['${column}']: ${err.message}`, { file, hint: err.hint });
    throw err;
  }
}

export interface PerturbationCount {
  label: string;
  /** Cells with this label in the input. */
  cells: number;
  /** Of those, cells with enough detected genes. */
  cellsPassingMinGenes: number;
  /** False when the perturbation is dropped for having fewer than the minimum cells. */
  kept: boolean;
}

export interface CellMasks {
  /** Cells kept by both filters. */
  keep: Uint8Array;
  nDroppedMinGenes: number;
  nDroppedSmallPerturbation: number;
  perturbations: PerturbationCount[];
}

/**
 * Keep a cell when it has at least `minGenes` detected genes and its perturbation has at least
 * `minCellsPerPerturbation` such cells, or is the control (filter_perturbations_by_cell_count).
 */
export function cellMasks(
  detectedGenes: Int32Array,
  lc: LabelCodes,
  control: string,
  minGenes: number,
  minCellsPerPerturbation: number,
): CellMasks {
  const nLabels = lc.labels.length;
  const cells = new Float64Array(nLabels);
  const passing = new Float64Array(nLabels);
  const n = detectedGenes.length;
  for (let i = 0; i < n; i++) {
    const c = lc.codes[i]!;
    cells[c]!++;
    if (detectedGenes[i]! >= minGenes) passing[c]!++;
  }
  const labelKept = lc.labels.map((l, k) => l === control || passing[k]! >= minCellsPerPerturbation);
  const keep = new Uint8Array(n);
  let nDroppedMinGenes = 0,
    nDroppedSmallPerturbation = 0;
  for (let i = 0; i < n; i++) {
    if (detectedGenes[i]! < minGenes) nDroppedMinGenes++;
    else if (!labelKept[lc.codes[i]!]) nDroppedSmallPerturbation++;
    else keep[i] = 1;
  }
  const codeOf = new Map(lc.labels.map((l, k) => [l, k]));
  const perturbations = labelsInCellOrder(lc).map((label) => {
    const k = codeOf.get(label)!;
    return { label, cells: cells[k]!, cellsPassingMinGenes: passing[k]!, kept: labelKept[k]! && passing[k]! > 0 };
  });
  return { keep, nDroppedMinGenes, nDroppedSmallPerturbation, perturbations };
}

/** Positions (sorted) of the cells whose `keep` entry equals `value`. */
export function cellsWhere(keep: Uint8Array, value: 0 | 1): Int32Array {
  let n = 0;
  for (let i = 0; i < keep.length; i++) if (keep[i] === value) n++;
  const out = new Int32Array(n);
  for (let i = 0, k = 0; i < keep.length; i++) if (keep[i] === value) out[k++] = i;
  return out;
}

/** Positions (sorted) of the cells that passed the gene filter but were dropped with their perturbation. */
export function droppedByPerturbation(detectedGenes: Int32Array, keep: Uint8Array, minGenes: number): Int32Array {
  let n = 0;
  for (let i = 0; i < keep.length; i++) if (!keep[i] && detectedGenes[i]! >= minGenes) n++;
  const out = new Int32Array(n);
  for (let i = 0, k = 0; i < keep.length; i++) if (!keep[i] && detectedGenes[i]! >= minGenes) out[k++] = i;
  return out;
}

/** Genes detected in at least `minCellsPerGene` kept cells (filter_genes_by_cell_count). */
export function geneMask(cellsPerGene: Float64Array, minCellsPerGene: number): Uint8Array {
  return Uint8Array.from(cellsPerGene, (c) => (c >= minCellsPerGene ? 1 : 0));
}

/** Mitochondrial genes: symbols starting with `prefix`, ignoring case (MT- in human, mt- in mouse). */
export function mitochondrialMask(symbols: readonly string[], prefix = "MT-"): Uint8Array {
  const p = prefix.toLowerCase();
  return Uint8Array.from(symbols, (s) => (s.toLowerCase().startsWith(p) ? 1 : 0));
}
