/**
 * `starling/client`: the MQTT client for Node and browsers.
 *
 * Not built yet (issue 4). The subpath exists now so the package layout and
 * its exports are fixed from the start; it imports only `protocol/`.
 */
export type { Packet, ProtocolVersion, QoS } from "../protocol/index.js";
