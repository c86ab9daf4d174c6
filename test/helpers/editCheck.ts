// Checks shared by the in-place edit tests of the screen-aware helpers: a scratch copy of a fixture, and the
// proof that an edit changed only what it should (X's stored values identical, other elements identical).
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { H5File } from "../../src/io/h5/file.ts";

export function scratchDir(prefix: string): {
  dir: string;
  copy: (src: string, name?: string) => string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let n = 0;
  return {
    dir,
    copy: (src, name) => {
      const dst = join(dir, name ?? `copy${n++}.h5ad`);
      copyFileSync(src, dst);
      return dst;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The stored values of every dataset under /X (data, indices, indptr, or the dense array). */
export function xDatasets(path: string): Record<string, unknown> {
  const f = H5File.open(path, "r");
  try {
    const out: Record<string, unknown> = {};
    const names = f.kind("/X") === "dataset" ? [""] : f.keys("/X").map((k) => `/${k}`);
    for (const n of names) out[`/X${n}`] = f.read(`/X${n}`);
    return out;
  } finally {
    f.close();
  }
}

/** The bytes of a file (to prove it was not touched). */
export function fileBytes(path: string): Buffer {
  return readFileSync(path);
}

/** Assert two anndata canonical dumps differ only in the allowed obs/var columns (and var index when allowed). */
export function assertOnlyChanged(
  before: any,
  after: any,
  allowed: { obs?: string[]; var?: string[]; varIndex?: boolean },
): void {
  for (const key of Object.keys(before)) {
    if (key === "obs" || key === "var") continue;
    assert.deepEqual(after[key], before[key], `${key} changed`);
  }
  for (const table of ["obs", "var"] as const) {
    const cols = allowed[table] ?? [];
    const b = before[table];
    const a = after[table];
    for (const k of Object.keys(b)) {
      if (k === "data" || k === "index") continue;
      assert.deepEqual(a[k], b[k], `${table}.${k} changed`);
    }
    if (!(table === "var" && allowed.varIndex)) assert.deepEqual(a.index, b.index, `${table} index changed`);
    for (const c of b.columns as string[]) {
      if (!cols.includes(c)) assert.deepEqual(a.data[c], b.data[c], `${table}['${c}'] changed`);
    }
  }
}
