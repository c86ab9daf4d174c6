/**
 * Crash-safe in-place edits of an .h5ad file's metadata (obs, var, uns, obsm, …) without touching X.
 *
 * The new element is written completely under a staging group, `/raw.crispyx-staging` (anndata's
 * read_h5ad skips root keys starting with "raw."), then swapped in: one 8-byte write makes the real
 * link point at the new element, and one more removes the staging link. HDF5 (and h5wasm) cannot
 * delete or move links, so those two steps are done by ../h5/links.ts on the closed file.
 * An interruption at any point leaves the old element or the new one under the real name, never neither;
 * a leftover staging group is invisible to anndata and removed by the next edit.
 */
import { H5File, isFileOpen } from "../h5/file.ts";
import { deleteLink, retargetLink } from "../h5/links.ts";
import { CrispyxError } from "../../errors.ts";
import { assertAnnData } from "./anndata.ts";

export const STAGING_GROUP = "raw.crispyx-staging";

function parentAndName(elementPath: string): [string, string] {
  const parts = elementPath.split("/").filter(Boolean);
  if (parts.length === 0) throw new CrispyxError("cannot replace the root of a file");
  const name = parts.pop()!;
  return ["/" + parts.join("/"), name];
}

/** Remove a staging group left behind by an interrupted edit. */
export function removeLeftoverStaging(path: string): void {
  const f = H5File.open(path, "r");
  const leftover = f.exists(`/${STAGING_GROUP}`);
  f.close();
  if (leftover) deleteLink(path, "/", STAGING_GROUP);
}

export interface EditOptions {
  /**
   * Called after each durable step: "staged" (new element complete under the staging group),
   * "real-link" (the real name points at it), "staged-link", "done" (staging removed). For crash tests.
   */
  onStep?: (step: string) => void;
}

/**
 * Replace (or create) the element at `elementPath` in the file at `path`: `write(file, at)` must write
 * the new element at the path `at` it is given. Parent groups are created as needed.
 */
export function replaceElement(
  path: string,
  elementPath: string,
  write: (file: H5File, at: string) => void,
  opts: EditOptions = {},
): void {
  if (isFileOpen(path)) {
    throw new CrispyxError(`${path}: is open in this process; close its handle before editing it in place`, { file: path });
  }
  const [parent, name] = parentAndName(elementPath);
  removeLeftoverStaging(path);
  const staged = `/${STAGING_GROUP}/${name}`;
  let existed: boolean;
  const file = H5File.open(path, "r+");
  try {
    assertAnnData(file);
    existed = file.exists(elementPath);
    file.ensureGroup(`/${STAGING_GROUP}`);
    write(file, staged);
    if (!existed) {
      // A new name: a plain hard link adds it in one step; the staging link is dropped below.
      file.ensureGroup(parent);
      file.hardLink(staged, elementPath);
    }
  } finally {
    file.close();
  }
  opts.onStep?.("staged");
  if (existed) retargetLink(path, parent, name, staged, { onStep: opts.onStep });
  deleteLink(path, "/", STAGING_GROUP);
  opts.onStep?.("done");
}

/** Delete the element at `elementPath` (no-op when absent). */
export function deleteElement(path: string, elementPath: string): void {
  if (isFileOpen(path)) {
    throw new CrispyxError(`${path}: is open in this process; close its handle before editing it in place`, { file: path });
  }
  const f = H5File.open(path, "r");
  const exists = f.exists(elementPath);
  f.close();
  if (!exists) return;
  const [parent, name] = parentAndName(elementPath);
  deleteLink(path, parent, name);
}
