/**
 * `starling bench pub|sub|conn`: a load generator for MQTT brokers, in the
 * manner of emqtt-bench and `mqttx bench` — many clients, QoS, payload size,
 * rates, `%i`/`%c` topic placeholders, TCP/TLS/WebSocket — with a progress
 * line every second, a summary (or `--json`) at the end, end-to-end latency
 * from a header in the payloads, and a `--duration` (default 10 s) so that
 * every run ends by itself.
 *
 * @example
 * ```sh
 * starling bench sub -c 10 -t 'bench/%i' -q 1 &
 * starling bench pub -c 10 -t 'bench/%i' -q 1 --rate 5000 --duration 30
 * starling bench conn -c 10000 --conn-rate 2000 --duration 60
 * ```
 */
import { Command, InvalidArgumentError, type Option } from "commander";
import type { QoS } from "../client/index.js";
import { validateTopicFilter, validateTopicName } from "../protocol/index.js";
import { ConnWorkload } from "./bench-conn.js";
import { HEADER_SIZE, MAX_PUBLISHER } from "./bench-payload.js";
import { PubWorkload } from "./bench-pub.js";
import { BenchRun, type BenchSettings, type BenchTool } from "./bench-run.js";
import { SubWorkload } from "./bench-sub.js";
import { expandTopic } from "./bench-topic.js";
import {
  addConnectionOptions,
  type ConnectionFlags,
  connection,
  emptyProperties,
  parseUrl,
  qosOption,
  UsageError,
  usageErrors,
} from "./client-options.js";
import { intOption } from "./options.js";

/** The flags of the other tools that bench takes as they are (long names). */
const SHARED_OPTIONS = [
  "--host",
  "--port",
  "--url",
  "--username",
  "--pw",
  "--keepalive",
  "--protocol-version",
  "--session-expiry-interval",
  "--cafile",
  "--capath",
  "--cert",
  "--key",
  "--insecure",
  "--tls-use-os-certs",
];

interface BenchFlags {
  host?: string;
  port?: number;
  url?: string;
  username?: string;
  pw?: string;
  keepalive: number;
  protocolVersion?: ConnectionFlags["protocolVersion"];
  sessionExpiryInterval?: number;
  cafile?: string;
  capath?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
  tlsUseOsCerts?: boolean;
  clients: number;
  startNumber: number;
  idPrefix?: string;
  clean: boolean;
  connConcurrency: number;
  connRate?: number;
  connectTimeout: number;
  duration: number;
  count?: number;
  json?: boolean;
  quiet?: boolean;
  // pub and sub
  topic?: string[];
  qos?: QoS;
  // pub
  size?: number;
  retain?: boolean;
  interval?: number;
  rate?: number;
  inflight?: number;
}

/** A number > 0 (fractions allowed), for seconds and rates. */
const positiveNumber = (flag: string) => (value: string) => {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`${flag}: expected a number > 0, got ${JSON.stringify(value)}`);
  return n;
};

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The shared connection flags, taken from the definitions `pub`, `sub` and `rr` use. */
function addSharedOptions(cmd: Command): void {
  const donor = addConnectionOptions(new Command(), "pub");
  for (const long of SHARED_OPTIONS) {
    const option = donor.options.find((o) => o.long === long) as Option;
    if (long === "--protocol-version") option.description = "31, 311 or 5 (default: 311)";
    cmd.addOption(option);
  }
}

