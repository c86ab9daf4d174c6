/**
 * Which route reads a dataset's compressed chunks, decided from its filter pipeline before HDF5 is asked
 * to read anything — an unavailable filter inside HDF5-in-WebAssembly is a native abort (issue 18), not
 * an error we could catch.
 *
 * - No filters: plain (the direct path of ./rawStorage.ts may apply).
 * - HDF5's own filters (deflate, shuffle, fletcher32, szip, nbit, scale-offset): HDF5.
 * - LZF (h5py's 32000, anndata's `compression="lzf"`): our reader (./filteredChunks.ts + ./lzf.ts).
 *   h5wasm-plugins 0.2.1 has an LZF plugin, but with h5wasm 0.10.3 it is not sound: it imports
 *   `__errno_location`, which this h5wasm no longer exports, and calls it whenever a decompression
 *   fails — which h5py's own files trigger: for variable-length strings (obs names, categories) the size
 *   hint h5py stores (client value 2) is the in-memory size, half the stored one, so the plugin's first
 *   attempt fails with E2BIG and the process aborts ("memory access out of bounds", "Aborted"). Numbers
 *   decode right, so the plugin stays the fallback for LZF data in chunk indexes our reader does not walk,
 *   when the size hint covers the chunk.
 * - blosc, zstd, lz4, bzip2, bitshuffle: h5wasm-plugins' side modules (checked against Python's values for the
 *   fixtures in test/fixtures/h5ad-filters). Their search path is added to HDF5's the first time a file
 *   needs one; HDF5 then loads only the module it needs. Blosc is allowed with the codecs the plugin
 *   has (blosclz, lz4, lz4hc, zstd): its zlib codec calls functions h5wasm does not export.
 * - Anything else: one FileFormatError naming the file, the dataset and the filter. That includes filters
 *   h5wasm-plugins has but that are not checked here: zfp, jpeg, blosc2 (imports h5wasm lacks on paths
 *   it takes), bitgroom/bitround (lossy).
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { existsSync } from "node:fs";
import { FileFormatError } from "../../errors.ts";
import { FILTER_LZF, OWN_FILTERS } from "./filteredChunks.ts";

/** One entry of a dataset's filter pipeline, as h5wasm's get_dataset_filters gives it. */
export interface FilterInfo {
  id: number;
  name: string;
  cd_values: number[];
}

export type FilterRoute = "plain" | "hdf5" | "own";

const HDF5_BUILTIN: Record<number, string> = {
  1: "deflate (gzip)",
  2: "shuffle",
  3: "fletcher32",
  4: "szip",
  5: "nbit",
  6: "scale-offset",
};
const PLUGINS: Record<number, string> = {
  32001: "blosc",
  32015: "zstd",
  32004: "lz4",
  307: "bzip2",
  32008: "bitshuffle",
};
/** Names of registered filters crispyx does not read, for the error message. */
const KNOWN_NAMES: Record<number, string> = {
  32000: "lzf",
  32013: "zfp",
  32017: "sz",
  32024: "sz3",
  32019: "jpeg",
  32022: "bitgroom",
  32023: "bitround",
  32026: "blosc2",
  32018: "fcidecomp",
  32002: "mafisc",
  32005: "jpeg-ls",
  32006: "hdf5-jpeg",
};
/** Blosc codec numbers (client value 6) whose decoders the plugin can run here. */
const BLOSC_CODECS = new Set([0, 1, 2, 5]);
const BLOSC_CODEC_NAMES = ["blosclz", "lz4", "lz4hc", "snappy", "zlib", "zstd"];

/** What the caller knows about the dataset, for the choice. */
export interface RouteContext {
  file: string;
  dataset: string;
  /** Whether our reader (./filteredChunks.ts) understands the dataset's layout and pipeline. */
  ownReader: () => boolean;
  /** Bytes of one uncompressed chunk as stored, or null when unknown (variable-length data). */
  chunkBytes: number | null;
}

/** The route for a dataset with `filters`; throws a FileFormatError when no route can read it. */
export function filterRoute(
  filters: FilterInfo[],
  ctx: RouteContext,
  addPluginPath: (dir: string) => void,
): FilterRoute {
  if (filters.length === 0) return "plain";
  for (const f of filters) {
    if (f.id in HDF5_BUILTIN || f.id in PLUGINS || f.id === FILTER_LZF) continue;
    throw unavailable(ctx, f);
  }
  if (filters.some((f) => f.id === FILTER_LZF)) {
    if (filters.every((f) => OWN_FILTERS.has(f.id)) && ctx.ownReader()) return "own";
    // The plugin only where its size hint covers the chunk, so that it never takes its failing path.
    const lzf = filters.find((f) => f.id === FILTER_LZF)!;
    const safe =
      ctx.chunkBytes !== null &&
      (lzf.cd_values[2] ?? 0) >= ctx.chunkBytes &&
      filters.every((f) => f.id in HDF5_BUILTIN || f.id === FILTER_LZF);
    if (!safe) {
      throw new FileFormatError(
        `${ctx.dataset} is LZF-compressed (HDF5 filter 32000) in a layout crispyx cannot decode (a chunk index other than h5py's default, or variable-length data)`,
        {
          file: ctx.file,
          hint: "rewrite it uncompressed or with gzip, e.g. with anndata: read_h5ad(path).write_h5ad(new_path, compression='gzip')",
        },
      );
    }
  }
  for (const f of filters) {
    if (f.id === 32001 && !BLOSC_CODECS.has(f.cd_values[6] ?? 0)) {
      const codec = BLOSC_CODEC_NAMES[f.cd_values[6]!] ?? `codec ${f.cd_values[6]}`;
      throw unavailable(ctx, f, `blosc with ${codec}`);
    }
  }
  if (filters.some((f) => f.id in PLUGINS || f.id === FILTER_LZF)) {
    const dir = pluginDir();
    if (!dir) {
      const f = filters.find((x) => x.id in PLUGINS || x.id === FILTER_LZF)!;
      throw unavailable(ctx, f, undefined, "the h5wasm-plugins package is not installed; run npm install");
    }
    addPluginPath(dir);
  }
  return "hdf5";
}

function unavailable(ctx: RouteContext, f: FilterInfo, label?: string, hint?: string): FileFormatError {
  const name = label ?? PLUGINS[f.id] ?? KNOWN_NAMES[f.id] ?? (f.name && f.name.split(/[;\s]/)[0]) ?? "";
  const what = name ? `'${name}' (id ${f.id})` : `of unknown name (id ${f.id})`;
  return new FileFormatError(`${ctx.dataset} is compressed with HDF5 filter ${what}, which crispyx cannot decode`, {
    file: ctx.file,
    hint:
      hint ??
      "crispyx reads gzip, lzf, szip, blosc, zstd, lz4, bzip2 and bitshuffle; rewrite the file with one of them or uncompressed (e.g. h5repack -f GZIP=4)",
  });
}

let cachedDir: string | null | undefined;

/** The plugins folder of the installed h5wasm-plugins package, or null when it is not installed. */
function pluginDir(): string | null {
  if (cachedDir !== undefined) return cachedDir;
  try {
    const dir = join(dirname(createRequire(import.meta.url).resolve("h5wasm-plugins")), "plugins");
    cachedDir = existsSync(dir) ? dir : null;
  } catch {
    cachedDir = null;
  }
  return cachedDir;
}
