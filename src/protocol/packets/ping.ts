/** PINGREQ (§3.12) and PINGRESP (§3.13): two bytes, no variable header, no payload. */
import { PacketType } from "../constants.js";
import type { Reader } from "../wire.js";

export interface PingreqPacket {
  type: "pingreq";
}
export interface PingrespPacket {
  type: "pingresp";
}

export function decodePingreq(r: Reader): PingreqPacket {
  r.done("PINGREQ");
  return { type: "pingreq" };
}

export function decodePingresp(r: Reader): PingrespPacket {
  r.done("PINGRESP");
  return { type: "pingresp" };
}

/** The two bytes of each, ready to write. */
export const PINGREQ_BYTES: readonly number[] = [PacketType.PINGREQ << 4, 0];
export const PINGRESP_BYTES: readonly number[] = [PacketType.PINGRESP << 4, 0];
