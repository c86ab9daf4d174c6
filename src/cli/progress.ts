/**
 * Progress bars for passes over X, on stderr: one bar per phase ("normalizing", "pass 1/2: counting"…)
 * with the rate in units/s and an ETA. Adapts the library's StreamOptions.onProgress callback, so any
 * streaming operation gets bars without knowing about the terminal.
 *
 * Bars are drawn only when stderr is a terminal and --quiet is off; piping or redirecting stderr (a
 * SLURM log, Snakemake) gets no control characters. With --verbose, each finished phase is also
 * logged as one line (on any stderr).
 */
import cliProgress from "cli-progress";
import type { Progress, ProgressCallback } from "../core/streaming.ts";
import { testFault } from "../core/testFaults.ts";

export interface ProgressOptions {
  /** Draw bars (a terminal and not --quiet). */
  bars: boolean;
  /** Log one line per finished phase. */
  logPhases: boolean;
  stream?: NodeJS.WriteStream;
}

const number = new Intl.NumberFormat("en-US");
/** CRISPYX_TRACE_PROGRESS=1: print every progress event (see onProgress). */
const TRACE = process.env.CRISPYX_TRACE_PROGRESS === "1";

export function formatCount(n: number): string {
  return number.format(Math.round(n));
}

export function formatSeconds(s: number): string {
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 120) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  return m < 120 ? `${m} min ${Math.round(s - 60 * m)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export class ProgressDisplay {
  private bar?: cliProgress.SingleBar;
  private phase?: string;
  private unit = "";
  private started = 0;
  private lastDone = 0;
  private lastTotal = 0;
  private readonly stream: NodeJS.WriteStream;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
  }

  /** The callback to pass as StreamOptions.onProgress. */
  readonly onProgress: ProgressCallback = (p: Progress) => {
    testFault("progress", p.phase);
    // Every event as a tab-separated line, for tests and scripts that check block sizes (each event
    // reports one block's end): what --memory-limit bounds, measured without asking the machine.
    if (TRACE) this.stream.write(`progress\t${p.phase}\t${p.done}\t${p.total}\t${p.unit}\n`);
    if (p.phase !== this.phase) {
      this.finishPhase();
      this.startPhase(p);
    }
    this.lastDone = p.done;
    this.lastTotal = p.total;
    if (this.bar) {
      if (p.total !== this.bar.getTotal()) this.bar.setTotal(p.total);
      this.bar.update(p.done, { rate: this.rate(p.done), timeLeft: this.eta(p.done, p.total) });
    }
  };

  private rate(done: number): string {
    const elapsed = (performance.now() - this.started) / 1000;
    return elapsed > 0.05 ? formatCount(done / elapsed) : "…";
  }

  /** Time left at the phase's average rate so far ("…" until there is one; cli-progress's own ETA prints INF/NULL then). */
  private eta(done: number, total: number): string {
    const elapsed = (performance.now() - this.started) / 1000;
    if (done >= total) return "0 s";
    return elapsed > 0.05 && done > 0 ? formatSeconds((elapsed * (total - done)) / done) : "…";
  }

  private startPhase(p: Progress): void {
    this.phase = p.phase;
    this.unit = p.unit;
    this.started = performance.now();
    if (!this.options.bars) return;
    this.bar = new cliProgress.SingleBar(
      {
        stream: this.stream,
        format: `{phase} [{bar}] {percentage}% | {value}/{total} {unit} | {rate} {unit}/s | ETA {timeLeft}`,
        barsize: 24,
        hideCursor: false, // Ctrl-C ends the process at once (./exitGuards.ts): nothing could show it again
        clearOnComplete: false,
        etaBuffer: 20,
        fps: 8,
        formatValue: (v, _o, type) => (type === "value" || type === "total" ? formatCount(v) : String(v)),
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(p.total, p.done, { phase: p.phase, unit: p.unit, rate: "…", timeLeft: "…" });
  }

  private finishPhase(): void {
    if (this.phase === undefined) return;
    if (this.bar) {
      this.bar.update(this.lastDone, {
        rate: this.rate(this.lastDone),
        timeLeft: this.eta(this.lastDone, this.lastTotal),
      });
      this.bar.stop();
      this.bar = undefined;
    }
    if (this.options.logPhases) {
      const s = (performance.now() - this.started) / 1000;
      this.stream.write(
        `${this.phase}: ${formatCount(this.lastDone)}/${formatCount(this.lastTotal)} ${this.unit} in ${formatSeconds(s)}\n`,
      );
    }
    this.phase = undefined;
  }

  /** End the current bar (call when the operation returns or fails). */
  stop(): void {
    this.finishPhase();
  }
}
