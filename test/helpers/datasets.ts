/**
 * Every dataset of a file (and, when asked, every attribute) by path, as comparable values: numbers as
 * arrays, strings as arrays, compound records by their bytes. Two files whose maps are equal hold the same
 * data, whatever HDF5's bookkeeping (object addresses, free space) says.
 */
import { openStore } from "../../src/io/openStore.ts";

export function datasetValues(path: string, withAttrs = false): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const f = openStore(path);
  try {
    const walk = (p: string) => {
      if (withAttrs)
        out.set(
          `${p}@attrs`,
          JSON.stringify(f.attrs(p), (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as never) : v)),
        );
      if (f.isGroup(p)) {
        for (const k of f.keys(p)) walk(p === "/" ? `/${k}` : `${p}/${k}`);
        return;
      }
      const info = f.info(p);
      out.set(`${p}@shape`, info.shape);
      if (info.dtype === "other") {
        const c = f.compoundInfo(p);
        out.set(p, Buffer.from(f.readRecords(p, 0, c.length, c.recordSize)).toString("hex"));
      } else if (info.dtype === "string" || info.dtype.startsWith("fixed-string:")) out.set(p, f.readStrings(p));
      else out.set(p, Array.from(f.read(p) as ArrayLike<number>));
    };
    walk("/");
  } finally {
    f.close();
  }
  return out;
}
