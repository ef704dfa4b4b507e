/** UNSUBSCRIBE (§3.10). */
import { PacketType, type ProtocolVersion } from "../constants.js";
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

export interface UnsubscribePacket {
  type: "unsubscribe";
  packetId: number;
  topicFilters: string[];
  properties?: Properties;
}

export function decodeUnsubscribe(r: Reader, version: ProtocolVersion): UnsubscribePacket {
  const packetId = r.u16("Packet Identifier");
  if (packetId === 0) {
    throw malformed(
      sid(version, "MQTT-2.3.1-1", "MQTT-2.2.1-3"),
      "UNSUBSCRIBE needs a non-zero Packet Identifier",
    );
  }
  const packet: UnsubscribePacket = { type: "unsubscribe", packetId, topicFilters: [] };
  if (version === 5) {
    const props = readProperties(r, PacketType.UNSUBSCRIBE);
    if (props !== undefined) packet.properties = props;
  }
  if (r.remaining === 0) {
    throw protocolError("MQTT-3.10.3-2", "UNSUBSCRIBE must contain at least one topic filter");
  }
  while (r.remaining > 0) packet.topicFilters.push(r.utf8("Topic Filter"));
  return packet;
}

export function encodeUnsubscribe(
  p: UnsubscribePacket,
  version: ProtocolVersion,
  alloc: Alloc,
): Uint8Array {
  const packetId = checkPacketId(p.packetId, "UNSUBSCRIBE");
  const filters = p.topicFilters;
  if (filters.length === 0)
    throw new InvalidArgumentError("UNSUBSCRIBE needs at least one topic filter");
  const lengths = filters.map((f) => utf8Length(f));
  let n = 2;
  for (const len of lengths) n += stringFieldLength(len, "topic filter");
  let propsLen = 0;
  if (version === 5) {
    propsLen = propertiesLength(p.properties, PacketType.UNSUBSCRIBE);
    n += varintLength(propsLen) + propsLen;
  }
  const { buf, pos: start } = startPacket(alloc, (PacketType.UNSUBSCRIBE << 4) | 0x02, n);
  let pos = writeU16(buf, start, packetId);
  if (version === 5)
    pos = writeProperties(buf, pos, p.properties, propsLen, PacketType.UNSUBSCRIBE);
  for (let i = 0; i < filters.length; i++) {
    pos = writeUtf8(buf, writeU16(buf, pos, lengths[i]), filters[i], lengths[i]);
  }
  return buf;
}
