// Workers started from a bundle of their sources, and through the TypeScript loader when a bundle would
// not behave as the sources (here: the worker reads import.meta).
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { startBundledWorker } from "../../src/core/workerThreads.ts";

test("a worker runs from a bundle of its sources, .ts imports included", async () => {
  const w = startBundledWorker(new URL("./workerThreads.fixture.ts", import.meta.url));
  const [m] = await once(w, "message");
  assert.deepEqual(m, { order: [1, 2, 0], bundled: true });
  await w.terminate();
});

test("a worker whose sources use import.meta is loaded through the TypeScript loader and sees its own URL", async () => {
  const url = new URL("./workerThreadsMeta.fixture.ts", import.meta.url);
  const w = startBundledWorker(url);
  const [m] = await once(w, "message");
  assert.deepEqual(m, { order: [1, 2, 0], bundled: false, url: url.href });
  await w.terminate();
});

test("compiled (dist/), a worker starts from the .js twin of the .ts module it names, with no loader added", async () => {
  const { workerModule, workerExecArgv } = await import("../../src/core/workerThreads.ts");
  const entry = new URL("file:///pkg/dist/de/deWorker.ts");
  assert.equal(workerModule(entry, true).href, "file:///pkg/dist/de/deWorker.js");
  assert.equal(workerModule(entry, false).href, entry.href); // from sources: the .ts itself
  assert.equal(workerModule(new URL("file:///pkg/dist/x.js"), true).href, "file:///pkg/dist/x.js");
  assert.deepEqual(workerExecArgv(["--max-old-space-size=300", "--cpu-prof"], true), ["--cpu-prof"]);
  assert.ok(workerExecArgv(["--cpu-prof"], false).some((a) => a.endsWith("bin/register.mjs")));
});
