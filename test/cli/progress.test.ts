import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { ProgressDisplay, formatSeconds } from "../../src/cli/progress.ts";
import { Context } from "../../src/cli/context.ts";

/** A stream that records what is written; `isTTY` makes it look like a terminal. */
function fakeStream(isTTY: boolean): NodeJS.WriteStream & { text: () => string } {
  const chunks: string[] = [];
  const s = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  }) as unknown as NodeJS.WriteStream & { text: () => string };
  Object.assign(s, { isTTY, columns: 120, text: () => chunks.join("") });
  return s;
}

function drive(display: ProgressDisplay) {
  for (let done = 0; done <= 1000; done += 250)
    display.onProgress({ phase: "normalizing", done, total: 1000, unit: "cells" });
  display.onProgress({ phase: "pass 2/2: writing", done: 1000, total: 1000, unit: "cells" });
  display.stop();
}

test("bars on a terminal: one per phase, with counts, rate and ETA", () => {
  const s = fakeStream(true);
  drive(new ProgressDisplay({ bars: true, logPhases: false, stream: s }));
  const text = s.text();
  assert.match(text, /normalizing \[.*\] 100% \| 1,000\/1,000 cells \| [\d,…]+ cells\/s \| ETA 0 s/);
  assert.match(text, /pass 2\/2: writing \[/);
  assert.doesNotMatch(text, /INF|NULL|NaN/, "an ETA is '…' until the rate is known");
});

test("no bars when not a terminal; --verbose logs one line per finished phase", () => {
  const quiet = fakeStream(false);
  drive(new ProgressDisplay({ bars: false, logPhases: false, stream: quiet }));
  assert.equal(quiet.text(), "");
  const verbose = fakeStream(false);
  drive(new ProgressDisplay({ bars: false, logPhases: true, stream: verbose }));
  const lines = verbose.text().trimEnd().split("\n");
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^normalizing: 1,000\/1,000 cells in \d+\.\d s$/);
  assert.match(lines[1]!, /^pass 2\/2: writing: 1,000\/1,000 cells in /);
});

test("the context passes --memory-limit on and draws bars only on a terminal without --quiet", () => {
  const tty = fakeStream(true);
  const ctx = new Context({ memoryLimit: 1 << 20 }, tty);
  const opts = ctx.stream();
  assert.equal(opts.memoryBudget, 1 << 20);
  opts.onProgress!({ phase: "x", done: 1, total: 2, unit: "cells" });
  ctx.finishStreams();
  assert.match(tty.text(), /x \[/);
  const q = fakeStream(true);
  const quiet = new Context({ quiet: true, verbose: true }, q);
  quiet.stream().onProgress!({ phase: "x", done: 1, total: 2, unit: "cells" });
  quiet.say("hello");
  quiet.finishStreams();
  assert.equal(q.text(), "");
  assert.equal(new Context({}).stream().memoryBudget, undefined);
});

test("durations read naturally", () => {
  assert.equal(formatSeconds(0.42), "0.4 s");
  assert.equal(formatSeconds(42), "42 s");
  assert.equal(formatSeconds(125), "2 min 5 s");
  assert.equal(formatSeconds(7300), "2 h 1 min");
});
