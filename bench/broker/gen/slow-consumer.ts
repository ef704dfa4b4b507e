/**
 * Slow consumer: `subs` subscribers receive `rate` msg/s (QoS 0, one topic)
 * while their end-to-end latency is measured; then one more subscriber on
 * that topic stops reading (its socket paused right after its SUBACK) and,
 * after a fill period, the others' latency is measured again.
 *
 * The stalled subscriber also subscribes to a bulk topic that a second
 * publisher feeds throughout (`bulkRate` msg/s of `bulkSize` bytes, no
 * other subscriber), so that what it does not read outgrows the kernel's
 * socket buffers within seconds and the broker has to hold or drop it;
 * with only the main topic's small messages the backlog would sit in the
 * kernel for minutes.
 *
 * Reports both latencies, the broker's RSS before, at its peak and at the
 * end of the stalled phase, and what became of the stalled subscriber:
 * whether the broker closed it and how many of the main topic's messages it
 * could still read once resumed.
 */
import { performance } from "node:perf_hooks";
import { PacedPublisher, TimingSubscriber } from "./paced.js";
import {
  type GenOptions,
  type GenResult,
  Latencies,
  mark,
  openMany,
  payloadStart,
  rssPeak,
  sleep,
  Type,
  usage,
  Wire,
} from "./wire.js";

export interface SlowConsumerOptions extends GenOptions {
  /** Subscribers that keep reading. */
  subs: number;
  /** Publish rate, msg/s. */
  rate: number;
  /** How long the stalled subscriber holds back before the second window, ms. */
  fillMs: number;
  /** Publisher timer tick, ms. */
  tickMs: number;
  /** The bulk topic's rate (msg/s) and payload size (bytes). */
  bulkRate: number;
  bulkSize: number;
}

const TOPIC = "bench/slow";
const BULK = "bench/slow-bulk";

export async function slowConsumer(o: SlowConsumerOptions): Promise<GenResult> {
  const wires = await openMany(o.port, o.subs, "bb-slow-sub");
  const subs = wires.map((w) => new TimingSubscriber(w));
  let pubWire: Wire | undefined;
  let stalled: Wire | undefined;
  let pub: PacedPublisher | undefined;
  let bulkWire: Wire | undefined;
  let bulk: PacedPublisher | undefined;
  try {
    await Promise.all(wires.map((w) => w.subscribe([TOPIC], 0)));
    pubWire = await Wire.open(o.port, "bb-slow-pub");
    pub = new PacedPublisher(pubWire, TOPIC, o.size, o.rate);
    pub.start(o.tickMs);
    bulkWire = await Wire.open(o.port, "bb-slow-bulk");
    bulk = new PacedPublisher(bulkWire, BULK, o.bulkSize, o.bulkRate, 1);
    bulk.start(o.tickMs);

    // 1. Without the stalled subscriber.
    const base = new Latencies();
    for (const s of subs) s.latencies = base;
    await sleep(o.warmupMs);
    const a1 = mark(o.brokerPid);
    base.window(a1.t, a1.t + o.durMs);
    await sleep(o.durMs);
    const b1 = mark(o.brokerPid);
    const u1 = usage(a1, b1, o.brokerPid, o.cores);

    // 2. With it: it subscribes, then reads nothing more.
    stalled = await Wire.open(o.port, "bb-slow-stalled");
    // Counted: the messages published once it has stopped reading (sequence numbers above).
    let stalledReceived = 0;
    let stallSeq = Number.POSITIVE_INFINITY;
    stalled.onFrame = (type, flags, buf, start) => {
      if (type !== Type.publish) return;
      const at = payloadStart(flags, buf, start);
      // The main topic's messages only (publisher 0), not the bulk topic's.
      if (buf.readUInt32LE(at + 12) === 0 && buf.readUInt32LE(at + 8) > stallSeq) {
        stalledReceived++;
      }
    };
    await stalled.subscribe([TOPIC, BULK], 0);
    stalled.socket.pause();
    stallSeq = pub.sent;
    const publishedAtStall = pub.published;
    const peak = rssPeak(o.brokerPid);
    const withSlow = new Latencies();
    for (const s of subs) s.latencies = withSlow;
    await sleep(o.fillMs);
    const a2 = mark(o.brokerPid);
    withSlow.window(a2.t, a2.t + o.durMs);
    await sleep(o.durMs);
    const b2 = mark(o.brokerPid);
    const u2 = usage(a2, b2, o.brokerPid, o.cores);
    const rssPeakKb = peak.stop();
    pub.stop();
    bulk.stop();
    const published = pub.published;
    const stalledExpected = published - publishedAtStall;

    // Drain: every reading subscriber should get every message (bounded wait).
    const expected = published * subs.length;
    const received = () => subs.reduce((n, s) => n + s.received, 0);
    for (let waited = 0; waited < 3_000 && received() < expected; waited += 20) await sleep(20);
    const got = received();

    // What the broker kept for (or did to) the stalled subscriber: read what is there.
    stalled.socket.resume();
    let last = -1;
    const until = performance.now() + 3_000;
    while (!stalled.closed && performance.now() < until && stalledReceived !== last) {
      last = stalledReceived;
      await sleep(300);
    }

    return {
      subs: subs.length,
      rate: o.rate,
      size: o.size,
      base_p50_us: base.percentileUs(50),
      base_p99_us: base.percentileUs(99),
      slow_p50_us: withSlow.percentileUs(50),
      slow_p99_us: withSlow.percentileUs(99),
      p99_ratio: withSlow.percentileUs(99) / base.percentileUs(99),
      rss_before_kb: u1.broker_rss_kb,
      rss_peak_kb: rssPeakKb,
      rss_end_kb: u2.broker_rss_kb,
      stalled_expected: stalledExpected,
      stalled_received: stalledReceived,
      stalled_closed: stalled.closed ? 1 : 0,
      sent: published,
      behind: pub.behind,
      expected,
      recv: got,
      lost: expected - got,
      base_gen_cpu: u1.gen_cpu,
      base_broker_cpu: u1.broker_cpu,
      base_other_cpu: u1.other_cpu,
      gen_cpu: u2.gen_cpu,
      broker_cpu: u2.broker_cpu,
      other_cpu: u2.other_cpu,
      broker_rss_kb: u2.broker_rss_kb,
    };
  } finally {
    pub?.stop();
    bulk?.stop();
    bulkWire?.close();
    pubWire?.close();
    stalled?.close();
    for (const w of wires) w.close();
  }
}
