/**
 * The scenarios of the side-by-side broker benchmark (issue 7): what runs
 * them (mqttload, or this bench's own generator process for what mqttload
 * cannot do), their parameters, and the numbers that make the table's rows.
 */
import type { FloorName } from "./brokers.js";
import { fileLimit, setupBudgetS } from "./gen/conn-max.js";
import type { GenRequest } from "./gen/main.js";
import type { Numbers } from "./mqttload.js";

/** Run-wide parameters. */
export interface Params {
  /** Measured seconds per run. */
  dur: number;
  /** Warm-up seconds per run. */
  warmup: number;
  /** A smoke run: tiny counts. */
  quick: boolean;
}

/** One row of the table: a number taken from a run's result. */
export interface Metric {
  label: string;
  /** The result's key (mqttload's or the generator's, or one added by `derive`). */
  key: string;
  /** Whether more is better (throughput) or less (latency, memory). */
  higher: boolean;
  format: (n: number) => string;
  /** No Starling / best peer ratio for this row (a ratio itself, or near-zero values). */
  noRatio?: boolean;
}

interface Base {
  id: string;
  /** What the scenario is, for the notes under the table. */
  describe: (p: Params) => string;
  metrics: Metric[];
  /**
   * Which of the Node floor's variants can run it (brokers.ts; none when
   * absent): the single process needs nothing but exact topics (and `prefix/#`),
   * QoS 0, PINGREQ; the 2-worker cluster routes nothing between workers, so
   * only connection scenarios.
   */
  floor?: readonly FloorName[];
  /** Adds derived numbers to a run's result. */
  derive?: (r: Numbers) => void;
}

export interface MqttloadScenario extends Base {
  tool: "mqttload";
  /** mqttload arguments (without `--port`, `--pid`). */
  args: (p: Params) => string[];
}

/** A generator request without the run's port, pid, cores, mqttload binary and deadline. */
export type GenArgs = DistributiveOmit<GenRequest, "port" | "brokerPid" | "cores" | "mqttload">;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface GenScenario extends Base {
  tool: "gen";
  request: (p: Params) => GenArgs;
  /** Upper bound of one run, ms (the generator's own deadline). */
  deadlineMs: (p: Params) => number;
}

export type Scenario = MqttloadScenario | GenScenario;

