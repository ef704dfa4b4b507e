/**
 * `starling bench pub`: N publishers, each sending as fast as the broker
 * takes it (while its socket's write buffer stays under 64 KiB — less with
 * many clients; QoS 1/2 also `--inflight` unacknowledged at a time), or paced by `-I` (per
 * client) or `--rate` (in total). Every payload starts with the bench header
 * ({@link stamp}), written in place.
 *
 * QoS 1/2 go through the client (it keeps each payload until acknowledged:
 * one buffer per in-flight slot, reused). QoS 0 PUBLISH packets, which leave
 * no state in a client, are encoded once per publisher by the protocol's
 * encoder and copied back to back into a shared 64 KiB slab, stamped there,
 * and written to the client's transport one batch per turn: the client's
 * path (a promise, an encoded buffer and a socket write element per message)
 * cost several times the broker's own work per message.
 */
import { randomInt } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { PublishOptions, QoS } from "../client/index.js";
import { encodeClientPacket, validateTopicName } from "../protocol/index.js";
import { Latency } from "./bench-histogram.js";
import { HEADER_SIZE, makePayload, nowMicros, stamp } from "./bench-payload.js";
import {
  type BenchClient,
  type BenchRun,
  count,
  latencyLine,
  ms,
  perSecond,
  type Workload,
} from "./bench-run.js";
import { expandTopic } from "./bench-topic.js";

export interface PubSettings {
  topic: string;
  qos: QoS;
  size: number;
  retain: boolean;
  /** Per client: milliseconds between publishes. */
  intervalMs: number | undefined;
  /** Over all clients: messages per second. */
  rate: number | undefined;
  /** QoS 1/2: unacknowledged publishes per client. */
  inflight: number;
}

/**
 * A publisher stops writing while more than this is buffered for its socket:
 * 64 KiB each, less with many clients (16 MiB over all of them), at least 4 KiB.
 */
const highWater = (clients: number) =>
  Math.max(4 * 1024, Math.min(64 * 1024, Math.floor((16 * 1024 * 1024) / clients)));
/** How often paced publishers are topped up. */
const PACE_MS = 5;
/** How long the end of a run waits for outstanding acknowledgements. */
const ACK_GRACE_MS = 5000;
/** QoS 0 packets are written from slabs of this size. */
const SLAB_SIZE = 64 * 1024;

/**
 * Bytes for QoS 0 batches, handed out front to back. A region once written
 * belongs to the transport until sent; the slab is replaced, never reused.
 */
class Slab {
  buf: Uint8Array = new Uint8Array(0);
  pos = 0;

  renew(atLeast: number): void {
    this.buf = Buffer.allocUnsafe(Math.max(SLAB_SIZE, atLeast));
    this.pos = 0;
  }
}

/** One in-flight QoS 1/2 publish: its payload buffer and when it was sent. */
interface Slot {
  buf: Uint8Array;
  sentAt: number;
  onAck: () => void;
  onError: (err: unknown) => void;
}

interface Publisher {
  readonly c: BenchClient;
  readonly topic: string;
  /** QoS 0: the whole PUBLISH packet, and where its payload starts. */
  readonly packet: Uint8Array;
  readonly payloadAt: number;
  /** QoS 1/2: free slots. */
  readonly free: Slot[];
  sent: number;
  inflight: number;
  /** Paced: publishes owed (a token bucket). */
  credit: number;
  perSecond: number;
  done: boolean;
  /** A pump is scheduled (after the socket drained). */
  scheduled: boolean;
}

export class PubWorkload implements Workload {
  readonly #run: BenchRun;
  readonly #s: PubSettings;
  readonly #options: PublishOptions;
  readonly #runId = randomInt(0, 0x1_0000_0000);
  readonly #latency = new Latency();
  readonly #publishers: Publisher[] = [];
  readonly #slab = new Slab();
  #highWater = highWater(1);
  #active = 0;
  #stopped = false;
  #pacer: ReturnType<typeof setInterval> | undefined;
  sent = 0;
  acked = 0;
  unacked = 0;
  #recentSent = 0;
  #recentAcked = 0;

  constructor(run: BenchRun, settings: PubSettings) {
    this.#run = run;
    this.#s = settings;
    // No per-publish timer: the run's duration bounds everything, and what is
    // still unacknowledged at the end is counted.
    this.#options = { qos: settings.qos, retain: settings.retain, timeout: 0 };
  }

