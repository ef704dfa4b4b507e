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
import { type Alloc, defaultAlloc } from "./packets/common.js";
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
 * Decodes the body of a packet a server may send (`b0`: the fixed header's
 * first byte); undefined for the four types only clients send. Shared by
 * {@link ClientDecoder} and the full decoder.
 */
export function decodeFromServer(
  r: Reader,
  b0: number,
  version: ProtocolVersion,
  opts: { validatePayloadFormat: boolean },
): ServerPacket | undefined {
  switch (b0 >> 4) {
    case PacketType.PUBLISH:
      return decodePublish(r, b0 & 0x0f, version, opts);
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
      return undefined;
  }
}

/**
 * Decodes what a server sends. CONNECT, SUBSCRIBE, UNSUBSCRIBE and PINGREQ
 * flow only from client to server (§2.1.2, Table 2-1); receiving one is a
 * Protocol Error (0x82).
 */
export class ClientDecoder extends StreamDecoder<ServerPacket> {
  protected decodeBody(r: Reader, b0: number): ServerPacket {
    const packet = decodeFromServer(r, b0, this.version, this.opts);
    if (packet !== undefined) return packet;
    throw protocolError(
      "§2.1.2",
      `packet type ${b0 >> 4} is sent only by clients, not by a server`,
    );
  }
}

/**
 * Encodes a packet a client sends, like {@link encode} (which it matches byte
 * for byte, and which calls it for these types). Throws
 * {@link InvalidArgumentError} for any other packet type.
 */
export function encodeClientPacket(
  packet: ClientPacket,
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
    case "subscribe":
      return encodeSubscribe(packet, version, alloc);
    case "unsubscribe":
      return encodeUnsubscribe(packet, version, alloc);
    case "pingreq": {
      const buf = alloc(PINGREQ_BYTES.length);
      buf.set(PINGREQ_BYTES);
      return buf;
    }
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
