/**
 * Test-only fault injection, for the tests of "an error is an exit" (test/cli/errorExit.test.ts): code that
 * has no natural way to fail from the command line is made to fail, or to stall, on request.
 *
 *   CRISPYX_TEST_FAULT=<point>[:<action>][@<detail>]
 *
 * Actions: `throw` (the default: an Error), `exit` (the thread ends at once without a word, as a worker
 * thread out of memory does), `stall` (the thread blocks for two minutes: a run held mid-way, busy, for a
 * signal to find). With `@<detail>` only calls whose detail starts with it. Points: `de-worker` (a DE
 * worker thread's task, ../de/deWorker.ts) and `progress` (the CLI's progress callback, which timers call
 * too; detail: the phase). Unset — always, outside tests — a call costs one comparison.
 */
const FAULT = process.env.CRISPYX_TEST_FAULT ?? "";
const STALL_MS = 120_000;

export function testFault(point: string, detail = ""): void {
  if (FAULT === "") return;
  const m = /^([^:@]+)(?::(throw|exit|stall))?(?:@(.*))?$/.exec(FAULT);
  if (!m || m[1] !== point || !detail.startsWith(m[3] ?? "")) return;
  if (m[2] === "exit") process.exit(70);
  if (m[2] === "stall") Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, STALL_MS);
  else throw new Error(`injected fault at '${point}' (CRISPYX_TEST_FAULT)`);
}
