/**
 * The three brokers of the side-by-side benchmark, each started as its
 * users start it, in its own process, on its defaults, bound to 127.0.0.1
 * on a port chosen at run time (and two reference points that are not
 * brokers, below):
 *
 * - Starling: `node dist/cli/main.js broker -c starling.toml --data-dir DIR
 *   --log-level warn` (the built CLI; persistence on, a fresh data directory).
 * - Mosquitto: `mosquitto -c mosquitto.conf` (`listener PORT 127.0.0.1`,
 *   `allow_anonymous true`, `persistence false`).
 * - Aedes: `node bench/broker/aedes-server.mjs` (its defaults, port 0).
 *
 * Opt-in (`--brokers …,node-floor,node-floor-2`), not peers — never Starling's
 * "best peer": the Node floor, `node bench/broker/node-floor.mjs` (port 0), a
 * bare `node:net` forwarder that does the least a Node process can do to pass
 * the scenarios that declare it (`floor` in scenarios.ts), and the same with
 * `--workers 2` (node:cluster, SCHED_NONE; connection scenarios only). Its
 * CPU and RSS are the sum over its processes (`pids`).
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

/** Everything `--brokers` accepts. */
export const ALL_BROKERS = [
  "starling",
  "mosquitto",
  "aedes",
  "node-floor",
  "node-floor-2",
] as const;
export type BrokerName = (typeof ALL_BROKERS)[number];
/** The default `--brokers`. */
export const BROKERS: readonly BrokerName[] = ["starling", "mosquitto", "aedes"];
/** The brokers Starling is compared with ("best peer"). */
export const PEERS: readonly BrokerName[] = ["mosquitto", "aedes"];
/** The Node floor: reference points, not brokers (opt-in, never peers). */
export const FLOORS = ["node-floor", "node-floor-2"] as const;
export type FloorName = (typeof FLOORS)[number];
export const isFloor = (b: BrokerName): b is FloorName => (FLOORS as readonly string[]).includes(b);

export const LABEL: Record<BrokerName, string> = {
  starling: "Starling",
  mosquitto: "Mosquitto",
  aedes: "Aedes",
  "node-floor": "Node floor",
  "node-floor-2": "Node floor, 2 workers",
};

/** Column tags in the table's CPU and lost columns. */
export const SHORT: Record<BrokerName, string> = {
  starling: "S",
  mosquitto: "M",
  aedes: "A",
  "node-floor": "F",
  "node-floor-2": "F2",
};

/** Where Debian installs the broker. */
export const MOSQUITTO = "/usr/sbin/mosquitto";

export interface RunningBroker {
  readonly name: BrokerName;
  /** The process started (the cluster's primary for `node-floor-2`). */
  readonly pid: number;
  /** Every process of the broker (the primary and its workers): CPU and RSS are their sum. */
  readonly pids: readonly number[];
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
  pids: readonly number[] = [child.pid as number],
): RunningBroker {
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const gone = new Promise<void>((r) => {
    if (exited()) r();
    else child.once("exit", () => r());
  });
  return {
    name,
    pid: child.pid as number,
    pids,
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
  "node-floor":
    "NOT a broker and not a peer (never Starling's \"best peer\"): `node bench/broker/node-floor.mjs`, a measuring stick for what Node itself costs — `node:net` only, `createServer({ noDelay: true })` on 127.0.0.1 port 0, packets framed by their fixed header; CONNECT → CONNACK accepted (nothing checked), SUBSCRIBE → SUBACK granting QoS 0, PINGREQ → PINGRESP, DISCONNECT → close; a QoS 0 PUBLISH is forwarded byte for byte (not re-encoded) to the connections subscribed to exactly its topic or to a `prefix/#` filter (mqttload's fan-in uses one); what one read sends to a connection goes out as one write on the next tick, as in Starling. No `+` wildcards, QoS 1/2, retained messages, sessions, will, keepalive timeouts, validation, limits or backpressure, logging, $SYS or persistence. Run only for the scenarios marked for it; its memory per connection is the same RSS measurement as the brokers'",
  "node-floor-2":
    "NOT a broker and not a peer: the Node floor with `--workers 2` — node:cluster, `schedulingPolicy = SCHED_NONE` (the primary owns the listening socket, both workers accept from it, the kernel spreads the connections); no routing between workers, so connection scenarios only. mqttload reads one pid, so for `conn` the harness adds up the three processes itself: CPU = their CPU time from mqttload's start to its last CONNACK (its `phase=connected` line with `--settle 0 --hold`) over that wall time, \"other\" CPU = mqttload's minus what the workers used; RSS = the sum of the three processes' VmRSS just before mqttload starts and 2 s (the others' settle time; 0.5 s with `--quick`) after the last CONNACK; `conn-max` sums them in the generator. the sums count pages the processes share (Node's code) once per process, which inflates the totals but hardly the growth that memory per connection comes from; each worker's V8 heap grows on its own, so the per-connection figure carries two heaps' growth, not one",
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
      return startScript(name, "bench/broker/aedes-server.mjs", [], dir, logFile, paths);
    case "node-floor":
      return startScript(name, "bench/broker/node-floor.mjs", [], dir, logFile, paths);
    case "node-floor-2":
      return startScript(
        name,
        "bench/broker/node-floor.mjs",
        ["--workers", "2"],
        dir,
        logFile,
        paths,
      );
  }
}

/**
 * A Node script that prints `listening PORT` once it listens on the port the
 * OS picked (Aedes, the Node floor), and, with workers, `workers PID,PID,…`
 * right after.
 */
async function startScript(
  name: BrokerName,
  script: string,
  args: string[],
  dir: string,
  logFile: string,
  paths: Paths,
): Promise<RunningBroker> {
  const withWorkers = args.includes("--workers");
  const fd = openSync(logFile, "a");
  const child = spawn(process.execPath, [join(paths.root, script), ...args], {
    cwd: dir,
    stdio: ["ignore", "pipe", fd],
  });
  closeSync(fd);
  const b0 = track(name, child, 0, logFile);
  try {
    const { port, workers } = await new Promise<{ port: number; workers: number[] }>(
      (resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error("no `listening` line within 20 s")),
          20_000,
        );
        child.once("exit", (code) => reject(new Error(`exited early (${code})`)));
        let port = 0;
        createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
          const m = /^listening (\d+)$/.exec(line);
          if (m) port = Number(m[1]);
          const w = /^workers ([\d,]+)$/.exec(line);
          if (port > 0 && (!withWorkers || w)) {
            clearTimeout(timer);
            resolve({ port, workers: w ? w[1].split(",").map(Number) : [] });
          }
        });
      },
    );
    await probe(paths.mqttload, port, 20, () => b0.exited());
    return { ...b0, port, pids: [b0.pid, ...workers] };
  } catch (e) {
    await b0.stop(1_000);
    throw new Error(`${LABEL[name]} did not start: ${(e as Error).message}\n${b0.tail()}`);
  }
}
