#!/usr/bin/env node
// Entry point: registers the TypeScript loader, then hands over to the CLI.
import { register } from "node:module";
register("tsx/esm", import.meta.url);
const { main } = await import("../src/cli/main.ts");
await main(process.argv);
