/**
 * SUBSCRIBE (§3.8). The decoder checks the wire format only; whether a filter
 * is acceptable (wildcard placement, shared-subscription form, no-local on a
 * shared subscription) is the server's call, answered per filter in SUBACK.
 */
import { PacketType, type ProtocolVersion, type QoS } from "../constants.js";
import { InvalidArgumentError, malformed, protocolError } from "../errors.js";
import {
  type Properties,
  propertiesLength,
  readProperties,
  writeProperties,
} from "../properties.js";
import { utf8Length, writeUtf8 } from "../utf8.js";
import { type Reader, varintLength, writeU16 } from "../wire.js";
import { type Alloc, checkPacketId, sid, startPacket, stringFieldLength } from "./common.js";

/** One topic filter and its Subscription Options (§3.8.3.1). */
export interface Subscription {
  topicFilter: string;
  /** Maximum QoS. */
  qos: QoS;
  /** MQTT 5: do not send my own messages back to me. */
  noLocal?: boolean;
  /** MQTT 5: keep the RETAIN flag as published when forwarding. */
  retainAsPublished?: boolean;
  /** MQTT 5: 0 send retained on subscribe, 1 only if new, 2 never. */
  retainHandling?: 0 | 1 | 2;
}

export interface SubscribePacket {
  type: "subscribe";
  packetId: number;
  subscriptions: Subscription[];
  /** MQTT 5: Subscription Identifier and User Properties. */
  properties?: Properties;
}

export function decodeSubscribe(r: Reader, version: ProtocolVersion): SubscribePacket {
  const packetId = r.u16("Packet Identifier");
  if (packetId === 0) {
    throw malformed(
      sid(version, "MQTT-2.3.1-1", "MQTT-2.2.1-3"),
      "SUBSCRIBE needs a non-zero Packet Identifier",
    );
  }
  const packet: SubscribePacket = { type: "subscribe", packetId, subscriptions: [] };
  if (version === 5) {
    const props = readProperties(r, PacketType.SUBSCRIBE);
    if (props !== undefined) packet.properties = props;
  }
  if (r.remaining === 0) {
    throw protocolError(
      sid(version, "MQTT-3.8.3-3", "MQTT-3.8.3-2"),
      "SUBSCRIBE must contain at least one topic filter",
    );
  }
  while (r.remaining > 0) {
    const topicFilter = r.utf8("Topic Filter");
    const options = r.u8("Subscription Options");
    const qos = options & 0x03;
    if (version === 5) {
      if ((options & 0xc0) !== 0) {
        throw malformed("MQTT-3.8.3-5", "reserved bits 6-7 of Subscription Options must be 0");
      }
      // §3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3."
      if (qos === 3) throw protocolError("§3.8.3.1", "Maximum QoS 3 in Subscription Options");
      const retainHandling = (options >> 4) & 0x03;
      if (retainHandling === 3) throw protocolError("§3.8.3.1", "Retain Handling must not be 3");
      packet.subscriptions.push({
        topicFilter,
        qos: qos as QoS,
        noLocal: (options & 0x04) !== 0,
        retainAsPublished: (options & 0x08) !== 0,
        retainHandling: retainHandling as 0 | 1 | 2,
      });
    } else {
      if ((options & 0xfc) !== 0 || qos === 3) {
        throw malformed(
          "MQTT-3.8.3-4",
          "reserved bits of the requested QoS byte must be 0, and QoS not 3",
        );
      }
      packet.subscriptions.push({ topicFilter, qos: qos as QoS });
    }
  }
  return packet;
}

export function encodeSubscribe(
  p: SubscribePacket,
  version: ProtocolVersion,
  alloc: Alloc,
): Uint8Array {
  const packetId = checkPacketId(p.packetId, "SUBSCRIBE");
  const subs = p.subscriptions;
  if (subs.length === 0)
    throw new InvalidArgumentError("SUBSCRIBE needs at least one subscription");
  const lengths = new Array<number>(subs.length);
  let n = 2;
  let propsLen = 0;
  if (version === 5) {
    propsLen = propertiesLength(p.properties, PacketType.SUBSCRIBE);
    n += varintLength(propsLen) + propsLen;
  }
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i];
    if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) {
      throw new InvalidArgumentError(`subscription QoS must be 0, 1 or 2, got ${String(s.qos)}`);
    }
    const rh = s.retainHandling ?? 0;
    if (rh !== 0 && rh !== 1 && rh !== 2) {
      throw new InvalidArgumentError(`retainHandling must be 0, 1 or 2, got ${String(rh)}`);
    }
    lengths[i] = utf8Length(s.topicFilter);
    n += stringFieldLength(lengths[i], "topic filter") + 1;
  }
  const { buf, pos: start } = startPacket(alloc, (PacketType.SUBSCRIBE << 4) | 0x02, n);
  let pos = writeU16(buf, start, packetId);
  if (version === 5) pos = writeProperties(buf, pos, p.properties, propsLen, PacketType.SUBSCRIBE);
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i];
    pos = writeUtf8(buf, writeU16(buf, pos, lengths[i]), s.topicFilter, lengths[i]);
    let options: number = s.qos;
    if (version === 5) {
      if (s.noLocal) options |= 0x04;
      if (s.retainAsPublished) options |= 0x08;
      options |= (s.retainHandling ?? 0) << 4;
    }
    buf[pos++] = options;
  }
  return buf;
}
