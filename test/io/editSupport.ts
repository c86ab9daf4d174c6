// Shared by the in-place edit tests: fixture copies, a digest of X's bytes, and Python/h5py checks.
import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { H5File } from "../../src/io/h5/file.ts";
import { findPython } from "../helpers/anndataChecker.ts";

export const FIXTURES = join(import.meta.dirname, "..", "fixtures", "h5ad");

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `crispyx-${prefix}-`));
}

/** A private copy of a golden fixture. */
export function copyFixture(name: string, dir: string, as = name): string {
  const out = join(dir, `${as}.h5ad`);
  copyFileSync(join(FIXTURES, `${name}.h5ad`), out);
  return out;
}

/** sha256 over every dataset under `group` (names, dtypes, shapes and values), read through HDF5. */
export function datasetDigest(path: string, group = "/X"): string {
  const h = createHash("sha256");
  const f = H5File.open(path, "r");
  try {
    const visit = (p: string) => {
      if (f.isGroup(p)) {
        for (const k of f.keys(p)) visit(`${p}/${k}`);
        return;
      }
      const info = f.info(p);
      h.update(`${p}|${info.dtype}|${info.shape.join(",")}|`);
      const data = f.read(p);
      h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    };
    if (f.exists(group)) visit(group);
  } finally {
    f.close();
  }
  return h.digest("hex");
}

/** Run Python code (with h5py/numpy); returns stdout, throws with stderr on failure. */
export function py(code: string, ...args: string[]): string {
  const python = findPython();
  if (!python) throw new Error("no Python");
  const r = spawnSync(python, ["-c", code, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout;
}

/**
 * The HDF5 C library (through h5py) walks the whole file and reads every dataset; returns the sorted
 * list of object paths. Throws when any object cannot be read.
 */
export function h5pyWalk(path: string): string[] {
  const out = py(
    `
import h5py, json, sys
names = []
def visit(name, obj):
    names.append(name)
    if isinstance(obj, h5py.Dataset):
        obj[()]
    for k in obj.attrs.keys():
        obj.attrs[k]
with h5py.File(sys.argv[1], "r") as f:
    f.visititems(visit)
print(json.dumps(sorted(names)))
`,
    path,
  );
  return JSON.parse(out);
}
