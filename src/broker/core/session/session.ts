/**
 * A session (§4.1): what the broker keeps for one client id across
 * connections — subscriptions, QoS 1/2 state in both directions, queued
 * messages, the will, and when it expires.
 */
import type { ProtocolVersion, QoS, Will } from "../../../protocol/index.js";
import type { Delivery } from "./queue.js";
import { DeliveryQueue } from "./queue.js";

/** Subscription Options (§3.8.3.1) as granted. */
export interface SubscriptionOptions {
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
}

/** One subscription of a session. */
export interface SessionSubscription {
  /** The filter as the client sent it, `$share/...` included. */
  filter: string;
  /** The filter matched against topics (without `$share/{group}/`). */
  topicFilter: string;
  /** Share name of a shared subscription, or undefined. */
  group: string | undefined;
  options: SubscriptionOptions;
  subscriptionId: number | undefined;
}

/** An outbound QoS 1/2 message awaiting acknowledgement. */
export interface Inflight extends Delivery {
  packetId: number;
  /** `publish`: PUBLISH sent, awaiting PUBACK/PUBREC. `pubrel`: PUBREL sent, awaiting PUBCOMP. */
  state: "publish" | "pubrel";
  /** Send order in the store, once stored. */
  storeOrder?: number;
}

/** What the core needs from the connection a session is attached to. */
export interface SessionOwner {
  /** Sends a message now, or queues it behind what is waiting. */
  deliver(d: Delivery): void;
  /** Tries to send the session's queued messages now. */
  pump(): void;
}

export class Session {
  readonly clientId: string;
  version: ProtocolVersion;
  /** Session Expiry Interval in seconds; 0xFFFFFFFF never expires. */
  expiryInterval = 0;
  #subscriptions: Map<string, SessionSubscription> | undefined;
  #inflight: Map<number, Inflight> | undefined;
  readonly queue = new DeliveryQueue();
  #inboundQos2: Set<number> | undefined;
  will: Will | undefined;
  /** User name of the connection that set the will: the will is authorized as that user. */
  username: string | undefined;
  /** The live connection, or null while the client is away. */
  owner: SessionOwner | null = null;
  /** Timer that ends the session after it expires while offline. */
  expiryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Timer of a will waiting for its Will Delay Interval. */
  willTimer: ReturnType<typeof setTimeout> | undefined;
  #nextPacketId = 1;
  /** When the client went away (ms since the epoch); 0 while connected. */
  disconnectedAt = 0;
  /** Whether the store holds this session (it is persistent and a store is configured). */
  stored = false;
  /** Messages dropped because the queue was full. */
  dropped = 0;

  /**
   * Inbound QoS 2 packet ids received and not yet released by PUBREL
   * (§4.3.3 method B); the set is made on first use (most sessions never
   * receive QoS 2).
   */
  get inboundQos2(): Set<number> {
    this.#inboundQos2 ??= new Set();
    return this.#inboundQos2;
  }

  /**
   * Subscriptions by filter. Made on first use, like {@link inflight}: an idle
   * connection that never subscribes or receives QoS 1/2 holds no hash tables.
   */
  get subscriptions(): Map<string, SessionSubscription> {
    this.#subscriptions ??= new Map();
    return this.#subscriptions;
  }

  /** How many subscriptions there are, without making the map. */
  get subscriptionCount(): number {
    return this.#subscriptions?.size ?? 0;
  }

  /** Outbound QoS 1/2 in flight, by packet id, in send order; made on first use. */
  get inflight(): Map<number, Inflight> {
    this.#inflight ??= new Map();
    return this.#inflight;
  }

  /** How many outbound QoS 1/2 messages are in flight, without making the map. */
  get inflightSize(): number {
    return this.#inflight?.size ?? 0;
  }

  /** How many inbound QoS 2 ids are held, without making the set. */
  get inboundQos2Size(): number {
    return this.#inboundQos2?.size ?? 0;
  }

  constructor(clientId: string, version: ProtocolVersion) {
    this.clientId = clientId;
    this.version = version;
  }

  /**
   * A packet id not used by any message in flight [MQTT-2.2.1-3]; undefined
   * when all 65,535 are taken.
   */
  allocatePacketId(): number | undefined {
    if (this.inflightSize >= 65_535) return undefined;
    let id = this.#nextPacketId;
    while (this.inflight.has(id)) id = id === 65_535 ? 1 : id + 1;
    this.#nextPacketId = id === 65_535 ? 1 : id + 1;
    return id;
  }

  clearTimers(): void {
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    if (this.willTimer !== undefined) clearTimeout(this.willTimer);
    this.expiryTimer = undefined;
    this.willTimer = undefined;
  }
}
