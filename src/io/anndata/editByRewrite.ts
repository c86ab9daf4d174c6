/**
 * In-place edits through the library alone, for when byte-level I/O is switched off (../directIO.ts):
 * the whole file is copied, as stored, into a temporary file beside it with the element replaced (or left
 * out), and the copy renamed over the original (../atomic.ts). As crash-safe as the link-rewriting edits
 * of ./edit.ts — an interruption leaves the old file — but it costs a copy of everything, X included
 * (bounded memory: datasets are copied in blocks, ../../ops/copyElements.ts).
 *
 * The copy is anndata-equal to the original, not byte-equal: HDF5 lays the objects out afresh; data
 * frames and anndata 0.7 categoricals are re-encoded as copyElement does for every operator's output.
 */
import { rmSync } from "node:fs";
import { temporaryPathFor, writeAtomicallySync } from "../atomic.ts";
import { H5File } from "../h5/file.ts";
import type { WriteStore } from "../store.ts";
import { copyAttrs, copyElement } from "./copyElements.ts";
import { writeSettings } from "./settings.ts";
import { createEncodedGroup } from "./registry.ts";

/** Parent groups of a new element are made as anndata dicts, as ./edit.ts does. */
function ensureDictGroups(f: H5File, group: string): void {
  let cur = "";
  for (const part of group.split("/").filter(Boolean)) {
    cur += "/" + part;
    if (f.exists(cur)) continue;
    createEncodedGroup(f, cur, "dict");
  }
}

/**
 * Copy group `at` of `src` into `dst` leaving out `skip` (the element being replaced or deleted) and
 * `stagingName` members (leftovers of interrupted byte-level edits); groups on the way to `skip` are
 * entered, everything else is copied whole.
 */
function copyGroupExcept(src: H5File, dst: H5File, at: string, skip: string, stagingName: string): void {
  if (at !== "/") dst.createGroup(at);
  copyAttrs(src, dst, at, at);
  for (const key of src.keys(at)) {
    if (key === stagingName) continue;
    // Root "raw.*" keys are staging leftovers of older edits (pre-0.7 layouts are refused before this).
    if (at === "/" && key.startsWith("raw.")) continue;
    const child = at === "/" ? `/${key}` : `${at}/${key}`;
    if (child === skip) continue;
    if (skip.startsWith(`${child}/`) && src.isGroup(child)) copyGroupExcept(src, dst, child, skip, stagingName);
    else copyElement(src, dst, child, child);
  }
}

/**
 * Replace `elementPath` in the file at `path` with what `write(file, at)` writes, or delete it when `write`
 * is null, by rewriting the file. If `write` throws, the file is left as it was.
 *
 * `write` may hard-link members of the old element into the new one (./fileHelpers.ts writeColumns does),
 * so it runs in a scratch file holding a copy of the old element under its own path and writes the new one
 * at a staging path there; the rewrite then copies that staged element into place. Costs: the file once,
 * the replaced element twice.
 */
export function rewriteWithElement(
  path: string,
  elementPath: string,
  write: ((file: WriteStore, at: string) => void) | null,
  stagingName: string,
): void {
  const staged = `/${stagingName}/${elementPath.slice(elementPath.lastIndexOf("/") + 1)}`;
  const scratch = write ? temporaryPathFor(path) : null;
  // Copy as stored: an edit must not turn nullable string columns into categoricals, as operators' outputs do.
  const nullableStrings = writeSettings.writeNullableStrings;
  writeSettings.writeNullableStrings = true;
  try {
    writeAtomicallySync(path, (tmp) => {
      const src = H5File.open(path, "r");
      try {
        if (scratch) stageElement(src, scratch, elementPath, staged, write!);
        const dst = H5File.open(tmp, "w");
        try {
          copyGroupExcept(src, dst, "/", elementPath, stagingName);
          if (scratch) {
            ensureDictGroups(dst, elementPath.slice(0, elementPath.lastIndexOf("/")) || "/");
            const s = H5File.open(scratch, "r");
            try {
              copyElement(s, dst, staged, elementPath);
            } finally {
              s.close();
            }
          }
        } finally {
          dst.close();
        }
      } finally {
        src.close();
      }
    });
  } finally {
    writeSettings.writeNullableStrings = nullableStrings;
    if (scratch) rmSync(scratch, { force: true });
  }
}

/** The scratch file: the old element (when there is one) at its own path, the new one written at `staged`. */
function stageElement(
  src: H5File,
  scratch: string,
  elementPath: string,
  staged: string,
  write: (file: WriteStore, at: string) => void,
): void {
  const s = H5File.open(scratch, "w");
  try {
    if (src.exists(elementPath)) {
      let cur = "";
      for (const part of elementPath.split("/").filter(Boolean).slice(0, -1)) {
        cur += "/" + part;
        s.createGroup(cur);
      }
      copyElement(src, s, elementPath, elementPath);
    }
    s.createGroup(staged.slice(0, staged.lastIndexOf("/")));
    write(s, staged);
  } finally {
    s.close();
  }
}
