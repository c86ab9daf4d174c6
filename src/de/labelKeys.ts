/**
 * Group labels are data — any string — but Scanpy's layout turns them into names: the columns of the
 * `rank_genes_groups/pts` data frame (HDF5 links, looked up by anndata as `group[name]`) and the fields of
 * the ranked record arrays (HDF5 compound members). The rule crispyx follows (README, "On-disk conventions"):
 *
 * - Record-array fields hold the label exactly; only the empty label, which neither HDF5 nor numpy
 *   accepts as a field name, is stored as its escaped key "%".
 * - A pts column is stored under the label itself when that is a valid relative HDF5 path: a label with
 *   '/' becomes nested groups ('CD4+/CD25 T Reg' → group 'CD4+', dataset 'CD25 T Reg'), exactly as h5py
 *   and anndata 0.8 write it, and `group['CD4+/CD25 T Reg']` finds it in anndata 0.8 and the newest.
 * - Otherwise the column is stored under an escaped key: '%' → '%25', '/' → '%2F' and, for a whole
 *   label that HDF5 or anndata would misread, '.' → '%2E' ('.', '..'), '_' → '%5F' ('_index', the
 *   index's name), the empty label → '%'. That is: the empty label, components that are empty, '.' or
 *   '..' (leading, trailing or doubled '/'), '_index', a label whose path runs through another label's
 *   dataset ('a' and 'a/b': 'a/b' is escaped), and every label containing '%' (so an escaped key never
 *   equals another label's key). `decodeLabelKey` undoes it.
 * obs (the tested perturbations' index) always holds the labels exactly.
 */

/** The escaped form of a label (see the rule above); injective, and never a nested path. */
export function escapeLabel(label: string): string {
  if (label === "") return "%";
  let s = label.replace(/%/g, "%25").replace(/\//g, "%2F");
  if (s === "." || s === "..") s = s.replace(/\./g, "%2E");
  if (s === "_index") s = "%5Findex";
  return s;
}

/** The label an escaped key stands for. */
export function decodeLabelKey(key: string): string {
  if (key === "%") return "";
  return key.replace(/%(2F|25|2E|5F)/g, (m) => String.fromCharCode(parseInt(m.slice(1), 16)));
}

/** Whether `label` can be used as a relative HDF5 path below a data frame's group. */
function pathSafe(label: string): boolean {
  if (label === "" || label === "_index" || label.includes("%")) return false;
  return label.split("/").every((c) => c !== "" && c !== "." && c !== "..");
}

/** The pts column key of each label (same order). */
export function columnKeys(labels: string[]): string[] {
  const keys = labels.map((l) => (pathSafe(l) ? l : escapeLabel(l)));
  const datasets = new Set(keys);
  return keys.map((k, i) => {
    if (!k.includes("/")) return k;
    const parts = k.split("/");
    for (let j = 1; j < parts.length; j++)
      if (datasets.has(parts.slice(0, j).join("/"))) return escapeLabel(labels[i]!);
    return k;
  });
}

/** The record-array field name of each label (same order). */
export function fieldNames(labels: string[]): string[] {
  return labels.map((l) => (l === "" ? escapeLabel(l) : l));
}
