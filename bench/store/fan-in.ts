/**
 * The fan-in load generator of the store benchmark: N QoS 1 publishers and
 * one persistent subscriber (MQTT 3.1.1, clean session 0, subscribed at
 * QoS 1, acknowledging every message), all on raw TCP sockets in this
 * process, with packets encoded once by `src/protocol` and patched in place
 * (packet id, send time), so the generator costs little next to the broker.
 *
 * Payloads are 64 bytes: the send time (`performance.now()`, float64 LE) at
 * 0, the publisher's sequence number (u32 LE) at 8, then filler. The
 * subscriber runs in the same process, so the clocks agree.
 *
 * Two scenarios, each bounded in time and in messages:
 * - {@link throughput}: every publisher keeps `window` publishes
 *   unacknowledged; counts what the subscriber receives (and what the
 *   publishers get acknowledged) in a fixed window after a warm-up.
 * - {@link latency}: the publishers together send `rate` msg/s, paced on a
 *   2 ms tick; end-to-end latency (publish written → PUBLISH read by the
 *   subscriber) and acknowledgement latency (publish written → PUBACK read)
 *   of the messages sent in the measured window.
 */
import { connect as netConnect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { ClientDecoder, encode, type ServerPacket } from "../../src/protocol/index.js";
import { cpuMs, machineTicks, rssBytes } from "./broker-process.js";

const VERSION = 4;
const TOPIC = "bench/store/fan-in";
export const PAYLOAD_BYTES = 64;

/** One MQTT 3.1.1 connection on a raw socket. */
class Connection {
  readonly socket: Socket;
  #decoder = new ClientDecoder({ version: VERSION });
  /** Called with each packet read. */
  onPacket: (p: ServerPacket) => void = () => {};
  /** Called after each chunk read, once its packets were handled (one write per chunk). */
  onChunk: () => void = () => {};

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      this.#decoder.push(chunk, (p) => this.onPacket(p));
      this.onChunk();
    });
    socket.on("error", () => {}); // a reset at the end of a run is expected; a failure shows as a timeout
  }

  /** Connects and completes CONNECT/CONNACK within 10 s. */
  static async open(port: number, clientId: string, clean: boolean): Promise<Connection> {
    const socket = netConnect({ host: "127.0.0.1", port });
    const c = new Connection(socket);
    await waitFor(
      new Promise<void>((resolve, reject) => {
        c.onPacket = (p) => {
          if (p.type !== "connack") return reject(new Error(`expected CONNACK, got ${p.type}`));
          if (p.reasonCode !== 0) return reject(new Error(`CONNACK return code ${p.reasonCode}`));
          resolve();
        };
        socket.once("close", () => reject(new Error(`${clientId}: connection closed`)));
        socket.write(
          encode(
            { type: "connect", protocolVersion: VERSION, clean, keepalive: 0, clientId },
            VERSION,
          ),
        );
      }),
      10_000,
      `${clientId}: CONNECT`,
    );
    c.onPacket = () => {};
    return c;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Rejects after `ms`: a stuck broker ends the run instead of hanging it. */
function waitFor<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A QoS 1 publisher with at most `window` publishes unacknowledged and at most `limit` in all. */
class Publisher {
  readonly #conn: Connection;
  readonly #window: number;
  readonly #limit: number;
  /** One encoded PUBLISH; copies get their packet id and payload patched. */
  readonly #template: Buffer;
  readonly #idAt: number;
  readonly #payloadAt: number;
  /** Send time of each packet id in flight. */
  readonly #sentAt = new Float64Array(65536);
  #nextId = 1;
  inflight = 0;
  sent = 0;
  acked = 0;
  /** Publishes sent within [recordFrom, recordTo). */
  sentInWindow = 0;
  /** Acknowledgement latencies (ms) of publishes sent within [recordFrom, recordTo). */
  ackLatencies: number[] = [];
  recordFrom = Number.POSITIVE_INFINITY;
  recordTo = Number.NEGATIVE_INFINITY;
  /** Called after each chunk of acknowledgements. */
  onAcks: () => void = () => {};

  constructor(conn: Connection, index: number, window: number, limit: number) {
    this.#conn = conn;
    this.#window = window;
    this.#limit = limit;
    const payload = Buffer.alloc(PAYLOAD_BYTES, 0x61);
    payload[12] = index;
    this.#template = Buffer.from(
      encode(
        { type: "publish", topic: TOPIC, payload, qos: 1, retain: false, dup: false, packetId: 1 },
        VERSION,
      ),
    );
    this.#payloadAt = this.#template.length - PAYLOAD_BYTES;
    this.#idAt = this.#payloadAt - 2; // 3.1.1: the packet id ends the variable header
    if (this.#template.readUInt16BE(this.#idAt) !== 1) throw new Error("unexpected PUBLISH layout");
    conn.onPacket = (p) => {
      if (p.type !== "puback") return;
      this.inflight--;
      this.acked++;
      const at = this.#sentAt[p.packetId];
      if (at >= this.recordFrom && at < this.recordTo) {
        this.ackLatencies.push(performance.now() - at);
      }
    };
    conn.onChunk = () => this.onAcks();
  }

  /** Room in the window (and under the limit). */
  get room(): number {
    return Math.max(0, Math.min(this.#window - this.inflight, this.#limit - this.sent));
  }

  /** Sends up to `n` publishes in one write; returns how many it sent. */
  send(n: number): number {
    n = Math.min(n, this.room);
    if (n <= 0) return 0;
    const t = this.#template;
    const len = t.length;
    const buf = Buffer.allocUnsafe(len * n);
    const now = performance.now();
    for (let i = 0; i < n; i++) {
      const at = i * len;
      t.copy(buf, at);
      // Ids cycle through 1..65535; at most `window` (≪ 65535) are in flight, so none is reused early.
      const id = this.#nextId;
      this.#nextId = id === 65535 ? 1 : id + 1;
      buf.writeUInt16BE(id, at + this.#idAt);
      buf.writeDoubleLE(now, at + this.#payloadAt);
      buf.writeUInt32LE((this.sent + i) >>> 0, at + this.#payloadAt + 8);
      this.#sentAt[id] = now;
    }
    if (now >= this.recordFrom && now < this.recordTo) this.sentInWindow += n;
    this.inflight += n;
    this.sent += n;
    this.#conn.socket.write(buf);
    return n;
  }

  close(): void {
    this.#conn.close();
  }
}

/** The persistent subscriber: acknowledges every QoS 1 PUBLISH, one write per chunk read. */
class Subscriber {
  readonly #conn: Connection;
  received = 0;
  /** End-to-end latencies (ms) of messages sent within [recordFrom, recordTo). */
  latencies: number[] = [];
  recordFrom = Number.POSITIVE_INFINITY;
  recordTo = Number.NEGATIVE_INFINITY;
  #acks: number[] = [];
  readonly #scratch = new Uint8Array(8);
  readonly #time = new Float64Array(this.#scratch.buffer);

  private constructor(conn: Connection) {
    this.#conn = conn;
  }

  static async open(port: number, clientId: string): Promise<Subscriber> {
    // clean session 0: the broker keeps (and, with a store, stores) the session and its messages.
    const conn = await Connection.open(port, clientId, false);
    await waitFor(
      new Promise<void>((resolve, reject) => {
        conn.onPacket = (p) => {
          if (p.type !== "suback") return;
          if (p.reasonCodes[0] !== 1) reject(new Error(`SUBACK granted ${p.reasonCodes[0]}`));
          else resolve();
        };
        conn.socket.write(
          encode(
            { type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: TOPIC, qos: 1 }] },
            VERSION,
          ),
        );
      }),
      10_000,
      "SUBSCRIBE",
    );
    const sub = new Subscriber(conn);
    conn.onPacket = (p) => {
      if (p.type === "publish") sub.#onPublish(p.payload, p.packetId);
    };
    conn.onChunk = () => sub.#flush();
    return sub;
  }

  #onPublish(payload: Uint8Array, packetId: number | undefined): void {
    const now = performance.now();
    this.received++;
    for (let i = 0; i < 8; i++) this.#scratch[i] = payload[i];
    const sentAt = this.#time[0];
    if (sentAt >= this.recordFrom && sentAt < this.recordTo) this.latencies.push(now - sentAt);
    if (packetId !== undefined) this.#acks.push(packetId);
  }

  #flush(): void {
    const n = this.#acks.length;
    if (n === 0) return;
    const buf = Buffer.allocUnsafe(4 * n);
    for (let i = 0; i < n; i++) {
      buf[4 * i] = 0x40; // PUBACK, remaining length 2 (3.1.1)
      buf[4 * i + 1] = 2;
      buf.writeUInt16BE(this.#acks[i], 4 * i + 2);
    }
    this.#acks = [];
    this.#conn.socket.write(buf);
  }

  close(): void {
    this.#conn.close();
  }
}

export interface FanInOptions {
  port: number;
  brokerPid: number;
  publishers: number;
  /** Unacknowledged publishes per publisher. */
  window: number;
  warmupMs: number;
  measureMs: number;
  /** Publishes per publisher at most (a bound on the load, whatever the speed). */
  maxPerPublisher: number;
}

/** CPU and memory of both sides over a measured window. */
export interface Usage {
  /** Broker CPU over the window, % of one core. */
  brokerCpu: number;
  /** This process's (the generator's) CPU over the window, % of one core. */
  generatorCpu: number;
  /** Everything else on the machine over the window, % of one core (the machine is shared). */
  otherCpu: number;
  /** Broker RSS at the end of the window, bytes. */
  brokerRss: number;
}

interface Mark {
  t: number;
  cpu: NodeJS.CpuUsage;
  broker: number;
  machine: { busy: number; total: number };
}

function mark(pid: number): Mark {
  return {
    t: performance.now(),
    cpu: process.cpuUsage(),
    broker: cpuMs(pid),
    machine: machineTicks(),
  };
}

function usage(a: Mark, b: Mark, pid: number, cores: number): Usage {
  const ms = b.t - a.t;
  const cpu = process.cpuUsage(a.cpu);
  const generatorCpu = ((cpu.user + cpu.system) / 1000 / ms) * 100;
  const brokerCpu = ((b.broker - a.broker) / ms) * 100;
  const busyShare = (b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total);
  const otherCpu = Math.max(0, busyShare * cores * 100 - generatorCpu - brokerCpu);
  return { brokerCpu, generatorCpu, otherCpu, brokerRss: rssBytes(pid) };
}

async function openAll(
  o: FanInOptions,
  tag: string,
): Promise<{ sub: Subscriber; pubs: Publisher[] }> {
  const sub = await Subscriber.open(o.port, `bench-store-sub-${tag}`);
  const pubs: Publisher[] = [];
  try {
    for (let i = 0; i < o.publishers; i++) {
      const conn = await Connection.open(o.port, `bench-store-pub-${tag}-${i}`, true);
      pubs.push(new Publisher(conn, i, o.window, o.maxPerPublisher));
    }
  } catch (e) {
    sub.close();
    for (const p of pubs) p.close();
    throw e;
  }
  return { sub, pubs };
}

export interface ThroughputResult extends Usage {
  /** Messages the subscriber received per second in the window. */
  delivered: number;
  /** Publishes acknowledged per second in the window. */
  acked: number;
}

/** Publishers flat out (each at its window) for warm-up + window; rates over the window. */
export async function throughput(o: FanInOptions, cores: number): Promise<ThroughputResult> {
  const { sub, pubs } = await openAll(o, "tp");
  let running = true;
  try {
    for (const p of pubs) {
      p.onAcks = () => {
        if (running) p.send(p.room);
      };
      p.send(p.room);
    }
    await sleep(o.warmupMs);
    const a = mark(o.brokerPid);
    const recv0 = sub.received;
    const ack0 = pubs.reduce((s, p) => s + p.acked, 0);
    await sleep(o.measureMs);
    const b = mark(o.brokerPid);
    const recv1 = sub.received;
    const ack1 = pubs.reduce((s, p) => s + p.acked, 0);
    running = false;
    const secs = (b.t - a.t) / 1000;
    return {
      delivered: (recv1 - recv0) / secs,
      acked: (ack1 - ack0) / secs,
      ...usage(a, b, o.brokerPid, cores),
    };
  } finally {
    running = false;
    sub.close();
    for (const p of pubs) p.close();
  }
}

export interface LatencyResult extends Usage {
  /** Achieved publish rate in the window, msg/s. */
  rate: number;
  /** End-to-end latency percentiles, ms. */
  e2eP50: number;
  e2eP99: number;
  /** Publish → PUBACK latency percentiles, ms. */
  ackP50: number;
  ackP99: number;
  /** Messages sent in the window that had not reached the subscriber when the run ended. */
  missing: number;
}

/** Nearest-rank percentile of `xs` (sorted in place). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  xs.sort((a, b) => a - b);
  return xs[Math.min(xs.length - 1, Math.max(0, Math.ceil((p / 100) * xs.length) - 1))];
}

/**
 * Publishers together at `rate` msg/s (a 2 ms pacing tick; a publisher whose
 * window is full catches up when acknowledgements come); latencies of the
 * messages sent in the window, waiting up to 10 s after it for stragglers.
 */
export async function latency(
  o: FanInOptions,
  rate: number,
  cores: number,
): Promise<LatencyResult> {
  const { sub, pubs } = await openAll(o, "lat");
  const perPub = rate / pubs.length;
  const start = performance.now();
  const due = pubs.map(() => 0);
  let ticking = true;
  const pace = (i: number) => {
    const p = pubs[i];
    const target = Math.floor(((performance.now() - start) * perPub) / 1000);
    if (target > due[i]) due[i] = target;
    p.send(due[i] - p.sent);
  };
  pubs.forEach((p, i) => {
    p.onAcks = () => {
      if (ticking) pace(i);
    };
  });
  const tick = setInterval(() => {
    for (let i = 0; i < pubs.length; i++) pace(i);
  }, 2);
  try {
    await sleep(o.warmupMs);
    const a = mark(o.brokerPid);
    const from = a.t;
    const to = from + o.measureMs;
    sub.recordFrom = from;
    sub.recordTo = to;
    for (const p of pubs) {
      p.recordFrom = from;
      p.recordTo = to;
    }
    await sleep(o.measureMs);
    const b = mark(o.brokerPid);
    ticking = false;
    clearInterval(tick);
    // Stragglers: everything sent must arrive and be acknowledged (bounded wait).
    const total = pubs.reduce((s, p) => s + p.sent, 0);
    const acked = () => pubs.reduce((s, p) => s + p.acked, 0);
    for (let waited = 0; waited < 10_000; waited += 20) {
      if (sub.received >= total && acked() >= total) break;
      await sleep(20);
    }
    const inWindow = pubs.reduce((s, p) => s + p.sentInWindow, 0);
    const acks = pubs.flatMap((p) => p.ackLatencies);
    return {
      rate: (inWindow * 1000) / o.measureMs,
      e2eP50: percentile(sub.latencies, 50),
      e2eP99: percentile(sub.latencies, 99),
      ackP50: percentile(acks, 50),
      ackP99: percentile(acks, 99),
      missing: Math.max(0, inWindow - sub.latencies.length),
      ...usage(a, b, o.brokerPid, cores),
    };
  } finally {
    ticking = false;
    clearInterval(tick);
    sub.close();
    for (const p of pubs) p.close();
  }
}
