// Child process for the kill tests: runs one operator, printing "progress" on every block.
import { normalizeTotalLog1p } from "../../src/ops/normalize.ts";
import { writeFilteredSubset } from "../../src/ops/subset.ts";

const [op, input, output, json] = process.argv.slice(2);
const options = { ...JSON.parse(json ?? "{}"), output, onProgress: () => process.stdout.write("progress\n") };
const ops: Record<string, (input: string, o: any) => Promise<unknown>> = {
  normalize: normalizeTotalLog1p,
  subset: writeFilteredSubset,
};
const run = ops[op!];
if (!run) throw new Error(`unknown operator ${op}`);
await run(input!, options);
process.stdout.write("done\n");
