// A worker for test/core/workerThreads.test.ts: answers with a value computed by a .ts import and with
// how it was loaded (a CommonJS bundle has `require`; an ES module through the loader has not).
import { parentPort } from "node:worker_threads";
import { argsortFloat64 } from "../../src/stats/argsort.ts";

parentPort!.postMessage({ order: Array.from(argsortFloat64([3, 1, 2])), bundled: typeof require === "function" });
