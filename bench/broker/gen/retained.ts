/**
 * Retained-heavy: one client stores `count` retained messages (QoS 1, one
 * topic each, at most `window` unacknowledged); then, while a latency probe
 * (a publisher at `rate` msg/s and its subscriber, on another topic) runs,
 * a new client subscribes to `#` and is timed until it has received every
 * retained message (or until none has come for `stallMs`: a broker may drop
 * what it cannot write). Reports that time, the rate and the count, the
 * probe's latency before and during the delivery, and how long storing took.
 */
import { performance } from "node:perf_hooks";
import { PacedPublisher, TimingSubscriber } from "./paced.js";
import {
  type GenOptions,
  type GenResult,
  Latencies,
  mark,
  PublishTemplate,
  sleep,
  Type,
  usage,
  Wire,
  within,
} from "./wire.js";

export interface RetainedOptions extends GenOptions {
  /** Retained messages to store. */
  count: number;
  /** Unacknowledged QoS 1 publishes while storing. */
  window: number;
  /** Latency probe rate, msg/s. */
  rate: number;
  /** Probe publisher timer tick, ms. */
  tickMs: number;
  /** Longest wait for all retained messages (and for storing them), ms. */
  timeoutMs: number;
  /** Give up waiting for retained messages after this long without one, ms. */
  stallMs: number;
}

/** Stores `count` retained messages on `bench/ret/<i>`, QoS 1, ≤ `window` in flight. */
async function store(o: RetainedOptions): Promise<number> {
  const w = await Wire.open(o.port, "bb-ret-loader");
  const t0 = performance.now();
  try {
    // One template per topic would be 100k buffers; topics differ only in their digits, so
    // encode each packet from a template of the same topic length (zero-padded index).
    const digits = String(o.count - 1).length;
    const tpl = new PublishTemplate(`bench/ret/${"0".repeat(digits)}`, o.size, 1, true);
    const topicAt = tpl.bytes.indexOf("bench/ret/") + "bench/ret/".length;
    const len = tpl.bytes.length;
    let sent = 0;
    let acked = 0;
    await within(
      new Promise<void>((resolve, reject) => {
        const fill = () => {
          const n = Math.min(o.window - (sent - acked), o.count - sent);
          if (n <= 0) return;
          const buf = Buffer.allocUnsafe(len * n);
          const now = performance.now();
          for (let i = 0; i < n; i++) {
            const at = i * len;
            const seq = sent + i;
            tpl.writeTo(buf, at, now, seq, (seq % 65535) + 1);
            buf.write(String(seq).padStart(digits, "0"), at + topicAt, "latin1");
          }
          sent += n;
          w.write(buf);
        };
        w.onFrame = (type) => {
          if (type === Type.puback) acked++;
        };
        w.onChunk = () => {
          if (acked >= o.count) resolve();
          else fill();
        };
        w.socket.once("close", () => reject(new Error("loader: connection closed")));
        fill();
      }),
      o.timeoutMs,
      `storing ${o.count} retained messages`,
    );
  } finally {
    w.close();
  }
  return performance.now() - t0;
}

export async function retained(o: RetainedOptions): Promise<GenResult> {
  const storeMs = await store(o);
  const probeSub = new TimingSubscriber(await Wire.open(o.port, "bb-ret-probe-sub"));
  let probeWire: Wire | undefined;
  let probe: PacedPublisher | undefined;
  let reader: Wire | undefined;
  try {
    await probeSub.wire.subscribe(["bench/probe"], 0);
    probeWire = await Wire.open(o.port, "bb-ret-probe-pub");
    probe = new PacedPublisher(probeWire, "bench/probe", o.size, o.rate);
    probe.start(o.tickMs);

    // The probe alone.
    const before = new Latencies();
    probeSub.latencies = before;
    await sleep(o.warmupMs);
    const a1 = mark(o.brokerPid);
    before.window(a1.t, a1.t + o.durMs);
    await sleep(o.durMs);

    // The `#` subscriber: timed from SUBSCRIBE written to the last retained message read.
    const r = new TimingSubscriber(await Wire.open(o.port, "bb-ret-reader"));
    reader = r.wire;
    const during = new Latencies();
    probeSub.latencies = during;
    let done: () => void = () => {};
    const all = new Promise<void>((resolve) => {
      done = resolve;
    });
    const a2 = mark(o.brokerPid);
    let lastAt = a2.t;
    r.onRetained = () => {
      lastAt = performance.now();
      if (r.retained >= o.count) done();
    };
    during.window(a2.t, Number.POSITIVE_INFINITY);
    // Not Wire.subscribe: the retained messages may arrive before the SUBACK is handled.
    const frame = reader.onFrame;
    reader.onFrame = (type, flags, buf, start, end) => {
      if (type !== Type.suback) frame(type, flags, buf, start, end);
    };
    reader.write(
      Buffer.from([0x82, 6, 0, 1, 0, 1, 0x23, 0]), // SUBSCRIBE id 1, "#", QoS 0
    );
    // Until all have arrived, or none has for `stallMs` (a broker that dropped the rest), or
    // `timeoutMs` in all.
    let watch: ReturnType<typeof setInterval> | undefined;
    const givenUp = new Promise<void>((resolve) => {
      watch = setInterval(() => {
        const now = performance.now();
        if (now - lastAt > o.stallMs || now - a2.t > o.timeoutMs) resolve();
      }, 50);
    });
    await Promise.race([all, givenUp]);
    clearInterval(watch);
    const complete = r.retained >= o.count;
    const b2 = mark(o.brokerPid);
    // The window ends with the last retained message read.
    during.window(a2.t, lastAt);
    const u = usage(a2, b2, o.brokerPid, o.cores);
    const secs = (lastAt - a2.t) / 1000;
    probe.stop();
    const published = probe.published;
    for (let waited = 0; waited < 2_000 && probeSub.received < published; waited += 20) {
      await sleep(20);
    }
    return {
      count: o.count,
      store_s: storeMs / 1000,
      store_rate: o.count / (storeMs / 1000),
      // Time to receive them all (NaN if some never came), and the rate up to the last one.
      retained_s: complete ? secs : Number.NaN,
      retained_rate: r.retained / secs,
      retained_recv: r.retained,
      incomplete: complete ? 0 : 1,
      before_p50_us: before.percentileUs(50),
      before_p99_us: before.percentileUs(99),
      during_p50_us: during.percentileUs(50),
      during_p99_us: during.percentileUs(99),
      during_samples: during.count,
      sent: published,
      recv: probeSub.received,
      lost: published - probeSub.received + (o.count - r.retained),
      ...u,
    };
  } finally {
    probe?.stop();
    probeWire?.close();
    probeSub.wire.close();
    reader?.close();
  }
}
