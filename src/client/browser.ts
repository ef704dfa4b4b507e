/**
 * The browser build of `starling/client` (`dist/browser/starling-client.js`,
 * and an IIFE exposing `Starling`): the same API as in Node, over the
 * browser's WebSocket. No Node built-ins or polyfills.
 *
 * @example
 * ```html
 * <script type="module">
 *   import { connect } from "./starling-client.js";
 *   const client = await connect("ws://127.0.0.1:8083/mqtt");
 *   const sub = await client.subscribe("switches/+/status");
 *   for await (const msg of sub) console.log(`lights at ${msg.topic} are ${msg.text()}`);
 * </script>
 * ```
 */
import { createConnect } from "./connect.js";
import { browserWsTransport } from "./transport/browser-ws.js";

export {
  AbortError,
  ClosedError,
  InvalidArgumentError,
  MqttError,
  ProtocolError,
  RefusedError,
  TimeoutError,
  TransportError,
} from "../protocol/errors.js";
export { Client } from "./client.js";
export { backoff } from "./reconnect.js";
export { MemoryClientStore } from "./store.js";
export { Subscription } from "./subscription.js";
export { browserWsTransport };

/** Connects to a broker over WebSocket (`ws:` or `wss:`). */
export const connect = createConnect(browserWsTransport);
