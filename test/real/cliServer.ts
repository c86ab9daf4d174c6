/**
 * A child process that runs `crispyx` commands sent over IPC with the CLI's own main(), so the corpus test
 * pays the TypeScript loader's start-up (~1 s of CPU) once per child instead of once per command
 * (~500 commands). stdout/stderr are captured per command; the exit code is process.exitCode. The parent
 * (cliPool.ts) replaces the child after a crash sign, so a WebAssembly abort cannot leak into the next command.
 */
import { main } from "../../src/cli/main.ts";

interface Request {
  id: number;
  args: string[];
}

type Write = typeof process.stdout.write;
let out = "";
let err = "";
let current: number | null = null;
const realOut = process.stdout.write.bind(process.stdout);
const realErr = process.stderr.write.bind(process.stderr);

function capture(into: "out" | "err"): Write {
  return ((chunk: string | Uint8Array, enc?: unknown, cb?: unknown) => {
    const s = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    if (into === "out") out += s;
    else err += s;
    const done = typeof enc === "function" ? enc : cb;
    if (typeof done === "function") queueMicrotask(() => (done as () => void)());
    return true;
  }) as Write;
}

process.stdout.setMaxListeners(0); // main() adds an EPIPE listener per call
process.on("uncaughtException", (e) => {
  err += `\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
  process.stdout.write = realOut;
  process.stderr.write = realErr;
  if (current !== null) process.send!({ id: current, code: 70, stdout: out, stderr: err });
  process.exit(70);
});

process.on("message", async (msg: Request) => {
  current = msg.id;
  out = "";
  err = "";
  process.exitCode = 0;
  process.stdout.write = capture("out");
  process.stderr.write = capture("err");
  try {
    await main(["node", "crispyx", ...msg.args]);
  } catch (e) {
    err += `\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
    process.exitCode = 1;
  } finally {
    process.stdout.write = realOut;
    process.stderr.write = realErr;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  current = null;
  process.send!({ id: msg.id, code, stdout: out, stderr: err });
});
process.send!({ ready: true });
