/**
 * Differential tests of the wire codec against mqtt-packet (the codec of
 * MQTT.js and Aedes), which nobody here wrote.
 *
 * Property-based both ways, at protocol levels 4 and 5 (and 3 for CONNECT):
 * what we encode, mqtt-packet parses to the same packet; what mqtt-packet
 * generates, we decode to the same packet; and both encoders write the same
 * bytes wherever the spec leaves the sender no choice.
 *
 * Where the two disagree because mqtt-packet is wrong, the generators are
 * restricted (see {@link mqttPacketCannotCarry}) and an explicit test below
 * documents the disagreement with the spec section, asserting what each
 * codec does today so that a change on either side is noticed.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import mqttPacket from "mqtt-packet";
import type { ProtocolVersion, QoS } from "../../src/protocol/constants.js";
import { Decoder } from "../../src/protocol/decoder.js";
import { encode } from "../../src/protocol/encoder.js";
import { ProtocolError } from "../../src/protocol/errors.js";
import type {
  AckPacket,
  AuthPacket,
  ConnackPacket,
  DisconnectPacket,
  Packet,
  PacketName,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  Will,
} from "../../src/protocol/packet.js";
import { protocolName } from "../../src/protocol/packets/connect.js";
import type { Properties } from "../../src/protocol/properties.js";
import { arbPacket, arbPacketOfType, type PacketArbitraryOptions } from "./arbitraries.js";

// ---------------------------------------------------------------------------
// mqtt-packet's model

/** User properties as mqtt-packet keeps them: one key per name, repeated names as arrays. */
type MpUserProperties = Record<string, string | string[]>;
/** mqtt-packet's properties: our names, except as mapped in {@link toMpProperties}. */
type MpProperties = Record<string, unknown>;

interface MpWill {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: MpProperties;
}

interface MpSubscription {
  topic: string;
  qos: QoS;
  nl?: boolean;
  rap?: boolean;
  rh?: number;
}

/** One mqtt-packet packet object; which fields are set depends on `cmd` and the version. */
interface MpPacket {
  cmd: PacketName;
  messageId?: number;
  qos?: QoS;
  dup?: boolean;
  retain?: boolean;
  topic?: string | null;
  payload?: Buffer | null;
  protocolId?: string;
  protocolVersion?: number;
  clean?: boolean;
  keepalive?: number;
  clientId?: string;
  will?: MpWill;
  username?: string;
  password?: Buffer;
  sessionPresent?: boolean;
  returnCode?: number;
  reasonCode?: number;
  granted?: number[];
  subscriptions?: MpSubscription[];
  unsubscriptions?: string[];
  properties?: MpProperties;
}

/** The property context of our model that decides how `subscriptionIdentifier` maps. */
type IdForm = "publish" | "subscribe" | "other";

function toMpUserProperties(pairs: ReadonlyArray<readonly [string, string]>): MpUserProperties {
  // A null prototype, as mqtt-packet's parser uses, so a name like "__proto__" is a plain key.
  const out: MpUserProperties = Object.create(null);
  for (const [name, value] of pairs) {
    const had = Object.hasOwn(out, name) ? out[name] : undefined;
    if (had === undefined) out[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else out[name] = [had, value];
  }
  return out;
}

function fromMpUserProperties(obj: MpUserProperties): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const name of Object.keys(obj)) {
    const v = obj[name];
    for (const value of Array.isArray(v) ? v : [v]) out.push([name, value]);
  }
  return out;
}

function toMpProperties(props: Properties): MpProperties {
  const out: MpProperties = {};
  for (const [name, value] of Object.entries(props)) {
    switch (name) {
      case "payloadFormatIndicator":
        out[name] = value === 1; // mqtt-packet: a boolean
        break;
      case "subscriptionIdentifiers": {
        const ids = value as number[];
        out.subscriptionIdentifier = ids.length === 1 ? ids[0] : [...ids];
        break;
      }
      case "subscriptionIdentifierAvailable":
        out.subscriptionIdentifiersAvailable = value; // mqtt-packet's spelling
        break;
      case "userProperties":
        out[name] = toMpUserProperties(value as Array<[string, string]>);
        break;
      case "correlationData":
      case "authenticationData":
        out[name] = Buffer.from(value as Uint8Array);
        break;
      default:
        out[name] = value;
    }
  }
  return out;
}

function fromMpProperties(mp: MpProperties, form: IdForm): Properties {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(mp)) {
    switch (name) {
      case "payloadFormatIndicator":
        out[name] = value === true ? 1 : value === false ? 0 : value;
        break;
      case "subscriptionIdentifier":
        if (form === "publish") out.subscriptionIdentifiers = [value].flat();
        else out[name] = value;
        break;
      case "subscriptionIdentifiersAvailable":
        out.subscriptionIdentifierAvailable = value;
        break;
      case "userProperties":
        out[name] = fromMpUserProperties(value as MpUserProperties);
        break;
      default:
        out[name] = Buffer.isBuffer(value) ? bytes(value) : value;
    }
  }
  return out as Properties;
}

