/**
 * The three brokers of the side-by-side benchmark, each started as its
 * users start it, in its own process, on its defaults, bound to 127.0.0.1
 * on a port chosen at run time:
 *
 * - Starling: `node dist/cli/main.js broker -c starling.toml --data-dir DIR
 *   --log-level warn` (the built CLI; persistence on, a fresh data directory).
 * - Mosquitto: `mosquitto -c mosquitto.conf` (`listener PORT 127.0.0.1`,
 *   `allow_anonymous true`, `persistence false`).
 * - Aedes: `node bench/broker/aedes-server.mjs` (its defaults, port 0).
 *
 * A broker is ready once it answers a CONNECT (mqttload's `probe`). Its
 * output goes to a log file in its temporary directory, whose tail is
 * shown if it fails.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { probe } from "./mqttload.js";

export const BROKERS = ["starling", "mosquitto", "aedes"] as const;
export type BrokerName = (typeof BROKERS)[number];

export const LABEL: Record<BrokerName, string> = {
  starling: "Starling",
  mosquitto: "Mosquitto",
  aedes: "Aedes",
};

/** Where Debian installs the broker. */
export const MOSQUITTO = "/usr/sbin/mosquitto";

export interface RunningBroker {
  readonly name: BrokerName;
  readonly pid: number;
  readonly port: number;
  /** The last lines of its output. */
  tail(): string;
  /** True once the process has exited. */
  exited(): boolean;
  /** SIGTERM, SIGKILL after `graceMs`; resolves once it has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (listen on 0, read it, close). */
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

interface Paths {
  /** The project root (for dist/ and bench/). */
  root: string;
  /** The mqttload binary (for the readiness probe). */
  mqttload: string;
}

function tailOf(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-20).join("\n");
  } catch {
    return "";
  }
}

function track(
  name: BrokerName,
  child: ChildProcess,
  port: number,
  logFile: string,
): RunningBroker {
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const gone = new Promise<void>((r) => {
    if (exited()) r();
    else child.once("exit", () => r());
  });
  return {
    name,
    pid: child.pid as number,
    port,
    tail: () => tailOf(logFile),
    exited,
    async stop(graceMs = 10_000) {
      if (exited()) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** Spawns `command args` with its output in `logFile`; waits until it answers a CONNECT on `port`. */
async function spawnAndProbe(
  name: BrokerName,
  command: string,
  args: string[],
  port: number,
  logFile: string,
  paths: Paths,
): Promise<RunningBroker> {
  const fd = openSync(logFile, "a");
  const child = spawn(command, args, { cwd: paths.root, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const b = track(name, child, port, logFile);
  try {
    await probe(paths.mqttload, port, 20, () => b.exited());
  } catch (e) {
    await b.stop(1_000);
    throw new Error(`${LABEL[name]} did not start: ${(e as Error).message}\n${b.tail()}`);
  }
  return b;
}

/** Starling's generated config: one MQTT listener, nothing else (every other key at its default). */
export function starlingToml(port: number): string {
  return [
    "# written by bench/broker (npm run bench:broker); every other key at its default",
    "[[listeners]]",
    'type = "mqtt"',
    'host = "127.0.0.1"',
    `port = ${port}`,
    "",
  ].join("\n");
}

/** Mosquitto's generated config; everything else at its defaults. */
export function mosquittoConf(port: number): string {
  return [
    "# written by bench/broker (npm run bench:broker); everything else at its defaults",
    `listener ${port} 127.0.0.1`,
    "allow_anonymous true",
    "persistence false",
    "",
  ].join("\n");
}

/** How each broker is configured, for the report. */
export const SETTINGS: Record<BrokerName, string> = {
  starling:
    '`node dist/cli/main.js broker -c starling.toml --data-dir <fresh temp dir> --log-level warn`; starling.toml holds only `[[listeners]] type = "mqtt", host = "127.0.0.1", port = <free port>` — every other key at its default (persistence on with `sync = "full"` through `--data-dir`; these scenarios use clean sessions, which are not stored, but retained messages are; `max_inflight = 1000`, `max_queued_messages = 1000`, `max_connections = 100000`, `write_high_water_mark = 1 MiB`, `$SYS` every 10 s, pino logging at warn)',
  mosquitto:
    "`/usr/sbin/mosquitto -c mosquitto.conf` with `listener <free port> 127.0.0.1`, `allow_anonymous true`, `persistence false`; everything else at its defaults (`max_inflight_messages 20`, `max_queued_messages 1000`, `max_connections -1` (no limit), `sys_interval 10`, logging connections to stderr, which goes to a file)",
  aedes:
    "`node bench/broker/aedes-server.mjs`: `await Aedes.createBroker()` with no options (in-memory persistence, mqemitter, `concurrency 100`, no inflight or queue limits), `net.createServer(aedes.handle)` on 127.0.0.1 port 0",
};

/** Starts one broker of `name` in a fresh directory `dir` (created here). */
export async function startBroker(
  name: BrokerName,
  dir: string,
  paths: Paths,
): Promise<RunningBroker> {
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, "broker.log");
  switch (name) {
    case "starling": {
      const port = await freePort();
      const toml = join(dir, "starling.toml");
      writeFileSync(toml, starlingToml(port));
      const data = join(dir, "data");
      mkdirSync(data);
      return spawnAndProbe(
        name,
        process.execPath,
        [
          join(paths.root, "dist/cli/main.js"),
          "broker",
          "-c",
          toml,
          "--data-dir",
          data,
          "--log-level",
          "warn",
        ],
        port,
        logFile,
        paths,
      );
    }
    case "mosquitto": {
      const port = await freePort();
      const conf = join(dir, "mosquitto.conf");
      writeFileSync(conf, mosquittoConf(port));
      // Run as root, mosquitto drops to the user `mosquitto`, which must still read its config.
      chmodSync(dir, 0o755);
      chmodSync(conf, 0o644);
      return spawnAndProbe(name, MOSQUITTO, ["-c", conf], port, logFile, paths);
    }
    case "aedes":
      return startAedes(dir, logFile, paths);
  }
}

/** Aedes prints `listening PORT` once it listens on the port the OS picked. */
async function startAedes(dir: string, logFile: string, paths: Paths): Promise<RunningBroker> {
  const fd = openSync(logFile, "a");
  const child = spawn(process.execPath, [join(paths.root, "bench/broker/aedes-server.mjs")], {
    cwd: dir,
    stdio: ["ignore", "pipe", fd],
  });
  closeSync(fd);
  let port = 0;
  const b0 = track("aedes", child, 0, logFile);
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no `listening` line within 20 s")), 20_000);
      child.once("exit", (code) => reject(new Error(`exited early (${code})`)));
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
        const m = /^listening (\d+)$/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
    await probe(paths.mqttload, port, 20, () => b0.exited());
  } catch (e) {
    await b0.stop(1_000);
    throw new Error(`Aedes did not start: ${(e as Error).message}\n${b0.tail()}`);
  }
  return { ...b0, port };
}
