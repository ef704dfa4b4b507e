/**
 * QoS 2 fan-in: `pubs` publishers, each on its own topic, to one subscriber
 * on `bench/q2/+` subscribed at QoS 2; both sides run the whole exchange
 * (PUBLISH, PUBREC, PUBREL, PUBCOMP). Flow control like mqttload's fan-in:
 * a publisher may be at most `window / pubs` messages ahead of what the
 * subscriber has received from it, so the brokers' queues are not flooded
 * (their default per-session queue limits would drop the excess). Counts
 * the messages the subscriber receives in the window after a warm-up.
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
  publishId,
  sleep,
  Type,
  usage,
  Wire,
  writeAck,
} from "./wire.js";

export interface Qos2Options extends GenOptions {
  pubs: number;
  /** Messages in flight end to end, all publishers together. */
  window: number;
}

class Publisher {
  readonly wire: Wire;
  readonly #tpl: PublishTemplate;
  #nextId = 1;
  sent = 0;
  /** Highest sequence number the subscriber has received from this publisher. */
  seen = 0;
  /** Exchanges not yet completed by PUBCOMP. */
  open = 0;
  #rel: number[] = [];

  constructor(wire: Wire, index: number, size: number) {
    this.wire = wire;
    this.#tpl = new PublishTemplate(`bench/q2/${index}`, size, 2, false, index);
    wire.onFrame = (type, _flags, buf, start) => {
      if (type === Type.pubrec) this.#rel.push(buf.readUInt16BE(start));
      else if (type === Type.pubcomp) this.open--;
    };
    wire.onChunk = () => {
      const n = this.#rel.length;
      if (n === 0) return;
      const out = Buffer.allocUnsafe(4 * n);
      for (let i = 0; i < n; i++) writeAck(out, 4 * i, Type.pubrel, this.#rel[i]);
      this.#rel = [];
      wire.write(out);
    };
  }

  /** Sends up to `n` publishes in one write. */
  send(n: number): void {
    // Ids cycle through 1..65535; far fewer than that are ever open at once.
    n = Math.min(n, 60_000 - this.open);
    if (n <= 0) return;
    const len = this.#tpl.bytes.length;
    const buf = Buffer.allocUnsafe(len * n);
    const now = performance.now();
    for (let i = 0; i < n; i++) {
      const id = this.#nextId;
      this.#nextId = id === 65535 ? 1 : id + 1;
      this.#tpl.writeTo(buf, i * len, now, this.sent + i + 1, id);
    }
    this.sent += n;
    this.open += n;
    this.wire.write(buf);
  }
}

export async function qos2(o: Qos2Options): Promise<GenResult> {
  const sub = await Wire.open(o.port, "bb-q2-sub");
  let pubWires: Wire[] = [];
  let running = true;
  let tick: ReturnType<typeof setInterval> | undefined;
  try {
    await sub.subscribe(["bench/q2/+"], 2);
    pubWires = await openMany(o.port, o.pubs, "bb-q2-pub");
    const pubs = pubWires.map((w, i) => new Publisher(w, i, o.size));
    const lat = new Latencies();
    let received = 0;
    let dup = 0;
    let stalls = 0;
    let progressAt = performance.now();
    let recs: number[] = [];
    let comps: number[] = [];
    sub.onFrame = (type, flags, buf, start) => {
      if (type === Type.publish) {
        const at = payloadStart(flags, buf, start);
        const p = pubs[buf.readUInt32LE(at + 12)];
        const seq = buf.readUInt32LE(at + 8);
        if (p === undefined || seq <= p.seen) dup++;
        else {
          p.seen = seq;
          received++;
          progressAt = performance.now();
          lat.add(buf.readDoubleLE(at), performance.now());
        }
        recs.push(publishId(buf, start));
      } else if (type === Type.pubrel) {
        comps.push(buf.readUInt16BE(start));
      }
    };
    const perPub = Math.max(1, Math.floor(o.window / o.pubs));
    const topUp = () => {
      if (!running) return;
      for (const p of pubs) p.send(perPub - (p.sent - p.seen));
    };
    sub.onChunk = () => {
      const n = recs.length + comps.length;
      if (n > 0) {
        const out = Buffer.allocUnsafe(4 * n);
        let at = 0;
        for (const id of recs) at = writeAck(out, at, Type.pubrec, id);
        for (const id of comps) at = writeAck(out, at, Type.pubcomp, id);
        recs = [];
        comps = [];
        sub.write(out);
      }
      topUp();
    };
    // A timer too: if nothing arrives for 250 ms, what is outstanding is written off and
    // the windows reopen (counted in `stalls`), so lost messages cannot stall the run.
    tick = setInterval(() => {
      if (performance.now() - progressAt > 250 && pubs.some((p) => p.sent > p.seen)) {
        stalls++;
        for (const p of pubs) p.seen = p.sent;
        progressAt = performance.now();
      }
      topUp();
    }, 5);
    topUp();
    await sleep(o.warmupMs);
    const a = mark(o.brokerPid);
    const r0 = received;
    lat.window(a.t, a.t + o.durMs);
    await sleep(o.durMs);
    const b = mark(o.brokerPid);
    const r1 = received;
    running = false;
    clearInterval(tick);
    const sent = pubs.reduce((n, p) => n + p.sent, 0);
    for (let waited = 0; waited < 3_000; waited += 20) {
      if (received >= sent && pubs.every((p) => p.open === 0)) break;
      await sleep(20);
    }
    return {
      pubs: o.pubs,
      size: o.size,
      win_msgs: perPub * o.pubs,
      rate: ((r1 - r0) * 1000) / (b.t - a.t),
      p50_us: lat.percentileUs(50),
      p99_us: lat.percentileUs(99),
      sent,
      recv: received,
      lost: sent - received,
      dup,
      stalls,
      incomplete: pubs.reduce((n, p) => n + p.open, 0),
      ...usage(a, b, o.brokerPid, o.cores),
    };
  } finally {
    running = false;
    clearInterval(tick);
    sub.close();
    for (const w of pubWires) w.close();
  }
}
