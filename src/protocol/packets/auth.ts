/** AUTH (§3.15): MQTT 5 enhanced authentication exchange. */
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

export interface AuthPacket {
  type: "auth";
  /** 0x00 Success, 0x18 Continue authentication, 0x19 Re-authenticate. */
  reasonCode: number;
  properties?: Properties;
}

export function decodeAuth(r: Reader): AuthPacket {
  let reasonCode = 0;
  const packet: AuthPacket = { type: "auth", reasonCode };
  if (r.remaining > 0) {
    reasonCode = r.u8("Reason Code");
    if (!allowedReasonCodes.auth.has(reasonCode)) {
      throw malformed("MQTT-3.15.2-1", `AUTH code 0x${reasonCode.toString(16)} is not allowed`);
    }
    packet.reasonCode = reasonCode;
    if (r.remaining > 0) {
      const props = readProperties(r, PacketType.AUTH);
      if (props !== undefined) packet.properties = props;
    }
  }
  r.done("AUTH");
  return packet;
}

export function encodeAuth(p: AuthPacket, version: ProtocolVersion, alloc: Alloc): Uint8Array {
  if (version !== 5) throw new InvalidArgumentError("AUTH exists only in MQTT 5");
  if (!allowedReasonCodes.auth.has(p.reasonCode)) {
    throw new InvalidArgumentError(`AUTH code 0x${p.reasonCode.toString(16)} is not allowed`);
  }
  if (p.reasonCode === 0 && p.properties === undefined) {
    return startPacket(alloc, PacketType.AUTH << 4, 0).buf;
  }
  const propsLen = propertiesLength(p.properties, PacketType.AUTH);
  const { buf, pos } = startPacket(
    alloc,
    PacketType.AUTH << 4,
    1 + varintLength(propsLen) + propsLen,
  );
  buf[pos] = p.reasonCode;
  writeProperties(buf, pos + 1, p.properties, propsLen, PacketType.AUTH);
  return buf;
}
