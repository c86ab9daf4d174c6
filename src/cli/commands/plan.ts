/** `crispyx plan FILE`: block sizes for this file on this machine (or under --memory-limit). */
import type { Command } from "commander";
import { contextOf } from "../context.ts";
import { formatTextTable, recordsTable } from "../output.ts";
import { checkInputFile, formatBytes, integerOption, shownPath, withInput, writeJson } from "./common.ts";
import { columnCells } from "../output.ts";
import type { DeBatchPlan } from "../../de/batchedRun.ts";
import { deMethod } from "../../de/methods/registry.ts";

/** DE's passes over X under the budget, per method: batches of perturbations whose results fit (../../de/batchedRun.ts). */
function deLines(passes: Record<string, DeBatchPlan>, groups: number, genes: number): string[] {
  return Object.entries(passes).map(([method, p]) => {
    const n = p.batches.length;
    const what = `${formatBytes(p.allBytes)} of statistics and results for ${groups.toLocaleString("en-US")} perturbations × ${genes.toLocaleString("en-US")} genes`;
    // A method with its own pass over gene chunks (Wilcoxon, NB-GLM) reads X again per chunk (once per batch from CSC).
    const own = deMethod(method).passes.columns ? ", plus the method's own passes over gene chunks" : "";
    return n === 1
      ? `DE ${method}: 1 pass over X${own} (${what} fit, whatever the cells)`
      : `DE ${method}: ${n} passes over X${own} — ${what}; ${p.batches[0]![1] - p.batches[0]![0]} perturbations per pass (${formatBytes(p.batchBytes)} each) fit beside the streamed blocks; a killed run continues with --resume`;
  });
}

