/** What the zarr metadata parsers throw; the store turns it into one FileFormatError naming store and element. */
export class MetadataProblem extends Error {}

export function problem(message: string): never {
  throw new MetadataProblem(message);
}