export function fmtCount(n: number): string {
  if (!Number.isFinite(n)) return "–";
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (Math.abs(n) >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(0);
}
const fmtInt = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : "–");
/** Bytes, as KiB. */
const fmtKb = (n: number) => (Number.isFinite(n) ? `${(n / 1024).toFixed(2)} KiB` : "–");
/** KiB, as MiB. */
const fmtMib = (n: number) => (Number.isFinite(n) ? `${(n / 1024).toFixed(1)} MiB` : "–");
const fmtX = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : "–");
const fmtS = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)} s` : "–");

const rate = (label: string): Metric => ({ label, key: "rate", higher: true, format: fmtCount });

const common = (p: Params) => ["--dur", String(p.dur), "--warmup", String(p.warmup)];

/** Scenarios the single-process Node floor can run. */
const FLOOR: readonly FloorName[] = ["node-floor"];
/** Connection scenarios: the 2-worker floor too. */
const FLOOR_CONN: readonly FloorName[] = ["node-floor", "node-floor-2"];

function fanin(id: string, qos: 0 | 1, size: number, label: string): MqttloadScenario {
  return {
    id,
    tool: "mqttload",
    ...(qos === 0 ? { floor: FLOOR } : {}),
    describe: () =>
      `mqttload fanin: 4 publishers (own topics) → 1 subscriber on their wildcard, QoS ${qos}, ${size} B, unlimited rate, ≤ 1000 messages in flight end to end${size > 64 ? "; `--window-bytes 1048576` (mqttload's default 64 KiB of unflushed bytes per publisher, with its 1 ms pacing, caps 16 KB fan-in at ~13–15k msg/s whatever the broker: measured 12.6k → 38.9k msg/s on Starling with 1 MiB)" : ""}`,
    args: (p) => [
      "--scenario",
      "fanin",
      "--qos",
      String(qos),
      "--size",
      String(size),
      // Big payloads: let each publisher hold 1 MiB unflushed, not 64 KiB (see `describe`).
      ...(size > 64 ? ["--window-bytes", "1048576"] : []),
      ...common(p),
    ],
    metrics: [rate(label)],
  };
}

function fanout(id: string, qos: 0 | 1, subs: number, label: string): MqttloadScenario {
  return {
    id,
    tool: "mqttload",
    ...(qos === 0 ? { floor: FLOOR } : {}),
    describe: () =>
      `mqttload fanout: 1 publisher → ${subs} subscribers on its topic, QoS ${qos}, 64 B, unlimited rate, ≤ ${Math.max(1000, 50 * subs)} deliveries in flight; rate = deliveries/s`,
    args: (p) => [
      "--scenario",
      "fanout",
      "--qos",
      String(qos),
      "--subs",
      String(subs),
      ...common(p),
    ],
    metrics: [rate(label)],
  };
}

const conns = (p: Params) => (p.quick ? 200 : 10_000);

/** Every scenario, in the table's order. */
export const SCENARIOS: Scenario[] = [
  fanin("fanin-q0", 0, 64, "fan-in QoS 0, 4 → 1 (msg/s)"),
  fanin("fanin-q1", 1, 64, "fan-in QoS 1, 4 → 1 (msg/s)"),
  fanout("fanout-q0", 0, 100, "fan-out QoS 0, 1 → 100 (deliveries/s)"),
  fanout("fanout-q1", 1, 100, "fan-out QoS 1, 1 → 100 (deliveries/s)"),
  {
    id: "latency",
    tool: "mqttload",
    floor: FLOOR,
    describe: () => "mqttload latency: 1 publisher → 1 subscriber, QoS 0, 64 B, 5000 msg/s",
    args: (p) => ["--scenario", "latency", "--rate", "5000", ...common(p)],
    metrics: [
      { label: "latency at 5k msg/s, p50 (µs)", key: "p50_us", higher: false, format: fmtInt },
      { label: "latency at 5k msg/s, p99 (µs)", key: "p99_us", higher: false, format: fmtInt },
    ],
  },
  {
    id: "pingpong",
    tool: "mqttload",
    floor: FLOOR,
    describe: () =>
      "mqttload pingpong: 1 message in flight (publish, receive, publish the next), QoS 0, 64 B",
    args: (p) => ["--scenario", "pingpong", ...common(p)],
    metrics: [rate("ping-pong, 1 in flight (round trips/s)")],
  },
  {
    id: "conn",
    tool: "mqttload",
    floor: FLOOR_CONN,
    describe: (p) =>
      `mqttload conn: ${conns(p).toLocaleString("en")} idle connections (CONNECT clean session, keepalive 60, 50 handshakes at a time); memory = broker RSS growth 2 s after the last CONNACK / connections; CPU figures cover the connecting phase`,
    // A smoke run reads the RSS 0.5 s after the last CONNACK instead of 2 s.
    args: (p) => [
      "--scenario",
      "conn",
      "--conns",
      String(conns(p)),
      "--conc",
      "50",
      ...(p.quick ? ["--settle", "0.5"] : []),
    ],
    metrics: [
      {
        label: "idle connections: connect rate (conn/s)",
        key: "conn_rate",
        higher: true,
        format: fmtCount,
      },
      {
        label: "idle connections: broker memory per connection",
        key: "rss_per_conn_b",
        higher: false,
        format: fmtKb,
      },
    ],
    derive: (r) => {
      r.lost = (r.failed ?? 0) + (r.dropped ?? 0);
    },
  },
  {
    id: "conn-max",
    tool: "gen",
    floor: FLOOR_CONN,
    describe: (p) => {
      const r = connMaxRequest(p);
      const limit = fileLimit("self").hard;
      const n = Math.min(limit - r.margin, r.cap ?? Number.POSITIVE_INFINITY);
      return `mqttload conn (its own process) opens N idle connections (CONNECT clean session, keepalive 60, ${r.conc} handshakes at a time, from source addresses 127.0.0.1, .2, … with ≤ 8000 each: from one, connect() past ~14k connections to one port spends ms each in the kernel's ephemeral-port search) and holds them; N = the broker's open-file limit (or mqttload's, if lower) − ${r.margin}${r.cap === undefined ? "" : `, at most ${r.cap}`}: ${n.toLocaleString("en")} here (limit ${limit.toLocaleString("en")}). Meanwhile the own generator, in another process, keeps one more connection and sends a PINGREQ every ${r.pingEveryMs} ms and at the start of each phase, one in flight at a time (pipelined, they would time Nagle's algorithm on Mosquitto, which leaves it on), and times its PINGRESP; a late answer also counts for the pings it held up (coordinated-omission correction). By phase: before (${r.baselineMs / 1000} s alone), while they open, and with all of them held (${r.heldMs / 1000} s, after ${r.settleMs / 1000} s settling); "held" = connected − closed by the broker by the end (failed or dropped ones show as lost); broker RSS at the end of the held phase; CPU figures from the held phase (generator = the probe + mqttload; the connecting phase's, and the p50s/max of every phase, are in the JSON)`;
    },
    request: (p) => connMaxRequest(p),
    deadlineMs: (p) => {
      const r = connMaxRequest(p);
      const n = Math.min(fileLimit("self").hard, r.cap ?? Number.POSITIVE_INFINITY);
      return r.baselineMs + r.settleMs + r.heldMs + (setupBudgetS(n) + 15 + 30) * 1000;
    },
    metrics: [
      {
        label: "max connections: held",
        key: "held",
        higher: true,
        format: fmtInt,
      },
      {
        label: "max connections: probe p50 before (µs)",
        key: "base_p50_us",
        higher: false,
        format: fmtInt,
      },
      {
        label: "max connections: probe p99 before (µs)",
        key: "base_p99_us",
        higher: false,
        format: fmtInt,
      },
      {
        label: "max connections: probe p99 while opening (µs)",
        key: "open_p99_us",
        higher: false,
        format: fmtInt,
      },
      {
        label: "max connections: probe max while opening (µs)",
        key: "open_max_us",
        higher: false,
        format: fmtInt,
      },
      {
        label: "max connections: probe p50 with all held (µs)",
        key: "held_p50_us",
        higher: false,
        format: fmtInt,
      },
      {
        label: "max connections: probe p99 with all held (µs)",
        key: "held_p99_us",
        higher: false,
        format: fmtInt,
      },
      {
        label: "max connections: probe max with all held (µs)",
        key: "held_max_us",
        higher: false,
        format: fmtInt,
      },
      {
        label: "max connections: probe p99 held / before",
        key: "p99_ratio",
        higher: false,
        format: fmtX,
        noRatio: true,
      },
      {
        label: "max connections: broker RSS with all held",
        key: "broker_rss_kb",
        higher: false,
        format: fmtMib,
      },
    ],
  },
  fanin("fanin-1k", 0, 1024, "fan-in QoS 0, 1 KB payloads (msg/s)"),
  fanin("fanin-16k", 0, 16384, "fan-in QoS 0, 16 KB payloads (msg/s)"),
  fanout("fanout-1000", 0, 1000, "fan-out QoS 0, 1 → 1000 (deliveries/s)"),
  {
    id: "slow-consumer",
    tool: "gen",
    describe: (p) => {
      const r = slowRequest(p);
      const stalledMiB =
        ((r.rate * r.size + r.bulkRate * r.bulkSize) * (r.fillMs / 1000 + p.dur)) / 2 ** 20;
      return `own generator: ${r.subs} QoS 0 subscribers on one topic, 1 publisher at ${r.rate} msg/s (${r.size} B, written on a ${r.tickMs} ms tick): their end-to-end latency over ${p.dur} s; then one more subscriber, on that topic and on a bulk topic fed throughout by a second publisher (${r.bulkRate} msg/s × ${r.bulkSize / 1024} KiB, no other subscriber, so that its backlog outgrows the kernel's socket buffers), stops reading right after its SUBACK (socket paused), and after ${r.fillMs / 1000} s the others' latency is measured again (${stalledMiB.toFixed(0)} MiB published to the stalled one meanwhile); broker RSS growth = peak during the stalled phase − before it; "could still read" = main-topic messages it read once resumed (up to 3 s) / those published while it was stalled (what the kernel and the broker kept for it rather than dropped); CPU figures from the stalled phase`;
    },
    request: (p) => slowRequest(p),
    deadlineMs: (p) => (p.warmup * 2 + p.dur * 2 + 30) * 1000 + slowRequest(p).fillMs,
    metrics: [
      {
        label: "slow consumer: others' p99 without it (µs)",
        key: "base_p99_us",
        higher: false,
        format: fmtInt,
      },
      {
        label: "slow consumer: others' p99 with it (µs)",
        key: "slow_p99_us",
        higher: false,
        format: fmtInt,
      },
      {
        label: "slow consumer: p99 with / without",
        key: "p99_ratio",
        higher: false,
        format: fmtX,
        noRatio: true,
      },
      {
        label: "slow consumer: broker RSS growth",
        key: "rss_growth_kb",
        higher: false,
        format: fmtMib,
        noRatio: true,
      },
      {
        label: "slow consumer: messages the stalled one could still read once resumed",
        key: "stalled_share",
        higher: true,
        format: (n) => (Number.isFinite(n) ? `${(n * 100).toFixed(0)} %` : "–"),
        noRatio: true,
      },
    ],
    derive: (r) => {
      r.rss_growth_kb = r.rss_peak_kb - r.rss_before_kb;
      r.stalled_share = r.stalled_received / r.stalled_expected;
    },
  },
  {
    id: "retained",
    tool: "gen",
    describe: (p) => {
      const r = retainedRequest(p);
      return `own generator: ${r.count.toLocaleString("en")} retained messages stored (QoS 1, ${r.size} B, one topic each, ≤ ${r.window} unacknowledged; "storing" row), then a new client subscribes to \`#\` (QoS 0) and is timed from SUBSCRIBE to the last retained message (given up after ${r.stallMs / 1000} s without one: "received" shows how many came; the rate is up to the last one); meanwhile a probe publisher → subscriber pair at ${r.rate} msg/s on another topic measures latency (p99 during the delivery; before it, for comparison, in the raw JSON)`;
    },
    request: (p) => retainedRequest(p),
    deadlineMs: (p) => 2 * retainedRequest(p).timeoutMs + (p.warmup + p.dur + 30) * 1000,
    metrics: [
      {
        label: "retained: storing them (msg/s)",
        key: "store_rate",
        higher: true,
        format: fmtCount,
      },
      {
        label: "retained: new `#` subscriber receives them (msg/s)",
        key: "retained_rate",
        higher: true,
        format: fmtCount,
      },
      {
        label: "retained: how many the new subscriber received",
        key: "retained_recv",
        higher: true,
        format: fmtInt,
        noRatio: true,
      },
      {
        label: "retained: time to receive them all",
        key: "retained_s",
        higher: false,
        format: fmtS,
      },
      {
        label: "retained: other client's p99 meanwhile (µs)",
        key: "during_p99_us",
        higher: false,
        format: fmtInt,
      },
    ],
  },
  {
    id: "qos2",
    tool: "gen",
    describe: () =>
      "own generator: QoS 2 fan-in, 4 publishers (own topics) → 1 subscriber on `bench/q2/+` at QoS 2, 64 B, full PUBREC/PUBREL/PUBCOMP on both sides, ≤ 1000 messages in flight end to end",
    request: (p) => ({
      scenario: "qos2",
      pubs: 4,
      window: 1000,
      size: 64,
      warmupMs: p.warmup * 1000,
      durMs: p.dur * 1000,
    }),
    deadlineMs: (p) => (p.warmup + p.dur + 40) * 1000,
    metrics: [rate("fan-in QoS 2, 4 → 1 (msg/s)")],
  },
  {
    id: "wildcard",
    tool: "gen",
    describe: (p) => {
      const subs = wildcardSubs(p);
      return `own generator: ${subs} subscribers × 4 filters (\`bench/w/<i>/+/temp\`, \`bench/v/+/<i % 50>/#\`, and two that never match); 1 QoS 0 publisher cycling over ${2 * subs} topics, each matching 1 or ${subs / 50} subscribers (${(1 + subs / 50) / 2} on average), 64 B, ≤ 5000 deliveries in flight; rate = deliveries/s`;
    },
    request: (p) => ({
      scenario: "wildcard",
      subs: wildcardSubs(p),
      window: 5000,
      size: 64,
      warmupMs: p.warmup * 1000,
      durMs: p.dur * 1000,
    }),
    deadlineMs: (p) => (p.warmup + p.dur + 60) * 1000,
    metrics: [rate("wildcard-heavy subscription set (deliveries/s)")],
  },
];

