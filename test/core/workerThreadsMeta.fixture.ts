// Like workerThreads.fixture.ts, but reads import.meta, which a CommonJS bundle cannot provide.
import { parentPort } from "node:worker_threads";
import { argsortFloat64 } from "../../src/stats/argsort.ts";

parentPort!.postMessage({
  order: Array.from(argsortFloat64([3, 1, 2])),
  bundled: typeof require === "function",
  url: import.meta.url,
});
