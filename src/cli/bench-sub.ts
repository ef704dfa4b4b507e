/**
 * `starling bench sub`: N subscribers counting what they receive. Payloads
 * that start with the header of `starling bench pub` give the end-to-end
 * latency (the subscriber's clock minus the publisher's, so both on one
 * machine or with synchronised clocks) and, per publisher, lost and
 * duplicated messages; other payloads are counted only.
 */
import { performance } from "node:perf_hooks";
import type { QoS } from "../client/index.js";
import { validateTopicFilter } from "../protocol/index.js";
import { Latency } from "./bench-histogram.js";
import { hasHeader, nowMicros, StreamTracker, sentAt } from "./bench-payload.js";
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

export interface SubSettings {
  topics: string[];
  qos: QoS;
}

interface Subscriber {
  received: number;
  readonly tracker: StreamTracker;
}

export class SubWorkload implements Workload {
  readonly #run: BenchRun;
  readonly #s: SubSettings;
  readonly #latency = new Latency();
  readonly #subscribers: Subscriber[] = [];
  /** Subscribers still short of --count. */
  #remaining = 0;
  #started = false;
  received = 0;
  withHeader = 0;
  #recent = 0;
  #first = 0;
  #last = 0;

  constructor(run: BenchRun, settings: SubSettings) {
    this.#run = run;
    this.#s = settings;
  }

  async prepare(c: BenchClient): Promise<boolean> {
    const filters = this.#s.topics.map((t) => expandTopic(t, c));
    const limit = this.#run.settings.count;
    const sub: Subscriber = { received: 0, tracker: new StreamTracker() };
    c.client.on("message", (msg) => {
      const payload = msg.payload;
      let now: number;
      if (hasHeader(payload)) {
        now = nowMicros();
        if (sub.tracker.note(payload)) this.#latency.record(now - sentAt(payload));
        this.withHeader++;
        now /= 1000;
      } else now = performance.timeOrigin + performance.now();
      if (this.received === 0) this.#first = now;
      this.#last = now;
      this.received++;
      this.#recent++;
      if (++sub.received === limit && --this.#remaining === 0 && this.#started) this.#run.finish();
    });
    if (limit !== undefined) this.#remaining++;
    try {
      for (const f of filters) validateTopicFilter(f);
      // A buffer of 1: messages are taken from the "message" event, not by iterating.
      await c.client.subscribe(filters, {
        qos: this.#s.qos,
        buffer: 1,
        timeout: this.#run.settings.connectTimeoutMs,
      });
    } catch (err) {
      if (c.client.connected) this.#run.errors.note("subscribe", err);
      if (limit !== undefined && sub.received < limit) this.#remaining--;
      await c.client.end({ force: true });
      return false;
    }
    this.#subscribers.push(sub);
    return true;
  }

  start(): void {
    this.#started = true;
    if (this.#run.settings.count !== undefined && this.#remaining === 0) this.#run.finish();
  }

  async stop(): Promise<void> {}

  progress(seconds: number): string {
    const rate = this.#recent / seconds;
    this.#recent = 0;
    const h = this.#latency.recent;
    const line = `received ${count(rate)}/s  e2e p50 ${ms(h.quantile(0.5))} p99 ${ms(h.quantile(0.99))}`;
    this.#latency.roll();
    return line;
  }

  #totals() {
    let duplicates = 0;
    let lost = 0;
    let reordered = 0;
    let streams = 0;
    let min = this.#subscribers.length === 0 ? 0 : Number.POSITIVE_INFINITY;
    let max = 0;
    for (const s of this.#subscribers) {
      duplicates += s.tracker.duplicates;
      lost += s.tracker.lost;
      reordered += s.tracker.reordered;
      streams += s.tracker.streams;
      min = Math.min(min, s.received);
      max = Math.max(max, s.received);
    }
    return { duplicates, lost, reordered, streams, perClient: { min, max } };
  }

  /** Messages per second from the first message to the last (the whole run when fewer than 2). */
  #rate(seconds: number): number {
    const window = (this.#last - this.#first) / 1000;
    return this.received > 1 && window > 0
      ? perSecond(this.received, window)
      : perSecond(this.received, seconds);
  }

  report(seconds: number): Record<string, unknown> {
    const t = this.#totals();
    return {
      topics: this.#s.topics,
      qos: this.#s.qos,
      received: this.received,
      withHeader: this.withHeader,
      duplicates: t.duplicates,
      lost: t.lost,
      reordered: t.reordered,
      streams: t.streams,
      receivedPerClient: t.perClient,
      rate: { received: this.#rate(seconds) },
      latencyUs: this.#latency.summary() ?? null,
    };
  }

  lines(seconds: number): string[] {
    const t = this.#totals();
    const per = t.perClient;
    return [
      `  received   ${count(this.received)} (${count(this.#rate(seconds))} msg/s from the first to the last), ${per.min === per.max ? count(per.min) : `${count(per.min)} to ${count(per.max)}`} per client`,
      `  checked    ${count(this.withHeader)} with a bench header from ${count(t.streams)} publisher streams: ${count(t.lost)} lost, ${count(t.duplicates)} duplicates, ${count(t.reordered)} out of order`,
      `  e2e        ${latencyLine(this.#latency.summary())}`,
    ];
  }
}
