// The store seam (src/io/store.ts): outside src/io, code sees ReadStore/WriteStore and opens files through
// src/io/openStore.ts; nothing imports the HDF5 backend (src/io/h5/*) or h5wasm itself. A source scan, so a new
// import of the HDF5 class from an operator fails here rather than in review. (The zarr backend's format probe,
// isZarrStore, is used by the CLI's input checks; its reader is reached only through openStore.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { REPO } from "../cli/helpers.ts";

const SRC = join(REPO, "src");
const IO = join(SRC, "io");
const BACKENDS = [join(IO, "h5")];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(ts|mts|js|mjs)$/.test(e.name) ? [p] : [];
  });
}

/** Every module specifier a file imports or re-exports (static, dynamic, type-only). */
function specifiers(text: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^;'"]*?\sfrom\s*["']([^"']+)["']/g, // import … from "x", export … from "x"
    /\bimport\s*["']([^"']+)["']/g, // import "x"
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g, // import("x")
    /\bnew\s+URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url/g, // worker entry points
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) found.push(m[1]!);
  return found;
}

function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir + sep);
}

/** What in `file` crosses the seam: h5wasm, or a relative import that lands in a backend directory. */
function violations(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return specifiers(text).filter((s) => {
    if (s === "h5wasm" || s.startsWith("h5wasm/")) return true;
    if (!s.startsWith(".")) return false;
    const target = resolve(dirname(file), s);
    return BACKENDS.some((b) => isInside(target, b));
  });
}

test("layering: nothing outside src/io imports src/io/h5/* or h5wasm", () => {
  const outside = sourceFiles(SRC).filter((f) => !isInside(f, IO));
  assert.ok(outside.length > 50, `expected crispyx's sources under ${SRC}`);
  const bad = outside.flatMap((f) => violations(f).map((s) => `${relative(REPO, f)} imports ${s}`));
  assert.deepEqual(
    bad,
    [],
    "use ReadStore/WriteStore (src/io/store.ts) and openStore/openWriteStore (src/io/openStore.ts)",
  );
});

test("layering: the scan sees the imports it must refuse", () => {
  const probe = join(SRC, "ops", "probe.ts");
  const sample = [
    'import { H5File } from "../io/h5/file.ts";',
    'import type { CompoundMember } from "../io/h5/file.ts";',
    'export { isFileOpen } from "../io/h5/openFiles.ts";',
    'const m = await import("h5wasm/node");',
    'import type { TypedArray } from "../io/h5/types.ts";',
    'import { openStore } from "../io/openStore.ts";',
  ].join("\n");
  const found = specifiers(sample).filter(
    (s) => s.startsWith("h5wasm") || BACKENDS.some((b) => isInside(resolve(dirname(probe), s), b)),
  );
  assert.deepEqual(found.sort(), [
    "../io/h5/file.ts",
    "../io/h5/file.ts",
    "../io/h5/openFiles.ts",
    "../io/h5/types.ts",
    "h5wasm/node",
  ]);
});

/** Where src/io may reach outside itself: the shared core (streaming options, workers) and the error classes. */
const IO_MAY_IMPORT = [join(SRC, "core"), join(SRC, "errors.ts")];

test("layering: src/io imports nothing of the layers above it (ops, de, qc, cli, …)", () => {
  const bad = sourceFiles(IO).flatMap((f) =>
    specifiers(readFileSync(f, "utf8"))
      .filter((s) => s.startsWith("."))
      .map((s) => resolve(dirname(f), s))
      .filter((t) => isInside(t, SRC) && !isInside(t, IO) && !IO_MAY_IMPORT.some((ok) => isInside(t, ok)))
      .map((t) => `${relative(REPO, f)} imports ${relative(REPO, t)}`),
  );
  assert.deepEqual(bad, [], "move what src/io needs into src/io (as src/io/anndata/copyElements.ts was)");
});
