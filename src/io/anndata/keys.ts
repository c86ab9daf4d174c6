/**
 * Which strings can name an element in an .h5ad file. HDF5 link names cannot be empty, '/' separates path
 * components and '.' names the group itself; anndata ≥ 0.9 also refuses '/' in keys. Labels are data, so
 * where labels would become names (a dict keyed by perturbation) and one of them cannot, the writer
 * chooses a layout that keeps the labels as values instead.
 */
export function isStorableKey(key: string): boolean {
  return key !== "" && key !== "." && !key.includes("/");
}
