/**
 * A responsiveness probe: one connection sends a PINGREQ every `everyMs`
 * and times each PINGRESP. Every broker answers PINGREQ straight from its
 * network loop, with no routing or storage in between, so the round trip
 * is loopback plus the broker's event-loop lag.
 *
 * Open loop: a ping goes out on schedule whether or not the previous one
 * was answered (the answers come back in order on the one connection), so
 * that a stall delays every ping sent during it and weighs in the
 * percentiles as long as it lasts, not as one sample. Samples are kept with
 * their send times, so that the phases of a run are windows chosen
 * afterwards.
 */
import { performance } from "node:perf_hooks";
import { Latencies, sleep, Type, type Wire } from "./wire.js";

const PINGREQ = Buffer.from([0xc0, 0x00]);

export class PingProbe {
  readonly #wire: Wire;
  readonly #everyMs: number;
  /** Round trips by send time; windows chosen afterwards. */
  readonly samples = new Latencies();
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Send times of the pings not answered yet, oldest first (from `#head`). */
  #inFlight: number[] = [];
  #head = 0;
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

  /** Sends one PINGREQ now (besides the schedule's: at the start of a phase, so that it has one). */
  ping(): void {
    this.#inFlight.push(performance.now());
    this.#wire.write(PINGREQ);
    this.sent++;
  }

  get #pending(): number {
    return this.#inFlight.length - this.#head;
  }

  #onPong(now: number): void {
    if (this.#pending === 0) return;
    this.answered++;
    this.samples.add(this.#inFlight[this.#head++], now);
    if (this.#head > 1024 && this.#head * 2 > this.#inFlight.length) {
      this.#inFlight = this.#inFlight.slice(this.#head);
      this.#head = 0;
    }
  }

  /**
   * Stops sending; waits up to `graceMs` for the pings in flight, and counts
   * those that do not come at their age by then.
   */
  async stop(graceMs: number): Promise<void> {
    clearInterval(this.#timer);
    const until = performance.now() + graceMs;
    while (this.#pending > 0 && !this.#wire.closed && performance.now() < until) await sleep(5);
    const now = performance.now();
    while (this.#pending > 0) {
      this.unanswered++;
      this.samples.add(this.#inFlight[this.#head++], now);
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
