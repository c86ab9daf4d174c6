#!/usr/bin/env node
// Entry point: registers the TypeScript loader (see register.mjs), then hands over to the CLI.
await import("./register.mjs");
const { main } = await import("../src/cli/main.ts");
await main(process.argv);
