/**
 * The codec's fixture table: packets and their exact wire bytes for MQTT 3.1
 * (level 3, `MQIsdp`), 3.1.1 (level 4) and 5.0 (level 5).
 *
 * Every `bytes` value is written out by hand from the packet layouts of the
 * spec (chapter 3 of both 3.1.1 and 5.0; §2.2.3 / §2.1.4 for the Remaining
 * Length, §1.5 for the data types), never produced by our encoder, so a test
 * that compares against them can fail. Hex strings keep one field per group
 * of bytes; spaces are ignored. The two large PUBLISH fixtures have their
 * fixed and variable header written by hand and a generated payload appended.
 *
 * Exported for reuse by other suites (property-based, fuzz, benchmarks).
 * Treat the table as read-only: the packets' Uint8Arrays are shared.
 */
import type { ProtocolVersion } from "../../src/protocol/constants.js";
import type { Packet } from "../../src/protocol/packet.js";

export interface Fixture {
  /** What the fixture shows; unique within its version. */
  name: string;
  version: ProtocolVersion;
  /** The packet exactly as the decoder returns it (absent optional fields are absent keys). */
  packet: Packet;
  /** The wire bytes: a hex string (whitespace ignored) or the byte values. */
  bytes: number[] | string;
  /** Spec section, and the normative statement id where the fixture shows one. */
  spec: string;
}

/** Bytes of a hex string; whitespace is ignored. */
export function hex(text: string): Uint8Array {
  const digits = text.replace(/\s+/g, "");
  if (digits.length % 2 !== 0 || /[^0-9a-fA-F]/.test(digits)) {
    throw new Error(`bad hex string: ${text}`);
  }
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The fixture's wire bytes as a fresh Uint8Array. */
export function fixtureBytes(f: Fixture): Uint8Array {
  return typeof f.bytes === "string" ? hex(f.bytes) : Uint8Array.from(f.bytes);
}

/** The fixtures of one protocol version, in table order. */
export function fixturesOf(version: ProtocolVersion): Fixture[] {
  return fixtures.filter((f) => f.version === version);
}

/**
 * A deep copy of `value` with every Uint8Array (Buffer included) replaced by
 * `{ bytes: "hex" }`, so packets compare by content whatever their views'
 * offsets, and diffs stay readable. Keys whose value is `undefined` are kept:
 * an absent optional field must be an absent key.
 */
export function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value).toString("hex") };
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  return value;
}

/** Bytes of an ASCII string (for the packet side only; wire bytes are written as hex). */
function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** A payload of `n` bytes whose values cycle through 0..250, so a misplaced slice shows. */
export function filledPayload(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = i % 251;
  return out;
}

/** Hand-written fixed and variable header followed by a filled payload of `n` bytes. */
function withPayload(header: string, n: number): number[] {
  return [...hex(header), ...filledPayload(n)];
}

// ---------------------------------------------------------------------------
// MQTT 3.1 (protocol level 3, protocol name "MQIsdp")
// ---------------------------------------------------------------------------

