/**
 * `MemoryStore`: the {@link Store} kept in the process's memory, for tests and
 * for users who ask for no persistence (`--memory`, `persistence = false`).
 * Nothing survives the process (`durable` is false), but it keeps the same
 * rules as the durable store so the broker behaves the same on both:
 *
 * - a message is kept while a queue entry, an in-flight entry or a retained
 *   topic refers to it; a message nothing refers to when `commit()` runs is
 *   dropped (a message may lose its last reference and gain a new one within
 *   a batch, e.g. dequeued and put in flight);
 * - reads see every change at once (read-your-writes), and `commit()`
 *   resolves on the next microtask;
 * - `deleteSession` removes a queue at once, however long (nothing is
 *   deferred: `pendingDeletions` is always 0), and releases its messages
 *   at the next commit;
 * - `queueSize` is kept with each queue (the sum of its entries' `bytes`);
 * - records come back in the normal form of `records.ts` (copies, no
 *   `undefined` fields); a message's payload is not copied and must not be
 *   changed by the caller.
 */
import { StoreError, StoreErrorCode } from "./errors.js";
import { compareCodePoints } from "./order.js";
import { byOrder, copyDelivery, copyInflight, copySession, normalMessage } from "./records.js";
import type {
  QueueEntry,
  RetainedEntry,
  Store,
  StoredDelivery,
  StoredInflight,
  StoredMessage,
  StoredSession,
  StoreSummary,
} from "./types.js";

interface MessageSlot {
  message: StoredMessage;
  refs: number;
}

/**
 * One session's queue: seqs in increasing order in an array (appends only),
 * entries in a map. Removed entries leave their seq behind until more than
 * half the array is dead, so removing from the head is O(1) amortized and a
 * page is found by binary search.
 */
class MemoryQueue {
  #seqs: number[] = [];
  #entries = new Map<number, StoredDelivery>();
  #dead = 0;
  /** Sum of the entries' `bytes`. */
  #bytes = 0;

  get length(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  push(seq: number, delivery: StoredDelivery): void {
    this.#seqs.push(seq);
    this.#entries.set(seq, delivery);
    this.#bytes += delivery.bytes ?? 0;
  }

  remove(seq: number): StoredDelivery | undefined {
    const delivery = this.#entries.get(seq);
    if (delivery === undefined) return undefined;
    this.#entries.delete(seq);
    this.#bytes -= delivery.bytes ?? 0;
    this.#dead++;
    if (this.#dead > 32 && this.#dead > this.#entries.size) {
      this.#seqs = this.#seqs.filter((s) => this.#entries.has(s));
      this.#dead = 0;
    }
    return delivery;
  }

  read(afterSeq: number, limit: number): QueueEntry[] {
    const out: QueueEntry[] = [];
    const seqs = this.#seqs;
    let lo = 0;
    let hi = seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqs[mid] <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < seqs.length && out.length < limit; i++) {
      const delivery = this.#entries.get(seqs[i]);
      if (delivery !== undefined) out.push({ seq: seqs[i], delivery: copyDelivery(delivery) });
    }
    return out;
  }

  deliveries(): IterableIterator<StoredDelivery> {
    return this.#entries.values();
  }
}

/**
 * The in-memory {@link Store}.
 *
 * @example
 * ```ts
 * const store = new MemoryStore();
 * const id = store.addMessage({ topic: "a/b", payload, qos: 1, retain: false, expiresAt: 0, origin: "c1" });
 * store.enqueue("c2", { messageId: id, qos: 1, retain: false });
 * await store.commit();
 * ```
 */
export class MemoryStore implements Store {
  readonly durable = false;

  #sessions = new Map<string, StoredSession>();
  #messages = new Map<number, MessageSlot>();
  /** Messages that had no reference at some point since the last commit. */
  #unreferenced = new Set<number>();
  #queues = new Map<string, MemoryQueue>();
  #inflight = new Map<string, Map<number, StoredInflight>>();
  #inbound = new Map<string, Set<number>>();
  #retained = new Map<string, number>();
  #nextMessageId = 1;
  #nextSeq = 1;
  #closed = false;

  // ---- sessions -------------------------------------------------------------

  putSession(session: StoredSession): void {
    this.#usable();
    this.#sessions.set(session.clientId, copySession(session));
  }

  deleteSession(clientId: string): void {
    this.#usable();
    this.#sessions.delete(clientId);
    const queue = this.#queues.get(clientId);
    if (queue !== undefined) {
      for (const delivery of queue.deliveries()) this.#unref(delivery.messageId);
      this.#queues.delete(clientId);
    }
    const inflight = this.#inflight.get(clientId);
    if (inflight !== undefined) {
      for (const entry of inflight.values()) this.#unref(entry.messageId);
      this.#inflight.delete(clientId);
    }
    this.#inbound.delete(clientId);
  }

  async getSession(clientId: string): Promise<StoredSession | undefined> {
    this.#usable();
    const session = this.#sessions.get(clientId);
    return session === undefined ? undefined : copySession(session);
  }

