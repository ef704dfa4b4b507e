/**
 * A subscription: the filters granted by SUBACK, and an `AsyncIterable` of
 * the messages that match them.
 *
 * The buffer is bounded. Until something iterates the subscription, it keeps
 * the newest `buffer` messages (older ones are dropped, counted in
 * `dropped`), so event-style users (`client.on("message")`) never stall the
 * client. Once a `for await` loop is reading, a full buffer pauses reading
 * from the network instead: a slow consumer slows the broker down (it queues
 * or drops per its own limits) rather than growing this process's memory.
 */
import type { Message } from "./message.js";

export interface SubscriptionHost {
  /** Unsubscribes the subscription's filters. */
  unsubscribeOf(sub: Subscription): Promise<void>;
  /** Called when a consumer's buffer fills (pause) or drains (resume). */
  backpressure(sub: Subscription, full: boolean): void;
}

export class Subscription implements AsyncIterable<Message> {
  /** The filters, as subscribed. */
  readonly filters: readonly string[];
  /** Granted QoS or reason code per filter, from SUBACK. */
  readonly reasonCodes: readonly number[];
  /** MQTT 5 subscription identifier assigned by the client, if any. */
  readonly id: number | undefined;
  /** Messages dropped because nobody was reading and the buffer was full. */
  dropped = 0;
  readonly #host: SubscriptionHost;
  readonly #capacity: number;
  #buffer: Message[] = [];
  #head = 0;
  #iterated = false;
  #paused = false;
  #ended = false;
  #waiting: ((r: IteratorResult<Message>) => void) | undefined;
  #failWaiting: ((err: unknown) => void) | undefined;
  #error: unknown;

  constructor(
    host: SubscriptionHost,
    filters: string[],
    reasonCodes: number[],
    id: number | undefined,
    capacity: number,
  ) {
    this.#host = host;
    this.filters = filters;
    this.reasonCodes = reasonCodes;
    this.id = id;
    this.#capacity = Math.max(1, capacity);
  }

  /** Whether the subscription has ended (unsubscribed, or the client closed). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Messages waiting to be read. */
  get buffered(): number {
    return this.#buffer.length - this.#head;
  }

  /** Called by the client for every matching message. */
  push(msg: Message): void {
    if (this.#ended) return;
    const waiting = this.#waiting;
    if (waiting !== undefined) {
      this.#waiting = undefined;
      this.#failWaiting = undefined;
      waiting({ value: msg, done: false });
      return;
    }
    this.#buffer.push(msg);
    if (this.buffered > this.#capacity) {
      if (!this.#iterated) {
        this.#head++;
        this.dropped++;
        this.#compact();
      } else if (!this.#paused) {
        this.#paused = true;
        this.#host.backpressure(this, true);
      }
    }
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
      this.#buffer = this.#buffer.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Ends iteration: pending and future `next()` calls finish (or fail with `error`). */
  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    if (this.#paused) {
      this.#paused = false;
      this.#host.backpressure(this, false);
    }
    const waiting = this.#waiting;
    const fail = this.#failWaiting;
    this.#waiting = undefined;
    this.#failWaiting = undefined;
    if (error !== undefined && fail !== undefined) fail(error);
    else waiting?.({ value: undefined, done: true });
  }

  /** Unsubscribes this subscription's filters; iteration ends. */
  async unsubscribe(): Promise<void> {
    if (this.#ended) return;
    await this.#host.unsubscribeOf(this);
  }

  [Symbol.asyncIterator](): AsyncIterator<Message> {
    this.#iterated = true;
    return {
      next: () => {
        if (this.#head < this.#buffer.length) {
          const value = this.#buffer[this.#head];
          this.#buffer[this.#head++] = undefined as unknown as Message;
          this.#compact();
          if (this.#paused && this.buffered <= this.#capacity / 2) {
            this.#paused = false;
            this.#host.backpressure(this, false);
          }
          return Promise.resolve({ value, done: false });
        }
        if (this.#ended) {
          return this.#error !== undefined
            ? Promise.reject(this.#error)
            : Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve, reject) => {
          this.#waiting = resolve;
          this.#failWaiting = reject;
        });
      },
      return: async () => {
        // `break` out of `for await` leaves the subscription active; unsubscribe() ends it.
        this.#iterated = false;
        if (this.#paused) {
          this.#paused = false;
          this.#host.backpressure(this, false);
        }
        return { value: undefined, done: true };
      },
    };
  }
}
