// Module hook: serve h5wasm's own JavaScript files as-is (see register.mjs for why).
import { readFile } from "node:fs/promises";

export async function load(url, context, nextLoad) {
  if (url.startsWith("file:") && url.includes("/node_modules/h5wasm/dist/")) {
    return { format: "module", source: await readFile(new URL(url)), shortCircuit: true };
  }
  return nextLoad(url, context);
}
