/**
 * The README's quick tour must run as written: every shell line of its ```sh block through the real CLI
 * (in a fresh directory, in order) and its ```ts block as a program importing "crispyx".
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, REPO, tempDir } from "./helpers.ts";
import { h5adOpenFailures, findPython, SKIP_MESSAGE } from "../helpers/anndataChecker.ts";

const tmp = tempDir("crispyx-readme-");
after(() => tmp.cleanup());

function tourBlocks(lang: string): string[] {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const start = readme.indexOf("<!-- QUICK-TOUR -->");
  const end = readme.indexOf("<!-- /QUICK-TOUR -->");
  assert.ok(start >= 0 && end > start, "README has the quick-tour section");
  const section = readme.slice(start, end);
  return [...section.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!);
}

/** Split a shell line into words (double and single quotes; no other shell syntax is used in the tour). */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line))) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

test("README quick tour: every CLI line runs and exits 0", () => {
  const [sh] = tourBlocks("sh");
  assert.ok(sh, "a sh block");
  const lines = sh
    .split("\n")
    .map((l) => l.replace(/\s+#\s.*$/, "").trim())
    .filter((l) => l && !l.startsWith("#"));
  assert.ok(lines.length >= 10);
  for (const line of lines) {
    const [cmd, ...args] = words(line);
    assert.equal(cmd, "crispyx", line);
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: tmp.path, encoding: "utf8" });
    assert.equal(r.status, 0, `${line}\n${r.stderr}`);
  }
  for (const f of [
    "demo.h5ad",
    "std.h5ad",
    "qc.h5ad",
    "gata1.h5ad",
    "norm.h5ad",
    "norm_csc.h5ad",
    "sorted.h5ad",
    "de_t.h5ad",
    "de_t.csv",
    "de_w.h5ad",
    "obs.csv",
    "report.html",
  ]) {
    assert.ok(existsSync(join(tmp.path, "tour", f)), f);
  }
});

test("README quick tour: every .h5ad the tour wrote opens in anndata (one batched check)", (t) => {
  if (!findPython()) return t.skip(SKIP_MESSAGE);
  const dir = join(tmp.path, "tour");
  if (!existsSync(dir)) return t.skip("the CLI tour did not run");
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".h5ad"))
    .map((f) => join(dir, f));
  assert.ok(files.length >= 12, files.join(", "));
  assert.deepEqual(h5adOpenFailures(files), []); // in anndata 0.8 and the newest
});

test("README quick tour: the TypeScript snippet runs against the package's public API", () => {
  const [ts] = tourBlocks("ts");
  assert.ok(ts, "a ts block");
  // The tour's files come from the CLI test above (same directory); make sure they exist when run alone.
  if (!existsSync(join(tmp.path, "tour", "demo.h5ad"))) {
    const r = spawnSync(process.execPath, [CLI, "--quiet", "demo", "-o", "tour"], { cwd: tmp.path, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
  }
  const program = join(tmp.path, "tour.mts");
  writeFileSync(program, ts.replace(/from "crispyx"/g, `from ${JSON.stringify(join(REPO, "src", "index.ts"))}`));
  const r = spawnSync(process.execPath, ["--import", join(REPO, "bin", "register.mjs"), program], {
    cwd: tmp.path,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^AnnData object with n_obs × n_vars = 5000 × 2000/m);
  assert.match(r.stdout, /^perturbation gene_symbols non-targeting$/m);
  assert.match(r.stdout, /^\d+ counts$/m);
  assert.ok(existsSync(join(tmp.path, "tour", "norm_api.h5ad")));
  assert.match(r.stdout, /^20 perturbations vs 'non-targeting': .*de_api\.h5ad, .*de_api\.csv$/m);
});