function benchCommand(tool: BenchTool, description: string): Command {
  const cmd = new Command(tool)
    .description(description)
    .helpOption("--help", "display help")
    .optionsGroup("Clients:")
    .option("-c, --clients <n>", "number of clients", intOption("-c/--clients", 1, 1_000_000), 1)
    .option(
      "-n, --start-number <n>",
      "the first client's index is this + 1 (%i)",
      intOption("-n/--start-number", 0, MAX_PUBLISHER - 2),
      0,
    )
    .option("--id-prefix <prefix>", `client ids: prefix and index (default: bench-${tool}-PID-)`)
    .option(
      "--no-clean",
      "persistent sessions (needs --id-prefix); MQTT 5: expiry from -x, else never",
    )
    .option(
      "--conn-concurrency <n>",
      "connection attempts in progress at once",
      intOption("--conn-concurrency", 1, 100_000),
      50,
    )
    .option("--conn-rate <n>", "new connections per second at most", positiveNumber("--conn-rate"))
    .option(
      "--connect-timeout <s>",
      "give up a connection attempt after this many seconds",
      positiveNumber("--connect-timeout"),
      10,
    )
    .optionsGroup("Run:")
    .option(
      "--duration <s>",
      tool === "conn"
        ? "hold the connections this many seconds"
        : "run this many seconds after connecting",
      positiveNumber("--duration"),
      10,
    );
  if (tool !== "conn")
    cmd.option(
      "--count <n>",
      tool === "pub"
        ? "messages each client sends (the run ends sooner if all are done)"
        : "messages each client receives (the run ends sooner if all got them)",
      intOption("--count", 1, 0xffff_ffff),
    );
  cmd
    .option("--json", "print the summary as one JSON object")
    .option("--quiet", "no progress lines on stderr");
  return cmd;
}

export function registerBench(program: Command): void {
  const bench = new Command("bench")
    .description("load-test a broker: publishers, subscribers or connections (like emqtt-bench)")
    .helpOption("--help", "display help")
    .enablePositionalOptions();

  const pub = benchCommand("pub", "N publishers: sent and acknowledged msg/s, publish→ack latency")
    .optionsGroup("Publishing:")
    .option("-t, --topic <topic>", "topic (%i: client index, %c: client id)", collect)
    .option("-q, --qos <qos>", "QoS", qosOption("-q/--qos"), 0 as QoS)
    .option(
      "-s, --size <bytes>",
      `payload size (the first ${HEADER_SIZE} bytes are the bench header)`,
      intOption("-s/--size", 0, 268_435_000),
      256,
    )
    .option("-r, --retain", "retain the messages")
    .option(
      "-I, --interval <ms>",
      "per client: milliseconds between publishes",
      positiveNumber("-I/--interval"),
    )
    .option("--rate <n>", "in total: messages per second", positiveNumber("--rate"))
    .option(
      "--inflight <n>",
      "QoS 1/2: unacknowledged publishes per client",
      intOption("--inflight", 1, 65_535),
      10,
    );
  const sub = benchCommand(
    "sub",
    "N subscribers: received msg/s, end-to-end latency, lost messages",
  )
    .optionsGroup("Subscribing:")
    .option(
      "-t, --topic <filter>",
      "topic filter, repeatable (%i: client index, %c: client id)",
      collect,
    )
    .option("-q, --qos <qos>", "subscription QoS", qosOption("-q/--qos"), 0 as QoS);
  const conn = benchCommand("conn", "open N connections: connections/s, connect latency, failures")
    .option("--rate <n>", "the same as --conn-rate", positiveNumber("--rate"))
    .option(
      "--interval <ms>",
      "milliseconds between connection attempts (--conn-rate 1000/ms)",
      positiveNumber("--interval"),
    );
  for (const cmd of [pub, sub, conn]) {
    addSharedOptions(cmd);
    const tool = cmd.name() as BenchTool;
    cmd.action((flags: BenchFlags) => usageErrors(cmd, () => runBench(tool, flags)));
    bench.addCommand(cmd);
  }
  program.addCommand(bench);
}

