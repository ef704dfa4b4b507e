/**
 * Packet → bytes. {@link encode} produces one buffer per packet; for PUBLISH,
 * {@link encodePublishHeader} produces the header alone so the payload can be
 * written after it untouched.
 */
import type { ProtocolVersion } from "./constants.js";
import { InvalidArgumentError } from "./errors.js";
import type { Packet } from "./packet.js";
import { encodeAck } from "./packets/ack.js";
import { encodeAuth } from "./packets/auth.js";
import { type Alloc, defaultAlloc } from "./packets/common.js";
import { encodeConnack } from "./packets/connack.js";
import { encodeConnect } from "./packets/connect.js";
import { encodeDisconnect } from "./packets/disconnect.js";
import { PINGREQ_BYTES, PINGRESP_BYTES } from "./packets/ping.js";
import { encodePublish } from "./packets/publish.js";
import { encodeSuback } from "./packets/suback.js";
import { encodeSubscribe } from "./packets/subscribe.js";
import { encodeUnsuback } from "./packets/unsuback.js";
import { encodeUnsubscribe } from "./packets/unsubscribe.js";

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
    case "publish":
      return encodePublish(packet, version, alloc);
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return encodeAck(packet, version, alloc);
    case "connect":
      return encodeConnect(packet, alloc);
    case "connack":
      return encodeConnack(packet, version, alloc);
    case "subscribe":
      return encodeSubscribe(packet, version, alloc);
    case "suback":
      return encodeSuback(packet, version, alloc);
    case "unsubscribe":
      return encodeUnsubscribe(packet, version, alloc);
    case "unsuback":
      return encodeUnsuback(packet, version, alloc);
    case "pingreq":
      return copy(PINGREQ_BYTES, alloc);
    case "pingresp":
      return copy(PINGRESP_BYTES, alloc);
    case "disconnect":
      return encodeDisconnect(packet, version, alloc);
    case "auth":
      return encodeAuth(packet, version, alloc);
    default:
      throw new InvalidArgumentError(
        `unknown packet type ${String((packet as { type: unknown }).type)}`,
      );
  }
}

function copy(bytes: readonly number[], alloc: Alloc): Uint8Array {
  const buf = alloc(bytes.length);
  buf.set(bytes);
  return buf;
}
