/**
 * A QoS 0 publisher at a fixed rate and the subscribers that time its
 * messages: the latency probe of the slow-consumer and retained-heavy
 * scenarios. The publisher writes what is due on a timer tick, in one
 * write per tick, so that the generator stays cheap; each message carries
 * its send time.
 */
import { performance } from "node:perf_hooks";
import { Latencies, PublishTemplate, payloadStart, Type, type Wire } from "./wire.js";

/** Sends `rate` msg/s to one topic on a `tickMs` timer until stopped. */
export class PacedPublisher {
  readonly #wire: Wire;
  readonly #template: PublishTemplate;
  readonly #rate: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #start = 0;
  /** Messages due so far (sent, or skipped as `behind`). */
  sent = 0;
  /** Messages skipped because the timer fell more than 100 ms behind. */
  behind = 0;

  /** `publisher` goes into each payload (bytes 12–15), to tell publishers apart. */
  constructor(wire: Wire, topic: string, size: number, rate: number, publisher = 0) {
    this.#wire = wire;
    this.#template = new PublishTemplate(topic, size, 0, false, publisher);
    this.#rate = rate;
  }

  start(tickMs: number): void {
    this.#start = performance.now();
    this.#timer = setInterval(() => this.#tick(), tickMs);
  }

  #tick(): void {
    const now = performance.now();
    const due = Math.floor(((now - this.#start) * this.#rate) / 1000) - this.sent;
    if (due <= 0) return;
    // Never more than 100 ms worth in one go (after a stall the schedule skips ahead).
    const n = Math.min(due, Math.max(1, Math.ceil(this.#rate / 10)));
    const len = this.#template.bytes.length;
    const buf = Buffer.allocUnsafe(len * n);
    for (let i = 0; i < n; i++) this.#template.writeTo(buf, i * len, now, this.sent + i + 1);
    this.behind += due - n;
    this.sent += due;
    this.#wire.write(buf);
  }

  /** Messages actually written. */
  get published(): number {
    return this.sent - this.behind;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** Counts and times the QoS 0 messages a subscriber receives. */
export class TimingSubscriber {
  readonly wire: Wire;
  /** Where latencies go; swapped between measured phases. */
  latencies: Latencies;
  received = 0;
  /** Messages received with the RETAIN flag set. */
  retained = 0;
  /** Called on each retained message (after counting it). */
  onRetained: () => void = () => {};

  constructor(wire: Wire, latencies = new Latencies()) {
    this.wire = wire;
    this.latencies = latencies;
    wire.onFrame = (type, flags, buf, start) => {
      if (type !== Type.publish) return;
      this.received++;
      if ((flags & 1) === 1) {
        this.retained++;
        this.onRetained();
        return;
      }
      this.latencies.add(buf.readDoubleLE(payloadStart(flags, buf, start)), performance.now());
    };
  }
}