function slowRequest(p: Params) {
  return {
    scenario: "slow-consumer" as const,
    subs: p.quick ? 10 : 100,
    rate: p.quick ? 200 : 1000,
    size: 64,
    tickMs: 5,
    bulkRate: 50,
    bulkSize: 64 * 1024,
    fillMs: p.quick ? 300 : 5_000,
    warmupMs: p.warmup * 1000,
    durMs: p.dur * 1000,
  };
}

function retainedRequest(p: Params) {
  return {
    scenario: "retained" as const,
    count: p.quick ? 5_000 : 100_000,
    window: 1000,
    size: 64,
    rate: 1000,
    tickMs: 2,
    timeoutMs: p.quick ? 10_000 : 120_000,
    stallMs: p.quick ? 2_000 : 5_000,
    warmupMs: p.warmup * 1000,
    durMs: p.dur * 1000,
  };
}

function connMaxRequest(p: Params) {
  return {
    scenario: "conn-max" as const,
    margin: 200,
    ...(p.quick ? { cap: 300 } : {}),
    conc: 50,
    pingEveryMs: 10,
    // A smoke run: ~30–50 pings per phase, enough to see that each phase has numbers.
    baselineMs: p.quick ? 300 : 2_000,
    settleMs: p.quick ? 100 : 1_000,
    heldMs: p.quick ? 500 : Math.max(5, p.dur) * 1000,
  };
}

const wildcardSubs = (p: Params) => (p.quick ? 100 : 1000);

/** The scenarios of `--quick` unless `--only` says otherwise. */
export const QUICK = ["fanin-q0", "latency", "conn", "conn-max", "qos2", "retained"];
