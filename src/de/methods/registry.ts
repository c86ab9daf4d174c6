/**
 * The DE methods: one module per method (./tTest.ts, ./wilcoxon.ts, ./nbGlm.ts,
 * ./pseudobulkNb.ts), one line each in BUILTIN. Everything
 * else — rankGenesGroups, the worker threads, the .h5ad and CSV writers, `crispyx de --method` (choices
 * and help), `crispyx plan`, `crispyx report` / `overlap` — reads the declarations (./types.ts) from here.
 * Lookups are a linear scan of a few entries; nothing here touches data.
 *
 * To add a DE method:
 *   1. Write `./<method>.ts` exporting a DeMethodSpec (`as const satisfies DeMethodSpec`): its name and
 *      aliases, the name stored in `uns['method']` (also the output suffix), its label and one help clause.
 *   2. Declare its input: "log-normalised" or "counts" (./inputs.ts holds each kind's check and fold change;
 *      a new kind is one entry there).
 *   3. Declare its passes over X: the statistics pass always runs (`squares` if it needs sums of squares),
 *      and `columns: true` if it has a pass of its own over gene chunks. Its code comes from `kernels()`
 *      (a dynamic import, so that the CLI reads declarations without loading it): scores and p-values
 *      from `groupScores` (per group, from the statistics: no further pass) and/or a `columnPass`, with a
 *      `geneChunkKernel` for the worker threads.
 *   4. Declare the columns it adds to Scanpy's (`extraColumns`: a layer and a CSV column each, filled by
 *      `groupScores` into `results.extra[key]`) and the params it adds to `rank_genes_groups`.
 *   5. Add one line to BUILTIN below (its worker kernels then run on the worker threads too; a method
 *      registered at run time with registerDeMethod runs its kernels on the calling thread).
 *   6. Test it against an independent reference (test/de/); test/de/methodRegistry.test.ts shows a method
 *      needing counts going through rankGenesGroups end to end with no other file changed.
 * Memory the planner needs comes from the declaration (../finishGroups.ts deResultBytes: statistics with or
 * without squares, Scanpy's columns, the extras); a method with a larger working set reports it in its pass.
 */
import { InvalidArgumentError } from "../../errors.ts";
import { SCANPY_COLUMNS } from "./columns.ts";
import { tTest } from "./tTest.ts";
import { wilcoxon } from "./wilcoxon.ts";
import { nbGlm } from "./nbGlm.ts";
import { pseudobulkNb } from "./pseudobulkNb.ts";
import type { DeMethodKernels, DeMethodSpec } from "./types.ts";

export type { DeMethodKernels, DeMethodSpec } from "./types.ts";

/** The built-in methods, in the order help and `--method` list them; the first is the default. */
const BUILTIN = [tTest, wilcoxon, nbGlm, pseudobulkNb] as const;

/** Names of the built-in methods (the API's DeMethod type). */
export type BuiltinDeMethod = (typeof BUILTIN)[number]["name"];

export const DEFAULT_DE_METHOD: BuiltinDeMethod = BUILTIN[0].name;

const methods: DeMethodSpec[] = [...BUILTIN];

/** Every registered method, built-in first. */
export function deMethods(): readonly DeMethodSpec[] {
  return methods;
}

/** Canonical names, in order (the CLI's `--method` choices). */
export function deMethodNames(): string[] {
  return methods.map((m) => m.name);
}

/** The method named `name` or one of its aliases (case-sensitive, as the CLI's choices), or undefined. */
export function findDeMethod(name: string): DeMethodSpec | undefined {
  return methods.find((m) => m.name === name || m.aliases.includes(name));
}

/** The method named `name` (or an alias); an unknown name is an InvalidArgumentError listing the choices. */
export function deMethod(name: string): DeMethodSpec {
  const m = findDeMethod(name);
  if (!m)
    throw new InvalidArgumentError(`unknown DE method '${String(name)}'`, {
      hint: `use ${deMethodNames()
        .map((n) => `'${n}'`)
        .join(" or ")}`,
    });
  return m;
}

/** The method whose result files say `stored` in `uns['method']`, if any. */
export function deMethodByStoredName(stored: string): DeMethodSpec | undefined {
  return methods.find((m) => m.storedName === stored);
}

const loaded = new Map<DeMethodSpec, Promise<DeMethodKernels>>();

/**
 * The method's code, loaded once per thread; checked against its declaration (scores must come from
 * somewhere; a declared column pass must exist).
 */
export function loadDeKernels(spec: DeMethodSpec): Promise<DeMethodKernels> {
  let p = loaded.get(spec);
  if (!p) {
    p = spec.kernels().then((k) => {
      if (!k.groupScores && !k.columnPass)
        throw new InvalidArgumentError(`DE method '${spec.name}' computes no scores`, {
          hint: "its kernels() must give groupScores, a columnPass, or both",
        });
      if (spec.passes.columns !== Boolean(k.columnPass))
        throw new InvalidArgumentError(
          `DE method '${spec.name}': passes.columns says ${spec.passes.columns} but kernels() ${k.columnPass ? "gives" : "lacks"} a columnPass`,
        );
      return k;
    });
    loaded.set(spec, p);
  }
  return p;
}

/** Built-in: the worker threads (which import this module) know it, so its kernels may run there. */
export function isBuiltinDeMethod(m: DeMethodSpec): boolean {
  return (BUILTIN as readonly DeMethodSpec[]).includes(m);
}

/**
 * Add a method at run time (plugins, tests). Its names must be new and its declaration complete; its
 * kernels run on the calling thread (worker threads know only BUILTIN). Returns a function that removes it.
 */
export function registerDeMethod(spec: DeMethodSpec): () => void {
  for (const n of [spec.name, ...spec.aliases, spec.storedName]) {
    if (findDeMethod(n) || deMethodByStoredName(n))
      throw new InvalidArgumentError(`DE method name '${n}' is already taken`, {
        hint: `registered: ${deMethodNames().join(", ")}`,
      });
  }
  const taken = new Set([...SCANPY_COLUMNS.flatMap((c) => [c.key, c.layer, ...c.csv]), "perturbation", "gene"]);
  for (const c of spec.extraColumns) {
    if (taken.has(c.key) || taken.has(c.csv))
      throw new InvalidArgumentError(`DE method '${spec.name}': column '${c.key}' (CSV '${c.csv}') is taken`, {
        hint: "give each extra column new layer and CSV names",
      });
    taken.add(c.key).add(c.csv);
  }
  methods.push(spec);
  return () => {
    const i = methods.indexOf(spec);
    if (i >= 0) methods.splice(i, 1);
  };
}
