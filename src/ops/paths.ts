/**
 * Input/output names for the operators in src/ops. (src/io/anndata/fileHelpers.ts has the same rules but
 * is not importable yet: it depends on an unfinished module; switch to it once it lands.)
 */
import { existsSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { FileFormatError, InvalidArgumentError } from "../errors.ts";
import { isZarrStore } from "../io/zarr/index.ts";

/** A path to an .h5ad file, or anything with a `path` (an open H5adHandle). */
export type FileSource = string | { path: string };

/** The on-disk path of `data`, which must be an existing file. */
export function inputPath(data: FileSource): string {
  const p = typeof data === "string" ? data : data && typeof data.path === "string" ? data.path : null;
  if (p === null) throw new InvalidArgumentError("expected a path to an .h5ad file or an open handle");
  if (!existsSync(p)) throw new FileFormatError(`data file not found`, { file: p });
  // A zarr store is a directory (read with the zarr backend); any other directory is a mistake.
  if (statSync(p).isDirectory() && !isZarrStore(p))
    throw new FileFormatError(`is a directory, not an .h5ad file or a zarr store`, { file: p });
  return p;
}

/** The seed's resolve_output_path: `{outputDir}/crispyx_{dataName}_{suffix}.h5ad` or `crispyx_{suffix}.h5ad`. */
export function seedOutputPath(input: string, suffix: string, outputDir?: string, dataName?: string): string {
  const dir = resolve(outputDir ?? resolve(input, ".."));
  for (const v of [suffix, dataName]) {
    if (v !== undefined && (v.includes("/") || v.includes("\\") || v === ".." || isAbsolute(v))) {
      throw new InvalidArgumentError(`'${v}' would place the output outside ${dir}; use a plain name`);
    }
  }
  let base = `crispyx_${suffix}`;
  if (dataName) {
    base = dataName.startsWith("crispyx_") ? dataName : `crispyx_${dataName}`;
    if (!base.endsWith(`_${suffix}`)) base = `${base}_${suffix}`;
  }
  return join(dir, `${base}.h5ad`);
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** Whether two paths name one file: the same real path, or the same inode (a hard link, a bind mount). */
function sameFile(a: string, b: string): boolean {
  if (real(a) === real(b)) return true;
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.ino === sb.ino && sa.dev === sb.dev;
  } catch {
    return false; // the output does not exist yet
  }
}

/**
 * Refuse, before any work, an output that is the input itself (by name, symlink or hard link): it would
 * be destroyed before it was read. The one check every operator, DE, QC and the CLI use.
 */
export function checkOutputIsNotInput(input: string, output: string): void {
  if (sameFile(input, output)) {
    throw new InvalidArgumentError(
      `${output}: is the input file: the output would overwrite the input; choose another output path`,
      {
        file: output,
        hint: "crispyx never overwrites its input; write to a new file",
      },
    );
  }
}