/** Checks the flags and turns them into the run's settings. Throws {@link UsageError}. */
export function benchSettings(tool: BenchTool, flags: BenchFlags): BenchSettings {
  const warn = (msg: string) => process.stderr.write(`Warning: ${msg}\n`);
  if (!flags.clean && flags.idPrefix === undefined)
    throw new UsageError(
      "--no-clean needs --id-prefix: persistent sessions need stable client ids",
    );
  // -L without a topic is fine here: bench takes its topics from -t.
  let url = flags.url;
  if (url !== undefined && /^[a-z]+:\/\/[^/]*$/i.test(url)) url = `${url}/`;
  const conn = connection(
    {
      ...flags,
      url,
      // connection() checks what mosquitto_pub checks: a persistent session needs an id
      // (bench gives every client one), and a will needs a topic (bench sends none).
      id: "bench",
      topic: flags.topic,
      disableCleanSession: !flags.clean,
      qos: flags.qos ?? 0,
      willQos: 0,
    },
    tool === "sub" ? "sub" : "pub",
    emptyProperties(),
    warn,
  );
  if (flags.startNumber + flags.clients >= MAX_PUBLISHER)
    throw new UsageError(
      `-n/--start-number + -c/--clients must stay below ${MAX_PUBLISHER} (client indexes go into the payload header)`,
    );
  let connRate = flags.connRate;
  if (tool === "conn") {
    const given = [flags.connRate, flags.rate, flags.interval].filter((x) => x !== undefined);
    if (given.length > 1) throw new UsageError("give one of --conn-rate, --rate and --interval");
    connRate ??= flags.rate ?? (flags.interval !== undefined ? 1000 / flags.interval : undefined);
  }
  const settings: BenchSettings = {
    tool,
    conn,
    clients: flags.clients,
    startNumber: flags.startNumber,
    idPrefix: flags.idPrefix ?? `bench-${tool}-${process.pid}-`,
    concurrency: flags.connConcurrency,
    connRate,
    connectTimeoutMs: flags.connectTimeout * 1000,
    durationMs: flags.duration * 1000,
    count: flags.count,
    json: flags.json === true,
    quiet: flags.quiet === true,
  };
  // A topic in -L is added to sub's -t filters, and replaces pub's -t.
  const urlTopic = url === undefined ? "" : parseUrl(url).topic;
  const topics = flags.topic ?? [];
  if (tool === "sub") conn.topics = urlTopic === "" ? topics : [...topics, urlTopic];
  else conn.topics = urlTopic === "" ? topics : [urlTopic];
  const sample = {
    index: flags.startNumber + 1,
    id: `${settings.idPrefix}${flags.startNumber + 1}`,
  };
  if (tool === "pub") {
    const topic = conn.topics.at(-1);
    if (topic === undefined) throw new UsageError("give a topic to publish to (-t)");
    check("-t/--topic", () => validateTopicName(expandTopic(topic, sample)));
    if (flags.interval !== undefined && flags.rate !== undefined)
      throw new UsageError("give -I/--interval (per client) or --rate (in total), not both");
    if ((flags.size ?? 0) < HEADER_SIZE)
      warn(
        `-s ${flags.size}: payloads under ${HEADER_SIZE} bytes carry no bench header (no latency at bench sub)`,
      );
  }
  if (tool === "sub") {
    if (conn.topics.length === 0) throw new UsageError("give a topic filter to subscribe to (-t)");
    for (const t of conn.topics)
      check("-t/--topic", () => validateTopicFilter(expandTopic(t, sample)));
  }
  return settings;
}

function check(flag: string, validate: () => void): void {
  try {
    validate();
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
}

async function runBench(tool: BenchTool, flags: BenchFlags): Promise<void> {
  const settings = benchSettings(tool, flags);
  const run = new BenchRun(settings);
  const qos = flags.qos ?? 0;
  const workload =
    tool === "pub"
      ? new PubWorkload(run, {
          topic: settings.conn.topics.at(-1) as string,
          qos,
          size: flags.size ?? 256,
          retain: flags.retain === true,
          intervalMs: flags.interval,
          rate: flags.rate,
          inflight: flags.inflight ?? 10,
        })
      : tool === "sub"
        ? new SubWorkload(run, { topics: settings.conn.topics, qos })
        : new ConnWorkload();
  await run.execute(workload);
}
