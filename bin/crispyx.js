#!/usr/bin/env node
// Entry point of the `crispyx` command. In a clone (src/ beside bin/) it runs the TypeScript sources
// through the loader (register.mjs), so an edit takes effect without a build and never meets a stale
// dist/. In the installed package (package.json "files" ships dist/, not src/) it runs the compiled
// JavaScript with plain Node: no tsx, no esbuild.
import { existsSync } from "node:fs";

const sources = new URL("../src/cli/main.ts", import.meta.url);
let main;
if (existsSync(sources)) {
  await import("./register.mjs");
  ({ main } = await import(sources.href));
} else {
  ({ main } = await import("../dist/cli/main.js"));
}
await main(process.argv);
// An error is an exit: once main() has reported a failure (exit status ≠ 0), nothing left running (a worker
// thread, a background writer, a timer) may keep the process alive or change the status. Standard streams
// are synchronous on Linux for files and pipes, so the message is out before the exit.
if (process.exitCode) process.exit(process.exitCode);
