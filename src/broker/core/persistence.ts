/**
 * The core's side of the durable store (ARCHITECTURE.md, "State"): mirrors
 * the state of persistent sessions (3.1.x clean session 0, 5.0 Session
 * Expiry Interval > 0) and retained messages into a {@link Store}, and runs
 * one commit per event-loop turn for everything staged during it.
 *
 * Only sessions marked `stored` are written; a broker without a store never
 * creates this object, so it pays nothing per message.
 */
import type { QoS } from "../../protocol/index.js";
import type { Store, StoredDelivery, StoredMessage, StoredSession } from "../store/index.js";
import type { Logger } from "./logger.js";
import { type Message, ownPayload } from "./message.js";
import type { Delivery } from "./session/queue.js";
import type { Inflight, Session } from "./session/session.js";

export class Persistence {
  readonly store: Store;
  readonly #logger: Logger;
  /** The commit covering what was staged in this event-loop turn, once something was. */
  #pending: Promise<void> | undefined;
  /** Send order of in-flight entries (increasing across sessions; raised past stored ones on restore). */
  nextOrder = 1;

  constructor(store: Store, logger: Logger) {
    this.store = store;
    this.#logger = logger;
  }

  /**
   * A promise for the commit that covers everything staged so far: one
   * commit at the end of this event-loop turn, shared by every caller in it.
   */
  commitSoon(): Promise<void> {
    let pending = this.#pending;
    if (pending === undefined) {
      pending = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          this.#pending = undefined;
          this.store.commit().then(resolve, reject);
        });
      });
      // Callers that wait (acknowledgements) handle the failure; here it is only logged.
      pending.catch((err: unknown) => this.#logger.error({ err }, "store commit failed"));
      this.#pending = pending;
    }
    return pending;
  }

  /**
   * Waits for the commit already scheduled (its failure was logged), then
   * closes the store, which commits anything staged since.
   */
  async close(): Promise<void> {
    await this.#pending?.catch(() => undefined);
    await this.store.close();
  }

  /** Whether something is staged and not yet handed to a commit. */
  get staged(): boolean {
    return this.#pending !== undefined;
  }

  /**
   * The store id of `msg`, adding it on first use (once however many
   * sessions refer to it). The caller refers to it in the same turn.
   */
  messageId(msg: Message): number {
    if (msg.storeId !== undefined) return msg.storeId;
    // The store keeps the payload until the commit: never a view of a read buffer that will be reused.
    ownPayload(msg);
    const stored: StoredMessage = {
      topic: msg.topic,
      payload: msg.payload,
      qos: msg.qos,
      retain: msg.retain,
      expiresAt: msg.expiresAt,
      origin: msg.origin,
    };
    if (msg.properties !== undefined) stored.properties = msg.properties;
    msg.storeId = this.store.addMessage(stored);
    return msg.storeId;
  }

  #delivery(d: Delivery): StoredDelivery {
    const out: StoredDelivery = {
      messageId: this.messageId(d.msg),
      qos: d.qos,
      retain: d.retain,
      bytes: d.msg.payload.length,
    };
    if (d.subscriptionIds !== undefined) out.subscriptionIds = d.subscriptionIds;
    return out;
  }

  /** Writes the session record (subscriptions, expiry, will); marks the session stored. */
  saveSession(session: Session): void {
    const record: StoredSession = {
      clientId: session.clientId,
      version: session.version,
      expiryInterval: session.expiryInterval,
      subscriptions: [...session.subscriptions.values()].map((s) => {
        const sub = {
          filter: s.filter,
          qos: s.options.qos,
          noLocal: s.options.noLocal,
          retainAsPublished: s.options.retainAsPublished,
          retainHandling: s.options.retainHandling,
        };
        return s.subscriptionId === undefined ? sub : { ...sub, subscriptionId: s.subscriptionId };
      }),
      disconnectedAt: session.disconnectedAt,
    };
    if (session.will !== undefined) record.will = session.will;
    // Kept with or without a will: an ACL's read check of a restored offline session uses it too.
    if (session.username !== undefined) record.willUsername = session.username;
    this.store.putSession(record);
    session.stored = true;
    this.commitSoon();
  }

  deleteSession(session: Session): void {
    if (!session.stored) return;
    session.stored = false;
    this.store.deleteSession(session.clientId);
    this.commitSoon();
  }

  /** A delivery queued for a stored session. */
  enqueue(session: Session, d: Delivery): void {
    d.storeSeq = this.store.enqueue(session.clientId, this.#delivery(d));
    this.commitSoon();
  }

  /** A queued delivery leaves the queue (sent, expired or dropped). */
  dequeue(session: Session, d: Delivery): void {
    if (d.storeSeq === undefined) return;
    this.store.dequeue(session.clientId, d.storeSeq);
    d.storeSeq = undefined;
    this.commitSoon();
  }

  /** An in-flight entry was created or changed state. */
  putInflight(session: Session, f: Inflight): void {
    f.storeOrder ??= this.nextOrder++;
    const entry = {
      ...this.#delivery(f),
      packetId: f.packetId,
      state: f.state,
      order: f.storeOrder,
    };
    this.store.putInflight(session.clientId, entry);
    this.commitSoon();
  }

  deleteInflight(session: Session, packetId: number): void {
    this.store.deleteInflight(session.clientId, packetId);
    this.commitSoon();
  }

  addInboundQos2(session: Session, packetId: number): void {
    this.store.addInboundQos2(session.clientId, packetId);
    this.commitSoon();
  }

  deleteInboundQos2(session: Session, packetId: number): void {
    this.store.deleteInboundQos2(session.clientId, packetId);
    this.commitSoon();
  }

  /** The retained message of `msg.topic` is now `msg` (an empty payload clears it). */
  setRetained(msg: Message): void {
    this.store.setRetained(msg.topic, msg.payload.length === 0 ? undefined : this.messageId(msg));
    this.commitSoon();
  }

  clearRetained(topic: string): void {
    this.store.setRetained(topic, undefined);
    this.commitSoon();
  }
}

/** A stored message back as a routed one. */
export function messageFromStore(id: number | undefined, m: StoredMessage): Message {
  const msg: Message = {
    topic: m.topic,
    payload: m.payload,
    qos: m.qos as QoS,
    retain: m.retain,
    properties: m.properties,
    expiresAt: m.expiresAt,
    origin: m.origin,
  };
  if (id !== undefined) msg.storeId = id;
  return msg;
}
