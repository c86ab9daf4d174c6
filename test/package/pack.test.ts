/**
 * The published package works as a user gets it: `npm pack` (which builds dist/ through "prepare"), the
 * tarball installed into an empty project from the local npm cache (no network), then the CLI through
 * npx, the library from plain Node (no TypeScript loader), worker threads started from compiled files,
 * and a TypeScript consumer checked against the installed declarations.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { consumerLockfile } from "./consumerLock.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURES = join(REPO, "test", "fixtures", "de");
const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
};
const tmp = mkdtempSync(join(tmpdir(), "crispyx-pack-"));
const consumer = join(tmp, "consumer");
after(() => rmSync(tmp, { recursive: true, force: true }));

// Children get neither this test run's loader (NODE_OPTIONS) nor the npm_* settings of an enclosing `npm test`.
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k !== "NODE_OPTIONS" && !k.startsWith("npm_")),
);
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const npx = process.platform === "win32" ? "npx.cmd" : "npx";

function run(cmd: string, args: string[], options: SpawnSyncOptions = {}): { stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd: consumer, env, encoding: "utf8", maxBuffer: 64 << 20, ...options });
  const stdout = String(r.stdout ?? ""),
    stderr = String(r.stderr ?? "");
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} exited ${r.status ?? r.signal}:\n${stdout}\n${stderr}`);
  return { stdout, stderr };
}

let packed: { filename: string; files: { path: string }[]; size: number };

before(
  () => {
    // "prepare" builds dist/ (tsc) before packing; --json lists what went in.
    const { stdout } = run(npm, ["pack", "--json", "--pack-destination", tmp], { cwd: REPO });
    packed = (JSON.parse(stdout.slice(stdout.indexOf("[\n"))) as (typeof packed)[])[0]!;
    const tarball = join(tmp, packed.filename);
    mkdirSync(consumer);
    // npm ci from a lockfile naming the exact tarballs: served from the cache, no registry metadata needed
    // (consumerLock.ts says why `npm install --offline <tarball>` cannot do this).
    const integrity = `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`;
    writeFileSync(
      join(consumer, "package.json"),
      JSON.stringify({
        name: "consumer",
        version: "1.0.0",
        private: true,
        type: "module",
        dependencies: { [pkg.name]: `file:${tarball}` },
      }),
    );
    writeFileSync(
      join(consumer, "package-lock.json"),
      JSON.stringify(consumerLockfile(join(REPO, "package-lock.json"), pkg, { file: tarball, integrity })),
    );
    run(npm, ["ci", "--offline", "--no-audit", "--no-fund", "--loglevel=error"]);
  },
  { timeout: 180_000 },
);

test("the tarball holds the compiled package, its bin and docs, and no sources or test files", () => {
  const paths = new Set(packed.files.map((f) => f.path));
  for (const p of [
    "package.json",
    "README.md",
    "CHANGELOG.md",
    "bin/crispyx.js",
    "dist/index.js",
    "dist/index.d.ts",
    "dist/cli/main.js",
    "dist/de/deWorker.js",
    "dist/io/anndata/backgroundWriterThread.js",
  ]) {
    assert.ok(paths.has(p), `${p} in the tarball`);
  }
  const stray = [...paths].filter(
    (p) => !/^(package\.json|README\.md|CHANGELOG\.md|bin\/crispyx\.js|dist\/.*\.(js|d\.ts))$/.test(p),
  );
  assert.deepEqual(stray, []);
});

test("installed: run-time dependencies only (no tsx, no esbuild, no TypeScript)", () => {
  assert.ok(existsSync(join(consumer, "node_modules", pkg.name, "dist", "index.js")));
  for (const dev of ["tsx", "esbuild", "typescript"])
    assert.ok(!existsSync(join(consumer, "node_modules", dev)), `${dev} not installed`);
  for (const dep of Object.keys(pkg.dependencies))
    assert.ok(existsSync(join(consumer, "node_modules", dep, "package.json")), `${dep} installed`);
});

test("npx crispyx --version prints package.json's version; --help lists the commands", () => {
  assert.equal(run(npx, ["--no", "--", "crispyx", "--version"]).stdout.trim(), pkg.version);
  const help = run(npx, ["--no", "--", "crispyx", "--help"]).stdout;
  assert.match(help, /^Usage: crispyx /);
  for (const cmd of ["info", "de", "normalize", "report"]) assert.match(help, new RegExp(`\\n  ${cmd} `), cmd);
});

test("plain node imports the package: openH5ad, and a subset whose X is written on a worker thread", () => {
  // A CSC input has no precomputed output nnz, so X goes through the background writer (a worker).
  const script = `import("crispyx").then(async (m) => {
    const h = m.openH5ad(process.argv[1]);
    const shape = h.shape;
    h.close();
    const r = await m.writeFilteredSubset(process.argv[1], { output: "subset.h5ad", cellMask: Array.from({ length: shape[0] }, (_, i) => i % 2 === 0), background: true });
    const s = m.openH5ad("subset.h5ad");
    console.log(JSON.stringify({ shape, subset: s.shape, nnz: r.nnz }));
    s.close();
  })`;
  const out = JSON.parse(run(process.execPath, ["-e", script, join(FIXTURES, "screen_csc.h5ad")]).stdout) as {
    shape: number[];
    subset: number[];
    nnz: number;
  };
  assert.deepEqual(out.shape, [262, 150]);
  assert.deepEqual(out.subset, [131, 150]);
  assert.ok(out.nnz > 0);
});

test("plain node reads zstd- and blosc-compressed X through h5wasm-plugins, resolved from dist/", () => {
  // The plugins folder is found from the compiled module's own URL (src/io/h5/filters.ts).
  const script = `import("crispyx").then((m) => {
    const values = (f) => {
      const h = m.openH5ad(f), out = [];
      for (const { block } of m.iterMatrixChunks(h, { chunkSize: 50, dense: false })) out.push(...Array.from(block.data, Number));
      h.close();
      return out;
    };
    const dir = process.argv[1];
    console.log(JSON.stringify(["plain_csr", "zstd_csr", "blosc_zstd_csr"].map((n) => values(dir + "/" + n + ".h5ad"))));
  })`;
  const [plain, zstd, blosc] = JSON.parse(
    run(process.execPath, ["-e", script, join(REPO, "test", "fixtures", "h5ad-filters")]).stdout,
  ) as number[][];
  assert.ok(plain!.length > 0);
  assert.deepEqual(zstd, plain);
  assert.deepEqual(blosc, plain);
});

test("crispyx de (Wilcoxon, 2 worker threads, CSV worker) runs from dist", () => {
  run(npx, [
    "--no",
    "--",
    "crispyx",
    "--quiet",
    "de",
    join(FIXTURES, "screen_csr.h5ad"),
    "--method",
    "wilcoxon",
    "--workers",
    "2",
    "-o",
    "de.h5ad",
  ]);
  const csv = readFileSync(join(consumer, "de.csv"), "utf8").trimEnd().split("\n");
  assert.equal(csv.length, 1 + 6 * 150, "header + 6 perturbations × 150 genes"); // SINGLE (1 cell) is skipped
  const info = run(npx, ["--no", "--", "crispyx", "info", "de.h5ad"]).stdout;
  assert.match(info, /n_obs × n_vars = 6 × 150/);
});

test("a TypeScript consumer type-checks against the installed declarations", () => {
  writeFileSync(
    join(consumer, "use.ts"),
    `import { openH5ad, rankGenesGroups, type StreamOptions } from "crispyx";
const h = openH5ad("x.h5ad");
const n: number = h.nObs;
// @ts-expect-error: nObs is a number (fails if the declarations were missing or typed any)
const wrong: string = h.nObs;
const opts: StreamOptions = { memoryBudget: 1 << 20 };
export const pending = rankGenesGroups("x.h5ad", { perturbationColumn: "perturbation", method: "t-test", ...opts });
console.log(n, wrong);
`,
  );
  // A strict NodeNext project of its own (not the repository's settings); @types/node as any Node project has it.
  writeFileSync(
    join(consumer, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        module: "NodeNext",
        moduleResolution: "NodeNext",
        target: "ES2022",
        strict: true,
        noEmit: true,
        types: ["node"],
        typeRoots: [join(REPO, "node_modules", "@types")],
      },
      files: ["use.ts"],
    }),
  );
  run(process.execPath, [join(REPO, "node_modules", "typescript", "bin", "tsc"), "-p", "."]);
});
