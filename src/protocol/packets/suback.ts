/** SUBACK (§3.9): one reason code (5.0) or return code (3.1.x) per requested filter. */
import { PacketType, type ProtocolVersion } from "../constants.js";
import { InvalidArgumentError, malformed } from "../errors.js";
import {
  type Properties,
  propertiesLength,
  readProperties,
  writeProperties,
} from "../properties.js";
import { allowedReasonCodes } from "../reason-codes.js";
import { type Reader, varintLength, writeU16 } from "../wire.js";
import { type Alloc, checkPacketId, sid, startPacket } from "./common.js";

export interface SubackPacket {
  type: "suback";
  packetId: number;
  /** Granted QoS (0, 1, 2) or a failure: 0x80 in 3.1.x, an MQTT 5 reason code in 5.0. */
  reasonCodes: number[];
  properties?: Properties;
}

function allowed(code: number, version: ProtocolVersion): boolean {
  return version === 5 ? allowedReasonCodes.suback.has(code) : code <= 2 || code === 0x80;
}

export function decodeSuback(r: Reader, version: ProtocolVersion): SubackPacket {
  const packetId = r.u16("Packet Identifier");
  if (packetId === 0) {
    throw malformed(
      sid(version, "MQTT-2.3.1-7", "MQTT-2.2.1-6"),
      "SUBACK needs a non-zero Packet Identifier",
    );
  }
  const packet: SubackPacket = { type: "suback", packetId, reasonCodes: [] };
  if (version === 5) {
    const props = readProperties(r, PacketType.SUBACK);
    if (props !== undefined) packet.properties = props;
  }
  if (r.remaining === 0) throw malformed("§3.9.3", "SUBACK must hold at least one reason code");
  while (r.remaining > 0) {
    const code = r.u8("Reason Code");
    if (!allowed(code, version)) {
      throw malformed(
        "MQTT-3.9.3-2", // the same id in 3.1.1 and 5.0
        `SUBACK code 0x${code.toString(16)} is not allowed`,
      );
    }
    packet.reasonCodes.push(code);
  }
  return packet;
}

export function encodeSuback(p: SubackPacket, version: ProtocolVersion, alloc: Alloc): Uint8Array {
  const packetId = checkPacketId(p.packetId, "SUBACK");
  if (p.reasonCodes.length === 0)
    throw new InvalidArgumentError("SUBACK needs at least one reason code");
  for (const code of p.reasonCodes) {
    if (!allowed(code, version)) {
      throw new InvalidArgumentError(
        `SUBACK code 0x${code.toString(16)} is not allowed in protocol level ${version}`,
      );
    }
  }
  let n = 2 + p.reasonCodes.length;
  let propsLen = 0;
  if (version === 5) {
    propsLen = propertiesLength(p.properties, PacketType.SUBACK);
    n += varintLength(propsLen) + propsLen;
  }
  const { buf, pos: start } = startPacket(alloc, PacketType.SUBACK << 4, n);
  let pos = writeU16(buf, start, packetId);
  if (version === 5) pos = writeProperties(buf, pos, p.properties, propsLen, PacketType.SUBACK);
  buf.set(p.reasonCodes, pos);
  return buf;
}
