/**
 * `starling/broker`: the embeddable MQTT broker.
 *
 * Not built yet (issue 3). The subpath exists now so the package layout and
 * its exports are fixed from the start.
 */
export type { Packet, ProtocolVersion, QoS } from "../protocol/index.js";
