/**
 * Which perturbation label marks the control cells. Screens name their controls many ways (NTC,
 * non-targeting, ctrl, scramble…); these are the seed's vocabularies and its inference rule.
 */
import { InvalidArgumentError } from "../errors.ts";
import { pyLower } from "./pythonText.ts";

/** Labels that `normalizePerturbationLabels` maps to the canonical control (compared lower-cased). */
export const DEFAULT_CONTROL_ALIASES: ReadonlySet<string> = new Set([
  "ntc",
  "non-targeting",
  "non_targeting",
  "nontarget",
  "non-target",
  "non_target",
  "control",
  "ctrl",
  "scramble",
  "scrambled",
  "non-targeting control",
  "non-targeting-control",
]);

/** Values whose presence marks a column as holding perturbation labels (column detection). */
export const CONTROL_TERMS: ReadonlySet<string> = new Set([
  "ctrl",
  "control",
  "nontarget",
  "non-target",
  "non_target",
  "ntc",
  "scramble",
  "scrambled",
]);

const EXACT_TERMS = new Set(["ctrl", "control", "nontarget", "non-target", "non_target"]);
const SUBSTRING_TERMS = ["ctrl", "control", "nontarget", "non-target", "non_target"];

export interface ResolveControlLabelOptions {
  /** Report the inferred label through `log`. Default false. */
  verbose?: boolean;
  /** Where verbose messages go (default: console.error). */
  log?: (message: string) => void;
}

/**
 * The control label to use: `controlLabel` itself when given, otherwise inferred from `labels` as the
 * seed does — the first label (in the order given) that, lower-cased, is exactly one of ctrl / control /
 * nontarget / non-target / non_target; else the first containing one of them; else the first containing
 * both "non" and "target". Where the seed gives up, one more rule: the first label that is exactly one
 * of the control spellings `normalizePerturbationLabels` knows (NTC, scramble…; DEFAULT_CONTROL_ALIASES)
 * — 'NTC' is what that normaliser writes, and the seed could not find it again.
 *
 * @param labels perturbation labels (one per cell, or the distinct ones; order decides ties)
 * @param controlLabel an explicit control label, returned unchanged
 * @throws InvalidArgumentError when `labels` is empty or no label looks like a control
 */
export function resolveControlLabel(
  labels: Iterable<string>,
  controlLabel?: string | null,
  options: ResolveControlLabelOptions = {},
): string {
  if (controlLabel !== undefined && controlLabel !== null) return String(controlLabel);
  const list = Array.isArray(labels) ? (labels as string[]) : [...labels];
  if (list.length === 0) {
    throw new InvalidArgumentError("cannot infer the control label: no perturbation labels were given");
  }
  const lower = list.map((l) => pyLower(String(l)));
  const pick = (pred: (text: string) => boolean): string | undefined => {
    const i = lower.findIndex(pred);
    return i < 0 ? undefined : String(list[i]);
  };
  const candidate =
    pick((t) => EXACT_TERMS.has(t)) ??
    pick((t) => SUBSTRING_TERMS.some((term) => t.includes(term))) ??
    pick((t) => t.includes("non") && t.includes("target")) ??
    pick((t) => DEFAULT_CONTROL_ALIASES.has(t));
  if (candidate === undefined) {
    const distinct = [...new Set(list)];
    const shown = distinct
      .slice(0, 10)
      .map((l) => `'${l}'`)
      .join(", ");
    throw new InvalidArgumentError(
      `cannot infer the control label: none of the labels looks like a control (${shown}${distinct.length > 10 ? ", …" : ""})`,
      { hint: "name it explicitly with the control label option (e.g. --control NTC)" },
    );
  }
  if (options.verbose)
    (options.log ?? console.error)(`Inferred control label '${candidate}' from perturbation labels.`);
  return candidate;
}
