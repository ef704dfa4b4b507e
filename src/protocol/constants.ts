/** Protocol levels carried in CONNECT (§3.1.2.2): 3 is MQTT 3.1 (`MQIsdp`), 4 is 3.1.1, 5 is 5.0. */
export const ProtocolVersion = {
  V3_1: 3,
  V3_1_1: 4,
  V5: 5,
} as const;
export type ProtocolVersion = (typeof ProtocolVersion)[keyof typeof ProtocolVersion];

/** Quality of service levels (§4.3). */
export type QoS = 0 | 1 | 2;

/** Control packet type numbers from the fixed header (§2.1.2). */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  AUTH: 15,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

/** Largest Remaining Length the 4-byte variable byte integer can carry (§1.5.5). */
export const MAX_REMAINING_LENGTH = 268_435_455;
/** Largest whole packet: 1 type byte + 4 length bytes + MAX_REMAINING_LENGTH. */
export const MAX_PACKET_SIZE = MAX_REMAINING_LENGTH + 5;
/** Largest variable byte integer value (§1.5.5), also the largest subscription identifier. */
export const MAX_VARINT = 268_435_455;
