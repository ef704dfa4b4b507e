/**
 * Wildcard-heavy subscription set: `subs` subscribers (1000 by default),
 * each with four filters in one SUBSCRIBE, two of which can match:
 *
 * - `bench/w/<i>/+/temp` — its own device; matches `bench/w/<i>/x/temp`
 * - `bench/v/+/<i % 50>/#` — one of 50 groups; matches `bench/v/<a>/<a % 50>/temp`
 * - `bench/w/<i>/+/hum` and `bench/x/<i>/#` — never published to
 *
 * (4 × subs filters, with `+` and `#`). One QoS 0 publisher cycles through
 * 2 × subs topics: even messages go to `bench/w/<a>/x/temp` (1 receiver),
 * odd ones to `bench/v/<a>/<a % 50>/temp` (subs / 50 receivers, 20 for
 * 1000), so each publish has to be matched against the whole set and fans
 * out to 10.5 subscribers on average; no two filters of one subscriber
 * match the same topic, so every broker delivers each message once.
 * Flow control like mqttload's fan-out: at most `window` deliveries
 * outstanding (expected but not yet received); if nothing arrives for
 * 250 ms the outstanding ones are written off (`stalls`).
 */
import { performance } from "node:perf_hooks";
import {
  type GenOptions,
  type GenResult,
  Latencies,
  mark,
  openMany,
  PublishTemplate,
  payloadStart,
  sleep,
  Type,
  usage,
  Wire,
} from "./wire.js";

export interface WildcardOptions extends GenOptions {
  /** Subscribers (a multiple of 50). */
  subs: number;
  /** Deliveries outstanding at most. */
  window: number;
}

const GROUPS = 50;

export async function wildcard(o: WildcardOptions): Promise<GenResult> {
  if (o.subs % GROUPS !== 0) throw new Error(`wildcard: subs must be a multiple of ${GROUPS}`);
  const fan = o.subs / GROUPS;
  const wires = await openMany(o.port, o.subs, "bb-wc-sub");
  let pubWire: Wire | undefined;
  let tick: ReturnType<typeof setInterval> | undefined;
  try {
    await Promise.all(
      wires.map((w, i) =>
        w.subscribe(
          [
            `bench/w/${i}/+/temp`,
            `bench/v/+/${i % GROUPS}/#`,
            `bench/w/${i}/+/hum`,
            `bench/x/${i}/#`,
          ],
          0,
        ),
      ),
    );
    const lat = new Latencies();
    let received = 0;
    let progressAt = performance.now();
    for (const w of wires) {
      w.onFrame = (type, flags, buf, start) => {
        if (type !== Type.publish) return;
        received++;
        lat.add(buf.readDoubleLE(payloadStart(flags, buf, start)), performance.now());
      };
      w.onChunk = () => {
        progressAt = performance.now();
      };
    }
    // Message k: even → bench/w/<a>/x/temp, odd → bench/v/<a>/<a % 50>/temp, a = (k >> 1) % subs.
    const templates: PublishTemplate[] = [];
    for (let a = 0; a < o.subs; a++) {
      templates.push(new PublishTemplate(`bench/w/${a}/x/temp`, o.size, 0, false));
      templates.push(new PublishTemplate(`bench/v/${a}/${a % GROUPS}/temp`, o.size, 0, false));
    }
    pubWire = await Wire.open(o.port, "bb-wc-pub");
    const pub = pubWire;
    let sent = 0;
    let expected = 0;
    let writtenOff = 0;
    let stalls = 0;
    let running = true;
    const longest = Math.max(...templates.map((t) => t.bytes.length));
    const scratch = Buffer.allocUnsafe(256 * longest);
    const topUp = () => {
      if (!running) return;
      const now = performance.now();
      if (now - progressAt > 250 && expected - writtenOff > received) {
        stalls++;
        writtenOff = expected - received;
        progressAt = now;
      }
      let at = 0;
      // At most 256 publishes per write, and only while the window has room.
      for (let i = 0; i < 256 && expected - writtenOff - received < o.window; i++) {
        const k = sent;
        const t = templates[((k >> 1) % o.subs) * 2 + (k & 1)];
        at = t.writeTo(scratch, at, now, k + 1);
        sent++;
        expected += k & 1 ? fan : 1;
      }
      if (at > 0) pub.write(Buffer.from(scratch.subarray(0, at)));
    };
    tick = setInterval(() => {
      // Up to 8 batches per millisecond tick, a cheap loop that still keeps the window full.
      for (let i = 0; i < 8; i++) topUp();
    }, 1);
    await sleep(o.warmupMs);
    const a = mark(o.brokerPid);
    const r0 = received;
    const s0 = sent;
    lat.window(a.t, a.t + o.durMs);
    await sleep(o.durMs);
    const b = mark(o.brokerPid);
    const r1 = received;
    const s1 = sent;
    running = false;
    clearInterval(tick);
    for (let waited = 0; waited < 3_000 && received < expected; waited += 20) await sleep(20);
    const secs = (b.t - a.t) / 1000;
    return {
      subs: o.subs,
      filters: 4 * o.subs,
      size: o.size,
      win_msgs: o.window,
      rate: (r1 - r0) / secs,
      pub_rate: (s1 - s0) / secs,
      p50_us: lat.percentileUs(50),
      p99_us: lat.percentileUs(99),
      sent,
      expected,
      recv: received,
      lost: expected - received,
      stalls,
      ...usage(a, b, o.brokerPid, o.cores),
    };
  } finally {
    clearInterval(tick);
    pubWire?.close();
    for (const w of wires) w.close();
  }
}