const v3: Fixture[] = [
  {
    name: "CONNECT MQIsdp, clean session",
    version: 3,
    spec: "MQTT 3.1 §3.1",
    packet: { type: "connect", protocolVersion: 3, clean: true, keepalive: 60, clientId: "abc" },
    // len "MQIsdp" level flags keepalive | client id "abc"
    bytes: "10 11  00 06 4d 51 49 73 64 70  03  02  00 3c  00 03 61 62 63",
  },
  {
    name: "CONNECT MQIsdp, will QoS 2 with empty message, user name and password",
    version: 3,
    spec: "MQTT 3.1 §3.1",
    packet: {
      type: "connect",
      protocolVersion: 3,
      clean: true,
      keepalive: 60,
      clientId: "abc",
      will: { topic: "w", payload: new Uint8Array(0), qos: 2, retain: false },
      username: "u",
      password: ascii("p"),
    },
    // flags 0xd6 = user name, password, will QoS 2, will, clean session
    bytes:
      "10 1c  00 06 4d 51 49 73 64 70  03  d6  00 3c" +
      "  00 03 61 62 63  00 01 77  00 00  00 01 75  00 01 70",
  },
  {
    name: "CONNECT MQIsdp, clean session 0, retained will QoS 0",
    version: 3,
    spec: "MQTT 3.1 §3.1",
    packet: {
      type: "connect",
      protocolVersion: 3,
      clean: false,
      keepalive: 60,
      clientId: "abc",
      will: { topic: "w", payload: ascii("x"), qos: 0, retain: true },
    },
    // flags 0x24 = will retain, will
    bytes: "10 17  00 06 4d 51 49 73 64 70  03  24  00 3c  00 03 61 62 63  00 01 77  00 01 78",
  },
  {
    name: "CONNACK accepted",
    version: 3,
    spec: "MQTT 3.1 §3.2",
    packet: { type: "connack", sessionPresent: false, reasonCode: 0 },
    bytes: "20 02 00 00",
  },
  {
    name: "CONNACK refused: identifier rejected (2)",
    version: 3,
    spec: "MQTT 3.1 §3.2",
    packet: { type: "connack", sessionPresent: false, reasonCode: 2 },
    bytes: "20 02 00 02",
  },
  {
    name: "PUBLISH QoS 0",
    version: 3,
    spec: "MQTT 3.1 §3.3",
    packet: {
      type: "publish",
      topic: "a/b",
      payload: ascii("hi"),
      qos: 0,
      retain: false,
      dup: false,
    },
    bytes: "30 07  00 03 61 2f 62  68 69",
  },
  {
    name: "PUBLISH QoS 1, retained",
    version: 3,
    spec: "MQTT 3.1 §3.3",
    packet: {
      type: "publish",
      topic: "a/b",
      payload: ascii("hi"),
      qos: 1,
      retain: true,
      dup: false,
      packetId: 10,
    },
    bytes: "33 09  00 03 61 2f 62  00 0a  68 69",
  },
  {
    name: "PUBLISH QoS 2, DUP",
    version: 3,
    spec: "MQTT 3.1 §3.3",
    packet: {
      type: "publish",
      topic: "a/b",
      payload: ascii("hi"),
      qos: 2,
      retain: false,
      dup: true,
      packetId: 11,
    },
    bytes: "3c 09  00 03 61 2f 62  00 0b  68 69",
  },
  {
    name: "PUBACK",
    version: 3,
    spec: "MQTT 3.1 §3.4",
    packet: { type: "puback", packetId: 10 },
    bytes: "40 02 00 0a",
  },
  {
    name: "PUBREC",
    version: 3,
    spec: "MQTT 3.1 §3.5",
    packet: { type: "pubrec", packetId: 11 },
    bytes: "50 02 00 0b",
  },
  {
    name: "PUBREL",
    version: 3,
    spec: "MQTT 3.1 §3.6",
    packet: { type: "pubrel", packetId: 11 },
    bytes: "62 02 00 0b",
  },
  {
    name: "PUBCOMP",
    version: 3,
    spec: "MQTT 3.1 §3.7",
    packet: { type: "pubcomp", packetId: 11 },
    bytes: "70 02 00 0b",
  },
  {
    name: "SUBSCRIBE two filters",
    version: 3,
    spec: "MQTT 3.1 §3.8",
    packet: {
      type: "subscribe",
      packetId: 5,
      subscriptions: [
        { topicFilter: "a/+", qos: 1 },
        { topicFilter: "#", qos: 0 },
      ],
    },
    bytes: "82 0c  00 05  00 03 61 2f 2b 01  00 01 23 00",
  },
  {
    name: "SUBACK",
    version: 3,
    spec: "MQTT 3.1 §3.9",
    packet: { type: "suback", packetId: 5, reasonCodes: [1, 0] },
    bytes: "90 04  00 05  01 00",
  },
  {
    name: "UNSUBSCRIBE",
    version: 3,
    spec: "MQTT 3.1 §3.10",
    packet: { type: "unsubscribe", packetId: 6, topicFilters: ["a/+"] },
    bytes: "a2 07  00 06  00 03 61 2f 2b",
  },
  {
    name: "UNSUBACK",
    version: 3,
    spec: "MQTT 3.1 §3.11",
    packet: { type: "unsuback", packetId: 6 },
    bytes: "b0 02 00 06",
  },
  {
    name: "PINGREQ",
    version: 3,
    spec: "MQTT 3.1 §3.12",
    packet: { type: "pingreq" },
    bytes: "c0 00",
  },
  {
    name: "PINGRESP",
    version: 3,
    spec: "MQTT 3.1 §3.13",
    packet: { type: "pingresp" },
    bytes: "d0 00",
  },
  {
    name: "DISCONNECT",
    version: 3,
    spec: "MQTT 3.1 §3.14",
    packet: { type: "disconnect" },
    bytes: "e0 00",
  },
];

// ---------------------------------------------------------------------------
// MQTT 3.1.1 (protocol level 4)
// ---------------------------------------------------------------------------