/** A Buffer's bytes as a plain Uint8Array, which deep-equals our decoded fields. */
function bytes(buf: Buffer): Uint8Array {
  return new Uint8Array(buf);
}

function setProps(target: { properties?: MpProperties }, props: Properties | undefined): void {
  if (props !== undefined) target.properties = toMpProperties(props);
}

/** Our packet as mqtt-packet's packet object, for a connection at `version`. */
function toMqttPacket(p: Packet, version: ProtocolVersion): MpPacket {
  const v5 = version === 5;
  switch (p.type) {
    case "connect": {
      const o: MpPacket = {
        cmd: "connect",
        protocolId: protocolName(p.protocolVersion),
        protocolVersion: p.protocolVersion,
        clean: p.clean,
        keepalive: p.keepalive,
        clientId: p.clientId,
      };
      if (p.will !== undefined) {
        const w = p.will;
        o.will = { topic: w.topic, payload: Buffer.from(w.payload), qos: w.qos, retain: w.retain };
        setProps(o.will, w.properties);
      }
      if (p.username !== undefined) o.username = p.username;
      if (p.password !== undefined) o.password = Buffer.from(p.password);
      setProps(o, p.properties);
      return o;
    }
    case "connack": {
      const o: MpPacket = { cmd: "connack", sessionPresent: p.sessionPresent };
      if (v5) o.reasonCode = p.reasonCode;
      else o.returnCode = p.reasonCode;
      setProps(o, p.properties);
      return o;
    }
    case "publish": {
      const o: MpPacket = {
        cmd: "publish",
        topic: p.topic,
        payload: Buffer.from(p.payload),
        qos: p.qos,
        dup: p.dup,
        retain: p.retain,
      };
      if (p.packetId !== undefined) o.messageId = p.packetId;
      setProps(o, p.properties);
      return o;
    }
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp": {
      const o: MpPacket = { cmd: p.type, messageId: p.packetId };
      if (p.reasonCode !== undefined) o.reasonCode = p.reasonCode;
      setProps(o, p.properties);
      return o;
    }
    case "subscribe": {
      const o: MpPacket = {
        cmd: "subscribe",
        messageId: p.packetId,
        subscriptions: p.subscriptions.map((s) =>
          v5
            ? {
                topic: s.topicFilter,
                qos: s.qos,
                nl: s.noLocal ?? false,
                rap: s.retainAsPublished ?? false,
                rh: s.retainHandling ?? 0,
              }
            : { topic: s.topicFilter, qos: s.qos },
        ),
      };
      setProps(o, p.properties);
      return o;
    }
    case "suback": {
      const o: MpPacket = { cmd: "suback", messageId: p.packetId, granted: [...p.reasonCodes] };
      setProps(o, p.properties);
      return o;
    }
    case "unsubscribe": {
      const o: MpPacket = {
        cmd: "unsubscribe",
        messageId: p.packetId,
        unsubscriptions: [...p.topicFilters],
      };
      setProps(o, p.properties);
      return o;
    }
    case "unsuback": {
      const o: MpPacket = { cmd: "unsuback", messageId: p.packetId };
      if (p.reasonCodes !== undefined) o.granted = [...p.reasonCodes];
      setProps(o, p.properties);
      return o;
    }
    case "pingreq":
    case "pingresp":
      return { cmd: p.type };
    case "disconnect":
    case "auth": {
      const o: MpPacket = { cmd: p.type };
      if (p.reasonCode !== undefined) o.reasonCode = p.reasonCode;
      setProps(o, p.properties);
      return o;
    }
  }
}

function need<T>(value: T | null | undefined, what: string): T {
  assert.ok(value !== undefined && value !== null, `mqtt-packet gave no ${what}`);
  return value;
}

/** Adds `properties` mapped back from mqtt-packet's model, when it has any. */
function withMpProps<T extends { properties?: Properties }>(
  target: T,
  mp: MpPacket | MpWill,
  form: IdForm,
): T {
  if (mp.properties !== undefined) target.properties = fromMpProperties(mp.properties, form);
  return target;
}

