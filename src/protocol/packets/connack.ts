/** CONNACK (§3.2). */
import { PacketType, type ProtocolVersion } from "../constants.js";
import { InvalidArgumentError, malformed, protocolError } from "../errors.js";
import {
  type Properties,
  propertiesLength,
  readProperties,
  writeProperties,
} from "../properties.js";
import { allowedReasonCodes } from "../reason-codes.js";
import { type Reader, varintLength } from "../wire.js";
import { type Alloc, sid, startPacket } from "./common.js";

export interface ConnackPacket {
  type: "connack";
  sessionPresent: boolean;
  /** MQTT 5 reason code, or the 3.1.x return code (0–5). */
  reasonCode: number;
  properties?: Properties;
}

function allowed(code: number, version: ProtocolVersion): boolean {
  return version === 5 ? allowedReasonCodes.connack.has(code) : code <= 5;
}

export function decodeConnack(r: Reader, version: ProtocolVersion): ConnackPacket {
  const flags = r.u8("Connect Acknowledge Flags");
  if ((flags & 0xfe) !== 0) {
    throw malformed(
      sid(version, "§3.2.2.1", "MQTT-3.2.2-1"),
      "reserved bits 7-1 of the CONNACK flags must be 0",
    );
  }
  const reasonCode = r.u8("Connect Reason Code");
  if (!allowed(reasonCode, version)) {
    throw malformed(
      sid(version, "§3.2.2.3", "MQTT-3.2.2-8"),
      `CONNACK code 0x${reasonCode.toString(16)} is not allowed`,
    );
  }
  const sessionPresent = flags === 1;
  if (sessionPresent && reasonCode !== 0) {
    throw protocolError(
      sid(version, "MQTT-3.2.2-4", "MQTT-3.2.2-6"),
      "Session Present must be 0 when the connection is refused",
    );
  }
  const packet: ConnackPacket = { type: "connack", sessionPresent, reasonCode };
  if (version === 5) {
    const props = readProperties(r, PacketType.CONNACK);
    if (props !== undefined) packet.properties = props;
  }
  r.done("CONNACK");
  return packet;
}

export function encodeConnack(
  p: ConnackPacket,
  version: ProtocolVersion,
  alloc: Alloc,
): Uint8Array {
  if (!allowed(p.reasonCode, version)) {
    throw new InvalidArgumentError(
      `CONNACK code 0x${p.reasonCode.toString(16)} is not allowed in protocol level ${version}`,
    );
  }
  let propsLen = 0;
  let n = 2;
  if (version === 5) {
    propsLen = propertiesLength(p.properties, PacketType.CONNACK);
    n += varintLength(propsLen) + propsLen;
  }
  const { buf, pos } = startPacket(alloc, PacketType.CONNACK << 4, n);
  buf[pos] = p.sessionPresent ? 1 : 0;
  buf[pos + 1] = p.reasonCode;
  if (version === 5) writeProperties(buf, pos + 2, p.properties, propsLen, PacketType.CONNACK);
  return buf;
}
