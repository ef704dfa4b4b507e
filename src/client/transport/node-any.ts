/**
 * The Node transport for any broker URL: picks TCP, TLS, WebSocket or secure
 * WebSocket by the URL's scheme.
 */
import { InvalidArgumentError } from "../../protocol/index.js";
import { nodeTcpTransport } from "./node-tcp.js";
import { nodeWsTransport } from "./node-ws.js";
import type { TransportFactory, TransportOptions } from "./types.js";

const tcpSchemes = new Set(["mqtt:", "tcp:", "mqtts:", "ssl:", "tls:"]);
const wsSchemes = new Set(["ws:", "wss:"]);

/**
 * Opens a transport in Node for `mqtt:`/`tcp:` (TCP, port 1883),
 * `mqtts:`/`ssl:`/`tls:` (TLS, port 8883), `ws:` (port 80) or `wss:` (port 443)
 * URLs; see {@link nodeTcpTransport} and {@link nodeWsTransport}. Throws
 * {@link InvalidArgumentError} synchronously for any other scheme.
 *
 * @example
 * ```ts
 * const transport = await nodeTransport(new URL("mqtt://127.0.0.1:1883"), {});
 * ```
 */
export const nodeTransport: TransportFactory = (url: URL, options: TransportOptions = {}) => {
  if (tcpSchemes.has(url.protocol)) return nodeTcpTransport(url, options);
  if (wsSchemes.has(url.protocol)) return nodeWsTransport(url, options);
  throw new InvalidArgumentError(
    `unsupported URL scheme ${url.protocol} in ${url.href}: use mqtt:, mqtts:, ws: or wss: (tcp:, ssl: and tls: are aliases)`,
  );
};
