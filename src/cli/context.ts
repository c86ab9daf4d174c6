/**
 * What every command needs from the global options: where messages go, the memory budget, and a
 * progress display wired to the library's StreamOptions.
 */
import type { Command } from "commander";
import { totalmem } from "node:os";
import { checkMemoryBudget, type StreamOptions } from "../core/streaming.ts";
import { detectAvailableMemory } from "../helpers/systemMemory.ts";
import { ProgressDisplay } from "./progress.ts";

export interface GlobalOptions {
  quiet?: boolean;
  verbose?: boolean;
  debug?: boolean;
  /** Bytes, already parsed from --memory-limit. */
  memoryLimit?: number;
}

export class Context {
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly debug: boolean;
  readonly memoryBudget?: number;
  private displays: ProgressDisplay[] = [];
  private budgetChecked = false;

  constructor(
    options: GlobalOptions,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {
    this.quiet = !!options.quiet;
    this.verbose = !!options.verbose && !options.quiet;
    this.debug = !!options.debug;
    this.memoryBudget = options.memoryLimit;
  }

  /** A status message on stderr (silenced by --quiet). */
  say(message: string): void {
    if (!this.quiet) this.stderr.write(`${message}\n`);
  }

  /** A detail shown only with --verbose. */
  detail(message: string): void {
    if (this.verbose) this.stderr.write(`${message}\n`);
  }

  /**
   * Options for one streaming operation: the memory budget from --memory-limit and progress bars.
   * Call `done()` on the returned display's stop when the operation finishes (finishStreams does it).
   */
  stream(extra: StreamOptions = {}): StreamOptions {
    this.checkBudget();
    const display = new ProgressDisplay({
      bars: !this.quiet && !!this.stderr.isTTY,
      logPhases: this.verbose,
      stream: this.stderr,
    });
    this.displays.push(display);
    return {
      ...(this.memoryBudget !== undefined ? { memoryBudget: this.memoryBudget, strictBudget: true } : {}),
      ...extra,
      onProgress: display.onProgress,
    };
  }

  /**
   * --memory-limit, once per command that streams: below the minimum is an error; above the machine's
   * memory (or the cgroup limit of a job) a warning, since blocks planned for it would not fit.
   */
  private checkBudget(): void {
    if (this.budgetChecked || this.memoryBudget === undefined) return;
    this.budgetChecked = true;
    checkMemoryBudget(this.memoryBudget);
    const cgroup = detectAvailableMemory().cgroupLimitBytes;
    const physical = cgroup !== null ? Math.min(cgroup, totalmem()) : totalmem();
    if (this.memoryBudget > physical) {
      const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
      this.say(
        `warning: --memory-limit ${gib(this.memoryBudget)} is more than this machine's memory (${gib(physical)}${cgroup !== null && cgroup < totalmem() ? ", the job's limit" : ""}); blocks planned for it may not fit`,
      );
    }
  }

  /** Close any open progress bar (before printing results or an error). */
  finishStreams(): void {
    for (const d of this.displays) d.stop();
    this.displays = [];
  }
}

let current: Context | undefined;

/** The context of the command being run, built from its own and its parents' options. */
export function contextOf(command: Command): Context {
  current?.finishStreams();
  current = new Context(command.optsWithGlobals() as GlobalOptions);
  return current;
}

/** The context of the running command, if one was made (used by the error reporter). */
export function currentContext(): Context | undefined {
  return current;
}
