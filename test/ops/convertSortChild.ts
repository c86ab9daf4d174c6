// Child process for the SIGKILL tests of convert/sort/standardize: runs one operator and, at its first
// progress report, prints "progress" and blocks, so the parent kills it while the output is half written.
import { convertToCsc, convertToCsr } from "../../src/ops/convert.ts";
import { sortByPerturbation } from "../../src/ops/sort.ts";
import { standardizeDataset } from "../../src/ops/standardize.ts";

const [op, input, json] = process.argv.slice(2);
let reported = false;
const onProgress = () => {
  if (reported) return;
  reported = true;
  process.stdout.write("progress\n");
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
};
const options = { ...JSON.parse(json ?? "{}"), onProgress };
const ops: Record<string, (input: string, o: any) => Promise<unknown>> = {
  convertToCsc,
  convertToCsr,
  sortByPerturbation,
  standardizeDataset,
};
const run = ops[op!];
if (!run) throw new Error(`unknown operator ${op}`);
await run(input!, options);
process.stdout.write("done\n");
