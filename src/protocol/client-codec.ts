/**
 * The client's half of the codec: decodes only the packets a server sends
 * and encodes only the packets a client sends. The broker and tools use the
 * full {@link Decoder} and {@link encode}; the client uses these so the
 * browser bundle leaves out the CONNECT/SUBSCRIBE/UNSUBSCRIBE decoders and
 * the CONNACK/SUBACK/UNSUBACK encoders it never runs. Same wire format, same
 * checks — these call the very same per-packet functions.
 */
import { PacketType, type ProtocolVersion } from "./constants.js";
import { InvalidArgumentError, protocolError } from "./errors.js";
import type { Packet } from "./packet.js";
import { decodeAck, encodeAck } from "./packets/ack.js";
import { decodeAuth, encodeAuth } from "./packets/auth.js";
import { decodeConnack } from "./packets/connack.js";
import { encodeConnect } from "./packets/connect.js";
import { decodeDisconnect, encodeDisconnect } from "./packets/disconnect.js";
import { decodePingresp, PINGREQ_BYTES } from "./packets/ping.js";
import { decodePublish, encodePublish } from "./packets/publish.js";
import { decodeSuback } from "./packets/suback.js";
import { encodeSubscribe } from "./packets/subscribe.js";
import { decodeUnsuback } from "./packets/unsuback.js";
import { encodeUnsubscribe } from "./packets/unsubscribe.js";
import { StreamDecoder } from "./stream-decoder.js";
import type { Reader } from "./wire.js";

/** The packets a client sends (§2.1.2, Table 2-1: "Client to Server" or both). */
export type ClientPacket = Extract<
  Packet,
  {
    type:
      | "connect"
      | "publish"
      | "puback"
      | "pubrec"
      | "pubrel"
      | "pubcomp"
      | "subscribe"
      | "unsubscribe"
      | "pingreq"
      | "disconnect"
      | "auth";
  }
>;

/** The packets a server sends. */
export type ServerPacket = Exclude<
  Packet,
  { type: "connect" | "subscribe" | "unsubscribe" | "pingreq" }
>;

/**
 * Decodes what a server sends. CONNECT, SUBSCRIBE, UNSUBSCRIBE and PINGREQ
 * flow only from client to server (§2.1.2, Table 2-1); receiving one is a
 * Protocol Error (0x82).
 */
export class ClientDecoder extends StreamDecoder<ServerPacket> {
  protected decodeBody(r: Reader, b0: number): ServerPacket {
    const version = this.version;
    const type = b0 >> 4;
    switch (type) {
      case PacketType.PUBLISH:
        return decodePublish(r, b0 & 0x0f, version, this.opts);
      case PacketType.PUBACK:
        return decodeAck(r, "puback", version);
      case PacketType.PUBREC:
        return decodeAck(r, "pubrec", version);
      case PacketType.PUBREL:
        return decodeAck(r, "pubrel", version);
      case PacketType.PUBCOMP:
        return decodeAck(r, "pubcomp", version);
      case PacketType.CONNACK:
        return decodeConnack(r, version);
      case PacketType.SUBACK:
        return decodeSuback(r, version);
      case PacketType.UNSUBACK:
        return decodeUnsuback(r, version);
      case PacketType.PINGRESP:
        return decodePingresp(r);
      case PacketType.DISCONNECT:
        return decodeDisconnect(r, version);
      case PacketType.AUTH:
        return decodeAuth(r);
      default:
        throw protocolError(
          "§2.1.2",
          `packet type ${type} is sent only by clients, not by a server`,
        );
    }
  }
}

/**
 * Encodes a packet a client sends, like {@link encode} (which it matches byte
 * for byte). Throws {@link InvalidArgumentError} for any other packet type.
 */
export function encodeClientPacket(packet: ClientPacket, version: ProtocolVersion): Uint8Array {
  const alloc = (size: number) => new Uint8Array(size);
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
    case "subscribe":
      return encodeSubscribe(packet, version, alloc);
    case "unsubscribe":
      return encodeUnsubscribe(packet, version, alloc);
    case "pingreq":
      return Uint8Array.from(PINGREQ_BYTES);
    case "disconnect":
      return encodeDisconnect(packet, version, alloc);
    case "auth":
      return encodeAuth(packet, version, alloc);
    default:
      throw new InvalidArgumentError(
        `a client does not send ${String((packet as { type: unknown }).type)} packets`,
      );
  }
}
