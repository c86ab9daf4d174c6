/**
 * The Wilcoxon rank-sum test (Scanpy's `method="wilcoxon"`, normal approximation): the statistics pass
 * gives the non-zero counts that size its gene chunks, then its own pass over gene columns ranks each
 * chunk on the worker threads (driver ../wilcoxon.ts, kernel ../wilcoxonKernel.ts). Memory: two chunks
 * within what the budget leaves after the run's result arrays.
 */
import type { DeMethodSpec } from "./types.ts";

export const wilcoxon = {
  name: "wilcoxon",
  aliases: [],
  storedName: "wilcoxon",
  label: "Wilcoxon",
  help: "gene blocks on worker threads (X stored as CSC is read fastest: 'crispyx convert')",
  input: "log-normalised",
  passes: { statistics: { squares: false }, columns: true },
  kernels: async () => {
    const [{ wilcoxonScores }, { RankSumScratch, rankSumGenes }] = await Promise.all([
      import("../wilcoxon.ts"),
      import("../wilcoxonKernel.ts"),
    ]);
    const scratch = new RankSumScratch(); // one per thread: kernels are loaded once per thread
    return {
      columnPass: (ctx) =>
        wilcoxonScores(ctx.reader, ctx.plan, ctx.stats, ctx.out, ctx.pool, {
          reservedBytes: ctx.reservedBytes,
          tieCorrect: ctx.options.tieCorrect ?? true,
          memoryBudget: ctx.options.memoryBudget,
          chunkSize: ctx.options.chunkSize,
          onProgress: ctx.options.onProgress,
          signal: ctx.options.signal,
          inputPath: ctx.inputPath,
        }),
      geneChunkKernel: (chunk, from, to, ctx) => rankSumGenes(chunk, from, to, ctx, scratch),
    };
  },
  parallelOver: "genes",
  extraColumns: [],
  params: (options) => ({ tie_correct: options.tieCorrect ?? true }),
} as const satisfies DeMethodSpec;
