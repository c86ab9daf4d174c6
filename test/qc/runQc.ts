// Child process for the kill test: runs qcSummary, printing "progress" on every block.
import { qcSummary } from "../../src/qc/qcSummary.ts";

const [input, json] = process.argv.slice(2);
const options = { ...JSON.parse(json ?? "{}"), onProgress: () => process.stdout.write("progress\n") };
await qcSummary(input!, options);
process.stdout.write("done\n");