export function registerPlan(program: Command): void {
  program
    .command("plan")
    .summary("chunk sizes for each step, for this file and this machine's memory")
    .description(
      "Show the memory crispyx may use here (the machine's available memory, or the cgroup limit of a\n" +
        "SLURM job or container when smaller, or --memory-limit) and the block sizes each step would use\n" +
        "for this file, with the Python crispyx's planners: cells per block for cell-wise passes, genes per\n" +
        "block for DE, Wilcoxon, NB-GLM and PCA. Reads only the file's metadata.",
    )
    .argument("<file>", "the .h5ad file")
    .option(
      "-p, --perturbation-column <column>",
      "obs column with the perturbation labels, for the per-group estimates (default: detected)",
    )
    .option("--groups <n>", "number of perturbation groups (default: counted from the column)", integerOption(1))
    .option("--json", "print the plan as JSON")
    .action(
      async (file: string, opts: { perturbationColumn?: string; groups?: number; json?: boolean }, c: Command) => {
        const ctx = contextOf(c);
        checkInputFile(file);
        const { detectAvailableMemory } = await import("../../helpers/systemMemory.ts");
        const planners = await import("../../helpers/chunkPlanning.ts");
        const { estimateDenseMemoryGb } = await import("../../helpers/memoryEstimates.ts");
        const { rowsForBudget, rowsPerStreamBlock, STREAM_BLOCK_BYTES, DEFAULT_MEMORY_BUDGET } = await import(
          "../../core/streaming.ts"
        );
        const mem = detectAvailableMemory();
        const limit = ctx.memoryBudget;
        const usable = limit !== undefined ? Math.min(limit, mem.availableBytes) : mem.availableBytes;
        const gb = usable / 1e9;
        const info = await withInput(file, async (h) => {
          let column = opts.perturbationColumn;
          if (!column && !opts.groups) {
            const { detectPerturbationColumn } = await import("../../helpers/columnDetection.ts");
            column = detectPerturbationColumn(h) ?? undefined;
          }
          const groups = opts.groups ?? (column ? new Set(columnCells(h.obs.column(column))).size : null);
          return {
            n_obs: h.nObs,
            n_vars: h.nVars,
            format: h.hasX ? h.X.format : null,
            nnz: h.hasX ? h.X.info.nnz : 0,
            dtype: h.hasX ? h.X.info.dtype : null,
            column: column ?? null,
            groups,
          };
        });
        const nGroups = info.groups ? Math.max(1, info.groups - 1) : null; // perturbations compared with the control
        const explain: Record<string, string> = {};
        const log = (key: string) => (m: string) => {
          explain[key] = m;
        };
        const budget = limit ?? DEFAULT_MEMORY_BUDGET;
        const bytesPerRow =
          info.format === "dense" ? info.n_vars * 8 : Math.max(16, (info.nnz / Math.max(1, info.n_obs)) * 16);
        const steps = [
          {
            step: "streaming passes (normalize, filter)",
            unit: "cells",
            size: rowsPerStreamBlock(bytesPerRow, info.n_obs, { memoryBudget: budget }),
            basis: `--memory-limit ${formatBytes(budget)}${limit === undefined ? " (default)" : ""}, a quarter per block, at most ${formatBytes(STREAM_BLOCK_BYTES)}`,
          },
          {
            step: "streaming passes (QC)",
            unit: "cells",
            size: rowsForBudget(bytesPerRow, info.n_obs, { memoryBudget: budget }),
            basis: `--memory-limit ${formatBytes(budget)}${limit === undefined ? " (default)" : ""}, a quarter per block`,
          },
          {
            step: "cell-wise steps (seed planner)",
            unit: "cells",
            size: planners.calculateOptimalChunkSize(info.n_obs, info.n_vars, {
              availableMemoryGb: gb,
              log: log("cells"),
            }),
            basis: "calculate_optimal_chunk_size",
          },
          {
            step: "gene-wise DE (t-test)",
            unit: "genes",
            size: planners.calculateOptimalGeneChunkSize(info.n_obs, info.n_vars, {
              availableMemoryGb: gb,
              nGroups,
              log: log("genes"),
            }),
            basis: `calculate_optimal_gene_chunk_size${nGroups ? `, ${nGroups} groups` : ""}`,
          },
          {
            step: "Wilcoxon",
            unit: "genes",
            size: planners.calculateWilcoxonChunkSize(info.n_obs, info.n_vars, {
              availableMemoryGb: gb,
              log: log("wilcoxon"),
            }),
            basis: "calculate_wilcoxon_chunk_size",
          },
          {
            step: "NB-GLM",
            unit: "genes",
            size: planners.calculateNbGlmChunkSize(info.n_obs, info.n_vars, {
              availableMemoryGb: gb,
              nGroups,
              log: log("nbglm"),
            }),
            basis: "calculate_nb_glm_chunk_size",
          },
        ];
        const pca = planners.calculatePcaChunkSize(info.n_obs, info.n_vars, { availableMemoryGb: gb, log: log("pca") });
        steps.push({
          step: `PCA (${pca.method})`,
          unit: "cells",
          size: pca.chunkSize,
          basis: "calculate_pca_chunk_size",
        });
        const dense = estimateDenseMemoryGb(info.n_obs, info.n_vars, 1) * 1e9;
        // DE keeps its statistics and results in memory: O(perturbations × genes), whatever the cells.
        const { planDeBatches } = await import("../../de/batchedRun.ts");
        const { deMethods } = await import("../../de/methods/registry.ts");
        const dePasses = nGroups
          ? Object.fromEntries(deMethods().map((m) => [m.name, planDeBatches(nGroups, info.n_vars, m, budget)]))
          : null;
        const deBytes = dePasses ? Object.fromEntries(Object.entries(dePasses).map(([k, p]) => [k, p.allBytes])) : null;
        const plan = {
          file: info,
          memory: {
            available_bytes: mem.availableBytes,
            system_available_bytes: mem.systemAvailableBytes,
            cgroup_limit_bytes: mem.cgroupLimitBytes,
            source: mem.source,
            memory_limit_bytes: limit ?? null,
            usable_bytes: usable,
          },
          dense_X_bytes: dense,
          de_results_bytes: deBytes,
          de_passes: dePasses
            ? Object.fromEntries(
                Object.entries(dePasses).map(([k, p]) => [
                  k,
                  {
                    passes: p.batches.length,
                    perturbations_per_pass: p.batches[0]![1] - p.batches[0]![0],
                    batch_bytes: p.batchBytes,
                    reason: p.reason,
                  },
                ]),
              )
            : null,
          steps: steps.map((s) => ({ step: s.step, block_size: s.size, unit: s.unit, basis: s.basis })),
        };
        if (opts.json) {
          await writeJson(undefined, plan);
          return;
        }
        const lines = [
          `${shownPath(file)}: ${info.n_obs.toLocaleString("en-US")} cells × ${info.n_vars.toLocaleString("en-US")} genes, X ${info.format ?? "absent"} ${info.dtype ?? ""}, ${info.nnz.toLocaleString("en-US")} non-zeros; dense X would need ${formatBytes(dense)}`,
          `memory: ${formatBytes(usable)} usable (${limit !== undefined ? `--memory-limit ${formatBytes(limit)}; ` : ""}machine has ${formatBytes(mem.systemAvailableBytes)} available${mem.cgroupLimitBytes !== null ? `, cgroup limit ${formatBytes(mem.cgroupLimitBytes)}` : ""})`,
          info.column
            ? `groups: ${info.groups} in obs['${info.column}']`
            : info.groups
              ? `groups: ${info.groups}`
              : "groups: unknown (pass -p or --groups)",
          ...(dePasses ? deLines(dePasses, nGroups!, info.n_vars) : []),
          "",
          formatTextTable(
            recordsTable(steps.map((s) => ({ step: s.step, "block size": s.size, unit: s.unit, basis: s.basis }))),
          ),
        ];
        process.stdout.write(lines.join("\n") + "\n");
        for (const m of Object.values(explain)) ctx.detail(m);
      },
    );
}
