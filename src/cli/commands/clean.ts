/**
 * `crispyx clean DIR`: list the temporary files crispyx runs left in a folder (`.crispyx-tmp-*`, from runs
 * that were killed) and remove those whose process is gone, saying how many bytes that freed. Files of
 * running crispyx processes, and of other machines sharing the folder, are listed and left alone.
 * Cost: one readdir and one /proc lookup per temporary file (../../io/tempFiles.ts).
 */
import type { Command } from "commander";
import { rmSync } from "node:fs";
import { contextOf } from "../context.ts";
import { formatBytes, writeJson } from "./common.ts";

const OWNER_TEXT: Record<string, string> = {
  dead: "left by a run that ended",
  live: "in use by a running crispyx",
  "other-machine": "written on another machine (cannot check; left)",
  "old-style, in use or recent": "older crispyx name, in use or changed in the last hour (left)",
};

export function registerClean(program: Command): void {
  program
    .command("clean")
    .summary("remove temporary files that killed runs left in a folder")
    .description(
      "List crispyx's temporary files (.crispyx-tmp-*) in DIR and remove those whose crispyx process has\n" +
        "ended (killed, or the machine restarted). A running crispyx's files are never touched, nor files\n" +
        "written on another machine sharing the folder. Every run also removes what killed runs left for\n" +
        "its own output before it writes.",
    )
    .argument("<dir>", "the folder holding the outputs")
    .option("-n, --dry-run", "list what would be removed, remove nothing")
    .option(
      "--checkpoints",
      "also remove checkpoints of interrupted DE runs (.crispyx-resume-*; kept by default for --resume)",
    )
    .option("--json", "print the result as JSON")
    .action(async (dir: string, opts: { dryRun?: boolean; json?: boolean; checkpoints?: boolean }, c: Command) => {
      contextOf(c);
      const { clean } = await import("../../io/tempFiles.ts");
      const { listCheckpoints } = await import("../../de/checkpoint.ts");
      const r = clean(dir, { dryRun: !!opts.dryRun });
      const checkpoints = listCheckpoints(dir);
      const dropCheckpoints = !!opts.checkpoints && !opts.dryRun;
      if (dropCheckpoints) for (const cp of checkpoints) rmSync(cp.path, { recursive: true, force: true });
      if (opts.json) {
        await writeJson(undefined, {
          dir: r.dir,
          dry_run: !!opts.dryRun,
          bytes_freed: r.bytesFreed,
          files: r.files.map((f) => ({
            path: f.path,
            bytes: f.bytes,
            owner: f.owner,
            stale: f.stale,
            removed: r.removed.includes(f),
          })),
          checkpoints: checkpoints.map((cp) => ({
            path: cp.path,
            bytes: cp.bytes,
            output: cp.forName,
            finished_batches: cp.finishedBatches,
            removed: dropCheckpoints,
          })),
        });
        return;
      }
      for (const cp of checkpoints)
        process.stdout.write(
          `${dropCheckpoints ? "removed" : opts.checkpoints ? "would remove" : "kept"}\t${formatBytes(cp.bytes)}\t${cp.path}\tcheckpoint of an interrupted DE run for ${cp.forName} (${cp.finishedBatches} batches finished; continue with 'crispyx de … --resume'${opts.checkpoints ? "" : ", or remove with --checkpoints"})\n`,
        );
      for (const f of r.files) {
        const verb = f.stale ? (opts.dryRun ? "would remove" : "removed") : "kept";
        process.stdout.write(`${verb}\t${formatBytes(f.bytes)}\t${f.path}\t${OWNER_TEXT[f.owner] ?? f.owner}\n`);
      }
      const n = opts.dryRun ? r.files.filter((f) => f.stale).length : r.removed.length;
      const summary = opts.dryRun
        ? `${n} stale temporary file${n === 1 ? "" : "s"} in ${dir}: removing them would free ${formatBytes(r.bytesFreed)}`
        : `removed ${n} stale temporary file${n === 1 ? "" : "s"} from ${dir}, freed ${formatBytes(r.bytesFreed)}`;
      const kept = r.files.length - r.files.filter((f) => f.stale).length;
      process.stdout.write(`${summary}${kept ? `; ${kept} in use left alone` : ""}\n`);
    });
}
