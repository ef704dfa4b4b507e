/**
 * The shape shared by PUBACK, PUBREC, PUBREL and PUBCOMP (§3.4–§3.7): a
 * packet id and, in MQTT 5, a reason code and properties, both of which may
 * be left out when the reason is Success and there are no properties.
 */
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

export type AckType = "puback" | "pubrec" | "pubrel" | "pubcomp";

export interface AckPacket<T extends AckType> {
  type: T;
  packetId: number;
  /** MQTT 5 only; 0 (Success) when absent on the wire. */
  reasonCode?: number;
  /** MQTT 5 only: Reason String and User Properties. */
  properties?: Properties;
}

const typeNumber = {
  puback: PacketType.PUBACK,
  pubrec: PacketType.PUBREC,
  pubrel: PacketType.PUBREL,
  pubcomp: PacketType.PUBCOMP,
} as const;

export function decodeAck<T extends AckType>(
  r: Reader,
  type: T,
  version: ProtocolVersion,
): AckPacket<T> {
  const name = type.toUpperCase();
  const packetId = r.u16("Packet Identifier");
  if (packetId === 0) {
    throw malformed(
      sid(version, "MQTT-2.3.1-6", "MQTT-2.2.1-5"),
      `${name} needs a non-zero Packet Identifier`,
    );
  }
  const packet: AckPacket<T> = { type, packetId };
  if (version === 5) {
    let reasonCode = 0;
    if (r.remaining > 0) {
      reasonCode = r.u8("Reason Code");
      if (!allowedReasonCodes[type].has(reasonCode)) {
        throw malformed(
          `MQTT-3.${typeNumber[type]}.2-1`,
          `reason code 0x${reasonCode.toString(16)} is not allowed in ${name}`,
        );
      }
      if (r.remaining > 0) {
        const props = readProperties(r, typeNumber[type]);
        if (props !== undefined) packet.properties = props;
      }
    }
    packet.reasonCode = reasonCode;
  }
  r.done(name);
  return packet;
}

export function encodeAck<T extends AckType>(
  p: AckPacket<T>,
  version: ProtocolVersion,
  alloc: Alloc,
): Uint8Array {
  const type = typeNumber[p.type];
  const b0 = (type << 4) | (type === PacketType.PUBREL ? 0x02 : 0);
  const packetId = checkPacketId(p.packetId, p.type.toUpperCase());
  const reasonCode = p.reasonCode ?? 0;
  if (version !== 5 || (reasonCode === 0 && p.properties === undefined)) {
    const { buf, pos } = startPacket(alloc, b0, 2);
    writeU16(buf, pos, packetId);
    return buf;
  }
  if (!allowedReasonCodes[p.type].has(reasonCode)) {
    throw new InvalidArgumentError(
      `reason code 0x${reasonCode.toString(16)} is not allowed in ${p.type.toUpperCase()}`,
    );
  }
  const propsLen = propertiesLength(p.properties, type);
  const withProps = propsLen > 0;
  const { buf, pos } = startPacket(
    alloc,
    b0,
    3 + (withProps ? varintLength(propsLen) + propsLen : 0),
  );
  let at = writeU16(buf, pos, packetId);
  buf[at++] = reasonCode;
  if (withProps) writeProperties(buf, at, p.properties, propsLen, type);
  return buf;
}

export type PubackPacket = AckPacket<"puback">;
export type PubrecPacket = AckPacket<"pubrec">;
export type PubrelPacket = AckPacket<"pubrel">;
export type PubcompPacket = AckPacket<"pubcomp">;
