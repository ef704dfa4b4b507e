/** DISCONNECT (§3.14): in MQTT 5 either side may send it, with a reason code. */
import { PacketType, type ProtocolVersion } from "../constants.js";
import { InvalidArgumentError, malformed } from "../errors.js";
import {
  type Properties,
  propertiesLength,
  readProperties,
  writeProperties,
} from "../properties.js";
import { allowedReasonCodes } from "../reason-codes.js";
import { type Reader, varintLength } from "../wire.js";
import { type Alloc, startPacket } from "./common.js";

export interface DisconnectPacket {
  type: "disconnect";
  /** MQTT 5 only; 0 (Normal disconnection) when absent on the wire. */
  reasonCode?: number;
  properties?: Properties;
}

export function decodeDisconnect(r: Reader, version: ProtocolVersion): DisconnectPacket {
  const packet: DisconnectPacket = { type: "disconnect" };
  if (version === 5) {
    let reasonCode = 0;
    if (r.remaining > 0) {
      reasonCode = r.u8("Reason Code");
      if (!allowedReasonCodes.disconnect.has(reasonCode)) {
        throw malformed(
          "MQTT-3.14.2-1",
          `DISCONNECT code 0x${reasonCode.toString(16)} is not allowed`,
        );
      }
      if (r.remaining > 0) {
        const props = readProperties(r, PacketType.DISCONNECT);
        if (props !== undefined) packet.properties = props;
      }
    }
    packet.reasonCode = reasonCode;
  }
  r.done("DISCONNECT");
  return packet;
}

export function encodeDisconnect(
  p: DisconnectPacket,
  version: ProtocolVersion,
  alloc: Alloc,
): Uint8Array {
  const reasonCode = p.reasonCode ?? 0;
  if (version !== 5 || (reasonCode === 0 && p.properties === undefined)) {
    return startPacket(alloc, PacketType.DISCONNECT << 4, 0).buf;
  }
  if (!allowedReasonCodes.disconnect.has(reasonCode)) {
    throw new InvalidArgumentError(`DISCONNECT code 0x${reasonCode.toString(16)} is not allowed`);
  }
  const propsLen = propertiesLength(p.properties, PacketType.DISCONNECT);
  const withProps = propsLen > 0;
  const { buf, pos } = startPacket(
    alloc,
    PacketType.DISCONNECT << 4,
    1 + (withProps ? varintLength(propsLen) + propsLen : 0),
  );
  buf[pos] = reasonCode;
  if (withProps) writeProperties(buf, pos + 1, p.properties, propsLen, PacketType.DISCONNECT);
  return buf;
}
