/**
 * Welch's t-test (Scanpy's `method="t-test"`): everything follows from the statistics pass's per-group
 * sums and sums of squares, so it needs ONE pass over X; its scores are computed per group while the
 * groups are finished, on the worker threads (kernel: ../tTest.ts).
 */
import type { DeMethodSpec } from "./types.ts";

export const tTest = {
  name: "t-test",
  aliases: ["t_test", "ttest"],
  storedName: "t_test",
  label: "t-test",
  help: "one pass over X",
  input: "log-normalised",
  passes: { statistics: { squares: true }, columns: false },
  kernels: async () => {
    const { welchGroup } = await import("../tTest.ts");
    return {
      groupScores: (stats, sizes, slot, r, offset) => welchGroup(stats, sizes, slot, r.scores, r.pvals, offset),
    };
  },
  parallelOver: "groups",
  extraColumns: [],
} as const satisfies DeMethodSpec;
