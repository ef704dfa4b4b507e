/**
 * A FIFO of messages waiting for a session, bounded in count and payload
 * bytes.
 *
 * The queue of a stored session may have a tail that lives only in the store:
 * entries counted here (`stored`, `storedBytes`) but not loaded. Everything
 * queued for an offline stored session goes there, and so does everything
 * behind such a tail (order), so a million queued messages cost the heap
 * nothing until their client returns; its connection then pages them in
 * (`BrokerCore.pageIn`) a page at a time as it sends them.
 */
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
  /** Entries in the store behind the loaded ones, not loaded. */
  stored = 0;
  /** Their payload bytes (an estimate after a drop-oldest of unloaded entries). */
  storedBytes = 0;
  /** Unloaded entries at the head of the stored tail to discard when they are paged in (drop-oldest). */
  dropHead = 0;
  /** Store seq of the last entry paged in: the next page starts after it. */
  cursor = 0;
  /** A page is being read from the store. */
  loading = false;

  /** Entries queued, loaded or not. */
  get length(): number {
    return this.#items.length - this.#head + this.stored;
  }

  /** Whether entries in the store wait behind the loaded ones (to be paged in or discarded). */
  get hasTail(): boolean {
    return this.stored > 0 || this.dropHead > 0;
  }

  /** Entries loaded in memory. */
  get loaded(): number {
    return this.#items.length - this.#head;
  }

  /** Payload bytes queued, loaded or not. */
  get bytes(): number {
    return this.#bytes + this.storedBytes;
  }

  push(d: Delivery): void {
    this.#items.push(d);
    this.#bytes += d.msg.payload.length;
  }

  /** Counts one entry added to the store's tail only. */
  pushStored(bytes: number): void {
    this.stored++;
    this.storedBytes += bytes;
  }

  /** Counts the oldest unloaded entry as dropped: it is discarded when paged in. */
  dropStored(): void {
    if (this.stored === 0) return;
    this.storedBytes = this.stored === 1 ? 0 : this.storedBytes - this.storedBytes / this.stored;
    this.stored--;
    this.dropHead++;
  }

  /** Counts one entry of the stored tail as paged in (or discarded while paging). */
  takeStored(bytes: number): void {
    if (this.stored > 0) this.stored--;
    this.storedBytes = this.stored === 0 ? 0 : Math.max(0, this.storedBytes - bytes);
  }

  /**
   * Forgets the loaded entries, counting them in the stored tail again:
   * the next page is read after `cursor` (the seq before the first of them).
   */
  unload(cursor: number): void {
    this.stored += this.loaded;
    this.storedBytes += this.#bytes;
    this.#items = [];
    this.#head = 0;
    this.#bytes = 0;
    this.cursor = cursor;
  }

  /** The oldest loaded entry. */
  peek(): Delivery | undefined {
    return this.#items[this.#head];
  }

  /** Removes the oldest loaded entry. */
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
    this.stored = 0;
    this.storedBytes = 0;
    this.dropHead = 0;
    this.cursor = 0;
  }

  /** The loaded entries, oldest first. */
  *[Symbol.iterator](): IterableIterator<Delivery> {
    for (let i = this.#head; i < this.#items.length; i++) {
      const d = this.#items[i];
      if (d !== undefined) yield d;
    }
  }
}
