/**
 * A responsiveness probe: one connection sends a PINGREQ every `everyMs`
 * and times each PINGRESP. Every broker answers PINGREQ straight from its
 * network loop, with no routing or storage in between, so the round trip
 * is loopback plus the broker's event-loop lag.
 *
 * One ping in flight at a time. Pipelined pings measure TCP instead of the
 * broker when it leaves Nagle's algorithm on (Mosquitto's default
 * `set_tcp_nodelay false`): once a PINGREQ goes out before the previous
 * PINGRESP has arrived, each PINGRESP waits for the ACK that the next
 * PINGREQ carries, and every round trip takes one interval (seen: p50
 * 10.4 ms at 10 ms intervals, with the broker idle). A ping answered late
 * also stands for the pings its wait kept from being sent, one per
 * `everyMs`, each `everyMs` shorter, down to `everyMs` (HdrHistogram's
 * coordinated-omission correction), so that a stall weighs in the
 * percentiles as long as it lasts, not as one sample.
 *
 * Samples are kept with their send times, so that the phases of a run are
 * windows chosen afterwards.
 */
import { performance } from "node:perf_hooks";
import { Latencies, sleep, Type, type Wire } from "./wire.js";

const PINGREQ = Buffer.from([0xc0, 0x00]);

export class PingProbe {
  readonly #wire: Wire;
  readonly #everyMs: number;
  /** Round trips by send time (with the corrected ones); windows chosen afterwards. */
  readonly samples = new Latencies();
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Send time of the ping in flight, or -1. */
  #inFlight = -1;
  /** PINGREQs sent and PINGRESPs received. */
  sent = 0;
  answered = 0;
  /** Pings still unanswered when the probe stopped (counted at their age then). */
  unanswered = 0;

  constructor(wire: Wire, everyMs: number) {
    this.#wire = wire;
    this.#everyMs = everyMs;
    this.samples.window(0, Number.POSITIVE_INFINITY);
    wire.onFrame = (type) => {
      if (type === Type.pingresp) this.#onPong(performance.now());
    };
  }

  start(): void {
    this.#timer = setInterval(() => this.ping(), this.#everyMs);
    this.ping();
  }

  /** Sends a PINGREQ now unless one is in flight (called besides the schedule at the start of a phase). */
  ping(): void {
    if (this.#inFlight >= 0) return;
    this.#inFlight = performance.now();
    this.#wire.write(PINGREQ);
    this.sent++;
  }

  #onPong(now: number): void {
    if (this.#inFlight < 0) return;
    this.answered++;
    this.#record(this.#inFlight, now);
    this.#inFlight = -1;
  }

  #record(sentAt: number, now: number): void {
    this.samples.add(sentAt, now);
    for (let t = sentAt + this.#everyMs; now - t >= this.#everyMs; t += this.#everyMs) {
      this.samples.add(t, now);
    }
  }

  /**
   * Stops sending; waits up to `graceMs` for the ping in flight, and if it
   * does not come, counts it at its age by then.
   */
  async stop(graceMs: number): Promise<void> {
    clearInterval(this.#timer);
    const until = performance.now() + graceMs;
    while (this.#inFlight >= 0 && !this.#wire.closed && performance.now() < until) await sleep(5);
    if (this.#inFlight >= 0) {
      this.unanswered++;
      this.#record(this.#inFlight, performance.now());
      this.#inFlight = -1;
    }
  }

  /** p50, p99 and max (µs) and the sample count of the pings sent within [from, to). */
  phase(from: number, to: number): { p50: number; p99: number; max: number; n: number } {
    this.samples.window(from, to);
    const out = {
      p50: this.samples.percentileUs(50),
      p99: this.samples.percentileUs(99),
      max: this.samples.percentileUs(100),
      n: this.samples.count,
    };
    this.samples.window(0, Number.POSITIVE_INFINITY);
    return out;
  }
}
