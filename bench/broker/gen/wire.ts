/**
 * What the broker benchmark's own generator scenarios share: MQTT 3.1.1
 * connections on raw sockets that frame packets without decoding them (a
 * handler reads the few bytes it needs), packets encoded once by
 * `src/protocol` and patched in place, payload timestamps, latency
 * samples, and CPU/RSS marks around a measured window.
 *
 * Payload layout (at least 16 bytes, like mqttload's): the send time
 * (`performance.now()`, float64 LE) at 0, a sequence number (u32 LE) at 8,
 * the publisher's index (u32 LE) at 12. Publishers and subscribers run in
 * this one process, so both ends read the same clock.
 */
import { connect as netConnect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { encode } from "../../../src/protocol/index.js";
import { cpuMs, machineTicks, rssBytes } from "../../store/broker-process.js";
import { cpuMsOf, rssBytesOf } from "../mqttload.js";

/** MQTT 3.1.1. */
export const VERSION = 4;
/** Smallest payload: time (8) + sequence (4) + publisher (4). */
export const MIN_PAYLOAD = 16;

/** Control packet types (high nibble of the first byte). */
export const Type = {
  connack: 2,
  publish: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  suback: 9,
  pingresp: 13,
} as const;

/**
 * Called with each whole packet: its type, the low nibble of its first
 * byte, and its body as `buf[start, end)` (valid only during the call).
 */
export type FrameHandler = (
  type: number,
  flags: number,
  buf: Buffer,
  start: number,
  end: number,
) => void;

/** Rejects after `ms`, so that a stuck broker ends the run instead of hanging it. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One MQTT 3.1.1 client connection, clean session, keepalive off. */
export class Wire {
  readonly socket: Socket;
  readonly id: string;
  #pending: Buffer | undefined;
  /** Set once the socket closed (by either side). */
  closed = false;
  onFrame: FrameHandler = () => {};
  /** Called after each chunk read, once its packets were handled: the place to flush replies. */
  onChunk: () => void = () => {};

  private constructor(socket: Socket, id: string) {
    this.socket = socket;
    this.id = id;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("close", () => {
      this.closed = true;
    });
    socket.on("error", () => {}); // a reset at the end of a run is expected; failures show as timeouts or counts
  }

  /** Connects and completes CONNECT/CONNACK within `timeoutMs`. */
  static async open(port: number, clientId: string, timeoutMs = 15_000): Promise<Wire> {
    const socket = netConnect({ host: "127.0.0.1", port });
    const w = new Wire(socket, clientId);
    try {
      await within(
        new Promise<void>((resolve, reject) => {
          w.onFrame = (type, _flags, buf, start) => {
            if (type !== Type.connack)
              return reject(new Error(`expected CONNACK, got type ${type}`));
            const rc = buf[start + 1];
            if (rc !== 0) return reject(new Error(`CONNACK return code ${rc}`));
            resolve();
          };
          socket.once("close", () => reject(new Error(`${clientId}: closed before CONNACK`)));
          socket.write(
            encode(
              { type: "connect", protocolVersion: VERSION, clean: true, keepalive: 0, clientId },
              VERSION,
            ),
          );
        }),
        timeoutMs,
        `${clientId}: CONNECT`,
      );
    } catch (e) {
      socket.destroy();
      throw e;
    }
    w.onFrame = () => {};
    return w;
  }

  /** Subscribes to `filters` (one SUBSCRIBE) and waits for a SUBACK granting all of them. */
  async subscribe(filters: readonly string[], qos: 0 | 1 | 2, timeoutMs = 15_000): Promise<void> {
    const before = this.onFrame;
    await within(
      new Promise<void>((resolve, reject) => {
        this.onFrame = (type, _flags, buf, start, end) => {
          if (type !== Type.suback) return;
          for (let i = start + 2; i < end; i++) {
            if (buf[i] === 0x80) return reject(new Error(`${this.id}: SUBACK refused a filter`));
          }
          resolve();
        };
        this.socket.write(
          encode(
            {
              type: "subscribe",
              packetId: 1,
              subscriptions: filters.map((topicFilter) => ({ topicFilter, qos })),
            },
            VERSION,
          ),
        );
      }),
      timeoutMs,
      `${this.id}: SUBSCRIBE`,
    );
    this.onFrame = before;
  }

  #onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.#pending !== undefined) {
      buf = Buffer.concat([this.#pending, chunk]);
      this.#pending = undefined;
    }
    const n = buf.length;
    let i = 0;
    while (n - i >= 2) {
      // Fixed header: type/flags byte, then the remaining length (1–4 bytes, 7 bits each).
      let len = 0;
      let mul = 1;
      let j = i + 1;
      let complete = false;
      while (j < n && j - i <= 4) {
        const b = buf[j++];
        len += (b & 127) * mul;
        mul *= 128;
        if ((b & 128) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || j + len > n) break;
      const h = buf[i];
      this.onFrame(h >> 4, h & 15, buf, j, j + len);
      i = j + len;
    }
    if (i < n) this.#pending = buf.subarray(i);
    this.onChunk();
  }

  write(bytes: Uint8Array): void {
    if (!this.closed) this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Opens `count` connections, at most `conc` handshakes at a time. */
export async function openMany(
  port: number,
  count: number,
  prefix: string,
  conc = 50,
): Promise<Wire[]> {
  const out: Wire[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await Wire.open(port, `${prefix}-${i}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(conc, count) }, worker));
  } catch (e) {
    for (const w of out) w?.close();
    throw e;
  }
  return out;
}

/**
 * An encoded PUBLISH whose copies get their packet id and payload header
 * (time, sequence, publisher) patched.
 */
export class PublishTemplate {
  readonly bytes: Buffer;
  /** Offset of the packet id (QoS > 0), or -1. */
  readonly idAt: number;
  readonly payloadAt: number;

  constructor(topic: string, size: number, qos: 0 | 1 | 2, retain: boolean, publisher = 0) {
    if (size < MIN_PAYLOAD) throw new Error(`payload must be at least ${MIN_PAYLOAD} bytes`);
    const payload = Buffer.alloc(size, 0x61);
    payload.writeUInt32LE(publisher, 12);
    this.bytes = Buffer.from(
      encode(
        {
          type: "publish",
          topic,
          payload,
          qos,
          retain,
          dup: false,
          ...(qos > 0 ? { packetId: 1 } : {}),
        },
        VERSION,
      ),
    );
    this.payloadAt = this.bytes.length - size;
    // 3.1.1: the packet id ends the variable header.
    this.idAt = qos > 0 ? this.payloadAt - 2 : -1;
    if (qos > 0 && this.bytes.readUInt16BE(this.idAt) !== 1) {
      throw new Error("unexpected PUBLISH layout");
    }
  }

  /** Copies the packet into `buf` at `at`, stamped with `now`, `seq` and (QoS > 0) `packetId`. */
  writeTo(buf: Buffer, at: number, now: number, seq: number, packetId = 0): number {
    this.bytes.copy(buf, at);
    if (this.idAt >= 0) buf.writeUInt16BE(packetId, at + this.idAt);
    buf.writeDoubleLE(now, at + this.payloadAt);
    buf.writeUInt32LE(seq >>> 0, at + this.payloadAt + 8);
    return at + this.bytes.length;
  }
}

/** Where a PUBLISH body's payload starts (after the topic and, for QoS > 0, the packet id). */
export function payloadStart(flags: number, buf: Buffer, start: number): number {
  const topicLen = buf.readUInt16BE(start);
  return start + 2 + topicLen + (((flags >> 1) & 3) > 0 ? 2 : 0);
}

/** The packet id of a PUBLISH (QoS > 0) body. */
export function publishId(buf: Buffer, start: number): number {
  return buf.readUInt16BE(start + 2 + buf.readUInt16BE(start));
}

/** A 4-byte acknowledgement packet (PUBACK, PUBREC, PUBREL, PUBCOMP) for `id` into `buf` at `at`. */
export function writeAck(buf: Buffer, at: number, type: number, id: number): number {
  buf[at] = (type << 4) | (type === Type.pubrel ? 2 : 0);
  buf[at + 1] = 2;
  buf.writeUInt16BE(id, at + 2);
  return at + 4;
}

/**
 * Latencies of messages sent within [from, to), kept with their send times
 * (so that a window can be narrowed afterwards); grows as needed, up to
 * `cap` samples.
 */
export class Latencies {
  #sent = new Float64Array(1024);
  #lat = new Float64Array(1024);
  readonly #cap: number;
  n = 0;
  from = Number.POSITIVE_INFINITY;
  to = Number.NEGATIVE_INFINITY;

  constructor(cap = 4_000_000) {
    this.#cap = cap;
  }

  window(from: number, to: number): void {
    this.from = from;
    this.to = to;
  }

  add(sentAt: number, now: number): void {
    if (sentAt < this.from || sentAt >= this.to) return;
    if (this.n === this.#sent.length) {
      if (this.n >= this.#cap) return;
      const size = Math.min(this.#cap, this.n * 2);
      const sent = new Float64Array(size);
      const lat = new Float64Array(size);
      sent.set(this.#sent);
      lat.set(this.#lat);
      this.#sent = sent;
      this.#lat = lat;
    }
    this.#sent[this.n] = sentAt;
    this.#lat[this.n++] = now - sentAt;
  }

  /** Samples of messages sent within the current window. */
  #inWindow(): Float64Array {
    const out = new Float64Array(this.n);
    let k = 0;
    for (let i = 0; i < this.n; i++) {
      const t = this.#sent[i];
      if (t >= this.from && t < this.to) out[k++] = this.#lat[i];
    }
    return out.subarray(0, k);
  }

  /** How many samples fall in the current window. */
  get count(): number {
    return this.#inWindow().length;
  }

  /** Nearest-rank percentile of the current window's samples, in µs (NaN without samples). */
  percentileUs(p: number): number {
    const s = this.#inWindow().sort();
    if (s.length === 0) return Number.NaN;
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] * 1000;
  }
}

/** A point in time and the CPU time spent so far by this process, the broker and the machine. */
export interface Mark {
  t: number;
  cpu: NodeJS.CpuUsage;
  broker: number;
  machine: { busy: number; total: number };
}

/** CPU (in cores) of this generator, the broker and everything else, over a window. */
export interface Usage {
  gen_cpu: number;
  broker_cpu: number;
  other_cpu: number;
  broker_rss_kb: number;
}

/**
 * The broker's process, or all of them (a broker of several processes, the
 * 2-worker Node floor): their CPU times and RSS are summed.
 */
export type BrokerPids = number | readonly number[];

/** CPU time so far of the broker's process(es), ms. */
export const brokerCpuMs = (pids: BrokerPids) =>
  typeof pids === "number" ? cpuMs(pids) : cpuMsOf(pids);
/** RSS of the broker's process(es) together, bytes. */
export const brokerRssBytes = (pids: BrokerPids) =>
  typeof pids === "number" ? rssBytes(pids) : rssBytesOf(pids);

/** A point in time and the CPU time spent so far by each side. */
export function mark(brokerPid: BrokerPids): Mark {
  return {
    t: performance.now(),
    cpu: process.cpuUsage(),
    broker: brokerCpuMs(brokerPid),
    machine: machineTicks(),
  };
}

/** CPU between two marks, in cores (2 cores = 2.0), like mqttload's figures; RSS now. */
export function usage(a: Mark, b: Mark, brokerPid: BrokerPids, cores: number): Usage {
  const ms = b.t - a.t;
  const gen = (b.cpu.user + b.cpu.system - a.cpu.user - a.cpu.system) / 1000 / Math.max(ms, 1e-3);
  const broker = (b.broker - a.broker) / Math.max(ms, 1e-3);
  const busyShare =
    (b.machine.busy - a.machine.busy) / Math.max(1, b.machine.total - a.machine.total);
  return {
    gen_cpu: gen,
    broker_cpu: broker,
    other_cpu: Math.max(0, busyShare * cores - gen - broker),
    broker_rss_kb: brokerRssBytes(brokerPid) / 1024,
  };
}

/** Samples the broker's RSS every `everyMs` until stopped; returns the highest (KiB). */
export function rssPeak(brokerPid: BrokerPids, everyMs = 100): { stop(): number } {
  let peak = brokerRssBytes(brokerPid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, brokerRssBytes(brokerPid));
    } catch {
      // the broker is gone; the run will fail elsewhere
    }
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return peak / 1024;
    },
  };
}

/** Common options of every generator scenario. */
export interface GenOptions {
  port: number;
  brokerPid: number;
  cores: number;
  warmupMs: number;
  durMs: number;
  /** Payload bytes (≥ 16). */
  size: number;
}

/** What a scenario reports: flat numbers, like mqttload's key=value line. */
export type GenResult = Record<string, number>;
