/**
 * One command as a whole process under GNU time (`/usr/bin/time -v`): wall and CPU seconds and peak RSS, as
 * the benchmarks report them. `check` (default) throws with the command's last stderr when it fails.
 */
import { spawnSync } from "node:child_process";

export interface TimeV {
  wall: number;
  cpu: number;
  rssMiB: number;
  status: number | null;
  stdout: string;
  stderr: string;
}

export function timeV(cmd: string[], opts: { env?: NodeJS.ProcessEnv; check?: boolean } = {}): TimeV {
  const r = spawnSync("/usr/bin/time", ["-v", ...cmd], { encoding: "utf8", maxBuffer: 1 << 28, env: opts.env });
  if ((opts.check ?? true) && r.status !== 0) throw new Error(`${cmd.join(" ")} failed:\n${r.stderr.slice(-3000)}`);
  const num = (re: RegExp) => Number(re.exec(r.stderr)?.[1] ?? Number.NaN);
  const w = /Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)/.exec(r.stderr);
  return {
    wall: w ? Number(w[1] ?? 0) * 3600 + Number(w[2]) * 60 + Number(w[3]) : Number.NaN,
    cpu: num(/User time \(seconds\): ([\d.]+)/) + num(/System time \(seconds\): ([\d.]+)/),
    rssMiB: num(/Maximum resident set size \(kbytes\): (\d+)/) / 1024,
    status: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
  };
}
