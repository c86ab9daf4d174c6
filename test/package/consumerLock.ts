/**
 * A package-lock.json for a project that depends only on a packed crispyx tarball, so `npm ci --offline`
 * can install it from the local npm cache. Why not `npm install --offline <tarball>`: that resolves each
 * dependency's version range from registry metadata (packuments), which `npm ci` does not cache — only
 * tarballs, keyed by URL and integrity. A lockfile names those tarballs, so no metadata is needed.
 * The versions are the repository's own (package-lock.json): what `npm ci` tested.
 */
import { readFileSync } from "node:fs";

type LockEntry = {
  version?: string;
  resolved?: string;
  integrity?: string;
  dev?: boolean;
  optional?: boolean;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  [k: string]: unknown;
};
type Manifest = {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [k: string]: unknown;
};

/** Where Node would find `dep` required from the package installed at `from` ("" = the root), in `packages`. */
function resolveIn(packages: Record<string, LockEntry>, from: string, dep: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ""}node_modules/${dep}`;
    if (packages[candidate]) return candidate;
    if (!dir) return undefined;
    const cut = dir.lastIndexOf("/node_modules/");
    dir = cut < 0 ? "" : dir.slice(0, cut);
  }
}

/**
 * The lockfile: the consumer's root, the tarball as node_modules/<name>, and every package its runtime
 * dependencies reach in the repository's lockfile (same paths, so the same hoisting). Throws when a
 * dependency is missing from the repository's lockfile (it would need the network).
 */
export function consumerLockfile(
  repoLockPath: string,
  pkg: Manifest,
  tarball: { file: string; integrity: string },
): object {
  const repo = (JSON.parse(readFileSync(repoLockPath, "utf8")) as { packages: Record<string, LockEntry> }).packages;
  const out: Record<string, LockEntry> = {
    "": { name: "consumer", version: "1.0.0", dependencies: { [pkg.name]: `file:${tarball.file}` } },
  };
  const self: LockEntry = {
    ...repo[""],
    version: pkg.version,
    resolved: `file:${tarball.file}`,
    integrity: tarball.integrity,
  };
  delete self.name;
  delete self.devDependencies;
  self.dependencies = pkg.dependencies;
  out[`node_modules/${pkg.name}`] = self;
  // Walk from the package's runtime dependencies; optional ones (platform binaries) are kept when locked.
  const queue: [string, string, boolean][] = [];
  const push = (from: string, deps: Record<string, string> | undefined, optional: boolean) => {
    for (const d of Object.keys(deps ?? {})) queue.push([from, d, optional]);
  };
  push("", pkg.dependencies, false);
  push("", pkg.optionalDependencies, true);
  while (queue.length) {
    const [from, dep, optional] = queue.shift()!;
    const at = resolveIn(repo, from, dep);
    if (!at) {
      if (optional) continue;
      throw new Error(`${dep} (needed by ${from || pkg.name}) is not in the repository's package-lock.json`);
    }
    if (out[at]) continue;
    const entry = { ...repo[at]! };
    delete entry.dev; // a runtime dependency of the consumer, whatever it is to the repository
    out[at] = entry;
    push(at, entry.dependencies, false);
    push(at, entry.optionalDependencies, true);
  }
  return { name: "consumer", version: "1.0.0", lockfileVersion: 3, requires: true, packages: out };
}
