/**
 * Crash-safe in-place edits of an .h5ad file's metadata (obs, var, uns, obsm, …) without touching X.
 *
 * Protocol (each step durable — fsync — before the next):
 *  1. an HDF5 session that only creates the empty staging group `__crispyx_staging__` inside /obs (or
 *     inside /var when obs itself is edited): anndata and crispyx read a dataframe's columns from its
 *     `column-order` attribute, so an extra member is invisible to both. (The root is no place for it:
 *     anndata refuses unknown root keys, and "raw.*" ones clash with a modern /raw group.)
 *  2. an HDF5 session that writes the new element completely inside the staging group; it allocates
 *     new space and changes no structure outside the staging group, so an interruption here (or an
 *     exception from the writer) leaves the rest of the file as it was;
 *  3. swap: one small write makes the real link point at the new element ("real-link"), one more makes
 *     the staged link point at the old one ("staged-link") — ../h5/links.ts, on the closed file, since
 *     HDF5 (and h5wasm) cannot move or delete links;
 *     (an element that did not exist yet is instead hard-linked under its name in a short session);
 *  4. one write removes the staging group's link from its dataframe group.
 * An interruption at any point leaves the old element or the new one under the real name, never
 * neither; a leftover staging group is invisible to anndata and removed by the next edit.
 * The space of the replaced element is not reclaimed (as with h5py's `del`); `h5repack` compacts a file.
 */
import { H5File, isFileOpen } from "../h5/file.ts";
import { deleteLink, retargetLink } from "../h5/links.ts";
import { CrispyxError } from "../../errors.ts";
import { assertAnnData } from "./anndata.ts";

export const STAGING_NAME = "__crispyx_staging__";
const STAGING_PARENTS = ["/obs", "/var"] as const;

/** Where the staging group for an edit of `elementPath` lives: never inside the element being replaced. */
function stagingParent(elementPath: string): string {
  return elementPath === "/obs" || elementPath.startsWith("/obs/") ? "/var" : "/obs";
}

export interface EditOptions {
  /**
   * Called after each durable step: "staging-group", "staged" (new element complete under the staging
   * group), "real-link" (the real name points at it), "staged-link", "done" (staging removed).
   * For crash tests.
   */
  onStep?: (step: string) => void;
}

function parentAndName(elementPath: string): [string, string] {
  const parts = elementPath.split("/").filter(Boolean);
  if (parts.length === 0) throw new CrispyxError("cannot replace the root of a file");
  if (parts.includes(STAGING_NAME)) throw new CrispyxError(`${elementPath}: is crispyx's staging area, not an element`);
  const name = parts.pop()!;
  return ["/" + parts.join("/"), name];
}

function assertClosed(path: string): void {
  if (isFileOpen(path)) {
    throw new CrispyxError(`${path}: is open in this process; close its handle before editing it in place`, { file: path });
  }
}

function session<T>(path: string, mode: "r" | "r+", fn: (f: H5File) => T): T {
  const f = H5File.open(path, mode);
  try {
    return fn(f);
  } finally {
    f.close(); // also fsyncs a file opened for writing
  }
}

/** Remove a staging group left behind by an interrupted edit. */
export function removeLeftoverStaging(path: string): void {
  assertClosed(path);
  const leftovers = session(path, "r", (f) => STAGING_PARENTS.filter((p) => f.exists(`${p}/${STAGING_NAME}`)));
  for (const parent of leftovers) deleteLink(path, parent, STAGING_NAME);
}

/**
 * Replace (or create) the element at `elementPath` in the file at `path`: `write(file, at)` must write
 * the new element at the path `at` it is given. Parent groups are created as needed.
 * If `write` throws, the file keeps its old element and the error is passed on.
 */
export function replaceElement(
  path: string,
  elementPath: string,
  write: (file: H5File, at: string) => void,
  opts: EditOptions = {},
): void {
  assertClosed(path);
  const [parent, name] = parentAndName(elementPath);
  const stage = stagingParent(elementPath);
  const { existed, parentExists } = session(path, "r", (f) => {
    assertAnnData(f);
    if (!f.isGroup(stage)) {
      throw new CrispyxError(`${path}: ${stage} is not a group (a pre-0.7 anndata layout); save the file once with anndata >= 0.7 before editing it in place`, { file: path });
    }
    return { existed: f.exists(elementPath), parentExists: f.isGroup(parent) };
  });
  if (!parentExists && session(path, "r", (f) => f.exists(parent))) {
    throw new CrispyxError(`${path}: cannot write ${elementPath}: ${parent} is not a group`, { file: path });
  }
  removeLeftoverStaging(path);
  const stagingGroup = `${stage}/${STAGING_NAME}`;
  session(path, "r+", (f) => f.createGroup(stagingGroup));
  opts.onStep?.("staging-group");
  const staged = `${stagingGroup}/${name}`;
  try {
    session(path, "r+", (f) => write(f, staged));
  } catch (err) {
    removeLeftoverStaging(path);
    throw err;
  }
  opts.onStep?.("staged");
  if (existed) {
    retargetLink(path, parent, name, staged, { onStep: opts.onStep });
  } else {
    // A new name: HDF5 adds the link (a hard link, so the staged link can then simply be dropped).
    session(path, "r+", (f) => {
      f.ensureGroup(parent);
      f.hardLink(staged, elementPath);
    });
    opts.onStep?.("real-link");
  }
  deleteLink(path, stage, STAGING_NAME);
  opts.onStep?.("done");
}

/** Delete the element at `elementPath` (no-op when absent). One durable write. */
export function deleteElement(path: string, elementPath: string): void {
  assertClosed(path);
  const [parent, name] = parentAndName(elementPath);
  const exists = session(path, "r", (f) => {
    assertAnnData(f);
    return f.exists(elementPath);
  });
  if (exists) deleteLink(path, parent, name);
}
