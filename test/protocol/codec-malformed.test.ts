/**
 * Malformed-input corpus for the decoder: every entry is hand-written bytes
 * that break one rule of the spec, with the reason code, error code and
 * statement id (or section, where the spec has no id) the decoder must report.
 * Rules whose id differs between 3.1.1 and 5.0 have an entry for each version.
 *
 * Each entry is decoded whole and one byte at a time; both must fail the same
 * way. A few positive entries pin down inputs that look wrong but are allowed.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ProtocolVersion } from "../../src/protocol/constants.js";
import { Decoder } from "../../src/protocol/decoder.js";
import { ErrorCode, ProtocolError } from "../../src/protocol/errors.js";
import type { Packet } from "../../src/protocol/packet.js";
import { UnsupportedProtocolError } from "../../src/protocol/packets/connect.js";
import { ReasonCode } from "../../src/protocol/reason-codes.js";
import type { DecoderOptions } from "../../src/protocol/stream-decoder.js";

/** `"30 02 00 00"` → bytes. */
function hex(s: string): Uint8Array {
  const parts = s.trim().split(/\s+/);
  return Uint8Array.from(parts.map((p) => Number.parseInt(p, 16)));
}

interface Case {
  name: string;
  version: ProtocolVersion;
  bytes: string;
  statement: string;
  reasonCode: number;
  code: ErrorCode;
  options?: Omit<DecoderOptions, "version">;
}

const M = { reasonCode: ReasonCode.MalformedPacket, code: ErrorCode.MalformedPacket };
const P = { reasonCode: ReasonCode.ProtocolError, code: ErrorCode.ProtocolError };
const TOPIC = { reasonCode: ReasonCode.TopicNameInvalid, code: ErrorCode.TopicNameInvalid };
const UNSUPPORTED = {
  reasonCode: ReasonCode.UnsupportedProtocolVersion,
  code: ErrorCode.UnsupportedProtocolVersion,
};

/** One entry per version: `[v4 statement, v5 statement]`, bytes per version. */
function both(
  name: string,
  bytes: [string, string],
  statements: [string, string],
  kind: { reasonCode: number; code: ErrorCode },
): Case[] {
  return [
    { name, version: 4, bytes: bytes[0], statement: statements[0], ...kind },
    { name, version: 5, bytes: bytes[1], statement: statements[1], ...kind },
  ];
}

/** Reserved flag bits: the same bytes in both versions, 3.1.1's and 5.0's id. */
function flags(name: string, bytes: string): Case[] {
  return both(name, [bytes, bytes], ["MQTT-2.2.2-1", "MQTT-2.1.3-1"], M);
}

// CONNECT variable headers: protocol name and level, then flags, keep alive 60.
const MQTT4 = "00 04 4D 51 54 54 04";
const MQTT5 = "00 04 4D 51 54 54 05";