  async prepare(c: BenchClient): Promise<boolean> {
    const topic = expandTopic(this.#s.topic, c);
    try {
      validateTopicName(topic);
    } catch (err) {
      this.#run.errors.note(
        "publish",
        new Error(`topic ${JSON.stringify(topic)}: ${(err as Error).message}`),
      );
      return false;
    }
    const s = this.#s;
    const payload = makePayload(s.size, this.#runId, c.index);
    const packet =
      s.qos === 0
        ? encodeClientPacket(
            { type: "publish", topic, payload, qos: 0, retain: s.retain, dup: false },
            c.client.version,
          )
        : new Uint8Array(0);
    // What the client would refuse before sending (§3.1.2.11.4, §3.2.2.3.5).
    const max = c.limits.maximumPacketSize;
    if (s.qos === 0 && max !== undefined && packet.length > max) {
      this.#run.errors.note(
        "publish",
        new Error(
          `PUBLISH of ${packet.length} bytes exceeds the broker's Maximum Packet Size of ${max}`,
        ),
      );
      return false;
    }
    if (s.retain && c.limits.retainAvailable === false) {
      this.#run.errors.note("publish", new Error("the broker does not support retained messages"));
      return false;
    }
    const p: Publisher = {
      c,
      topic,
      packet,
      payloadAt: packet.length - payload.length,
      free: [],
      sent: 0,
      inflight: 0,
      credit: 0,
      perSecond: 0,
      done: false,
      scheduled: false,
    };
    if (s.qos > 0) {
      for (let i = 0; i < s.inflight; i++) {
        const slot: Slot = {
          buf: i === 0 ? payload : makePayload(s.size, this.#runId, c.index),
          sentAt: 0,
          onAck: () => this.#acked(p, slot),
          onError: (err) => {
            p.inflight--;
            p.free.push(slot);
            this.#failed(p, err);
          },
        };
        p.free.push(slot);
      }
    }
    // Not at once: a socket that takes every write at once calls back from process.nextTick,
    // and pumping from there would never yield to timers, signals or I/O.
    c.transport.onWritable = () => {
      if (p.scheduled) return;
      p.scheduled = true;
      setImmediate(() => {
        p.scheduled = false;
        this.#pump(p);
      });
    };
    void c.client.closed().then(() => this.#retire(p));
    this.#publishers.push(p);
    return true;
  }

  start(): void {
    const s = this.#s;
    // Every publisher prepared is one of the run's ready clients.
    const ready = this.#publishers.filter((p) => !p.done);
    this.#highWater = highWater(ready.length);
    this.#active = ready.length;
    const perClient =
      s.rate !== undefined
        ? s.rate / Math.max(1, ready.length)
        : s.intervalMs !== undefined
          ? 1000 / s.intervalMs
          : 0;
    ready.forEach((p, k) => {
      p.perSecond = perClient;
      // Spread the first publishes of paced clients over one interval.
      p.credit = perClient > 0 ? 1 - k / ready.length : 0;
    });
    if (perClient > 0) {
      let last = performance.now();
      this.#pacer = setInterval(() => {
        const now = performance.now();
        const dt = (now - last) / 1000;
        last = now;
        for (const p of ready) {
          if (p.done) continue;
          p.credit = Math.min(p.credit + p.perSecond * dt, Math.max(1, p.perSecond * 0.1));
          this.#pump(p);
        }
      }, PACE_MS);
    }
    for (const p of ready) this.#pump(p);
    if (this.#active === 0) this.#run.finish();
  }

  /** Whether `p` may publish one more now (its count, its pace, its connection). */
  #may(p: Publisher, paced: boolean): boolean {
    const limit = this.#run.settings.count;
    return (
      !this.#stopped &&
      !p.done &&
      (limit === undefined || p.sent < limit) &&
      (!paced || p.credit >= 1) &&
      p.c.client.connected
    );
  }

  /** Publishes what `p` may now: within its count, pace, window and write buffer. */
  #pump(p: Publisher): void {
    const paced = p.perSecond > 0;
    if (this.#s.qos === 0) this.#pumpRaw(p, paced);
    else {
      const client = p.c.client;
      const stamped = this.#s.size >= HEADER_SIZE;
      while (this.#may(p, paced) && p.c.transport.bufferedAmount < this.#highWater) {
        const slot = p.free.pop();
        if (slot === undefined) break;
        const micros = nowMicros();
        if (stamped) stamp(slot.buf, p.sent, micros);
        slot.sentAt = micros;
        p.inflight++;
        client.publish(p.topic, slot.buf, this.#options).then(slot.onAck, slot.onError);
        this.#count(p, paced);
      }
    }
    const limit = this.#run.settings.count;
    if (limit !== undefined && p.sent >= limit && p.inflight === 0) this.#retire(p);
  }

  /** QoS 0: copies `p`'s packet into the slab, stamps it there, writes each batch at once. */
  #pumpRaw(p: Publisher, paced: boolean): void {
    const slab = this.#slab;
    const transport = p.c.transport;
    const packet = p.packet;
    const length = packet.length;
    const stamped = this.#s.size >= HEADER_SIZE;
    let buffered = transport.bufferedAmount;
    let start = slab.pos;
    while (buffered < this.#highWater && this.#may(p, paced)) {
      if (slab.pos + length > slab.buf.length) {
        if (slab.pos > start) transport.write(slab.buf.subarray(start, slab.pos));
        slab.renew(length);
        start = 0;
      }
      const at = slab.pos;
      slab.buf.set(packet, at);
      if (stamped) stamp(slab.buf, p.sent, nowMicros(), at + p.payloadAt);
      slab.pos = at + length;
      buffered += length;
      this.#count(p, paced);
    }
    if (slab.pos > start) transport.write(slab.buf.subarray(start, slab.pos));
  }

