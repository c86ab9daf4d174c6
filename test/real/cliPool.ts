/**
 * The parent side of cliServer.ts: one long-lived child running crispyx commands one at a time. A child
 * that died, or whose command showed a crash sign, is replaced before the next command.
 */
import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { REPO, type CliResult } from "../cli/helpers.ts";
import { crashSign } from "./corpus.ts";

interface Reply {
  id?: number;
  code?: number;
  stdout?: string;
  stderr?: string;
  ready?: boolean;
}

export class CliChild {
  private child: ChildProcess | null = null;
  private ready: Promise<void> | null = null;
  private next = 1;
  private pending = new Map<number, (r: CliResult) => void>();
  /** Per-command time limit: a hang is a failure, not a stuck test. */
  constructor(private timeoutMs = 120_000) {}

  private start(): Promise<void> {
    const child = fork(join(REPO, "test", "real", "cliServer.ts"), [], {
      cwd: REPO,
      execArgv: ["--import", join(REPO, "bin", "register.mjs")],
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout!.resume();
    this.child = child;
    this.ready = new Promise((resolve) => {
      child.on("message", (m: Reply) => {
        if (m.ready) return resolve();
        const done = this.pending.get(m.id!);
        this.pending.delete(m.id!);
        done?.({ code: m.code!, stdout: m.stdout!, stderr: m.stderr! });
      });
    });
    child.on("exit", (code, signal) => {
      if (this.child === child) this.child = null;
      for (const [id, done] of this.pending) {
        this.pending.delete(id);
        done({ code: code ?? 1, stdout: "", stderr: `${stderr}\n(the process ended: ${signal ?? `exit ${code}`})` });
      }
    });
    return this.ready;
  }

  async run(args: string[]): Promise<CliResult> {
    if (!this.child) await this.start();
    else await this.ready;
    const child = this.child!;
    const id = this.next++;
    const result = await new Promise<CliResult>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        child.kill("SIGKILL");
        resolve({ code: 124, stdout: "", stderr: `timed out after ${this.timeoutMs / 1000} s` });
      }, this.timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      child.send({ id, args });
    });
    if (result.code !== 0 && (crashSign(result.stderr) || !this.child)) this.stop(); // a fresh module for the next command
    return result;
  }

  stop(): void {
    const c = this.child;
    this.child = null;
    if (c && c.exitCode === null) c.kill();
  }
}