/** mqtt-packet's parsed packet in our model, as our decoder shapes it at `version`. */
function fromMqttPacket(mp: MpPacket, version: ProtocolVersion): Packet {
  const v5 = version === 5;
  const packetId = () => need(mp.messageId, "messageId");
  switch (mp.cmd) {
    case "connect": {
      const level = need(mp.protocolVersion, "protocolVersion") as ProtocolVersion;
      assert.equal(mp.protocolId, protocolName(level), "protocol name matches the level");
      const p: Packet = {
        type: "connect",
        protocolVersion: level,
        clean: need(mp.clean, "clean"),
        keepalive: need(mp.keepalive, "keepalive"),
        clientId: need(mp.clientId, "clientId"),
      };
      if (mp.will !== undefined) {
        const w = mp.will;
        p.will = withMpProps<Will>(
          { topic: w.topic, payload: bytes(w.payload), qos: w.qos, retain: w.retain },
          w,
          "other",
        );
      }
      if (mp.username !== undefined) p.username = mp.username;
      if (mp.password !== undefined) p.password = bytes(mp.password);
      return withMpProps(p, mp, "other");
    }
    case "connack":
      return withMpProps<ConnackPacket>(
        {
          type: "connack",
          sessionPresent: need(mp.sessionPresent, "sessionPresent"),
          reasonCode: need(v5 ? mp.reasonCode : mp.returnCode, "reason code"),
        },
        mp,
        "other",
      );
    case "publish": {
      const qos = need(mp.qos, "qos");
      const p: Packet = {
        type: "publish",
        topic: need(mp.topic, "topic"),
        payload: bytes(need(mp.payload, "payload")),
        qos,
        retain: need(mp.retain, "retain"),
        dup: need(mp.dup, "dup"),
      };
      if (qos > 0) p.packetId = packetId();
      return withMpProps(p, mp, "publish");
    }
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return v5
        ? withMpProps<AckPacket<typeof mp.cmd>>(
            { type: mp.cmd, packetId: packetId(), reasonCode: need(mp.reasonCode, "reasonCode") },
            mp,
            "other",
          )
        : { type: mp.cmd, packetId: packetId() };
    case "subscribe":
      return withMpProps<SubscribePacket>(
        {
          type: "subscribe",
          packetId: packetId(),
          subscriptions: need(mp.subscriptions, "subscriptions").map(
            (s): Subscription =>
              v5
                ? {
                    topicFilter: s.topic,
                    qos: s.qos,
                    noLocal: need(s.nl, "nl"),
                    retainAsPublished: need(s.rap, "rap"),
                    retainHandling: need(s.rh, "rh") as 0 | 1 | 2,
                  }
                : { topicFilter: s.topic, qos: s.qos },
          ),
        },
        mp,
        "subscribe",
      );
    case "suback":
      return withMpProps<SubackPacket>(
        { type: "suback", packetId: packetId(), reasonCodes: need(mp.granted, "granted") },
        mp,
        "other",
      );
    case "unsubscribe":
      return withMpProps<UnsubscribePacket>(
        {
          type: "unsubscribe",
          packetId: packetId(),
          topicFilters: need(mp.unsubscriptions, "unsubscriptions"),
        },
        mp,
        "other",
      );
    case "unsuback":
      return v5
        ? withMpProps<UnsubackPacket>(
            { type: "unsuback", packetId: packetId(), reasonCodes: need(mp.granted, "granted") },
            mp,
            "other",
          )
        : { type: "unsuback", packetId: packetId() };
    case "pingreq":
    case "pingresp":
      return { type: mp.cmd };
    case "disconnect":
      return v5
        ? withMpProps<DisconnectPacket>(
            { type: "disconnect", reasonCode: need(mp.reasonCode, "reasonCode") },
            mp,
            "other",
          )
        : { type: "disconnect" };
    case "auth":
      return withMpProps<AuthPacket>(
        { type: "auth", reasonCode: need(mp.reasonCode, "reasonCode") },
        mp,
        "other",
      );
  }
}

// ---------------------------------------------------------------------------
// Running mqtt-packet

interface MpParse {
  packets: MpPacket[];
  errors: string[];
}

/** Parses `data` with a fresh mqtt-packet parser for a connection at `version`. */
function mpParse(data: Uint8Array, version: ProtocolVersion): MpParse {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const out: MpParse = { packets: [], errors: [] };
  parser.on("packet", (p) => out.packets.push(p as unknown as MpPacket));
  parser.on("error", (e: Error) => out.errors.push(e.message));
  parser.parse(Buffer.from(data));
  return out;
}

