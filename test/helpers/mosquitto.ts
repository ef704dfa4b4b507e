/**
 * A real Eclipse Mosquitto broker for interop tests: started on a free
 * loopback port with a throw-away config file, stopped (and restartable on
 * the same port) by the test that started it.
 *
 * @example
 * ```ts
 * const skip = requireMosquitto();
 * describe("against Mosquitto", { skip }, () => {
 *   let mosquitto: Mosquitto;
 *   before(async () => { mosquitto = await startMosquitto(["max_inflight_messages 2"]); });
 *   after(() => mosquitto.stop());
 *   it("…", async () => { const c = await connect(mosquitto.url); … });
 * });
 * ```
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram, missing } from "./programs.js";

/** Where Debian installs the broker (`/usr/sbin` is not on every user's PATH). */
const DEBIAN_PATH = "/usr/sbin/mosquitto";

/** The mosquitto executable, or undefined when it is not installed. */
export function mosquittoPath(): string | undefined {
  return findProgram("mosquitto") ?? findProgram(DEBIAN_PATH);
}

/**
 * `false` when mosquitto is installed, else a skip reason (after a loud
 * warning); throws under CI=true. Pass the result as `{ skip }`.
 */
export function requireMosquitto(): string | false {
  return mosquittoPath() === undefined ? missing("mosquitto (the broker)", "mosquitto") : false;
}

export interface Mosquitto {
  /** The TCP port on 127.0.0.1 (the same across restarts). */
  readonly port: number;
  /** `mqtt://127.0.0.1:PORT`. */
  readonly url: string;
  /** Stops the broker (SIGTERM, SIGKILL after 3 s) and waits for it to exit; removes its config. Idempotent. */
  stop(): Promise<void>;
  /**
   * Stops the broker if it runs, then starts it again on the same port (also
   * after `stop()`, for outage tests); resolves once it accepts connections.
   * With `persistence false` (the default) sessions and retained messages are gone.
   */
  restart(): Promise<void>;
  /** Everything the broker wrote to stderr/stdout so far (for failure messages). */
  log(): string;
}

/** A free TCP port on 127.0.0.1 (bound then released: mosquitto cannot be told to pick one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on `port`; rejects after `timeoutMs`. */
async function waitListening(
  port: number,
  child: ChildProcess,
  log: () => string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `mosquitto exited (${child.exitCode ?? child.signalCode}) before listening on ${port}:\n${log()}`,
      );
    }
    const ok = await new Promise<boolean>((resolve) => {
      const socket = netConnect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`mosquitto not listening on ${port} after ${timeoutMs} ms:\n${log()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Starts mosquitto on a free port of 127.0.0.1 with `listener PORT 127.0.0.1`,
 * `allow_anonymous true` and `persistence false`, followed by `extraConfig`
 * lines (e.g. `max_inflight_messages 2`, `max_packet_size 1000`).
 */
export async function startMosquitto(extraConfig: string[] = []): Promise<Mosquitto> {
  const program = mosquittoPath();
  if (program === undefined)
    throw new Error("mosquitto is not installed (apt-get install mosquitto)");
  const port = await freePort();
  const lines = [
    `listener ${port} 127.0.0.1`,
    "allow_anonymous true",
    "persistence false",
    ...extraConfig,
    "",
  ];
  let dir: string | undefined;
  let output = "";
  let child: ChildProcess | undefined;

  const removeConfig = () => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  };

  const start = async () => {
    dir ??= mkdtempSync(join(tmpdir(), "starling-mosquitto-"));
    const config = join(dir, "mosquitto.conf");
    writeFileSync(config, lines.join("\n"));
    const c = spawn(program, ["-c", config], { stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    c.stdout?.setEncoding("utf8").on("data", (s: string) => {
      output += s;
    });
    c.stderr?.setEncoding("utf8").on("data", (s: string) => {
      output += s;
    });
    c.on("error", (err) => {
      output += `\nspawn error: ${err.message}`;
    });
    await waitListening(port, c, () => output);
  };

  const halt = async () => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once("exit", () => r()));
    c.kill("SIGTERM");
    const timer = setTimeout(() => c.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await start();
  } catch (err) {
    await halt();
    removeConfig();
    throw err;
  }

  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    log: () => output,
    async stop() {
      await halt();
      removeConfig();
    },
    async restart() {
      await halt();
      try {
        await start();
      } catch (err) {
        await halt();
        removeConfig();
        throw err;
      }
    },
  };
}
