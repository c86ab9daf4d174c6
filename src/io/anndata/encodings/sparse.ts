/** Compressed sparse matrices: the "csr_matrix" and "csc_matrix" encodings. */
import type { ReadStore, WriteStore } from "../../store.ts";
import { dtypeOfArray } from "../../h5/types.ts";
import { FileFormatError } from "../../../errors.ts";
import type { SparseMatrix } from "../model.ts";
import { createEncodedGroup } from "../registry.ts";

/** The [rows, cols] a sparse group declares in its `shape` attribute (or legacy `h5sparse_shape`). */
export function sparseShape(file: ReadStore, path: string): [number, number] {
  const raw = file.attr(path, "shape") ?? file.attr(path, "h5sparse_shape");
  if (
    raw === undefined ||
    typeof raw === "string" ||
    typeof raw === "number" ||
    typeof raw === "boolean" ||
    typeof raw === "bigint"
  ) {
    throw new FileFormatError(`sparse matrix ${path} has no valid shape attribute`, { file: file.path });
  }
  const s = Array.from(raw as ArrayLike<number | bigint | string | boolean>, Number);
  if (s.length !== 2 || s.some((x) => !Number.isInteger(x) || x < 0)) {
    throw new FileFormatError(`sparse matrix ${path} has shape [${s.join(", ")}]`, { file: file.path });
  }
  return [s[0]!, s[1]!];
}

export function readSparse(file: ReadStore, path: string, type: "csr" | "csc"): SparseMatrix {
  const shape = sparseShape(file, path);
  for (const part of ["data", "indices", "indptr"]) {
    if (!file.isDataset(`${path}/${part}`)) {
      throw new FileFormatError(`sparse matrix ${path} has no '${part}' dataset`, { file: file.path });
    }
  }
  const indptr = file.read(`${path}/indptr`);
  const major = type === "csr" ? shape[0] : shape[1];
  if (indptr.length !== major + 1) {
    throw new FileFormatError(
      `${path}/indptr has ${indptr.length} entries, expected ${major + 1} for a ${type} matrix of shape [${shape.join(", ")}]`,
      { file: file.path },
    );
  }
  return { type, shape, data: file.read(`${path}/data`), indices: file.read(`${path}/indices`), indptr };
}

export function writeSparse(file: WriteStore, path: string, m: SparseMatrix): void {
  const major = m.type === "csr" ? m.shape[0] : m.shape[1];
  if (m.indptr.length !== major + 1 || m.data.length !== m.indices.length) {
    throw new FileFormatError(`cannot write ${path}: inconsistent ${m.type} arrays for shape [${m.shape.join(", ")}]`);
  }
  createEncodedGroup(file, path, m.type === "csr" ? "csr_matrix" : "csc_matrix");
  file.setAttr(path, "shape", BigInt64Array.from(m.shape, BigInt));
  for (const part of ["data", "indices", "indptr"] as const) {
    const a = m[part];
    file.createDataset(`${path}/${part}`, { dtype: dtypeOfArray(a), shape: [a.length], data: a });
  }
}
