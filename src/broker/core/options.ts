/**
 * Broker limits and behaviour switches, with their defaults. Every limit is
 * enforced where the data enters (ARCHITECTURE.md, "Errors and limits").
 */
import type { QoS } from "../../protocol/index.js";

export interface BrokerLimits {
  /** Largest packet accepted from a client, in bytes (announced in CONNACK to 5.0 clients). */
  maxPacketSize: number;
  /** Connections accepted at once; more are refused (5.0: CONNACK 0x89 Server busy). */
  maxConnections: number;
  /** Outbound QoS 1/2 messages in flight per 3.1.x client (5.0 clients set their own Receive Maximum). */
  maxInflight: number;
  /** Inbound QoS 2 messages awaiting PUBREL per client; announced to 5.0 clients as Receive Maximum. */
  receiveMaximum: number;
  /** Messages queued per session (offline, or beyond the inflight window). */
  maxQueuedMessages: number;
  /** Bytes of payload queued per session. */
  maxQueuedBytes: number;
  /** Longest topic name or filter, in bytes. */
  maxTopicLength: number;
  /** Most levels in a topic name or filter. */
  maxTopicLevels: number;
  /** Subscriptions one session may hold. */
  maxSubscriptionsPerClient: number;
  /** Topic aliases a 5.0 client may use towards the broker (0 disables). */
  topicAliasMaximum: number;
  /** Largest keepalive accepted, in seconds; a larger or zero one is replaced (5.0: Server Keep Alive). 0 = no limit. */
  maxKeepalive: number;
  /** Milliseconds a new connection has to send CONNECT. */
  connectTimeoutMs: number;
  /**
   * Bytes waiting in a connection's socket beyond which QoS 1/2 deliveries
   * queue instead of being written, and QoS 0 ones count as late: dropped
   * once the buffer has stayed above this for `slowConsumerGraceMs`, or at
   * once beyond 64 times this.
   */
  writeHighWaterMark: number;
  /** How long a connection's buffer may stay above the high-water mark before QoS 0 to it is dropped. */
  slowConsumerGraceMs: number;
  /** Highest QoS the broker grants. */
  maximumQoS: QoS;
  /** Whether retained messages are supported. */
  retainAvailable: boolean;
  /** Queue QoS 0 messages for offline persistent sessions (Mosquitto's queue_qos0_messages). */
  queueQos0: boolean;
  /** What happens to a message for a full queue: drop the new one, or drop the oldest queued. */
  queueOverflow: "drop-new" | "drop-oldest";
  /** Retained messages the broker keeps; a new retained topic beyond it is delivered but not stored. */
  maxRetainedMessages: number;
  /** Payload bytes of retained messages the broker keeps. */
  maxRetainedBytes: number;
  /** Session expiry, in seconds, for 3.1.x persistent sessions (clean session 0); 0 = never. */
  persistentSessionExpiry: number;
  /** Largest PUBLISH payload accepted, in bytes (Mosquitto's message_size_limit); larger ones are refused. */
  maxPayloadSize: number;
  /** Accept an empty client identifier and assign one (3.1.1 with clean session, 5.0). */
  allowZeroLengthClientId: boolean;
  /** Replace each authenticated client's identifier with its username (Mosquitto's use_username_as_clientid). */
  useUsernameAsClientId: boolean;
}

export const DEFAULT_LIMITS: BrokerLimits = {
  maxPacketSize: 1024 * 1024,
  maxConnections: 100_000,
  maxInflight: 1000,
  receiveMaximum: 65_535,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 16 * 1024 * 1024,
  maxTopicLength: 65_535,
  maxTopicLevels: 128,
  maxSubscriptionsPerClient: 10_000,
  topicAliasMaximum: 64,
  maxKeepalive: 0,
  connectTimeoutMs: 10_000,
  writeHighWaterMark: 1024 * 1024,
  slowConsumerGraceMs: 1000,
  maximumQoS: 2,
  retainAvailable: true,
  queueQos0: false,
  queueOverflow: "drop-new",
  maxRetainedMessages: 1_000_000,
  maxRetainedBytes: 256 * 1024 * 1024,
  persistentSessionExpiry: 0,
  maxPayloadSize: 268_435_455,
  allowZeroLengthClientId: true,
  useUsernameAsClientId: false,
};
