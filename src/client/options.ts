/** Options of the client, with their defaults. */
import type { Properties, ProtocolVersion, QoS } from "../protocol/index.js";
import type { ClientStore } from "./store.js";
import type { TransportFactory, TransportOptions } from "./transport/types.js";

/** When and how often to reconnect after the connection is lost (exponential backoff, full jitter). */
export interface ReconnectPolicy {
  /** First delay bound in ms (default 500). */
  initialDelay?: number;
  /** Largest delay bound in ms (default 30,000). */
  maxDelay?: number;
  /** Growth of the bound per attempt (default 2). */
  factor?: number;
  /** Attempts before giving up and closing (default Infinity). */
  maxAttempts?: number;
  /** Source of randomness in [0, 1) for the jitter (tests pass a fixed one). */
  random?: () => number;
}

export interface WillOptions {
  topic: string;
  payload: string | Uint8Array;
  qos?: QoS;
  retain?: boolean;
  properties?: Properties;
}

/**
 * MQTT 5 enhanced authentication (§4.12): the method, its first data, how to
 * answer each challenge and, optionally, how to check the broker's last word.
 * `scramSha256()` makes one.
 */
export interface EnhancedAuth {
  method: string;
  /**
   * The CONNECT's Authentication Data. Read once for each CONNECT, so a
   * getter can start every connection afresh (SCRAM draws a new nonce).
   */
  data?: Uint8Array;
  /** Called with each AUTH 0x18 challenge's data; returns the response data. */
  onChallenge(
    data: Uint8Array | undefined,
  ): Promise<Uint8Array | undefined> | Uint8Array | undefined;
  /**
   * Called with the Authentication Data of the CONNACK that accepts the
   * connection, before `connect` resolves: lets the method verify the broker
   * (SCRAM's server-final message). Throwing closes the client with that
   * error, without reconnecting. Synchronous, so what arrives behind the
   * CONNACK is handled in order.
   */
  onSuccess?(data: Uint8Array | undefined): void;
}

export interface ConnectOptions extends TransportOptions {
  /** Broker URL, when not given as the first argument (default `mqtt://127.0.0.1:1883`). */
  url?: string;
  /** 3 (MQTT 3.1), 4 (3.1.1) or 5 (default). */
  protocolVersion?: ProtocolVersion;
  /** Default: `starling-` and random characters; "" lets a 5.0 broker assign one. */
  clientId?: string;
  /** Clean Session (3.1.x) / Clean Start (5.0); default true. */
  clean?: boolean;
  /** Seconds; default 60; 0 disables. */
  keepalive?: number;
  username?: string;
  password?: string | Uint8Array;
  will?: WillOptions;
  /** MQTT 5 Session Expiry Interval in seconds (default 0). */
  sessionExpiryInterval?: number;
  /** Other MQTT 5 CONNECT properties (receiveMaximum, maximumPacketSize, topicAliasMaximum, userProperties …). */
  properties?: Properties;
  auth?: EnhancedAuth;
  /** Milliseconds for the transport to open and CONNACK to arrive (default 30,000). */
  connectTimeout?: number;
  /** Default timeout of publish/subscribe/unsubscribe in ms (default 60,000); 0 = none. */
  operationTimeout?: number;
  /** Reconnect policy, or false to never reconnect (default: enabled). */
  reconnect?: ReconnectPolicy | false;
  /** Messages published while disconnected, bounded (default 1000 messages, 16 MiB). */
  offlineQueue?: { maxMessages?: number; maxBytes?: number; overflow?: "reject" | "drop-oldest" };
  /** Where unacknowledged QoS 1/2 publishes are kept (default: memory). */
  store?: ClientStore;
  /** Topic aliases towards the broker, used when the broker allows them (default true). */
  autoTopicAlias?: boolean;
  /** Messages buffered per subscription for `for await` consumers (default 1000). */
  subscriptionBuffer?: number;
  /** Opens connections; default: the runtime's transport for the URL. */
  transport?: TransportFactory;
  /** Aborts the first connection attempt. */
  signal?: AbortSignal;
}

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
  /** MQTT 5 properties: messageExpiryInterval, contentType, responseTopic, correlationData, userProperties, payloadFormatIndicator. */
  properties?: Properties;
  signal?: AbortSignal;
  /** Milliseconds; default the client's operationTimeout. */
  timeout?: number;
}

export interface SubscribeOptions {
  qos?: QoS;
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: 0 | 1 | 2;
  /** MQTT 5 user properties of the SUBSCRIBE. */
  userProperties?: Array<[string, string]>;
  signal?: AbortSignal;
  timeout?: number;
  /** Messages buffered for `for await` (default: the client's subscriptionBuffer). */
  buffer?: number;
}

export interface UnsubscribeOptions {
  userProperties?: Array<[string, string]>;
  signal?: AbortSignal;
  timeout?: number;
}

export const DEFAULTS = {
  url: "mqtt://127.0.0.1:1883",
  protocolVersion: 5 as ProtocolVersion,
  keepalive: 60,
  connectTimeout: 30_000,
  operationTimeout: 60_000,
  reconnect: {
    initialDelay: 500,
    maxDelay: 30_000,
    factor: 2,
    maxAttempts: Number.POSITIVE_INFINITY,
  },
  offlineQueue: { maxMessages: 1000, maxBytes: 16 * 1024 * 1024, overflow: "reject" as const },
  subscriptionBuffer: 1000,
};
