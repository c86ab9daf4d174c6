// Categories made from strings follow anndata's order (natsort's default); the expected list is what
// natsort.natsorted printed for these strings (natsort 8, Debian's python3-natsort).
import { test } from "node:test";
import assert from "node:assert/strict";
import { naturalCompare } from "../../src/io/anndata/naturalOrder.ts";

test("naturalCompare orders strings as natsort.natsorted does", () => {
  const input = ["s10", "s2", "s1", "a", "B", "s07", "s7", "x1y10", "x1y9", "10", "9", "", "é2", "e10", "s2.5"];
  const natsorted = ["", "9", "10", "B", "a", "e10", "é2", "s1", "s2", "s2.5", "s07", "s7", "s10", "x1y9", "x1y10"];
  assert.deepEqual([...input].sort(naturalCompare), natsorted);
});