const corpus: Case[] = [
  // §1.5.5 / §2.2.3: Remaining Length and other Variable Byte Integers.
  ...both(
    "Remaining Length of 5 bytes",
    ["30 FF FF FF FF 7F", "30 FF FF FF FF 7F"],
    ["§2.2.3", "§1.5.5"],
    M,
  ),
  ...both(
    "over-long Remaining Length 80 00",
    ["C0 80 00", "C0 80 00"],
    ["§2.2.3", "MQTT-1.5.5-1"],
    M,
  ),
  {
    name: "over-long Remaining Length 80 80 00 on a PUBLISH",
    version: 5,
    bytes: "30 80 80 00",
    statement: "MQTT-1.5.5-1",
    ...M,
  },
  {
    name: "over-long Property Length 80 00 in PUBACK",
    version: 5,
    bytes: "40 05 00 01 00 80 00",
    statement: "MQTT-1.5.5-1",
    ...M,
  },
  {
    name: "Property Length of 5 bytes in PUBACK",
    version: 5,
    bytes: "40 08 00 01 00 FF FF FF FF 7F",
    statement: "§1.5.5",
    ...M,
  },
  {
    name: "over-long Subscription Identifier 81 00 in SUBSCRIBE",
    version: 5,
    bytes: "82 0A 00 01 03 0B 81 00 00 01 61 00",
    statement: "MQTT-1.5.5-1",
    ...M,
  },

  // [MQTT-2.2.2-1] (3.1.1) / [MQTT-2.1.3-1] (5.0): reserved fixed-header flags.
  ...flags("CONNECT with flags 0001", `11 0C ${MQTT4} 02 00 3C 00 00`),
  ...flags("CONNACK with flags 0001", "21 02 00 00"),
  ...flags("PUBACK with flags 0001", "41 02 00 01"),
  ...flags("PUBREC with flags 1000", "58 02 00 01"),
  ...flags("PUBREL with flags 0000 (must be 0010)", "60 02 00 01"),
  ...flags("PUBREL with DUP set (allowed only in MQTT 3.1)", "6A 02 00 01"),
  ...flags("PUBCOMP with flags 0010", "72 02 00 01"),
  ...flags("SUBSCRIBE with flags 0000 (must be 0010)", "80 06 00 01 00 01 61 00"),
  ...flags("SUBSCRIBE with flags 0011", "83 06 00 01 00 01 61 00"),
  ...flags("SUBACK with flags 0001", "91 03 00 01 00"),
  ...flags("UNSUBSCRIBE with flags 0000 (must be 0010)", "A0 05 00 01 00 01 61"),
  ...flags("UNSUBACK with flags 0100", "B4 02 00 01"),
  ...flags("PINGREQ with flags 0001", "C1 00"),
  ...flags("PINGRESP with flags 1000", "D8 00"),
  ...flags("DISCONNECT with flags 0010", "E2 00"),
  {
    name: "AUTH with flags 0001",
    version: 5,
    bytes: "F1 00",
    statement: "MQTT-2.1.3-1",
    ...M,
  },

  // §2.2.1 (3.1.1) / §2.1.2 (5.0): control packet types.
  ...both("packet type 0", ["00 00", "00 00"], ["§2.2.1", "§2.1.2"], M),
  { name: "packet type 15 (AUTH) in 3.1.1", version: 4, bytes: "F0 00", statement: "§2.2.1", ...M },

  // PUBLISH fixed header.
  ...both(
    "PUBLISH with QoS 3",
    ["36 05 00 01 61 00 01", "36 06 00 01 61 00 01 00"],
    ["MQTT-3.3.1-4", "MQTT-3.3.1-4"],
    M,
  ),
  ...both(
    "PUBLISH with DUP on QoS 0",
    ["38 03 00 01 61", "38 04 00 01 61 00"],
    ["MQTT-3.3.1-2", "MQTT-3.3.1-2"],
    M,
  ),

  // Packet Identifier 0: [MQTT-2.3.1-1] / [MQTT-2.2.1-3] for packets that open an
  // exchange; an ack must echo a non-zero one ([MQTT-2.3.1-6/7] / [MQTT-2.2.1-5/6]).
  ...both(
    "PUBLISH QoS 1 with packet id 0",
    ["32 05 00 01 61 00 00", "32 06 00 01 61 00 00 00"],
    ["MQTT-2.3.1-1", "MQTT-2.2.1-3"],
    M,
  ),
  ...both(
    "SUBSCRIBE with packet id 0",
    ["82 06 00 00 00 01 61 00", "82 07 00 00 00 00 01 61 00"],
    ["MQTT-2.3.1-1", "MQTT-2.2.1-3"],
    M,
  ),
  ...both(
    "UNSUBSCRIBE with packet id 0",
    ["A2 05 00 00 00 01 61", "A2 06 00 00 00 00 01 61"],
    ["MQTT-2.3.1-1", "MQTT-2.2.1-3"],
    M,
  ),
  ...both(
    "PUBACK with packet id 0",
    ["40 02 00 00", "40 02 00 00"],
    ["MQTT-2.3.1-6", "MQTT-2.2.1-5"],
    M,
  ),
  ...both(
    "PUBREL with packet id 0",
    ["62 02 00 00", "62 02 00 00"],
    ["MQTT-2.3.1-6", "MQTT-2.2.1-5"],
    M,
  ),
  ...both(
    "SUBACK with packet id 0",
    ["90 03 00 00 00", "90 04 00 00 00 00"],
    ["MQTT-2.3.1-7", "MQTT-2.2.1-6"],
    M,
  ),
  ...both(
    "UNSUBACK with packet id 0",
    ["B0 02 00 00", "B0 03 00 00 00"],
    ["MQTT-2.3.1-7", "MQTT-2.2.1-6"],
    M,
  ),

  // [MQTT-1.5.3-1] (3.1.1) / [MQTT-1.5.4-1] (5.0): ill-formed UTF-8 in a topic.
  ...both(
    "topic with a lone continuation byte 80",
    ["30 04 00 02 61 80", "30 05 00 02 61 80 00"],
    ["MQTT-1.5.3-1", "MQTT-1.5.4-1"],
    M,
  ),
  ...both(
    "topic with over-long C0 AF",
    ["30 04 00 02 C0 AF", "30 05 00 02 C0 AF 00"],
    ["MQTT-1.5.3-1", "MQTT-1.5.4-1"],
    M,
  ),
  ...both(
    "topic with over-long 3-byte E0 80 AF",
    ["30 05 00 03 E0 80 AF", "30 06 00 03 E0 80 AF 00"],
    ["MQTT-1.5.3-1", "MQTT-1.5.4-1"],
    M,
  ),
  ...both(
    "topic with an encoded surrogate ED A0 80 (U+D800)",
    ["30 05 00 03 ED A0 80", "30 06 00 03 ED A0 80 00"],
    ["MQTT-1.5.3-1", "MQTT-1.5.4-1"],
    M,
  ),
  ...both(
    "topic with F4 90 80 80 (above U+10FFFF)",
    ["30 06 00 04 F4 90 80 80", "30 07 00 04 F4 90 80 80 00"],
    ["MQTT-1.5.3-1", "MQTT-1.5.4-1"],
    M,
  ),
  ...both(
    "topic with byte F8",
    ["30 03 00 01 F8", "30 04 00 01 F8 00"],
    ["MQTT-1.5.3-1", "MQTT-1.5.4-1"],
    M,
  ),
  ...both(
    "topic ending in a truncated sequence E2 82 (its last byte follows the string)",
    ["30 05 00 02 E2 82 AC", "30 06 00 02 E2 82 00 AC"],
    ["MQTT-1.5.3-1", "MQTT-1.5.4-1"],
    M,
  ),

  // [MQTT-1.5.3-2] (3.1.1) / [MQTT-1.5.4-2] (5.0): U+0000.
  ...both(
    "topic containing U+0000",
    ["30 04 00 02 61 00", "30 05 00 02 61 00 00"],
    ["MQTT-1.5.3-2", "MQTT-1.5.4-2"],
    M,
  ),
  ...both(
    "client identifier containing U+0000",
    [`10 0F ${MQTT4} 02 00 3C 00 03 61 00 62`, `10 10 ${MQTT5} 02 00 3C 00 00 03 61 00 62`],
    ["MQTT-1.5.3-2", "MQTT-1.5.4-2"],
    M,
  ),
  {
    name: "User Property name containing U+0000",
    version: 5,
    bytes: "30 0C 00 01 61 08 26 00 01 00 00 02 61 62",
    statement: "MQTT-1.5.4-2",
    ...M,
  },

  // Topic Names.
  ...both(
    "PUBLISH topic with wildcard +",
    ["30 05 00 03 61 2F 2B", "30 06 00 03 61 2F 2B 00"],
    ["MQTT-3.3.2-2", "MQTT-3.3.2-2"],
    TOPIC,
  ),
  ...both(
    "PUBLISH topic with wildcard #",
    ["30 03 00 01 23", "30 04 00 01 23 00"],
    ["MQTT-3.3.2-2", "MQTT-3.3.2-2"],
    TOPIC,
  ),
  {
    name: "empty PUBLISH topic (no Topic Alias in 3.1.1)",
    version: 4,
    bytes: "30 02 00 00",
    statement: "MQTT-4.7.3-1",
    ...M,
  },
  {
    name: "empty PUBLISH topic without a Topic Alias",
    version: 5,
    bytes: "30 03 00 00 00",
    statement: "§3.3.2.1",
    ...P,
  },
  {
    name: "Topic Alias 0 (Topic Alias invalid, 0x94)",
    version: 5,
    bytes: "30 07 00 01 61 03 23 00 00",
    statement: "MQTT-3.3.2-8",
    reasonCode: ReasonCode.TopicAliasInvalid,
    code: ErrorCode.ProtocolError,
  },
  {
    name: "Response Topic with a wildcard",
    version: 5,
    bytes: "30 09 00 01 61 05 08 00 02 61 23",
    statement: "MQTT-3.3.2-14",
    ...P,
  },

  // MQTT 5 properties.
  {
    name: "Receive Maximum 0 in CONNECT",
    version: 5,
    bytes: `10 10 ${MQTT5} 02 00 3C 03 21 00 00 00 00`,
    statement: "§3.1.2.11.3",
    ...P,
  },
  {
    name: "Maximum Packet Size 0 in CONNECT",
    version: 5,
    bytes: `10 12 ${MQTT5} 02 00 3C 05 27 00 00 00 00 00 00`,
    statement: "§3.1.2.11.4",
    ...P,
  },
  {
    name: "Subscription Identifier 0 in PUBLISH",
    version: 5,
    bytes: "30 06 00 01 61 02 0B 00",
    statement: "§3.3.2.3.8",
    ...P,
  },
  {
    name: "Subscription Identifier 0 in SUBSCRIBE",
    version: 5,
    bytes: "82 09 00 01 02 0B 00 00 01 61 00",
    statement: "§3.8.2.1.2",
    ...P,
  },
  {
    name: "two Subscription Identifiers in SUBSCRIBE",
    version: 5,
    bytes: "82 0B 00 01 04 0B 01 0B 02 00 01 61 00",
    statement: "§3.8.2.1.2",
    ...P,
  },
  {
    name: "two Message Expiry Intervals in PUBLISH",
    version: 5,
    bytes: "30 0E 00 01 61 0A 02 00 00 00 01 02 00 00 00 02",
    statement: "§3.3.2.3.3",
    ...P,
  },
  {
    name: "two Payload Format Indicators in PUBLISH",
    version: 5,
    bytes: "30 08 00 01 61 04 01 00 01 00",
    statement: "§3.3.2.3.2",
    ...P,
  },
  {
    name: "Payload Format Indicator 2",
    version: 5,
    bytes: "30 06 00 01 61 02 01 02",
    statement: "§3.3.2.3.2",
    ...P,
  },
  {
    name: "Session Expiry Interval in PUBLISH (not allowed there)",
    version: 5,
    bytes: "30 09 00 01 61 05 11 00 00 00 0A",
    statement: "§2.2.2.2",
    ...M,
  },
  {
    name: "Topic Alias in CONNECT (not allowed there)",
    version: 5,
    bytes: `10 10 ${MQTT5} 02 00 3C 03 23 00 01 00 00`,
    statement: "§2.2.2.2",
    ...M,
  },
  {
    name: "Will Delay Interval in CONNECT properties (Will Properties only)",
    version: 5,
    bytes: `10 12 ${MQTT5} 02 00 3C 05 18 00 00 00 05 00 00`,
    statement: "§2.2.2.2",
    ...M,
  },
  {
    name: "unknown property identifier 0x05",
    version: 5,
    bytes: "30 06 00 01 61 02 05 00",
    statement: "§2.2.2.2",
    ...M,
  },
  {
    name: "Property Length running past the packet",
    version: 5,
    bytes: "40 04 00 01 00 05",
    statement: "§2.2.2.1",
    ...M,
  },
  {
    name: "property value running past the Property Length",
    version: 5,
    bytes: "30 08 00 01 61 02 02 00 00 00",
    statement: "§2.2.2.1",
    ...M,
  },
  {
    name: "Authentication Data without an Authentication Method",
    version: 5,
    bytes: `10 10 ${MQTT5} 02 00 3C 03 16 00 00 00 00`,
    statement: "§3.1.2.11.10",
    ...P,
  },
  {
    name: "payload marked UTF-8 (Payload Format Indicator 1) but not UTF-8",
    version: 5,
    bytes: "30 07 00 01 61 02 01 01 FF",
    statement: "§3.3.2.3.2",
    reasonCode: ReasonCode.PayloadFormatInvalid,
    code: ErrorCode.PayloadFormatInvalid,
  },
  {
    name: "Will Payload marked UTF-8 but not UTF-8",
    version: 5,
    bytes: `10 16 ${MQTT5} 06 00 3C 00 00 00 02 01 01 00 01 61 00 01 C0`,
    statement: "§3.1.3.2.3",
    reasonCode: ReasonCode.PayloadFormatInvalid,
    code: ErrorCode.PayloadFormatInvalid,
  },

  // CONNECT.
  ...both(
    "CONNECT reserved flag set",
    [`10 0C ${MQTT4} 03 00 3C 00 00`, `10 0D ${MQTT5} 03 00 3C 00 00 00`],
    ["MQTT-3.1.2-3", "MQTT-3.1.2-3"],
    M,
  ),
  ...both(
    "CONNECT Will QoS 3",
    [`10 0C ${MQTT4} 1E 00 3C 00 00`, `10 0D ${MQTT5} 1E 00 3C 00 00 00`],
    ["MQTT-3.1.2-14", "MQTT-3.1.2-12"],
    M,
  ),
  ...both(
    "CONNECT Will QoS 3 without the Will Flag",
    [`10 0C ${MQTT4} 1A 00 3C 00 00`, `10 0D ${MQTT5} 1A 00 3C 00 00 00`],
    ["MQTT-3.1.2-13", "MQTT-3.1.2-11"],
    M,
  ),
  ...both(
    "CONNECT Will QoS 1 without the Will Flag",
    [`10 0C ${MQTT4} 0A 00 3C 00 00`, `10 0D ${MQTT5} 0A 00 3C 00 00 00`],
    ["MQTT-3.1.2-13", "MQTT-3.1.2-11"],
    M,
  ),
  ...both(
    "CONNECT Will Retain without the Will Flag",
    [`10 0C ${MQTT4} 22 00 3C 00 00`, `10 0D ${MQTT5} 22 00 3C 00 00 00`],
    ["MQTT-3.1.2-15", "MQTT-3.1.2-13"],
    M,
  ),
  {
    name: "CONNECT password without a user name",
    version: 4,
    bytes: `10 0E ${MQTT4} 42 00 3C 00 00 00 00`,
    statement: "MQTT-3.1.2-22",
    ...M,
  },
  ...both(
    "CONNECT Will Topic with a wildcard",
    [
      `10 11 ${MQTT4} 06 00 3C 00 00 00 01 23 00 00`,
      `10 13 ${MQTT5} 06 00 3C 00 00 00 00 00 01 23 00 00`,
    ],
    ["§3.1.3.2", "§3.1.3.3"],
    TOPIC,
  ),
  {
    name: "CONNECT protocol name MQTX",
    version: 4,
    bytes: "10 0C 00 04 4D 51 54 58 04 02 00 3C 00 00",
    statement: "MQTT-3.1.2-1",
    ...UNSUPPORTED,
  },
  {
    name: "CONNECT protocol name of 3 bytes",
    version: 4,
    bytes: "10 0B 00 03 4D 51 54 04 02 00 3C 00 00",
    statement: "MQTT-3.1.2-1",
    ...UNSUPPORTED,
  },
  {
    name: "CONNECT protocol level 6",
    version: 5,
    bytes: "10 0C 00 04 4D 51 54 54 06 02 00 3C 00 00",
    statement: "MQTT-3.1.2-2",
    ...UNSUPPORTED,
  },
  {
    name: "CONNECT protocol name MQTT with level 3",
    version: 4,
    bytes: "10 0C 00 04 4D 51 54 54 03 02 00 3C 00 00",
    statement: "MQTT-3.1.2-2",
    ...UNSUPPORTED,
  },
  {
    name: "CONNECT protocol name MQIsdp with level 4",
    version: 4,
    bytes: "10 0E 00 06 4D 51 49 73 64 70 04 02 00 3C 00 00",
    statement: "MQTT-3.1.2-2",
    ...UNSUPPORTED,
  },

  // SUBSCRIBE and UNSUBSCRIBE.
  ...both(
    "SUBSCRIBE with no topic filters",
    ["82 02 00 01", "82 03 00 01 00"],
    ["MQTT-3.8.3-3", "MQTT-3.8.3-2"],
    P,
  ),
  {
    name: "SUBSCRIBE requested QoS byte with reserved bit 2 set",
    version: 4,
    bytes: "82 06 00 01 00 01 61 04",
    statement: "MQTT-3.8.3-4",
    ...M,
  },
  {
    name: "SUBSCRIBE requested QoS byte with reserved bit 7 set",
    version: 4,
    bytes: "82 06 00 01 00 01 61 80",
    statement: "MQTT-3.8.3-4",
    ...M,
  },
  {
    name: "SUBSCRIBE requested QoS 3",
    version: 4,
    bytes: "82 06 00 01 00 01 61 03",
    statement: "MQTT-3.8.3-4",
    ...M,
  },
  {
    name: "SUBSCRIBE options with reserved bit 6 set",
    version: 5,
    bytes: "82 07 00 01 00 00 01 61 40",
    statement: "MQTT-3.8.3-5",
    ...M,
  },
  {
    name: "SUBSCRIBE options with reserved bit 7 set",
    version: 5,
    bytes: "82 07 00 01 00 00 01 61 81",
    statement: "MQTT-3.8.3-5",
    ...M,
  },
  {
    name: "SUBSCRIBE Maximum QoS 3",
    version: 5,
    bytes: "82 07 00 01 00 00 01 61 03",
    statement: "§3.8.3.1",
    ...P,
  },
  {
    name: "SUBSCRIBE Retain Handling 3",
    version: 5,
    bytes: "82 07 00 01 00 00 01 61 30",
    statement: "§3.8.3.1",
    ...P,
  },
  ...both(
    "UNSUBSCRIBE with no topic filters",
    ["A2 02 00 01", "A2 03 00 01 00"],
    ["MQTT-3.10.3-2", "MQTT-3.10.3-2"],
    P,
  ),

  // Remaining Length disagreeing with the fields: §2.2.3 (3.1.1) / §2.1.4 (5.0).
  ...both(
    "PUBACK with a trailing byte",
    ["40 03 00 01 00", "40 05 00 01 00 00 FF"],
    ["§2.2.3", "§2.1.4"],
    M,
  ),
  ...both("PINGREQ with a trailing byte", ["C0 01 00", "C0 01 00"], ["§2.2.3", "§2.1.4"], M),
  ...both("PINGRESP with a trailing byte", ["D0 01 00", "D0 01 00"], ["§2.2.3", "§2.1.4"], M),
  ...both(
    "CONNACK with a trailing byte",
    ["20 03 00 00 00", "20 04 00 00 00 00"],
    ["§2.2.3", "§2.1.4"],
    M,
  ),
  {
    name: "DISCONNECT with a trailing byte (3.1.1 has no reason code)",
    version: 4,
    bytes: "E0 01 00",
    statement: "§2.2.3",
    ...M,
  },
  {
    name: "UNSUBACK with a trailing byte (3.1.1 has no reason codes)",
    version: 4,
    bytes: "B0 03 00 01 00",
    statement: "§2.2.3",
    ...M,
  },
  ...both(
    "topic string length running past the packet",
    ["30 04 00 05 61 62", "30 04 00 05 61 62"],
    ["§2.2.3", "§2.1.4"],
    M,
  ),
  ...both("PUBACK shorter than its packet id", ["40 01 00", "40 01 00"], ["§2.2.3", "§2.1.4"], M),
  ...both(
    "SUBSCRIBE topic filter without its options byte",
    ["82 05 00 01 00 01 61", "82 06 00 01 00 00 01 61"],
    ["§2.2.3", "§2.1.4"],
    M,
  ),
  {
    name: "CONNECT ending inside its Keep Alive",
    version: 4,
    bytes: `10 09 ${MQTT4} 02 00`,
    statement: "§2.2.3",
    ...M,
  },

  // CONNACK.
  ...both(
    "CONNACK flags with reserved bits set",
    ["20 02 02 00", "20 03 02 00 00"],
    ["§3.2.2.1", "MQTT-3.2.2-1"],
    M,
  ),
  ...both(
    "CONNACK Session Present with a refusal code",
    ["20 02 01 05", "20 03 01 87 00"],
    ["MQTT-3.2.2-4", "MQTT-3.2.2-6"],
    P,
  ),
  ...both(
    "CONNACK with an undefined return / reason code",
    ["20 02 00 06", "20 03 00 05 00"],
    ["§3.2.2.3", "MQTT-3.2.2-8"],
    M,
  ),

  // Reason codes a packet may not carry.
  {
    name: "PUBACK reason code 0x01",
    version: 5,
    bytes: "40 03 00 01 01",
    statement: "MQTT-3.4.2-1",
    ...M,
  },
  {
    name: "PUBREC reason code 0x92",
    version: 5,
    bytes: "50 03 00 01 92",
    statement: "MQTT-3.5.2-1",
    ...M,
  },
  {
    name: "PUBREL reason code 0x10",
    version: 5,
    bytes: "62 03 00 01 10",
    statement: "MQTT-3.6.2-1",
    ...M,
  },
  {
    name: "PUBCOMP reason code 0x80",
    version: 5,
    bytes: "70 03 00 01 80",
    statement: "MQTT-3.7.2-1",
    ...M,
  },
  {
    name: "DISCONNECT reason code 0x01",
    version: 5,
    bytes: "E0 01 01",
    statement: "MQTT-3.14.2-1",
    ...M,
  },
  {
    name: "AUTH reason code 0x01",
    version: 5,
    bytes: "F0 01 01",
    statement: "MQTT-3.15.2-1",
    ...M,
  },
  ...both(
    "SUBACK return / reason code 0x03",
    ["90 03 00 01 03", "90 04 00 01 00 03"],
    ["MQTT-3.9.3-2", "MQTT-3.9.3-2"],
    M,
  ),
  {
    name: "SUBACK code 0x91 in 3.1.1",
    version: 4,
    bytes: "90 03 00 01 91",
    statement: "MQTT-3.9.3-2",
    ...M,
  },
  {
    name: "SUBACK with no return codes",
    version: 4,
    bytes: "90 02 00 01",
    statement: "§3.9.3",
    ...M,
  },
  {
    name: "UNSUBACK reason code 0x01",
    version: 5,
    bytes: "B0 04 00 01 00 01",
    statement: "MQTT-3.11.3-2",
    ...M,
  },
  {
    name: "UNSUBACK with no reason codes",
    version: 5,
    bytes: "B0 03 00 01 00",
    statement: "§3.11.3",
    ...M,
  },

  // Maximum packet size (the receiver's limit), refused before the body is buffered.
  ...[4, 5].map(
    (version): Case => ({
      name: "PUBLISH of 18 bytes over a maximum packet size of 16",
      version: version as ProtocolVersion,
      bytes: "30 10 00 01 61 00 01 02 03 04 05 06 07 08 09 0A 0B 0C",
      statement: "§3.2.2.3.6",
      reasonCode: ReasonCode.PacketTooLarge,
      code: ErrorCode.PacketTooLarge,
      options: { maxPacketSize: 16 },
    }),
  ),
];

