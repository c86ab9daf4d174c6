// Child process for editCrash.test.ts: runs one in-place edit and SIGKILLs itself at a given step.
// argv: file, target ("obs" replaces /obs, "uns" creates /uns/fresh), step (an EditOptions step or "mid-write").
import { replaceElement } from "../../src/io/anndata/edit.ts";
import { writeElem } from "../../src/io/anndata/registry.ts";
import { categorical, dataframe, dict, ndarray, scalar, strings } from "../../src/io/anndata/model.ts";

const [file, target, step] = process.argv.slice(2) as [string, "obs" | "uns", string];
const die = () => process.kill(process.pid, "SIGKILL");

export function newObs(n: number) {
  return dataframe(
    Array.from({ length: n }, (_, i) => `cell_${i}`),
    {
      edited: strings(Array.from({ length: n }, (_, i) => `new_${i}`)),
      group: categorical(Array.from({ length: n }, (_, i) => `g${i % 3}`)),
      value: ndarray(Float64Array.from({ length: n }, (_, i) => i * 1.5)),
    },
  );
}

export const NEW_UNS = dict({
  a: scalar(1),
  b: strings(["x", "y"]),
  c: dict({ d: ndarray(Float64Array.of(1, 2, 3)) }),
});

if (file) {
  const element = target === "obs" ? newObs(20) : NEW_UNS;
  replaceElement(
    file,
    target === "obs" ? "/obs" : "/uns/fresh",
    (f, at) => {
      if (step === "mid-write") {
        // Half of the element is written (HDF5 metadata partly unflushed) when the process dies.
        f.createGroup(at);
        writeElem(f, `${at}/edited`, strings(Array.from({ length: 20 }, (_, i) => `half_${i}`)));
        f.flush();
        writeElem(f, `${at}/more`, ndarray(Float64Array.from({ length: 1000 }, (_, i) => i)));
        die();
      }
      writeElem(f, at, element);
    },
    { onStep: (s) => s === step && die() },
  );
}
