/**
 * Pairwise overlap between named sets (hit genes of several screens, perturbations of several files…):
 * intersection sizes and Jaccard similarities, as the seed's `compute_overlap`.
 */
import { InvalidArgumentError } from "../errors.ts";

export type OverlapMetric = "count" | "jaccard" | "both";

/** Named sets: a Map or an array of [name, items] pairs keep their order; a plain object is also accepted. */
export type NamedSets<T> =
  | Map<string, Iterable<T>>
  | ReadonlyArray<readonly [string, Iterable<T>]>
  | Record<string, Iterable<T>>;

export interface OverlapOptions {
  /** Which matrices to fill: "count", "jaccard" or "both" (default). The other stays all zeros, as in the seed. */
  metric?: OverlapMetric;
}

export interface OverlapResult {
  /** Set names, in input order: the rows and columns of both matrices. */
  names: string[];
  /** countMatrix[i][j] = |set i ∩ set j| (the diagonal holds each set's size). */
  countMatrix: number[][];
  /** jaccardMatrix[i][j] = |i ∩ j| / |i ∪ j|, 0 when both sets are empty. */
  jaccardMatrix: number[][];
  /** Distinct items per set (duplicates in the input count once), aligned with `names`. */
  setSizes: number[];
}

function entriesOf<T>(sets: NamedSets<T>): [string, Iterable<T>][] {
  if (sets instanceof Map) return [...sets.entries()];
  if (Array.isArray(sets)) return sets.map(([k, v]) => [k, v] as [string, Iterable<T>]);
  return Object.entries(sets as Record<string, Iterable<T>>);
}

/**
 * Pairwise intersection counts and Jaccard similarities between named sets.
 *
 * Note: a plain object orders integer-like keys ("1", "2") first (a JavaScript rule); pass a Map or
 * an array of pairs to keep another order.
 *
 * @example computeOverlap(new Map([["A", ["BRCA1", "TP53", "EGFR"]], ["B", ["TP53", "KRAS"]]]))
 *   // names ["A","B"], countMatrix [[3,1],[1,2]], jaccardMatrix [[1,0.25],[0.25,1]], setSizes [3,2]
 * @throws InvalidArgumentError for an unknown metric, a repeated name, or a set that is not iterable
 */
export function computeOverlap<T>(sets: NamedSets<T>, options: OverlapOptions = {}): OverlapResult {
  const metric = options.metric ?? "both";
  if (metric !== "count" && metric !== "jaccard" && metric !== "both") {
    throw new InvalidArgumentError(`overlap metric must be count, jaccard or both, got '${String(metric)}'`);
  }
  const entries = entriesOf(sets);
  const names: string[] = [];
  const distinct: Set<T>[] = [];
  const seen = new Set<string>();
  for (const [name, items] of entries) {
    if (seen.has(name)) throw new InvalidArgumentError(`set name '${name}' is given twice`);
    if (
      items === null ||
      items === undefined ||
      typeof (items as Iterable<T>)[Symbol.iterator] !== "function" ||
      typeof items === "string"
    ) {
      throw new InvalidArgumentError(`set '${name}' must be a list or set of items`);
    }
    seen.add(name);
    names.push(name);
    distinct.push(items instanceof Set ? items : new Set(items));
  }
  const n = names.length;
  const zeros = (): number[][] => Array.from({ length: n }, () => new Array<number>(n).fill(0));
  const countMatrix = zeros();
  const jaccardMatrix = zeros();
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const a = distinct[i]!,
        b = distinct[j]!;
      const [small, large] = a.size <= b.size ? [a, b] : [b, a];
      let inter = 0;
      for (const x of small) if (large.has(x)) inter++;
      if (metric !== "jaccard") countMatrix[i]![j] = countMatrix[j]![i] = inter;
      if (metric !== "count") {
        const union = a.size + b.size - inter;
        jaccardMatrix[i]![j] = jaccardMatrix[j]![i] = union > 0 ? inter / union : 0;
      }
    }
  }
  return { names, countMatrix, jaccardMatrix, setSizes: distinct.map((s) => s.size) };
}
