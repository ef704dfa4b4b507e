/**
 * `starling/client`: the MQTT 3.1 / 3.1.1 / 5.0 client for Node (TCP, TLS,
 * WebSocket). Browsers get the same API from `dist/browser/starling-client.js`.
 *
 * @example
 * ```ts
 * import { connect } from "starling/client";
 * const client = await connect("mqtt://127.0.0.1:1883");
 * const sub = await client.subscribe("switches/+/status");
 * for await (const msg of sub) console.log(`lights at ${msg.topic} are ${msg.text()}`);
 * ```
 */
import { createConnect } from "./connect.js";
import { nodeTransport } from "./transport/node-any.js";

export type { Packet, Properties, ProtocolVersion, QoS } from "../protocol/index.js";
export {
  AbortError,
  ClosedError,
  InvalidArgumentError,
  MqttError,
  ProtocolError,
  RefusedError,
  TimeoutError,
  TransportError,
} from "../protocol/index.js";
export { Client, type PublishResult, type StatusEvent } from "./client.js";
export type { Message } from "./message.js";
export type {
  ConnectOptions,
  EnhancedAuth,
  PublishOptions,
  ReconnectPolicy,
  SubscribeOptions,
  UnsubscribeOptions,
  WillOptions,
} from "./options.js";
export { backoff, retryableRefusal } from "./reconnect.js";
export { type ScramOptions, scramSha256 } from "./scram.js";
export { type ClientStore, MemoryClientStore, type StoredPublish } from "./store.js";
export { Subscription } from "./subscription.js";
export type { Transport, TransportFactory, TransportOptions } from "./transport/types.js";

/** Connects to a broker over TCP, TLS or WebSocket (`mqtt:`, `mqtts:`, `ws:`, `wss:`). */
export const connect = createConnect(nodeTransport);