  #count(p: Publisher, paced: boolean): void {
    if (paced) p.credit--;
    p.sent++;
    this.sent++;
    this.#recentSent++;
  }

  #acked(p: Publisher, slot: Slot): void {
    this.#latency.record(nowMicros() - slot.sentAt);
    p.inflight--;
    p.free.push(slot);
    this.acked++;
    this.#recentAcked++;
    this.#pump(p);
  }

  #failed(p: Publisher, err: unknown): void {
    // A publish refused by the broker is counted; one failed by the closing of the
    // client is the connection's error (counted as lost), not a publish error.
    if (p.c.client.connected) this.#run.errors.note("publish", err);
    this.#pump(p);
  }

  /** `p` sends no more: it reached --count with everything acknowledged, or its client closed. */
  #retire(p: Publisher): void {
    if (p.done) return;
    p.done = true;
    p.c.transport.onWritable = () => {};
    if (this.#active > 0 && --this.#active === 0) this.#run.finish();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#pacer);
    const pending = () => {
      let n = 0;
      for (const p of this.#publishers) if (p.c.client.connected) n += p.inflight;
      return n;
    };
    this.unacked = await this.#run.settle(pending, ACK_GRACE_MS);
    if (this.unacked > 0)
      this.#run.errors.note(
        "unacked",
        new Error(
          `${count(this.unacked)} publishes not acknowledged ${this.#run.interrupted ? "when interrupted" : `${ACK_GRACE_MS / 1000} s after the end`}`,
        ),
        this.unacked,
      );
  }

  progress(seconds: number): string {
    const sent = this.#recentSent / seconds;
    const acked = this.#recentAcked / seconds;
    this.#recentSent = 0;
    this.#recentAcked = 0;
    const parts = [`sent ${count(sent)}/s`];
    if (this.#s.qos > 0) {
      const h = this.#latency.recent;
      parts.push(
        `acked ${count(acked)}/s  ack p50 ${ms(h.quantile(0.5))} p99 ${ms(h.quantile(0.99))}`,
      );
    }
    this.#latency.roll();
    return parts.join("  ");
  }

  #perClient(): { min: number; max: number } {
    if (this.#publishers.length === 0) return { min: 0, max: 0 };
    let min = Number.POSITIVE_INFINITY;
    let max = 0;
    for (const p of this.#publishers) {
      min = Math.min(min, p.sent);
      max = Math.max(max, p.sent);
    }
    return { min, max };
  }

  report(seconds: number): Record<string, unknown> {
    const s = this.#s;
    return {
      topic: s.topic,
      qos: s.qos,
      payloadSize: s.size,
      retain: s.retain,
      sent: this.sent,
      acked: this.acked,
      unacked: this.unacked,
      sentPerClient: this.#perClient(),
      rate: { sent: perSecond(this.sent, seconds), acked: perSecond(this.acked, seconds) },
      latencyUs: this.#latency.summary() ?? null,
    };
  }

  lines(seconds: number): string[] {
    const s = this.#s;
    const per = this.#perClient();
    const lines = [
      `  sent       ${count(this.sent)} (${count(perSecond(this.sent, seconds))} msg/s), QoS ${s.qos}, ${count(s.size)}-byte payloads, ${per.min === per.max ? count(per.min) : `${count(per.min)} to ${count(per.max)}`} per client`,
    ];
    if (s.qos > 0) {
      lines.push(
        `  acked      ${count(this.acked)} (${count(perSecond(this.acked, seconds))} msg/s)${this.unacked > 0 ? `, ${count(this.unacked)} unacknowledged` : ""}`,
        `  ack        ${latencyLine(this.#latency.summary())}`,
      );
    }
    return lines;
  }
}
