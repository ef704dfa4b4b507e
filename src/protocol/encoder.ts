/**
 * Packet → bytes. {@link encode} produces one buffer per packet; for PUBLISH,
 * {@link encodePublishHeader} produces the header alone so the payload can be
 * written after it untouched.
 */
import { encodeClientPacket } from "./client-codec.js";
import type { ProtocolVersion } from "./constants.js";
import { InvalidArgumentError } from "./errors.js";
import type { Packet } from "./packet.js";
import { type Alloc, defaultAlloc } from "./packets/common.js";
import { encodeConnack } from "./packets/connack.js";
import { PINGRESP_BYTES } from "./packets/ping.js";
import { encodeSuback } from "./packets/suback.js";
import { encodeUnsuback } from "./packets/unsuback.js";

export { createSlabAlloc } from "./packets/common.js";
export { encodePublishHeader } from "./packets/publish.js";
export type { Alloc };

/**
 * Encodes `packet` for a connection speaking protocol `version` (for CONNECT,
 * the packet's own `protocolVersion` is used). Fields the version does not
 * have (MQTT 5 properties and reason codes in 3.1.x) are left out. Throws
 * {@link InvalidArgumentError} for a packet that cannot be sent as given.
 *
 * @example
 * ```ts
 * const bytes = encode({ type: "publish", topic: "a/b", payload, qos: 0, retain: false, dup: false }, 5);
 * ```
 */
export function encode(
  packet: Packet,
  version: ProtocolVersion,
  alloc: Alloc = defaultAlloc,
): Uint8Array {
  switch (packet.type) {
    case "connack":
      return encodeConnack(packet, version, alloc);
    case "suback":
      return encodeSuback(packet, version, alloc);
    case "unsuback":
      return encodeUnsuback(packet, version, alloc);
    case "pingresp": {
      const buf = alloc(PINGRESP_BYTES.length);
      buf.set(PINGRESP_BYTES);
      return buf;
    }
    case "publish":
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
    case "connect":
    case "subscribe":
    case "unsubscribe":
    case "pingreq":
    case "disconnect":
    case "auth":
      return encodeClientPacket(packet, version, alloc);
    default:
      throw new InvalidArgumentError(
        `unknown packet type ${String((packet as { type: unknown }).type)}`,
      );
  }
}
