/**
 * The full streaming decoder: every packet type, in both directions — what a
 * broker (or a tool that reads either side) needs. Framing and limits are in
 * {@link StreamDecoder}; the client bundle uses the smaller `ClientDecoder`.
 */

import { decodeFromServer } from "./client-codec.js";
import { PacketType } from "./constants.js";
import type { ConnectPacket, Packet } from "./packet.js";
import { decodeConnect } from "./packets/connect.js";
import { decodePingreq } from "./packets/ping.js";
import { decodeSubscribe } from "./packets/subscribe.js";
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
      case PacketType.SUBSCRIBE:
        return decodeSubscribe(r, version);
      case PacketType.UNSUBSCRIBE:
        return decodeUnsubscribe(r, version);
      case PacketType.PINGREQ:
        return decodePingreq(r);
      default:
        // Every other type (0 is refused by the fixed-header check) is one a server may send.
        return decodeFromServer(r, b0, version, this.opts) as Packet;
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