const v4: Fixture[] = [
  {
    name: "CONNECT clean session, client id",
    version: 4,
    spec: "§3.1",
    packet: { type: "connect", protocolVersion: 4, clean: true, keepalive: 60, clientId: "abc" },
    // len "MQTT" level flags keepalive | client id "abc"
    bytes: "10 0f  00 04 4d 51 54 54  04  02  00 3c  00 03 61 62 63",
  },
  {
    name: "CONNECT zero-length client id, keep alive 0",
    version: 4,
    spec: "§3.1.3.1",
    packet: { type: "connect", protocolVersion: 4, clean: true, keepalive: 0, clientId: "" },
    bytes: "10 0c  00 04 4d 51 54 54  04  02  00 00  00 00",
  },
  {
    name: "CONNECT clean session 0, retained will QoS 1, user name, binary password",
    version: 4,
    spec: "MQTT-3.1.3-1",
    packet: {
      type: "connect",
      protocolVersion: 4,
      clean: false,
      keepalive: 30,
      clientId: "cid",
      will: { topic: "w/t", payload: ascii("bye"), qos: 1, retain: true },
      username: "user",
      password: new Uint8Array([0x70, 0x77, 0x00, 0xff]),
    },
    // flags 0xec = user name, password, will retain, will QoS 1, will; payload order:
    // client id, will topic, will message, user name, password
    bytes:
      "10 25  00 04 4d 51 54 54  04  ec  00 1e" +
      "  00 03 63 69 64  00 03 77 2f 74  00 03 62 79 65  00 04 75 73 65 72  00 04 70 77 00 ff",
  },
  {
    name: "CONNECT user name without password",
    version: 4,
    spec: "§3.1.2.8",
    packet: {
      type: "connect",
      protocolVersion: 4,
      clean: true,
      keepalive: 60,
      clientId: "abc",
      username: "u",
    },
    bytes: "10 12  00 04 4d 51 54 54  04  82  00 3c  00 03 61 62 63  00 01 75",
  },
  {
    name: "CONNECT will QoS 2 with empty message, keep alive 65535",
    version: 4,
    spec: "§3.1.2.6",
    packet: {
      type: "connect",
      protocolVersion: 4,
      clean: true,
      keepalive: 65535,
      clientId: "abc",
      will: { topic: "w", payload: new Uint8Array(0), qos: 2, retain: false },
    },
    // flags 0x16 = will QoS 2, will, clean session
    bytes: "10 14  00 04 4d 51 54 54  04  16  ff ff  00 03 61 62 63  00 01 77  00 00",
  },
  {
    name: "CONNACK accepted, no session",
    version: 4,
    spec: "§3.2",
    packet: { type: "connack", sessionPresent: false, reasonCode: 0 },
    bytes: "20 02 00 00",
  },
  {
    name: "CONNACK session present",
    version: 4,
    spec: "§3.2.2.2",
    packet: { type: "connack", sessionPresent: true, reasonCode: 0 },
    bytes: "20 02 01 00",
  },
  {
    name: "CONNACK refused: not authorized (5), session present 0",
    version: 4,
    spec: "MQTT-3.2.2-4",
    packet: { type: "connack", sessionPresent: false, reasonCode: 5 },
    bytes: "20 02 00 05",
  },
  {
    name: "CONNACK refused: unacceptable protocol version (1)",
    version: 4,
    spec: "§3.2.2.3",
    packet: { type: "connack", sessionPresent: false, reasonCode: 1 },
    bytes: "20 02 00 01",
  },
  {
    name: "PUBLISH QoS 0 has no packet id",
    version: 4,
    spec: "MQTT-2.3.1-5",
    packet: {
      type: "publish",
      topic: "a/b",
      payload: ascii("hi"),
      qos: 0,
      retain: false,
      dup: false,
    },
    bytes: "30 07  00 03 61 2f 62  68 69",
  },
  {
    name: "PUBLISH QoS 1",
    version: 4,
    spec: "§3.3",
    packet: {
      type: "publish",
      topic: "a/b",
      payload: ascii("hi"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 10,
    },
    bytes: "32 09  00 03 61 2f 62  00 0a  68 69",
  },
  {
    name: "PUBLISH QoS 2, DUP, RETAIN",
    version: 4,
    spec: "§3.3.1",
    packet: {
      type: "publish",
      topic: "a/b",
      payload: ascii("hi"),
      qos: 2,
      retain: true,
      dup: true,
      packetId: 0x1234,
    },
    bytes: "3d 09  00 03 61 2f 62  12 34  68 69",
  },
  {
    name: "PUBLISH retained, empty payload",
    version: 4,
    spec: "§3.3.1.3",
    packet: {
      type: "publish",
      topic: "a/b",
      payload: new Uint8Array(0),
      qos: 0,
      retain: true,
      dup: false,
    },
    bytes: "31 05  00 03 61 2f 62",
  },
  {
    name: "PUBLISH non-ASCII topic é/ü",
    version: 4,
    spec: "§1.5.3",
    packet: {
      type: "publish",
      topic: "é/ü",
      payload: ascii("x"),
      qos: 0,
      retain: false,
      dup: false,
    },
    bytes: "30 08  00 05 c3 a9 2f c3 bc  78",
  },
  {
    name: "PUBLISH topic with a 4-byte UTF-8 character (U+1F600)",
    version: 4,
    spec: "§1.5.3",
    packet: {
      type: "publish",
      topic: "a/\u{1F600}",
      payload: ascii("x"),
      qos: 0,
      retain: false,
      dup: false,
    },
    bytes: "30 09  00 06 61 2f f0 9f 98 80  78",
  },
  {
    name: "PUBLISH topic starting with U+FEFF is kept, not stripped",
    version: 4,
    spec: "MQTT-1.5.3-3",
    packet: {
      type: "publish",
      topic: "\uFEFFa",
      payload: new Uint8Array(0),
      qos: 0,
      retain: false,
      dup: false,
    },
    bytes: "30 06  00 04 ef bb bf 61",
  },
  {
    name: "PUBLISH binary payload with 0x00 and 0xff",
    version: 4,
    spec: "§3.3.3",
    packet: {
      type: "publish",
      topic: "t",
      payload: new Uint8Array([0x00, 0xff, 0x00, 0x80, 0x7f]),
      qos: 0,
      retain: false,
      dup: false,
    },
    bytes: "30 08  00 01 74  00 ff 00 80 7f",
  },
  {
    name: "PUBLISH 200-byte payload: 2-byte Remaining Length",
    version: 4,
    spec: "§2.2.3",
    packet: {
      type: "publish",
      topic: "t",
      payload: filledPayload(200),
      qos: 0,
      retain: false,
      dup: false,
    },
    // Remaining Length 203 = 0x4b + 1·128 → cb 01
    bytes: withPayload("30 cb 01  00 01 74", 200),
  },
  {
    name: "PUBLISH 20000-byte payload: 3-byte Remaining Length",
    version: 4,
    spec: "§2.2.3",
    packet: {
      type: "publish",
      topic: "t",
      payload: filledPayload(20_000),
      qos: 0,
      retain: false,
      dup: false,
    },
    // Remaining Length 20003 = 0x23 + 0x1c·128 + 1·16384 → a3 9c 01
    bytes: withPayload("30 a3 9c 01  00 01 74", 20_000),
  },
  {
    name: "PUBACK",
    version: 4,
    spec: "§3.4",
    packet: { type: "puback", packetId: 1 },
    bytes: "40 02 00 01",
  },
  {
    name: "PUBREC packet id 65535",
    version: 4,
    spec: "§3.5",
    packet: { type: "pubrec", packetId: 65535 },
    bytes: "50 02 ff ff",
  },
  {
    name: "PUBREL fixed header flags 0010",
    version: 4,
    spec: "MQTT-3.6.1-1",
    packet: { type: "pubrel", packetId: 2 },
    bytes: "62 02 00 02",
  },
  {
    name: "PUBCOMP",
    version: 4,
    spec: "§3.7",
    packet: { type: "pubcomp", packetId: 2 },
    bytes: "70 02 00 02",
  },
  {
    name: "SUBSCRIBE three filters, QoS 0/1/2, flags 0010",
    version: 4,
    spec: "MQTT-3.8.1-1",
    packet: {
      type: "subscribe",
      packetId: 1,
      subscriptions: [
        { topicFilter: "a/+", qos: 0 },
        { topicFilter: "b/#", qos: 1 },
        { topicFilter: "c", qos: 2 },
      ],
    },
    bytes: "82 12  00 01  00 03 61 2f 2b 00  00 03 62 2f 23 01  00 01 63 02",
  },
  {
    name: "SUBACK granted QoS 0/1/2 and failure 0x80",
    version: 4,
    spec: "§3.9.3",
    packet: { type: "suback", packetId: 1, reasonCodes: [0, 1, 2, 0x80] },
    bytes: "90 06  00 01  00 01 02 80",
  },
  {
    name: "UNSUBSCRIBE two filters, flags 0010",
    version: 4,
    spec: "MQTT-3.10.1-1",
    packet: { type: "unsubscribe", packetId: 2, topicFilters: ["a/+", "b/#"] },
    bytes: "a2 0c  00 02  00 03 61 2f 2b  00 03 62 2f 23",
  },
  {
    name: "UNSUBACK",
    version: 4,
    spec: "§3.11",
    packet: { type: "unsuback", packetId: 2 },
    bytes: "b0 02 00 02",
  },
  {
    name: "PINGREQ",
    version: 4,
    spec: "§3.12",
    packet: { type: "pingreq" },
    bytes: "c0 00",
  },
  {
    name: "PINGRESP",
    version: 4,
    spec: "§3.13",
    packet: { type: "pingresp" },
    bytes: "d0 00",
  },
  {
    name: "DISCONNECT",
    version: 4,
    spec: "§3.14",
    packet: { type: "disconnect" },
    bytes: "e0 00",
  },
];

// ---------------------------------------------------------------------------
// MQTT 5.0 (protocol level 5)
// ---------------------------------------------------------------------------

const v5: Fixture[] = [
  {
    name: "CONNECT without properties: Property Length 0",
    version: 5,
    spec: "MQTT-2.2.2-1",
    packet: { type: "connect", protocolVersion: 5, clean: true, keepalive: 60, clientId: "abc" },
    bytes: "10 10  00 04 4d 51 54 54  05  02  00 3c  00  00 03 61 62 63",
  },
  {
    name: "CONNECT with properties, will properties, user name and password",
    version: 5,
    spec: "MQTT-3.1.3-1",
    packet: {
      type: "connect",
      protocolVersion: 5,
      clean: true,
      keepalive: 10,
      clientId: "cid",
      properties: {
        sessionExpiryInterval: 3600,
        receiveMaximum: 20,
        maximumPacketSize: 1024,
        topicAliasMaximum: 10,
        requestResponseInformation: true,
        requestProblemInformation: false,
        userProperties: [["k", "v"]],
        authenticationMethod: "m",
        authenticationData: new Uint8Array([1, 2]),
      },
      will: {
        topic: "w/t",
        payload: ascii("bye"),
        qos: 1,
        retain: false,
        properties: {
          willDelayInterval: 5,
          payloadFormatIndicator: 1,
          messageExpiryInterval: 60,
          contentType: "t",
          responseTopic: "r",
          correlationData: new Uint8Array([0xab]),
          userProperties: [
            ["a", "1"],
            ["a", "2"],
          ],
        },
      },
      username: "user",
      password: ascii("pw"),
    },
    // flags 0xce = user name, password, will QoS 1, will, clean start
    bytes:
      "10 6f  00 04 4d 51 54 54  05  ce  00 0a" +
      // properties (36 bytes)
      "  24  11 00 00 0e 10  21 00 14  27 00 00 04 00  22 00 0a  19 01  17 00" +
      "  26 00 01 6b 00 01 76  15 00 01 6d  16 00 02 01 02" +
      // client id
      "  00 03 63 69 64" +
      // will properties (38 bytes)
      "  26  18 00 00 00 05  01 01  02 00 00 00 3c  03 00 01 74  08 00 01 72  09 00 01 ab" +
      "  26 00 01 61 00 01 31  26 00 01 61 00 01 32" +
      // will topic, will payload, user name, password
      "  00 03 77 2f 74  00 03 62 79 65  00 04 75 73 65 72  00 02 70 77",
  },
  {
    name: "CONNECT password without user name",
    version: 5,
    spec: "§3.1.2.9",
    packet: {
      type: "connect",
      protocolVersion: 5,
      clean: true,
      keepalive: 60,
      clientId: "abc",
      password: ascii("p"),
    },
    bytes: "10 13  00 04 4d 51 54 54  05  42  00 3c  00  00 03 61 62 63  00 01 70",
  },
  {
    name: "CONNECT clean start 0, session expiry, will without will properties",
    version: 5,
    spec: "§3.1.3.2",
    packet: {
      type: "connect",
      protocolVersion: 5,
      clean: false,
      keepalive: 60,
      clientId: "abc",
      properties: { sessionExpiryInterval: 0xffffffff },
      will: { topic: "w", payload: ascii("x"), qos: 0, retain: false },
    },
    bytes:
      "10 1c  00 04 4d 51 54 54  05  04  00 3c  05 11 ff ff ff ff" +
      "  00 03 61 62 63  00  00 01 77  00 01 78",
  },
  {
    name: "CONNACK success, no properties",
    version: 5,
    spec: "§3.2",
    packet: { type: "connack", sessionPresent: false, reasonCode: 0 },
    bytes: "20 03  00 00  00",
  },
  {
    name: "CONNACK session present, server properties",
    version: 5,
    spec: "§3.2.2.3",
    packet: {
      type: "connack",
      sessionPresent: true,
      reasonCode: 0,
      properties: {
        assignedClientIdentifier: "auto-1",
        serverKeepAlive: 30,
        receiveMaximum: 100,
        maximumQoS: 1,
        retainAvailable: false,
        maximumPacketSize: 65536,
        topicAliasMaximum: 5,
        wildcardSubscriptionAvailable: true,
        subscriptionIdentifierAvailable: true,
        sharedSubscriptionAvailable: false,
        responseInformation: "ri",
      },
    },
    bytes:
      "20 29  01 00  26" +
      "  12 00 06 61 75 74 6f 2d 31  13 00 1e  21 00 64  24 01  25 00  27 00 01 00 00" +
      "  22 00 05  28 01  29 01  2a 00  1a 00 02 72 69",
  },
  {
    name: "CONNACK refused 0x87 with reason string, session present 0",
    version: 5,
    spec: "MQTT-3.2.2-6",
    packet: {
      type: "connack",
      sessionPresent: false,
      reasonCode: 0x87,
      properties: { reasonString: "no" },
    },
    bytes: "20 08  00 87  05 1f 00 02 6e 6f",
  },
  {
    name: "CONNACK 0x9c use another server, server reference",
    version: 5,
    spec: "§3.2.2.3.16",
    packet: {
      type: "connack",
      sessionPresent: false,
      reasonCode: 0x9c,
      properties: { serverReference: "h:1" },
    },
    bytes: "20 09  00 9c  06 1c 00 03 68 3a 31",
  },
  {
    name: "CONNACK 0x84 unsupported protocol version",
    version: 5,
    spec: "§3.2.2.2",
    packet: { type: "connack", sessionPresent: false, reasonCode: 0x84 },
    bytes: "20 03  00 84  00",
  },
  {
    name: "PUBLISH QoS 0 without properties",
    version: 5,
    spec: "MQTT-2.2.2-1",
    packet: {
      type: "publish",
      topic: "a/b",
      payload: ascii("hi"),
      qos: 0,
      retain: false,
      dup: false,
    },
    bytes: "30 08  00 03 61 2f 62  00  68 69",
  },
  {
    name: "PUBLISH QoS 1 with properties; repeated user property names keep their order",
    version: 5,
    spec: "MQTT-3.3.2-18",
    packet: {
      type: "publish",
      topic: "a/b",
      payload: new Uint8Array([0x68, 0xc3, 0xa9]),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 7,
      properties: {
        payloadFormatIndicator: 1,
        messageExpiryInterval: 120,
        topicAlias: 3,
        responseTopic: "r/1",
        correlationData: new Uint8Array([0x00, 0x01]),
        userProperties: [
          ["k", "2"],
          ["a", "x"],
          ["k", "1"],
        ],
        contentType: "text/plain",
      },
    },
    bytes:
      "32 42  00 03 61 2f 62  00 07" +
      // properties (55 bytes)
      "  37  01 01  02 00 00 00 78  23 00 03  08 00 03 72 2f 31  09 00 02 00 01" +
      "  26 00 01 6b 00 01 32  26 00 01 61 00 01 78  26 00 01 6b 00 01 31" +
      "  03 00 0a 74 65 78 74 2f 70 6c 61 69 6e" +
      // payload "hé", well-formed UTF-8 as the format indicator says
      "  68 c3 a9",
  },
  {
    name: "PUBLISH with several subscription identifiers",
    version: 5,
    spec: "MQTT-3.3.4-4",
    packet: {
      type: "publish",
      topic: "a/b",
      payload: ascii("x"),
      qos: 0,
      retain: false,
      dup: false,
      properties: { subscriptionIdentifiers: [1, 200, 268_435_455] },
    },
    // identifiers as Variable Byte Integers: 01 | c8 01 | ff ff ff 7f
    bytes: "30 11  00 03 61 2f 62  0a  0b 01  0b c8 01  0b ff ff ff 7f  78",
  },
  {
    name: "PUBLISH empty topic with a topic alias",
    version: 5,
    spec: "§3.3.2.3.4",
    packet: {
      type: "publish",
      topic: "",
      payload: ascii("x"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 2,
      properties: { topicAlias: 3 },
    },
    bytes: "32 09  00 00  00 02  03 23 00 03  78",
  },
  {
    name: "PUBLISH QoS 2, DUP, RETAIN, empty payload",
    version: 5,
    spec: "§3.3.1",
    packet: {
      type: "publish",
      topic: "a/b",
      payload: new Uint8Array(0),
      qos: 2,
      retain: true,
      dup: true,
      packetId: 5,
    },
    bytes: "3d 08  00 03 61 2f 62  00 05  00",
  },
  {
    name: "PUBLISH non-ASCII topic é/ü/U+1F600",
    version: 5,
    spec: "§1.5.4",
    packet: {
      type: "publish",
      topic: "é/ü/\u{1F600}",
      payload: new Uint8Array(0),
      qos: 0,
      retain: false,
      dup: false,
    },
    bytes: "30 0d  00 0a c3 a9 2f c3 bc 2f f0 9f 98 80  00",
  },
  {
    name: "PUBLISH 200-byte payload: 2-byte Remaining Length",
    version: 5,
    spec: "MQTT-1.5.5-1",
    packet: {
      type: "publish",
      topic: "t",
      payload: filledPayload(200),
      qos: 0,
      retain: false,
      dup: false,
    },
    // Remaining Length 204 = 0x4c + 1·128 → cc 01
    bytes: withPayload("30 cc 01  00 01 74  00", 200),
  },
  {
    name: "PUBLISH QoS 1, 20000-byte payload: 3-byte Remaining Length",
    version: 5,
    spec: "MQTT-1.5.5-1",
    packet: {
      type: "publish",
      topic: "t",
      payload: filledPayload(20_000),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 1,
    },
    // Remaining Length 20006 = 0x26 + 0x1c·128 + 1·16384 → a6 9c 01
    bytes: withPayload("32 a6 9c 01  00 01 74  00 01  00", 20_000),
  },
  {
    name: "PUBACK success, short form (Remaining Length 2)",
    version: 5,
    spec: "§3.4.2.1",
    packet: { type: "puback", packetId: 1, reasonCode: 0 },
    bytes: "40 02 00 01",
  },
  {
    name: "PUBACK reason code 0x10 without properties",
    version: 5,
    spec: "§3.4.2.1",
    packet: { type: "puback", packetId: 1, reasonCode: 0x10 },
    bytes: "40 03  00 01  10",
  },
  {
    name: "PUBACK reason code 0x87 with reason string",
    version: 5,
    spec: "§3.4.2.2",
    packet: {
      type: "puback",
      packetId: 1,
      reasonCode: 0x87,
      properties: { reasonString: "denied" },
    },
    bytes: "40 0d  00 01  87  09 1f 00 06 64 65 6e 69 65 64",
  },
  {
    name: "PUBACK success with a user property",
    version: 5,
    spec: "§3.4.2.2",
    packet: {
      type: "puback",
      packetId: 1,
      reasonCode: 0,
      properties: { userProperties: [["k", "v"]] },
    },
    bytes: "40 0b  00 01  00  07 26 00 01 6b 00 01 76",
  },
  {
    name: "PUBREC success, short form",
    version: 5,
    spec: "§3.5.2.1",
    packet: { type: "pubrec", packetId: 2, reasonCode: 0 },
    bytes: "50 02 00 02",
  },
  {
    name: "PUBREC reason code 0x80 with reason string",
    version: 5,
    spec: "§3.5.2.2",
    packet: {
      type: "pubrec",
      packetId: 2,
      reasonCode: 0x80,
      properties: { reasonString: "x" },
    },
    bytes: "50 08  00 02  80  04 1f 00 01 78",
  },
  {
    name: "PUBREL success, short form",
    version: 5,
    spec: "MQTT-3.6.1-1",
    packet: { type: "pubrel", packetId: 3, reasonCode: 0 },
    bytes: "62 02 00 03",
  },
  {
    name: "PUBREL 0x92 with reason string and user property",
    version: 5,
    spec: "§3.6.2.2",
    packet: {
      type: "pubrel",
      packetId: 3,
      reasonCode: 0x92,
      properties: { reasonString: "x", userProperties: [["k", "v"]] },
    },
    bytes: "62 0f  00 03  92  0b 1f 00 01 78 26 00 01 6b 00 01 76",
  },
  {
    name: "PUBCOMP success, short form",
    version: 5,
    spec: "§3.7.2.1",
    packet: { type: "pubcomp", packetId: 3, reasonCode: 0 },
    bytes: "70 02 00 03",
  },
  {
    name: "PUBCOMP reason code 0x92 without properties",
    version: 5,
    spec: "§3.7.2.1",
    packet: { type: "pubcomp", packetId: 3, reasonCode: 0x92 },
    bytes: "70 03  00 03  92",
  },
  {
    name: "SUBSCRIBE with subscription identifier and options noLocal/retainAsPublished/retainHandling",
    version: 5,
    spec: "§3.8.3.1",
    packet: {
      type: "subscribe",
      packetId: 10,
      properties: { subscriptionIdentifier: 42, userProperties: [["k", "v"]] },
      subscriptions: [
        { topicFilter: "a/+", qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 0 },
        { topicFilter: "b/#", qos: 2, noLocal: false, retainAsPublished: true, retainHandling: 1 },
        {
          topicFilter: "$share/g/c",
          qos: 0,
          noLocal: false,
          retainAsPublished: false,
          retainHandling: 2,
        },
        { topicFilter: "d", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    },
    // options: 05 = QoS 1 + no local; 1a = QoS 2 + retain as published + retain handling 1;
    // 20 = retain handling 2
    bytes:
      "82 29  00 0a  09 0b 2a 26 00 01 6b 00 01 76" +
      "  00 03 61 2f 2b 05  00 03 62 2f 23 1a  00 0a 24 73 68 61 72 65 2f 67 2f 63 20  00 01 64 00",
  },
  {
    name: "SUBSCRIBE one filter, no properties",
    version: 5,
    spec: "MQTT-3.8.1-1",
    packet: {
      type: "subscribe",
      packetId: 1,
      subscriptions: [
        { topicFilter: "a", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    },
    bytes: "82 07  00 01  00  00 01 61 00",
  },
  {
    name: "SUBACK granted QoS and failures 0x87/0x8f",
    version: 5,
    spec: "§3.9.3",
    packet: { type: "suback", packetId: 10, reasonCodes: [0, 1, 2, 0x87, 0x8f] },
    bytes: "90 08  00 0a  00  00 01 02 87 8f",
  },
  {
    name: "SUBACK with reason string, failures 0x9e/0xa1/0xa2",
    version: 5,
    spec: "§3.9.2.1",
    packet: {
      type: "suback",
      packetId: 11,
      reasonCodes: [0, 0x9e, 0xa1, 0xa2],
      properties: { reasonString: "x" },
    },
    bytes: "90 0b  00 0b  04 1f 00 01 78  00 9e a1 a2",
  },
  {
    name: "UNSUBSCRIBE with user property",
    version: 5,
    spec: "MQTT-3.10.1-1",
    packet: {
      type: "unsubscribe",
      packetId: 3,
      topicFilters: ["a/+", "b"],
      properties: { userProperties: [["k", "v"]] },
    },
    bytes: "a2 12  00 03  07 26 00 01 6b 00 01 76  00 03 61 2f 2b  00 01 62",
  },
  {
    name: "UNSUBSCRIBE one filter, no properties",
    version: 5,
    spec: "§3.10",
    packet: { type: "unsubscribe", packetId: 3, topicFilters: ["b"] },
    bytes: "a2 06  00 03  00  00 01 62",
  },
  {
    name: "UNSUBACK success and 0x11",
    version: 5,
    spec: "§3.11.3",
    packet: { type: "unsuback", packetId: 3, reasonCodes: [0, 0x11] },
    bytes: "b0 05  00 03  00  00 11",
  },
  {
    name: "UNSUBACK with reason string, 0x87/0x8f",
    version: 5,
    spec: "§3.11.2.1",
    packet: {
      type: "unsuback",
      packetId: 3,
      reasonCodes: [0x87, 0x8f],
      properties: { reasonString: "x" },
    },
    bytes: "b0 09  00 03  04 1f 00 01 78  87 8f",
  },
  {
    name: "PINGREQ",
    version: 5,
    spec: "§3.12",
    packet: { type: "pingreq" },
    bytes: "c0 00",
  },
  {
    name: "PINGRESP",
    version: 5,
    spec: "§3.13",
    packet: { type: "pingresp" },
    bytes: "d0 00",
  },
  {
    name: "DISCONNECT normal, short form (Remaining Length 0)",
    version: 5,
    spec: "§3.14.2.1",
    packet: { type: "disconnect", reasonCode: 0 },
    bytes: "e0 00",
  },
  {
    name: "DISCONNECT reason code 0x04 only",
    version: 5,
    spec: "§3.14.2.1",
    packet: { type: "disconnect", reasonCode: 0x04 },
    bytes: "e0 01  04",
  },
  {
    name: "DISCONNECT 0x9c with server reference and reason string",
    version: 5,
    spec: "§3.14.2.2",
    packet: {
      type: "disconnect",
      reasonCode: 0x9c,
      properties: { serverReference: "h:1", reasonString: "bye" },
    },
    bytes: "e0 0e  9c  0c 1c 00 03 68 3a 31 1f 00 03 62 79 65",
  },
  {
    name: "DISCONNECT normal with session expiry interval",
    version: 5,
    spec: "§3.14.2.2.2",
    packet: { type: "disconnect", reasonCode: 0, properties: { sessionExpiryInterval: 0 } },
    bytes: "e0 07  00  05 11 00 00 00 00",
  },
  {
    name: "AUTH success, short form (Remaining Length 0)",
    version: 5,
    spec: "§3.15.2.1",
    packet: { type: "auth", reasonCode: 0 },
    bytes: "f0 00",
  },
  {
    name: "AUTH continue (0x18) with method and data",
    version: 5,
    spec: "§3.15.2.2",
    packet: {
      type: "auth",
      reasonCode: 0x18,
      properties: {
        authenticationMethod: "SCRAM-SHA-1",
        authenticationData: new Uint8Array([0xde, 0xad]),
      },
    },
    bytes: "f0 15  18  13 15 00 0b 53 43 52 41 4d 2d 53 48 41 2d 31 16 00 02 de ad",
  },
  {
    name: "AUTH re-authenticate (0x19) with method",
    version: 5,
    spec: "§3.15.2.1",
    packet: { type: "auth", reasonCode: 0x19, properties: { authenticationMethod: "m" } },
    bytes: "f0 06  19  04 15 00 01 6d",
  },
  {
    name: "AUTH continue (0x18) with Property Length 0",
    version: 5,
    spec: "§3.15.2.2.1",
    packet: { type: "auth", reasonCode: 0x18 },
    bytes: "f0 02  18  00",
  },
];

/** Every fixture: MQTT 3.1, then 3.1.1, then 5.0. */
export const fixtures: readonly Fixture[] = [...v3, ...v4, ...v5];
