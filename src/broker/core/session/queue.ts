/** A FIFO of messages waiting for a session, bounded in count and payload bytes. */
import type { QoS } from "../../../protocol/index.js";
import type { Message } from "../message.js";
import type { SharedGroup } from "../router.js";

/** One message on its way to one session: the QoS and flags it will be sent with. */
export interface Delivery {
  msg: Message;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 subscription identifiers of the matching subscriptions. */
  subscriptionIds: number[] | undefined;
  /** The shared-subscription group that chose this session, if any. */
  group?: SharedGroup;
  /** Seq of its entry in the store's queue of the session, while queued for a stored session. */
  storeSeq?: number;
}

export class DeliveryQueue {
  #items: (Delivery | undefined)[] = [];
  #head = 0;
  #bytes = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Payload bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  push(d: Delivery): void {
    this.#items.push(d);
    this.#bytes += d.msg.payload.length;
  }

  peek(): Delivery | undefined {
    return this.#items[this.#head];
  }

  shift(): Delivery | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const d = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (d !== undefined) this.#bytes -= d.msg.payload.length;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return d;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
    this.#bytes = 0;
  }

  *[Symbol.iterator](): IterableIterator<Delivery> {
    for (let i = this.#head; i < this.#items.length; i++) {
      const d = this.#items[i];
      if (d !== undefined) yield d;
    }
  }
}
