/**
 * The full streaming decoder: every packet type, in both directions — what a
 * broker (or a tool that reads either side) needs. Framing and limits are in
 * {@link StreamDecoder}; the client bundle uses the smaller `ClientDecoder`.
 */

import { PacketType } from "./constants.js";
import type { ConnectPacket, Packet } from "./packet.js";
import { decodeAck } from "./packets/ack.js";
import { decodeAuth } from "./packets/auth.js";
import { decodeConnack } from "./packets/connack.js";
import { decodeConnect } from "./packets/connect.js";
import { decodeDisconnect } from "./packets/disconnect.js";
import { decodePingreq, decodePingresp } from "./packets/ping.js";
import { decodePublish } from "./packets/publish.js";
import { decodeSuback } from "./packets/suback.js";
import { decodeSubscribe } from "./packets/subscribe.js";
import { decodeUnsuback } from "./packets/unsuback.js";
import { decodeUnsubscribe } from "./packets/unsubscribe.js";
import { StreamDecoder } from "./stream-decoder.js";
import type { Reader } from "./wire.js";

/**
 * Decodes every MQTT packet type. A server leaves `version` unset: it reads
 * 3.1.1 until a CONNECT names the level, then switches.
 */
export class Decoder extends StreamDecoder {
  protected decodeBody(
    r: Reader,
    b0: number,
    buf: Uint8Array,
    bodyStart: number,
    end: number,
  ): Packet {
    const version = this.version;
    switch (b0 >> 4) {
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
      case PacketType.CONNECT: {
        let packet: ConnectPacket;
        try {
          packet = decodeConnect(r, this.opts);
        } catch (err) {
          // A broken MQTT 5 CONNECT is still answered in MQTT 5 (CONNACK with the reason
          // code, §4.13.1): switch when the protocol name and level were readable.
          if (end > bodyStart + 6 && isMqtt5Connect(buf, bodyStart)) {
            this.version = 5;
          }
          throw err;
        }
        this.version = packet.protocolVersion;
        return packet;
      }
      case PacketType.CONNACK:
        return decodeConnack(r, version);
      case PacketType.SUBSCRIBE:
        return decodeSubscribe(r, version);
      case PacketType.SUBACK:
        return decodeSuback(r, version);
      case PacketType.UNSUBSCRIBE:
        return decodeUnsubscribe(r, version);
      case PacketType.UNSUBACK:
        return decodeUnsuback(r, version);
      case PacketType.PINGREQ:
        return decodePingreq(r);
      case PacketType.PINGRESP:
        return decodePingresp(r);
      case PacketType.DISCONNECT:
        return decodeDisconnect(r, version);
      default:
        return decodeAuth(r);
    }
  }
}

/** Whether a CONNECT body starts with protocol name "MQTT" and level 5. */
function isMqtt5Connect(buf: Uint8Array, at: number): boolean {
  return (
    buf[at] === 0 &&
    buf[at + 1] === 4 &&
    buf[at + 2] === 0x4d &&
    buf[at + 3] === 0x51 &&
    buf[at + 4] === 0x54 &&
    buf[at + 5] === 0x54 &&
    buf[at + 6] === 5
  );
}
