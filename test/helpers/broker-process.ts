/**
 * `starling broker` as a child process, for tests that stop, kill and
 * restart it: the CLI run from source with tsx, ready once it logs its
 * `listening on mqtt://127.0.0.1:PORT` line, its output kept for failure
 * messages. Every wait has a deadline; nothing listens beyond 127.0.0.1.
 */
import { type ChildProcess, spawn } from "node:child_process";

const root = new URL("../..", import.meta.url).pathname;
const tsx = new URL("../../node_modules/tsx/dist/loader.mjs", import.meta.url).href;
const main = new URL("../../src/cli/main.ts", import.meta.url).pathname;

/** Most output kept per process (its tail), for failure messages. */
const OUTPUT_LIMIT = 64 * 1024;

/** A running `starling broker` process. */
export interface BrokerProcess {
  readonly proc: ChildProcess;
  /** Its MQTT TCP port, from the log line. */
  readonly port: number;
  /** Its WebSocket port, from the log line, when `waitForWs` asked for it. */
  readonly wsPort?: number;
  /** The tail of its stdout and stderr, interleaved. */
  output(): string;
  /** Sends `signal` and resolves once the process has exited (and been reaped). */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** A process that exited before listening. */
export interface BrokerExit {
  code: number | null;
  output: string;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (listen on 0, read it, close). */
export { freePort as freeLoopbackPort } from "./mosquitto.js";

const exited = (proc: ChildProcess) => proc.exitCode !== null || proc.signalCode !== null;

/**
 * Spawns `starling broker ARGS` (from the repository root unless `cwd`;
 * under an open-file limit of `fileLimit` if given; with `waitForWs`, ready
 * once its WebSocket listener logs too);
 * resolves once it listens, or with its exit code and output if it exits
 * first. Rejects (after killing it) if it neither listens nor exits within
 * `timeoutMs`.
 */
export function spawnBroker(
  args: string[],
  options: { cwd?: string; timeoutMs?: number; fileLimit?: number; waitForWs?: boolean } = {},
): Promise<BrokerProcess | BrokerExit> {
  const argv = [process.execPath, "--import", tsx, main, "broker", ...args];
  // With a file limit: bash sets it and then becomes the broker (exec), so signals reach it.
  const [command, ...rest] =
    options.fileLimit === undefined
      ? argv
      : ["bash", "-c", `ulimit -n ${options.fileLimit} && exec "$@"`, "bash", ...argv];
  const proc = spawn(command, rest, {
    cwd: options.cwd ?? root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const exit = new Promise<void>((resolve) => {
    if (exited(proc)) resolve();
    else proc.once("exit", () => resolve());
  });
  const kill = async (signal: NodeJS.Signals) => {
    if (!exited(proc)) proc.kill(signal);
    await exit;
  };
  const stop = async (graceMs = 5000) => {
    if (exited(proc)) return;
    const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
    await kill("SIGTERM");
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    let listening = false;
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`broker did not start within ${options.timeoutMs ?? 15_000} ms:\n${out}`));
    }, options.timeoutMs ?? 15_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.length > OUTPUT_LIMIT) out = out.slice(-OUTPUT_LIMIT);
      if (listening) return;
      const m = /listening on mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      const w = options.waitForWs ? /listening on ws:\/\/127\.0\.0\.1:(\d+)/.exec(out) : null;
      if (m && (!options.waitForWs || w)) {
        listening = true;
        clearTimeout(timer);
        const wsPort = w ? Number(w[1]) : undefined;
        resolve({ proc, port: Number(m[1]), wsPort, output: () => out, kill, stop });
      }
    };
    proc.stdout?.on("data", onData);
    proc.stderr?.on("data", onData);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      if (!listening) resolve({ code, output: out });
    });
  });
}
