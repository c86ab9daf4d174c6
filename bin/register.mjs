// Loads crispyx's TypeScript sources through tsx, except h5wasm, which is handed to Node unchanged.
// Why: tsx rewrites every dynamic import() in plain JavaScript files and builds a source map for it;
// for h5wasm's 4 MB single-file WebAssembly build that costs ~4 s and ~600 MB of memory per process.
// Hooks registered later run first, so ours sees h5wasm before tsx does.
import { register as registerHook } from "node:module";
import { register as registerTsx } from "tsx/esm/api";

registerTsx();
registerHook("./native-deps-hook.mjs", import.meta.url);