/** mqtt-packet's encoding of `p` (it throws on what it refuses to generate). */
function mpGenerate(p: MpPacket, version: ProtocolVersion): Uint8Array {
  const buf = mqttPacket.generate(p as unknown as mqttPacket.Packet, { protocolVersion: version });
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

function decode(data: Uint8Array, version: ProtocolVersion): Packet[] {
  return new Decoder({ version }).decodeAll(data);
}

// ---------------------------------------------------------------------------
// Restrictions: valid packets mqtt-packet gets wrong (each has an explicit test below)

/** Packets mqtt-packet cannot carry correctly, though the spec allows them. */
function mqttPacketCannotCarry(p: Packet): boolean {
  switch (p.type) {
    case "auth":
      // §3.15.2.1: an AUTH with Remaining Length 0 — mqtt-packet's parser refuses it.
      return p.reasonCode === 0 && p.properties === undefined;
    case "connect":
      return (
        p.protocolVersion === 5 &&
        // 5.0 §3.1.2.9: a password without a user name — mqtt-packet's generator refuses it.
        ((p.password !== undefined && p.username === undefined) ||
          // 5.0 §3.1.3.1: a zero-length Client Identifier with Clean Start 0 — ditto.
          (p.clientId === "" && !p.clean))
      );
    default:
      return false;
  }
}

/**
 * User properties are generated with distinct, non-index names, because
 * mqtt-packet's object model loses order and duplicates (tests below).
 */
const restricted: PacketArbitraryOptions = { distinctUserPropertyNames: true };

function arbDifferential(version: ProtocolVersion): fc.Arbitrary<Packet> {
  const arb =
    version === 3 ? arbPacketOfType("connect", 3, restricted) : arbPacket(version, restricted);
  return arb.filter((p) => !mqttPacketCannotCarry(p));
}

/**
 * Whether our encoder uses a shorter form than mqtt-packet's for `p`: the
 * spec lets an MQTT 5 sender leave out a Success reason code and an empty
 * property block of acks, DISCONNECT and AUTH (§3.4.2.1, §3.14.2.1,
 * §3.15.2.1); mqtt-packet always writes the reason code of DISCONNECT and
 * AUTH and the Property Length after a non-zero ack reason code.
 */
function encodingsMayDiffer(p: Packet, version: ProtocolVersion): boolean {
  if (version !== 5) return false;
  switch (p.type) {
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return p.reasonCode !== 0 && p.properties === undefined;
    case "disconnect":
    case "auth":
      return p.properties === undefined;
    default:
      return false;
  }
}

/** Short v5 DISCONNECTs only at the end of a stream (mqtt-packet reads past them otherwise; tested below). */
function lastIfShortDisconnect(packets: Packet[], version: ProtocolVersion): Packet[] {
  const short = (p: Packet) =>
    version === 5 && p.type === "disconnect" && p.properties === undefined;
  return packets.filter((p, i) => i === packets.length - 1 || !short(p));
}

const NUM_RUNS = 1000;

const levels: { version: ProtocolVersion; what: string }[] = [
  { version: 3, what: "MQTT 3.1 CONNECT" },
  { version: 4, what: "MQTT 3.1.1" },
  { version: 5, what: "MQTT 5.0" },
];

for (const { version, what } of levels) {
  describe(`differential against mqtt-packet, ${what} (protocol level ${version})`, () => {
    it("what we encode, mqtt-packet parses to the same packet", () => {
      fc.assert(
        fc.property(arbDifferential(version), (p) => {
          const parsed = mpParse(encode(p, version), version);
          assert.deepStrictEqual(parsed.errors, []);
          assert.equal(parsed.packets.length, 1);
          assert.deepStrictEqual(fromMqttPacket(parsed.packets[0], version), p);
        }),
        { numRuns: NUM_RUNS },
      );
    });

    it("what mqtt-packet generates, we decode to the same packet", () => {
      fc.assert(
        fc.property(arbDifferential(version), (p) => {
          assert.deepStrictEqual(decode(mpGenerate(toMqttPacket(p, version), version), version), [
            p,
          ]);
        }),
        { numRuns: NUM_RUNS },
      );
    });

    it("both encoders write the same bytes, except where the spec offers a shorter form", () => {
      fc.assert(
        fc.property(
          arbDifferential(version).filter((p) => !encodingsMayDiffer(p, version)),
          (p) => {
            assert.deepStrictEqual(
              encode(p, version),
              mpGenerate(toMqttPacket(p, version), version),
            );
          },
        ),
        { numRuns: NUM_RUNS },
      );
    });

    it("a stream we encode, split at random points, mqtt-packet parses to the same packets", () => {
      fc.assert(
        fc.property(
          fc.array(arbDifferential(version), { minLength: 1, maxLength: 5 }),
          fc.array(fc.nat(), { maxLength: 8 }),
          (generated, cuts) => {
            const packets = lastIfShortDisconnect(generated, version);
            const stream = Buffer.concat(packets.map((p) => encode(p, version)));
            const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort(
              (a, b) => a - b,
            );
            const parser = mqttPacket.parser({ protocolVersion: version });
            const parsed: MpParse = { packets: [], errors: [] };
            parser.on("packet", (p) => parsed.packets.push(p as unknown as MpPacket));
            parser.on("error", (e: Error) => parsed.errors.push(e.message));
            let from = 0;
            for (const at of [...points, stream.length]) {
              parser.parse(stream.subarray(from, at));
              from = at;
            }
            assert.deepStrictEqual(parsed.errors, []);
            assert.deepStrictEqual(
              parsed.packets.map((mp) => fromMqttPacket(mp, version)),
              packets,
            );
          },
        ),
        { numRuns: NUM_RUNS / 4 },
      );
    });
  });
}

// ---------------------------------------------------------------------------
// Documented disagreements: mqtt-packet is wrong in each. Every test asserts
// what mqtt-packet does today and what we do, so a fix on either side shows.

const textEncoder = new TextEncoder();

/** A 2-byte length and the bytes: a UTF-8 string (§1.5.4) or raw bytes as Binary Data (§1.5.6). */
function field(s: string | readonly number[]): number[] {
  const b = typeof s === "string" ? [...textEncoder.encode(s)] : [...s];
  return [b.length >> 8, b.length & 0xff, ...b];
}

/** A whole packet: first byte, Remaining Length, body. */
function wire(firstByte: number, ...body: (readonly number[])[]): Uint8Array {
  const b = body.flat();
  const length: number[] = [];
  let n = b.length;
  do {
    length.push((n % 128) | (n >= 128 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return Uint8Array.from([firstByte, ...length, ...b]);
}

/** mqtt-packet's user properties as a plain object, comparable with deepStrictEqual. */
function mpUserProperties(parsed: MpParse): Record<string, string | string[]> {
  assert.deepStrictEqual(parsed.errors, []);
  const up = parsed.packets[0]?.properties?.userProperties as MpUserProperties | undefined;
  return { ...need(up, "userProperties") };
}

describe("where mqtt-packet is wrong: valid packets it loses or refuses", () => {
  const publishWith = (userProperties: Array<[string, string]>): Packet => ({
    type: "publish",
    topic: "t",
    payload: new Uint8Array([1]),
    qos: 0,
    retain: false,
    dup: false,
    properties: { userProperties },
  });

  // 5.0 §3.3.2.3.7: "The User Property is allowed to appear multiple times to represent multiple
  // name, value pairs. The same name is allowed to appear more than once." [MQTT-3.3.2-17]/[MQTT-3.3.2-18]:
  // the Server MUST send them unaltered and MUST maintain their order when forwarding.
  // mqtt-packet keeps user properties in an object keyed by name, so a relayed packet
  // (parse, then generate) comes out regrouped by name.
  it("[MQTT-3.3.2-18] user properties keep their order across repeated names; mqtt-packet regroups them", () => {
    const pairs: Array<[string, string]> = [
      ["a", "1"],
      ["b", "2"],
      ["a", "3"],
    ];
    const bytes = encode(publishWith(pairs), 5);
    // Ours: the order and every pair survive decode, and re-encoding gives the same bytes.
    const [ours] = decode(bytes, 5);
    assert.deepStrictEqual(ours.type === "publish" && ours.properties?.userProperties, pairs);
    assert.deepStrictEqual(encode(ours, 5), bytes);
    // mqtt-packet: grouped by name; relaying it reorders the pairs.
    const parsed = mpParse(bytes, 5);
    assert.deepStrictEqual(mpUserProperties(parsed), { a: ["1", "3"], b: "2" });
    const relayed = decode(mpGenerate(parsed.packets[0], 5), 5)[0];
    assert.deepStrictEqual(relayed.type === "publish" && relayed.properties?.userProperties, [
      ["a", "1"],
      ["a", "3"],
      ["b", "2"],
    ]);
  });

  // Same section: mqtt-packet tests `if (result[name])`, so a first value "" (falsy) is
  // overwritten by the next pair of that name instead of being kept.
  it("[MQTT-3.3.2-17] a repeated name whose first value is empty keeps both pairs; mqtt-packet drops one", () => {
    const pairs: Array<[string, string]> = [
      ["a", ""],
      ["a", "x"],
    ];
    const bytes = encode(publishWith(pairs), 5);
    const [ours] = decode(bytes, 5);
    assert.deepStrictEqual(ours.type === "publish" && ours.properties?.userProperties, pairs);
    assert.deepStrictEqual(mpUserProperties(mpParse(bytes, 5)), { a: "x" });
  });

  // Same section: JavaScript objects list array-index keys ("7") first, in numeric order,
  // so mqtt-packet moves such names ahead of the pairs sent before them.
  it("[MQTT-3.3.2-18] a user property named like an array index keeps its place; mqtt-packet moves it first", () => {
    const pairs: Array<[string, string]> = [
      ["z", "1"],
      ["7", "2"],
    ];
    const bytes = encode(publishWith(pairs), 5);
    const [ours] = decode(bytes, 5);
    assert.deepStrictEqual(ours.type === "publish" && ours.properties?.userProperties, pairs);
    assert.deepStrictEqual(Object.keys(mpUserProperties(mpParse(bytes, 5))), ["7", "z"]);
  });

  // 5.0 §3.15.2.1: "The Reason Code and Property Length can be omitted if the Reason Code is
  // 0x00 (Success) and there are no Properties. In this case the AUTH has a Remaining Length
  // of 0." mqtt-packet always reads a reason code byte, finds none, and reports an error.
  it("§3.15.2.1 an AUTH with Remaining Length 0 is Success; mqtt-packet refuses it", () => {
    const bytes = Uint8Array.from([0xf0, 0x00]);
    assert.deepStrictEqual(decode(bytes, 5), [{ type: "auth", reasonCode: 0 }]);
    assert.deepStrictEqual(encode({ type: "auth", reasonCode: 0 }, 5), bytes);
    assert.deepStrictEqual(mpParse(bytes, 5), {
      packets: [],
      errors: ["Invalid auth reason code"],
    });
  });

  // 5.0 §3.14.2.1 (Remaining Length 0: Normal disconnection, no properties) and §3.14.2.2.1
  // ("If the Remaining Length is less than 2, a value of 0 is used" for the Property Length).
  // mqtt-packet decides whether the reason code and properties are there from the bytes it
  // holds rather than the Remaining Length, so it reads into the packet that follows.
  it("§3.14.2.1 a short DISCONNECT followed by another packet; mqtt-packet reads past its Remaining Length", () => {
    const pingreq = [0xc0, 0x00];
    const bare = Uint8Array.from([0xe0, 0x00, ...pingreq]);
    const reasonOnly = Uint8Array.from([0xe0, 0x01, 0x04, ...pingreq]);
    assert.deepStrictEqual(decode(bare, 5), [
      { type: "disconnect", reasonCode: 0 },
      { type: "pingreq" },
    ]);
    assert.deepStrictEqual(decode(reasonOnly, 5), [
      { type: "disconnect", reasonCode: 0x04 },
      { type: "pingreq" },
    ]);
    assert.deepStrictEqual(mpParse(bare, 5), {
      packets: [],
      errors: ["Invalid disconnect reason code"],
    });
    assert.deepStrictEqual(mpParse(reasonOnly, 5), {
      packets: [],
      errors: ["Cannot parse property code type"],
    });
  });

  // 5.0 §3.1.2.9, non-normative comment: "This version of the protocol allows the sending of a
  // Password with no User Name, where MQTT v3.1.1 did not." mqtt-packet's generator still
  // applies the 3.1.1 rule [MQTT-3.1.2-22] to MQTT 5 (its parser accepts the packet).
  it("5.0 §3.1.2.9 an MQTT 5 password without a user name; mqtt-packet will not generate it", () => {
    const p: Packet = {
      type: "connect",
      protocolVersion: 5,
      clean: true,
      keepalive: 60,
      clientId: "c",
      password: new Uint8Array([0x70, 0x77]),
    };
    const bytes = encode(p, 5);
    assert.deepStrictEqual(decode(bytes, 5), [p]);
    assert.throws(() => mpGenerate(toMqttPacket(p, 5), 5), {
      message: "Username is required to use password",
    });
    const parsed = mpParse(bytes, 5);
    assert.deepStrictEqual(parsed.errors, []);
    assert.deepStrictEqual(fromMqttPacket(parsed.packets[0], 5), p);
  });

  // 5.0 §3.1.3.1: a Server MAY accept a zero-length ClientID and then assigns one
  // [MQTT-3.1.3-6]; unlike 3.1.1 [MQTT-3.1.3-7], MQTT 5 does not require Clean Start 1 with it
  // (a client may resume the assigned session later). mqtt-packet's generator requires it.
  it("5.0 §3.1.3.1 an empty Client Identifier with Clean Start 0; mqtt-packet will not generate it", () => {
    const p: Packet = {
      type: "connect",
      protocolVersion: 5,
      clean: false,
      keepalive: 0,
      clientId: "",
    };
    const bytes = encode(p, 5);
    assert.deepStrictEqual(decode(bytes, 5), [p]);
    assert.throws(() => mpGenerate(toMqttPacket(p, 5), 5), {
      message: "clientId must be given if cleanSession set to 0",
    });
    const parsed = mpParse(bytes, 5);
    assert.deepStrictEqual(parsed.errors, []);
    assert.deepStrictEqual(fromMqttPacket(parsed.packets[0], 5), p);
  });
});

interface Forbidden {
  /** Test name, starting with the spec statement or section the bytes break. */
  name: string;
  version: ProtocolVersion;
  bytes: Uint8Array;
  /** Fields of mqtt-packet's parsed packet (it raises no error). */
  mqttPacket: Partial<MpPacket>;
  /** Our decoder's ProtocolError; its reason code is the code's usual one (0x81, 0x82, 0x90) unless given. */
  ours: { code: string; reasonCode?: number; statement: string };
}

const usualReasonCode: Record<string, number> = {
  MALFORMED_PACKET: 0x81,
  PROTOCOL_ERROR: 0x82,
  TOPIC_NAME_INVALID: 0x90,
};

const connect5 = (props: number[]) =>
  wire(0x10, field("MQTT"), [5, 0x02, 0, 0], [props.length, ...props], field("c"));

/** Packets the spec forbids that mqtt-packet's parser accepts; our decoder rejects each one. */
const forbidden: Forbidden[] = [
  {
    name: "[MQTT-3.1.2-22] 3.1.1 CONNECT with a password but no user name",
    version: 4,
    bytes: wire(0x10, field("MQTT"), [4, 0x42, 0, 60], field("c"), field("pw")),
    mqttPacket: { cmd: "connect", username: undefined, password: Buffer.from("pw") },
    ours: { code: "MALFORMED_PACKET", statement: "MQTT-3.1.2-22" },
  },
  {
    name: "[MQTT-3.1.2-14] 3.1.1 CONNECT with Will QoS 3",
    version: 4,
    bytes: wire(0x10, field("MQTT"), [4, 0x1e, 0, 60], field("c"), field("w"), field("x")),
    mqttPacket: {
      cmd: "connect",
      will: { qos: 3 as QoS, retain: false, topic: "w", payload: Buffer.from("x") },
    },
    ours: { code: "MALFORMED_PACKET", statement: "MQTT-3.1.2-14" },
  },
  {
    name: "[MQTT-3.3.1-2] QoS 0 PUBLISH with DUP set",
    version: 4,
    bytes: wire(0x38, field("a/b"), [0x78]),
    mqttPacket: { cmd: "publish", qos: 0, dup: true, topic: "a/b" },
    ours: { code: "MALFORMED_PACKET", statement: "MQTT-3.3.1-2" },
  },
  {
    name: "[MQTT-3.3.2-2] PUBLISH to a Topic Name with a wildcard",
    version: 4,
    bytes: wire(0x30, field("a/+"), [0x78]),
    mqttPacket: { cmd: "publish", topic: "a/+" },
    ours: { code: "TOPIC_NAME_INVALID", statement: "MQTT-3.3.2-2" },
  },
  {
    name: "[MQTT-4.7.3-1] 3.1.1 PUBLISH with an empty Topic Name",
    version: 4,
    bytes: wire(0x30, field(""), [0x78]),
    mqttPacket: { cmd: "publish", topic: "" },
    ours: { code: "MALFORMED_PACKET", statement: "MQTT-4.7.3-1" },
  },
  {
    name: "[MQTT-1.5.3-2] 3.1.1 Topic Name containing U+0000",
    version: 4,
    bytes: wire(0x30, field([0x61, 0x00, 0x62]), [0x78]),
    mqttPacket: { cmd: "publish", topic: "a\u0000b" },
    ours: { code: "MALFORMED_PACKET", statement: "MQTT-1.5.3-2" },
  },
  {
    name: "[MQTT-1.5.3-1] 3.1.1 Topic Name that is not well-formed UTF-8",
    version: 4,
    bytes: wire(0x30, field([0x61, 0xc3, 0x28]), [0x78]),
    mqttPacket: { cmd: "publish", topic: "a\ufffd(" },
    ours: { code: "MALFORMED_PACKET", statement: "MQTT-1.5.3-1" },
  },
  {
    name: "[MQTT-2.3.1-1] 3.1.1 SUBSCRIBE with Packet Identifier 0",
    version: 4,
    bytes: wire(0x82, [0, 0], field("a"), [0]),
    mqttPacket: { cmd: "subscribe", messageId: 0, subscriptions: [{ topic: "a", qos: 0 }] },
    ours: { code: "MALFORMED_PACKET", statement: "MQTT-2.3.1-1" },
  },
  {
    name: "[MQTT-3.8.3-3] 3.1.1 SUBSCRIBE with no Topic Filter",
    version: 4,
    bytes: wire(0x82, [0, 1]),
    mqttPacket: { cmd: "subscribe", messageId: 1, subscriptions: [] },
    ours: { code: "PROTOCOL_ERROR", statement: "MQTT-3.8.3-3" },
  },
  {
    name: "[MQTT-3.10.3-2] 3.1.1 UNSUBSCRIBE with no Topic Filter",
    version: 4,
    bytes: wire(0xa2, [0, 1]),
    mqttPacket: { cmd: "unsubscribe", messageId: 1, unsubscriptions: [] },
    ours: { code: "PROTOCOL_ERROR", statement: "MQTT-3.10.3-2" },
  },
  {
    name: "[MQTT-3.2.2-4] 3.1.1 CONNACK with Session Present and a refusal",
    version: 4,
    bytes: wire(0x20, [0x01, 0x05]),
    mqttPacket: { cmd: "connack", sessionPresent: true, returnCode: 5 },
    ours: { code: "PROTOCOL_ERROR", statement: "MQTT-3.2.2-4" },
  },
  {
    name: "[MQTT-1.5.5-1] Remaining Length in more bytes than needed",
    version: 5,
    bytes: Uint8Array.from([0xc0, 0x80, 0x00]),
    mqttPacket: { cmd: "pingreq" },
    ours: { code: "MALFORMED_PACKET", statement: "MQTT-1.5.5-1" },
  },
  {
    name: "§2.2.2.2 PUBACK carrying Topic Alias, a property not valid for its packet type",
    version: 5,
    bytes: wire(0x40, [0, 1, 0x00, 3, 0x23, 0, 1]),
    mqttPacket: { cmd: "puback", properties: { topicAlias: 1 } },
    ours: { code: "MALFORMED_PACKET", statement: "§2.2.2.2" },
  },
  {
    name: "§3.1.2.11.2 CONNECT with Session Expiry Interval twice",
    version: 5,
    bytes: connect5([0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2]),
    mqttPacket: { cmd: "connect", properties: { sessionExpiryInterval: [1, 2] } },
    ours: { code: "PROTOCOL_ERROR", statement: "§3.1.2.11.2" },
  },
  {
    name: "§3.1.2.11.7 CONNECT with Request Problem Information 2",
    version: 5,
    bytes: connect5([0x17, 2]),
    mqttPacket: { cmd: "connect", properties: { requestProblemInformation: true } },
    ours: { code: "PROTOCOL_ERROR", statement: "§3.1.2.11.7" },
  },
  {
    name: "[MQTT-3.2.2-8] CONNACK with reason code 0x04, which is not in its table (3-1)",
    version: 5,
    bytes: wire(0x20, [0x00, 0x04, 0]),
    mqttPacket: { cmd: "connack", reasonCode: 0x04 },
    ours: { code: "MALFORMED_PACKET", statement: "MQTT-3.2.2-8" },
  },
  {
    name: "[MQTT-3.3.2-8] PUBLISH with Topic Alias 0",
    version: 5,
    bytes: wire(0x30, field("a"), [3, 0x23, 0, 0]),
    mqttPacket: { cmd: "publish", properties: { topicAlias: 0 } },
    ours: { code: "PROTOCOL_ERROR", reasonCode: 0x94, statement: "MQTT-3.3.2-8" },
  },
  {
    name: "§3.3.2.3.8 PUBLISH with Subscription Identifier 0",
    version: 5,
    bytes: wire(0x30, field("a"), [2, 0x0b, 0]),
    mqttPacket: { cmd: "publish", properties: { subscriptionIdentifier: 0 } },
    ours: { code: "PROTOCOL_ERROR", statement: "§3.3.2.3.8" },
  },
  {
    name: "[MQTT-3.3.2-14] PUBLISH with a wildcard in the Response Topic",
    version: 5,
    bytes: wire(0x30, field("a"), [6, 0x08, ...field("r/#")]),
    mqttPacket: { cmd: "publish", properties: { responseTopic: "r/#" } },
    ours: { code: "PROTOCOL_ERROR", statement: "MQTT-3.3.2-14" },
  },
];

describe("where mqtt-packet is wrong: forbidden packets it accepts (our decoder refuses them)", () => {
  for (const c of forbidden) {
    it(c.name, () => {
      const parsed = mpParse(c.bytes, c.version);
      assert.deepStrictEqual(parsed.errors, [], "mqtt-packet raises no error");
      assert.equal(parsed.packets.length, 1);
      const got = parsed.packets[0] as unknown as Record<string, unknown>;
      const picked: Record<string, unknown> = {};
      for (const key of Object.keys(c.mqttPacket)) {
        const v = got[key];
        // mqtt-packet's properties and will are plain objects; compare their fields only.
        picked[key] =
          v !== null && typeof v === "object" && !Buffer.isBuffer(v) && !Array.isArray(v)
            ? { ...v }
            : v;
      }
      assert.deepStrictEqual(picked, c.mqttPacket);
      assert.throws(
        () => decode(c.bytes, c.version),
        (e: unknown) => {
          assert.ok(e instanceof ProtocolError, `expected a ProtocolError, got ${String(e)}`);
          const reasonCode = c.ours.reasonCode ?? usualReasonCode[c.ours.code];
          assert.deepStrictEqual(
            { code: e.code, reasonCode: e.reasonCode, statement: e.statement },
            { ...c.ours, reasonCode },
          );
          return true;
        },
      );
    });
  }
});
