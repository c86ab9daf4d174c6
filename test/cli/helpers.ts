/** Running the real `crispyx` executable in tests, and checking its output files with anndata. */
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const CLI = join(REPO, "bin", "crispyx.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `node bin/crispyx.js ...args` (stdin from `input`); never throws on a non-zero exit. */
export function crispyx(
  args: string[],
  options: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      {
        cwd: options.cwd ?? REPO,
        env: { ...process.env, ...options.env },
        maxBuffer: 256 << 20,
        encoding: "utf8",
      },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === "number"
            ? (err as { code: number }).code
            : 1
          : 0;
        done({ code, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin!.end(options.input);
    else child.stdin!.end();
  });
}

export function tempDir(prefix = "crispyx-cli-"): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

// The reference Python (Debian's anndata 0.8 unless $CRISPYX_PYTHON says otherwise) is found in one place,
// test/helpers/anndataChecker.ts; null outside CI when there is none, an error under CI=true.
export { referencePython, SKIP_MESSAGE as NO_PYTHON } from "../helpers/anndataChecker.ts";

/**
 * Read a file with anndata.read_h5ad and return what the script prints as JSON. The script gets
 * `adata` (and `np`, `pd`) and must assign a JSON-serialisable value to `out`.
 */
export function withAnndata(python: string, file: string, script: string): unknown {
  const code = [
    "import sys, json, warnings",
    "import numpy as np, pandas as pd, anndata as ad",
    "warnings.simplefilter('error', ad.ImplicitModificationWarning) if hasattr(ad, 'ImplicitModificationWarning') else None",
    "adata = ad.read_h5ad(sys.argv[1])",
    "out = None",
    script,
    "print(json.dumps(out, default=lambda o: o.item() if hasattr(o, 'item') else str(o)))",
  ].join("\n");
  const r = spawnSync(python, ["-c", code, file], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`anndata could not read ${file}:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** A small synthetic screen written in this process (faster than a `crispyx demo` subprocess). */
export async function smallScreen(
  dir: string,
  name = "screen.h5ad",
  spec = { cells: 300, genes: 200, perturbations: 4, seed: 7 },
): Promise<string> {
  const { syntheticScreen } = await import("../../src/demo/synthetic.ts");
  const { writeSyntheticScreen } = await import("../../src/demo/write.ts");
  const path = join(dir, name);
  await writeSyntheticScreen(path, syntheticScreen(spec));
  return path;
}