/** Feeds `chunks` to a fresh decoder; returns the error it throws (or fails). */
function decodeError(c: Case, chunks: Uint8Array[]): ProtocolError {
  const decoder = new Decoder({ version: c.version, ...c.options });
  const packets: Packet[] = [];
  for (const chunk of chunks) {
    try {
      decoder.push(chunk, (p) => packets.push(p));
    } catch (err) {
      assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${String(err)}`);
      assert.equal(decoder.error, err, "the decoder keeps the error that stopped it");
      assert.throws(
        () => decoder.push(new Uint8Array(1), () => {}),
        (again) => again === err,
      );
      return err;
    }
  }
  assert.fail(`decoded without error: ${JSON.stringify(packets.map((p) => p.type))}`);
}

function bytewise(bytes: Uint8Array): Uint8Array[] {
  return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
}

function check(err: ProtocolError, c: Case): void {
  assert.equal(err.statement, c.statement, err.message);
  assert.equal(err.reasonCode, c.reasonCode, err.message);
  assert.equal(err.code, c.code, err.message);
  assert.ok(err.message.endsWith(`[${c.statement}]`), err.message);
}

describe("codec: malformed input corpus", () => {
  it(`holds ${corpus.length} entries, unique by name and version`, () => {
    const keys = corpus.map((c) => `${c.name} v${c.version}`);
    assert.equal(new Set(keys).size, keys.length);
  });

  for (const c of corpus) {
    it(`[${c.statement}] ${c.name} (v${c.version})`, () => {
      const bytes = hex(c.bytes);
      check(decodeError(c, [bytes]), c);
      check(decodeError(c, bytewise(bytes)), c);
      if (c.code === ErrorCode.UnsupportedProtocolVersion) {
        assert.ok(decodeError(c, [bytes]) instanceof UnsupportedProtocolError);
      }
    });
  }
});

describe("codec: packet too large, refused from the fixed header alone", () => {
  it("[§3.2.2.3.6] announced in a header whose body has not arrived (0x95)", () => {
    const decoder = new Decoder({ version: 5, maxPacketSize: 64 });
    // Remaining Length 10 000: the header alone is enough to refuse it.
    assert.throws(
      () => decoder.push(hex("30 90 4E"), () => {}),
      (err: unknown) =>
        err instanceof ProtocolError &&
        err.reasonCode === ReasonCode.PacketTooLarge &&
        err.code === ErrorCode.PacketTooLarge &&
        err.statement === "§3.2.2.3.6",
    );
    assert.equal(decoder.buffered, 0);
  });

  it("[§3.2.2.3.6] announced in a header split across chunks", () => {
    const decoder = new Decoder({ version: 4, maxPacketSize: 1024 });
    decoder.push(hex("30"), () => {});
    decoder.push(hex("FF"), () => {});
    assert.ok(decoder.buffered <= 5);
    assert.throws(
      () => decoder.push(hex("FF 7F"), () => {}),
      (err: unknown) =>
        err instanceof ProtocolError && err.reasonCode === ReasonCode.PacketTooLarge,
    );
    assert.equal(decoder.buffered, 0);
  });

  it("accepts a packet of exactly the maximum size", () => {
    const decoder = new Decoder({ version: 4, maxPacketSize: 18 });
    const packets = decoder.decodeAll(hex("30 10 00 01 61 00 01 02 03 04 05 06 07 08 09 0A 0B 0C"));
    assert.equal(packets.length, 1);
  });
});

describe("codec: inputs that look wrong but are allowed", () => {
  function decodeOne(
    version: ProtocolVersion,
    bytes: string,
    options: DecoderOptions = {},
  ): Packet {
    const whole = new Decoder({ version, ...options }).decodeAll(hex(bytes));
    const parts: Packet[] = [];
    const decoder = new Decoder({ version, ...options });
    for (const chunk of bytewise(hex(bytes))) decoder.push(chunk, (p) => parts.push(p));
    assert.equal(whole.length, 1);
    assert.deepEqual(parts, whole);
    return whole[0] as Packet;
  }

  it("[MQTT-1.5.3-3] keeps a BOM (EF BB BF) as U+FEFF in 3.1.1", () => {
    const p = decodeOne(4, "30 06 00 04 EF BB BF 61");
    assert.equal(p.type === "publish" && p.topic, "\uFEFFa");
  });

  it("[MQTT-1.5.4-3] keeps a BOM (EF BB BF) as U+FEFF in 5.0, also inside a string", () => {
    const p = decodeOne(5, "30 08 00 05 61 EF BB BF 62 00");
    assert.equal(p.type === "publish" && p.topic, "a\uFEFFb");
  });

  it("[§3.3.2.3.2] accepts a payload marked UTF-8 but invalid when validatePayloadFormat is false", () => {
    const p = decodeOne(5, "30 07 00 01 61 02 01 01 FF", { validatePayloadFormat: false });
    assert.ok(p.type === "publish");
    assert.deepEqual([...p.payload], [0xff]);
    assert.equal(p.properties?.payloadFormatIndicator, 1);
  });

  it("[§3.3.2.3.2] accepts U+0000 in a payload marked UTF-8 (the string rules do not apply)", () => {
    const p = decodeOne(5, "30 07 00 01 61 02 01 01 00");
    assert.ok(p.type === "publish");
  });

  it("[MQTT-3.1.2-18] accepts a password without a user name in 5.0", () => {
    const p = decodeOne(5, `10 0F ${MQTT5} 40 00 3C 00 00 00 00 00`);
    assert.ok(p.type === "connect");
    assert.equal(p.username, undefined);
    assert.deepEqual([...(p.password ?? [])], []);
  });

  it("[§3.3.2.3.4] accepts an empty topic with a Topic Alias in 5.0", () => {
    const p = decodeOne(5, "30 06 00 00 03 23 00 01");
    assert.ok(p.type === "publish");
    assert.equal(p.topic, "");
    assert.equal(p.properties?.topicAlias, 1);
  });

  it("accepts PUBREL with DUP in MQTT 3.1 (the flags were QoS 1 there)", () => {
    const p = decodeOne(3, "6A 02 00 01");
    assert.equal(p.type, "pubrel");
  });

  it("reads a minimal 4-byte Remaining Length (80 80 80 01 = 2 097 152), refused only for size", () => {
    assert.throws(
      () => new Decoder({ version: 5, maxPacketSize: 1024 }).push(hex("30 80 80 80 01"), () => {}),
      (err: unknown) =>
        err instanceof ProtocolError && err.reasonCode === ReasonCode.PacketTooLarge,
    );
  });
});