  async listSessions(): Promise<StoredSession[]> {
    this.#usable();
    return [...this.#sessions.values()].map(copySession);
  }

  // ---- messages -------------------------------------------------------------

  addMessage(message: StoredMessage): number {
    this.#usable();
    const id = this.#nextMessageId++;
    this.#messages.set(id, { message: normalMessage(message), refs: 0 });
    this.#unreferenced.add(id);
    return id;
  }

  async getMessage(messageId: number): Promise<StoredMessage | undefined> {
    this.#usable();
    return this.#messages.get(messageId)?.message;
  }

  // ---- queues ---------------------------------------------------------------

  enqueue(clientId: string, delivery: StoredDelivery): number {
    this.#usable();
    const seq = this.#nextSeq++;
    let queue = this.#queues.get(clientId);
    if (queue === undefined) {
      queue = new MemoryQueue();
      this.#queues.set(clientId, queue);
    }
    queue.push(seq, copyDelivery(delivery));
    this.#ref(delivery.messageId);
    return seq;
  }

  dequeue(clientId: string, seq: number): void {
    this.#usable();
    const queue = this.#queues.get(clientId);
    const removed = queue?.remove(seq);
    if (removed === undefined) return;
    this.#unref(removed.messageId);
    if (queue!.length === 0) this.#queues.delete(clientId);
  }

  async readQueue(clientId: string, afterSeq: number, limit: number): Promise<QueueEntry[]> {
    this.#usable();
    if (!(limit > 0)) return [];
    return this.#queues.get(clientId)?.read(afterSeq, limit) ?? [];
  }

  async queueLength(clientId: string): Promise<number> {
    this.#usable();
    return this.#queues.get(clientId)?.length ?? 0;
  }

  async queueSize(clientId: string): Promise<{ length: number; bytes: number }> {
    this.#usable();
    const queue = this.#queues.get(clientId);
    return { length: queue?.length ?? 0, bytes: queue?.bytes ?? 0 };
  }

  // ---- in flight --------------------------------------------------------------

  putInflight(clientId: string, entry: StoredInflight): void {
    this.#usable();
    let map = this.#inflight.get(clientId);
    if (map === undefined) {
      map = new Map();
      this.#inflight.set(clientId, map);
    }
    const old = map.get(entry.packetId);
    map.set(entry.packetId, copyInflight(entry));
    this.#ref(entry.messageId);
    if (old !== undefined) this.#unref(old.messageId);
  }

  deleteInflight(clientId: string, packetId: number): void {
    this.#usable();
    const map = this.#inflight.get(clientId);
    const old = map?.get(packetId);
    if (old === undefined) return;
    map!.delete(packetId);
    if (map!.size === 0) this.#inflight.delete(clientId);
    this.#unref(old.messageId);
  }

  async listInflight(clientId: string): Promise<StoredInflight[]> {
    this.#usable();
    const map = this.#inflight.get(clientId);
    return map === undefined ? [] : [...map.values()].sort(byOrder).map(copyInflight);
  }

  // ---- inbound QoS 2 ------------------------------------------------------------

  addInboundQos2(clientId: string, packetId: number): void {
    this.#usable();
    let set = this.#inbound.get(clientId);
    if (set === undefined) {
      set = new Set();
      this.#inbound.set(clientId, set);
    }
    set.add(packetId);
  }

  deleteInboundQos2(clientId: string, packetId: number): void {
    this.#usable();
    const set = this.#inbound.get(clientId);
    if (set === undefined) return;
    set.delete(packetId);
    if (set.size === 0) this.#inbound.delete(clientId);
  }

  async listInboundQos2(clientId: string): Promise<number[]> {
    this.#usable();
    return [...(this.#inbound.get(clientId) ?? [])].sort((a, b) => a - b);
  }

  // ---- retained -------------------------------------------------------------------

  setRetained(topic: string, messageId: number | undefined): void {
    this.#usable();
    const old = this.#retained.get(topic);
    if (messageId === undefined) this.#retained.delete(topic);
    else {
      this.#retained.set(topic, messageId);
      this.#ref(messageId);
    }
    if (old !== undefined) this.#unref(old);
  }

  async listRetained(): Promise<RetainedEntry[]> {
    this.#usable();
    const out: RetainedEntry[] = [];
    for (const [topic, messageId] of this.#retained) {
      const slot = this.#messages.get(messageId);
      if (slot !== undefined) out.push({ topic, messageId, message: slot.message });
    }
    return out.sort((a, b) => compareCodePoints(a.topic, b.topic));
  }

  // ---- lifecycle --------------------------------------------------------------------

  async commit(): Promise<void> {
    this.#usable();
    this.#collect();
  }

  /** Counts after a commit (so messages nothing refers to are not counted). */
  async summary(): Promise<StoreSummary> {
    await this.commit();
    let queued = 0;
    for (const queue of this.#queues.values()) queued += queue.length;
    let inflight = 0;
    for (const map of this.#inflight.values()) inflight += map.size;
    return {
      sessions: this.#sessions.size,
      queuedMessages: queued,
      inflightMessages: inflight,
      retainedMessages: this.#retained.size,
      storedMessages: this.#messages.size,
      pendingDeletions: 0,
      sizeBytes: 0,
      formatVersion: 0,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#collect();
    this.#closed = true;
  }

  // ---- internals ----------------------------------------------------------------------

  #ref(messageId: number): void {
    const slot = this.#messages.get(messageId);
    if (slot !== undefined) slot.refs++;
  }

  #unref(messageId: number): void {
    const slot = this.#messages.get(messageId);
    if (slot !== undefined && --slot.refs <= 0) this.#unreferenced.add(messageId);
  }

  /** Drops the messages that nothing refers to any more. */
  #collect(): void {
    for (const id of this.#unreferenced) {
      const slot = this.#messages.get(id);
      if (slot !== undefined && slot.refs <= 0) this.#messages.delete(id);
    }
    this.#unreferenced.clear();
  }

  #usable(): void {
    if (this.#closed) throw new StoreError(StoreErrorCode.Closed, "the store is closed");
  }
}
