/** A whole AnnData object: the "anndata" root encoding and "raw", read into or written from memory. */
import { openStore, openWriteStore } from "../openStore.ts";
import type { ReadStore, WriteStore } from "../store.ts";
import { FileFormatError } from "../../errors.ts";
import { writeAtomicallySync } from "../atomic.ts";
import type { AnnData, DataFrame, Element, Matrix, Raw } from "./model.ts";
import {
  createEncodedGroup,
  elementKind,
  encodingOf,
  readElem,
  stampEncoding,
  unknownEncoding,
  writeElem,
} from "./registry.ts";
import {
  consumedCategoryKeys,
  isLegacyMapping,
  isLegacyTable,
  readLegacyDataFrame,
  readLegacyMapping,
} from "./encodings/legacyDataframe.ts";

export const MAPPING_KEYS = ["obsm", "varm", "obsp", "varp", "layers"] as const;
export type MappingKey = (typeof MAPPING_KEYS)[number];

/** Fail with a clear message unless the file's root is an AnnData object with obs and var. */
export function assertAnnData(file: ReadStore): void {
  const enc = encodingOf(file, "/");
  if (enc && elementKind(file, "/") !== "anndata") throw unknownEncoding(file, "/", enc);
  for (const key of ["obs", "var"]) {
    if (!file.exists(`/${key}`)) {
      throw new FileFormatError(
        enc
          ? `${file.path}: not a valid AnnData file: it has no /${key}`
          : `${file.path}: is an HDF5 file but not an AnnData file (no /${key}, no AnnData encoding attributes)`,
        { file: file.path },
      );
    }
  }
}

function readMapping(file: ReadStore, key: string, skip: ReadonlySet<string> = new Set()): Record<string, Element> {
  const out: Record<string, Element> = {};
  if (!file.exists(`/${key}`)) return out;
  if (isLegacyMapping(file, `/${key}`)) return readLegacyMapping(file, `/${key}`);
  for (const k of file.keys(`/${key}`)) if (!skip.has(k)) out[k] = readElem(file, `/${key}/${k}`);
  return out;
}

function asDataFrame(file: ReadStore, path: string): DataFrame {
  if (isLegacyTable(file, path)) return readLegacyDataFrame(file, path);
  const e = readElem(file, path);
  if (e.type !== "dataframe")
    throw new FileFormatError(`${path} is a ${e.type}, expected a dataframe`, { file: file.path });
  return e;
}

function asMatrix(file: ReadStore, path: string): Matrix {
  const e = readElem(file, path);
  if (e.type !== "array" && e.type !== "csr" && e.type !== "csc") {
    throw new FileFormatError(`${path} is a ${e.type}, expected a matrix`, { file: file.path });
  }
  return e;
}

/** Read everything in an open AnnData file into memory. */
export function readAnnData(file: ReadStore): AnnData {
  assertAnnData(file);
  const raw: Raw | null = file.exists("/raw")
    ? { X: asMatrix(file, "/raw/X"), var: asDataFrame(file, "/raw/var"), varm: readMapping(file, "raw/varm") }
    : file.exists("/raw.X") // anndata < 0.7 kept raw as root elements raw.X, raw.var, raw.varm
      ? { X: asMatrix(file, "/raw.X"), var: asDataFrame(file, "/raw.var"), varm: readMapping(file, "raw.varm") }
      : null;
  return {
    X: file.exists("/X") ? asMatrix(file, "/X") : null,
    obs: asDataFrame(file, "/obs"),
    var: asDataFrame(file, "/var"),
    // Pre-0.7 files: uns['<col>_categories'] moved into obs/var as categoricals, as anndata does.
    uns: readMapping(file, "uns", consumedCategoryKeys(file)),
    obsm: readMapping(file, "obsm"),
    varm: readMapping(file, "varm"),
    obsp: readMapping(file, "obsp"),
    varp: readMapping(file, "varp"),
    layers: readMapping(file, "layers"),
    raw,
  };
}

/** Read a whole .h5ad file into memory. For small files; use openH5ad for large ones. */
export function readH5ad(path: string): AnnData {
  const file = openStore(path, "r");
  try {
    return readAnnData(file);
  } finally {
    file.close();
  }
}

function shapeOf(e: Element): number[] {
  switch (e.type) {
    case "array":
      return e.shape;
    case "csr":
    case "csc":
      return e.shape;
    case "dataframe":
      return [e.index.length];
    default:
      return [];
  }
}

/** Check that every element has the shape AnnData requires of it, before anything is written. */
export function validateAnnData(ad: AnnData): void {
  const nObs = ad.obs.index.length;
  const nVars = ad.var.index.length;
  const bad = (what: string) => new FileFormatError(`cannot write AnnData (${nObs} × ${nVars}): ${what}`);
  if (ad.X) {
    const s = shapeOf(ad.X);
    if (s[0] !== nObs || s[1] !== nVars) throw bad(`X has shape [${s.join(", ")}]`);
  }
  const expect: Record<MappingKey, (s: number[]) => boolean> = {
    obsm: (s) => s[0] === nObs,
    varm: (s) => s[0] === nVars,
    obsp: (s) => s[0] === nObs && s[1] === nObs,
    varp: (s) => s[0] === nVars && s[1] === nVars,
    layers: (s) => s[0] === nObs && s[1] === nVars,
  };
  for (const key of MAPPING_KEYS) {
    for (const [k, v] of Object.entries(ad[key])) {
      const s = shapeOf(v);
      if (!expect[key](s)) throw bad(`${key}['${k}'] has shape [${s.join(", ")}]`);
    }
  }
  if (ad.raw) {
    const s = shapeOf(ad.raw.X);
    if (s[0] !== nObs || s[1] !== ad.raw.var.index.length) throw bad(`raw.X has shape [${s.join(", ")}]`);
  }
}

function writeMapping(file: WriteStore, key: string, items: Record<string, Element>): void {
  createEncodedGroup(file, `/${key}`, "dict");
  for (const [k, v] of Object.entries(items)) writeElem(file, `/${key}/${k}`, v);
}

/** Write the AnnData object into an open, empty file, laid out as anndata.write_h5ad does. */
export function writeAnnDataTo(file: WriteStore, ad: AnnData): void {
  validateAnnData(ad);
  stampEncoding(file, "/", "anndata");
  if (ad.X) writeElem(file, "/X", ad.X);
  writeElem(file, "/obs", ad.obs);
  writeElem(file, "/var", ad.var);
  for (const key of MAPPING_KEYS) writeMapping(file, key, ad[key]);
  writeMapping(file, "uns", ad.uns);
  if (ad.raw) {
    createEncodedGroup(file, "/raw", "raw");
    writeElem(file, "/raw/X", ad.raw.X);
    writeElem(file, "/raw/var", ad.raw.var);
    writeMapping(file, "raw/varm", ad.raw.varm);
  }
}

/** Write an in-memory AnnData object to a new .h5ad file (atomically: temp file, then rename). */
export function writeH5ad(path: string, ad: AnnData): void {
  validateAnnData(ad);
  writeAtomicallySync(path, (tmp) => {
    const file = openWriteStore(tmp, "w");
    try {
      writeAnnDataTo(file, ad);
    } finally {
      file.close();
    }
  });
}
