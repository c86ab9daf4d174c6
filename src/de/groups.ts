/**
 * Which cells are compared: the control cells and, for each tested perturbation, its cells. Labels are
 * read once as integer codes (no per-cell strings), and each cell gets a slot: 0 for control, 1..G for
 * the tested groups, -1 for cells in no compared group.
 */
import type { ReadStore } from "../io/store.ts";
import { InvalidArgumentError } from "../errors.ts";
import { encodingOf, kindOfEncoding } from "../io/anndata/registry.ts";
import { readColumn } from "../io/anndata/encodings/dataframe.ts";
import { isLegacyTable } from "../io/anndata/encodings/legacyDataframe.ts";
import { readLabelCodes } from "../ops/sort.ts";
import { resolveControlLabel } from "../helpers/controlLabel.ts";
import { codePointCompare } from "../helpers/pythonText.ts";

/** A perturbation that was not tested, and why. */
export interface SkippedGroup {
  group: string;
  cells: number;
  reason: string;
}

export interface GroupPlan {
  controlLabel: string;
  /** Tested perturbations, in Scanpy's order (category order; sorted labels for a text column). */
  groups: string[];
  /** Per cell: 0 = control, k = groups[k-1], -1 = not compared. */
  cellSlot: Int32Array;
  /** Cells per slot (slot 0 = control). */
  sizes: Int32Array;
  skipped: SkippedGroup[];
  /** When this plan is one batch of a run (../batchedRun.ts batchPlan): the whole run's cellSlot and sizes. */
  run?: { cellSlot: Int32Array; sizes: Int32Array };
}

export interface GroupPlanOptions {
  perturbationColumn: string;
  controlLabel?: string | null;
  /** Only these perturbations (default: every non-control label). */
  groups?: readonly string[];
  /** Groups (and the control) with fewer cells are not tested (default 2: Scanpy refuses singletons). */
  minCellsPerGroup: number;
}

export function planGroups(file: ReadStore, opts: GroupPlanOptions): GroupPlan {
  const { codes, labels } = readLabelCodes(file, opts.perturbationColumn);
  const counts = new Int32Array(labels.length);
  const firstCell = new Float64Array(labels.length).fill(Infinity);
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (counts[c]++ === 0) firstCell[c] = i;
  }
  const present = labels.map((_, k) => k).filter((k) => counts[k]! > 0);
  // The seed scans labels in cell order to infer the control; do the same on the distinct labels.
  const inCellOrder = [...present].sort((a, b) => firstCell[a]! - firstCell[b]!).map((k) => labels[k]!);
  const controlLabel = resolveControlLabel(inCellOrder, opts.controlLabel ?? null);
  const codeOf = new Map(labels.map((l, k) => [l, k]));
  const controlCode = codeOf.get(controlLabel);
  if (controlCode === undefined || counts[controlCode] === 0) {
    throw new InvalidArgumentError(
      `no cell has the control label '${controlLabel}' in obs['${opts.perturbationColumn}']`,
      {
        file: file.path,
        hint: `labels include: ${inCellOrder.slice(0, 8).join(", ")}${inCellOrder.length > 8 ? ", …" : ""}`,
      },
    );
  }
  const controlCells = counts[controlCode]!;
  if (controlCells < Math.max(2, opts.minCellsPerGroup)) {
    throw new InvalidArgumentError(
      `the control group '${controlLabel}' has ${controlCells} cell(s); at least ${Math.max(2, opts.minCellsPerGroup)} are needed`,
      { file: file.path },
    );
  }

  // Scanpy's group order: category order for a categorical column, sorted labels otherwise.
  const categoricalColumn = isLegacyTable(file, "/obs") // pre-0.7 compound obs: no per-column element to ask
    ? readColumn(file, "/obs", opts.perturbationColumn).type === "categorical"
    : kindOfEncoding(encodingOf(file, `/obs/${opts.perturbationColumn}`)?.type ?? "") === "categorical";
  let candidates = present.filter((k) => k !== controlCode);
  if (!categoricalColumn) candidates.sort((a, b) => codePointCompare(labels[a]!, labels[b]!));
  const skipped: SkippedGroup[] = [];
  if (opts.groups) {
    const wanted = new Set(opts.groups.map(String));
    if (wanted.has(controlLabel))
      skipped.push({ group: controlLabel, cells: controlCells, reason: "is the control group" });
    for (const g of wanted) {
      if (g === controlLabel) continue;
      const k = codeOf.get(g);
      if (k === undefined || counts[k] === 0)
        skipped.push({ group: g, cells: 0, reason: `no cell has this label in obs['${opts.perturbationColumn}']` });
    }
    candidates = candidates.filter((k) => wanted.has(labels[k]!));
  }
  const tested: number[] = [];
  for (const k of candidates) {
    if (counts[k]! < opts.minCellsPerGroup) {
      skipped.push({
        group: labels[k]!,
        cells: counts[k]!,
        reason: `fewer than ${opts.minCellsPerGroup} cells (minCellsPerGroup)`,
      });
    } else tested.push(k);
  }
  if (tested.length === 0) {
    throw new InvalidArgumentError(`no perturbation left to test against '${controlLabel}'`, {
      file: file.path,
      hint: skipped.length
        ? `skipped: ${skipped
            .slice(0, 5)
            .map((s) => `${s.group} (${s.reason})`)
            .join("; ")}`
        : "the column holds only the control label",
    });
  }
  const slotOfCode = new Int32Array(labels.length).fill(-1);
  slotOfCode[controlCode] = 0;
  tested.forEach((k, i) => {
    slotOfCode[k] = i + 1;
  });
  const cellSlot = new Int32Array(codes.length);
  for (let i = 0; i < codes.length; i++) cellSlot[i] = slotOfCode[codes[i]!]!;
  const sizes = Int32Array.from([controlCode, ...tested], (k) => counts[k]!);
  return { controlLabel, groups: tested.map((k) => labels[k]!), cellSlot, sizes, skipped };
}
