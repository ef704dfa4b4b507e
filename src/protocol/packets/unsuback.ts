/** UNSUBACK (§3.11): a packet id, and in MQTT 5 one reason code per filter. */
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

export interface UnsubackPacket {
  type: "unsuback";
  packetId: number;
  /** MQTT 5 only: one per filter of the UNSUBSCRIBE. */
  reasonCodes?: number[];
  properties?: Properties;
}

export function decodeUnsuback(r: Reader, version: ProtocolVersion): UnsubackPacket {
  const packetId = r.u16("Packet Identifier");
  if (packetId === 0) {
    throw malformed(
      sid(version, "MQTT-2.3.1-7", "MQTT-2.2.1-6"),
      "UNSUBACK needs a non-zero Packet Identifier",
    );
  }
  const packet: UnsubackPacket = { type: "unsuback", packetId };
  if (version === 5) {
    const props = readProperties(r, PacketType.UNSUBACK);
    if (props !== undefined) packet.properties = props;
    const codes: number[] = [];
    if (r.remaining === 0)
      throw malformed("§3.11.3", "UNSUBACK must hold at least one reason code");
    while (r.remaining > 0) {
      const code = r.u8("Reason Code");
      if (!allowedReasonCodes.unsuback.has(code)) {
        throw malformed("MQTT-3.11.3-2", `UNSUBACK code 0x${code.toString(16)} is not allowed`);
      }
      codes.push(code);
    }
    packet.reasonCodes = codes;
  }
  r.done("UNSUBACK");
  return packet;
}

export function encodeUnsuback(
  p: UnsubackPacket,
  version: ProtocolVersion,
  alloc: Alloc,
): Uint8Array {
  const packetId = checkPacketId(p.packetId, "UNSUBACK");
  if (version !== 5) {
    const { buf, pos } = startPacket(alloc, PacketType.UNSUBACK << 4, 2);
    writeU16(buf, pos, packetId);
    return buf;
  }
  const codes = p.reasonCodes ?? [];
  if (codes.length === 0)
    throw new InvalidArgumentError("an MQTT 5 UNSUBACK needs one reason code per filter");
  for (const code of codes) {
    if (!allowedReasonCodes.unsuback.has(code)) {
      throw new InvalidArgumentError(`UNSUBACK code 0x${code.toString(16)} is not allowed`);
    }
  }
  const propsLen = propertiesLength(p.properties, PacketType.UNSUBACK);
  const { buf, pos: start } = startPacket(
    alloc,
    PacketType.UNSUBACK << 4,
    2 + varintLength(propsLen) + propsLen + codes.length,
  );
  let pos = writeU16(buf, start, packetId);
  pos = writeProperties(buf, pos, p.properties, propsLen, PacketType.UNSUBACK);
  buf.set(codes, pos);
  return buf;
}
