/**
 * The `Store` (ARCHITECTURE.md, "State"): everything the broker must keep
 * across a restart or a crash — sessions, their queued and in-flight
 * messages, inbound QoS 2 state, and retained messages.
 *
 * Writes are grouped: mutating calls only stage changes in the current
 * batch; `commit()` makes everything staged so far durable (one transaction
 * and, for a durable store, one sync for the whole batch) and resolves when
 * it is. The broker calls `commit()` once per event-loop turn and sends
 * PUBACK/PUBREC only after the commit covering the message resolved.
 * Reads see staged changes too (read-your-writes).
 *
 * A message's payload is stored once, however many sessions queue it:
 * `addMessage` returns an id that queue entries, in-flight entries and
 * retained topics refer to; the store deletes the message when the last
 * reference goes (a message with no reference at commit time is not kept).
 *
 * Queues are read in pages (`readQueue`) so a session with a million queued
 * messages does not have to sit in memory; `queueSize` tells how many
 * entries and payload bytes a queue holds without reading its messages
 * (each entry records its message's payload size, `StoredDelivery.bytes`).
 *
 * `deleteSession` takes effect at once for every read, however long the
 * queue: a durable store may remove a long queue's entries from disk over
 * the following commits (a bounded number per commit, so one commit never
 * blocks the event loop for long), and keeps the messages only they refer
 * to until then (`StoreSummary.pendingDeletions`). A new session with the
 * same client id sees only its own entries, across a restart or a crash too.
 */
import type { Properties, ProtocolVersion, QoS, Will } from "../../protocol/index.js";

/** An application message as stored. */
export interface StoredMessage {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  properties?: Properties;
  /** When it expires (ms since the epoch), or 0 for never. */
  expiresAt: number;
  /** Client id of the publisher ("" for the broker's own). */
  origin: string;
}

export interface StoredSubscription {
  /** As the client sent it, `$share/...` included. */
  filter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId?: number;
}

export interface StoredSession {
  clientId: string;
  version: ProtocolVersion;
  /** Session Expiry Interval in seconds (0xFFFFFFFF: never). */
  expiryInterval: number;
  subscriptions: StoredSubscription[];
  will?: Will;
  /** User name the will is authorized as (the broker keeps it without a will too: ACL read checks). */
  willUsername?: string;
  /** When the client went away (ms since the epoch); 0 while connected. */
  disconnectedAt: number;
}

/** One message on its way to one session. */
export interface StoredDelivery {
  messageId: number;
  qos: QoS;
  retain: boolean;
  subscriptionIds?: number[];
  /**
   * Payload bytes of the message, recorded with the entry so a queue's size
   * is known without reading its messages (`queueSize`). Absent: counted as 0.
   */
  bytes?: number;
}

/** An outbound QoS 1/2 message awaiting acknowledgement. */
export interface StoredInflight extends StoredDelivery {
  packetId: number;
  /** `publish`: awaiting PUBACK/PUBREC; `pubrel`: awaiting PUBCOMP. */
  state: "publish" | "pubrel";
  /** Send order among the session's in-flight messages. */
  order: number;
}

export interface QueueEntry {
  /** Position in the session's queue: increasing, not necessarily contiguous. */
  seq: number;
  delivery: StoredDelivery;
}

/** A retained topic as `listRetained` lists it. */
export interface RetainedEntry {
  topic: string;
  messageId: number;
  message: StoredMessage;
}

/** What `inspect` reports (`starling store inspect DIR`). */
export interface StoreSummary {
  sessions: number;
  queuedMessages: number;
  inflightMessages: number;
  retainedMessages: number;
  /** Messages stored (referred to by queue, in-flight or retained entries, or by `pendingDeletions`). */
  storedMessages: number;
  /**
   * Queue entries of deleted sessions not yet removed from disk: invisible to
   * every read and not in `queuedMessages`, removed a bounded number per
   * commit (0 once done, and always 0 for memory).
   */
  pendingDeletions: number;
  /** Bytes on disk (0 for memory). */
  sizeBytes: number;
  formatVersion: number;
}

export interface Store {
  /** True when committed state survives a crash of the process. */
  readonly durable: boolean;

  // ---- sessions -------------------------------------------------------------
  putSession(session: StoredSession): void;
  /**
   * Removes the session with its queue, in-flight and inbound QoS 2 entries.
   * Every read stops showing them at once; entries queued for the client id
   * afterwards belong to a new queue. A durable store may remove a long
   * queue from disk over later commits (see the module comment).
   */
  deleteSession(clientId: string): void;
  getSession(clientId: string): Promise<StoredSession | undefined>;
  listSessions(): Promise<StoredSession[]>;

  // ---- messages -------------------------------------------------------------
  /** Stages a message; returns its id. Kept only while something refers to it. */
  addMessage(message: StoredMessage): number;
  getMessage(messageId: number): Promise<StoredMessage | undefined>;

  // ---- per-session queues (FIFO) --------------------------------------------
  /** Appends to the session's queue; returns the entry's seq. */
  enqueue(clientId: string, delivery: StoredDelivery): number;
  /** Removes one entry (from the head, or anywhere when a message expires or is dropped). */
  dequeue(clientId: string, seq: number): void;
  /** Up to `limit` entries with seq > `afterSeq`, in order. */
  readQueue(clientId: string, afterSeq: number, limit: number): Promise<QueueEntry[]>;
  queueLength(clientId: string): Promise<number>;
  /**
   * The number of entries in the session's queue and the sum of their
   * `bytes` (entries without it count 0), staged changes included. Reads no
   * message: a durable store scans only this queue's entries (once; then it
   * keeps the figures up to date).
   */
  queueSize(clientId: string): Promise<{ length: number; bytes: number }>;

  // ---- outbound in flight -------------------------------------------------------
  putInflight(clientId: string, entry: StoredInflight): void;
  deleteInflight(clientId: string, packetId: number): void;
  /** The session's in-flight entries in `order`. */
  listInflight(clientId: string): Promise<StoredInflight[]>;

  // ---- inbound QoS 2 (packet ids received, PUBREL not yet) --------------------
  addInboundQos2(clientId: string, packetId: number): void;
  deleteInboundQos2(clientId: string, packetId: number): void;
  listInboundQos2(clientId: string): Promise<number[]>;

  // ---- retained -------------------------------------------------------------------
  /** Sets (or with undefined, clears) the retained message of a topic. */
  setRetained(topic: string, messageId: number | undefined): void;
  /**
   * Every retained topic with its message and the message's id, in topic
   * order. New queue and in-flight entries may refer to the id like to any
   * stored message's: the payload is not stored again.
   */
  listRetained(): Promise<RetainedEntry[]>;

  // ---- lifecycle --------------------------------------------------------------------
  /**
   * Makes everything staged so far durable; resolves when it is (rejects if
   * it failed). Also removes the next few thousand entries of deleted
   * sessions' queues still on disk (`pendingDeletions`), even with nothing staged.
   */
  commit(): Promise<void>;
  summary(): Promise<StoreSummary>;
  /** Commits what is staged and releases the store (and its directory lock). */
  close(): Promise<void>;
}
