/**
 * fast-check arbitraries for valid MQTT control packets of every type and
 * protocol level, in exactly the shape the `Decoder` produces them, so
 * `decode(encode(p))` can be compared with `p` by deep equality.
 *
 * "Valid" follows the spec, not just the wire format: topics have no
 * wildcards, filters put `+` and `#` only where §4.7.1 allows them, packet
 * ids are 1..65535, reason codes come from each packet's table, properties
 * appear only in the packets Table 2-4 lists, and the cross-field rules hold
 * (Session Present only with reason code 0, a 3.1.x password only with a user
 * name, an empty topic only with a Topic Alias, Payload Format Indicator 1
 * only with a UTF-8 payload, Authentication Data only with a method).
 *
 * Used by codec-property.test.ts and codec-differential.test.ts, and
 * exported for reuse (fuzz tests, the codec benchmark's corpus).
 *
 * @example
 * ```ts
 * fc.assert(fc.property(arbPacket(5), (p) => { ... }));
 * const sample = fc.sample(arbPacketOfType("publish", 4), 1000); // benchmark corpus
 * ```
 */
import fc from "fast-check";
import { MAX_VARINT, type ProtocolVersion, type QoS } from "../../src/protocol/constants.js";
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  PacketName,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  Will,
} from "../../src/protocol/packet.js";
import type { AckType } from "../../src/protocol/packets/ack.js";
import type { Properties } from "../../src/protocol/properties.js";
import { allowedReasonCodes } from "../../src/protocol/reason-codes.js";

/** Knobs for the generators. Every default produces the full range of valid packets. */
export interface PacketArbitraryOptions {
  /**
   * Give the user properties of one block distinct names that are not array
   * indices ("0", "42"), so an object keyed by name (mqtt-packet's model)
   * keeps every pair and their order. Default false: names repeat often.
   */
  distinctUserPropertyNames?: boolean;
  /** Largest PUBLISH payload in bytes. Default 20 000 (past the 3-byte Remaining Length). */
  maxPayloadLength?: number;
}

type Options = Required<PacketArbitraryOptions>;

function withDefaults(o: PacketArbitraryOptions = {}): Options {
  return {
    distinctUserPropertyNames: o.distinctUserPropertyNames ?? false,
    maxPayloadLength: o.maxPayloadLength ?? 20_000,
  };
}

/** The packet types that exist at a protocol level: AUTH only in MQTT 5. */
export function packetTypes(version: ProtocolVersion): PacketName[] {
  const all: PacketName[] = [
    "connect",
    "connack",
    "publish",
    "puback",
    "pubrec",
    "pubrel",
    "pubcomp",
    "subscribe",
    "suback",
    "unsubscribe",
    "unsuback",
    "pingreq",
    "pingresp",
    "disconnect",
  ];
  return version === 5 ? [...all, "auth"] : all;
}

// ---------------------------------------------------------------------------
// Scalars

export const arbQoS: fc.Arbitrary<QoS> = fc.constantFrom(0, 1, 2);
export const arbPacketId: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 1, max: 0xffff }),
  fc.constantFrom(1, 0xff, 0x100, 0xffff),
);
const arbU16 = fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0, 0xffff));
const arbU16NonZero = fc.oneof(fc.integer({ min: 1, max: 0xffff }), fc.constantFrom(1, 0xffff));
const arbU32 = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff),
);
const arbU32NonZero = arbU32.map((n) => (n === 0 ? 1 : n));
/** Subscription identifiers 1..268 435 455, biased to the Variable Byte Integer length edges. */
export const arbSubscriptionIdentifier: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 1, max: MAX_VARINT }),
  fc.constantFrom(1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, MAX_VARINT),
);

/** Sorted `allowedReasonCodes` entry, as an arbitrary. */
function arbReasonCode(set: ReadonlySet<number>): fc.Arbitrary<number> {
  return fc.constantFrom(...[...set].sort((a, b) => a - b));
}

// ---------------------------------------------------------------------------
// Strings

/**
 * Characters of MQTT strings: mostly ASCII, some hand-picked non-ASCII
 * (2-, 3- and 4-byte UTF-8, a BOM that must survive [MQTT-1.5.4-3], a ZWJ
 * emoji sequence, controls and a non-character the spec only discourages),
 * and any Unicode scalar. Never U+0000 [MQTT-1.5.4-2] or a lone surrogate
 * [MQTT-1.5.4-1].
 */
export const arbChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "é",
      "ß",
      "Ω",
      "中",
      "€",
      "\u{FEFF}",
      "😀",
      "👩‍💻",
      "𝄞",
      "\u0001",
      "\u007f",
      "\u0085",
      "\u200b",
      "\uffff",
      "\u{10ffff}",
    ),
  },
  {
    weight: 2,
    arbitrary: fc
      .string({ unit: "binary", minLength: 1, maxLength: 1 })
      .filter((c) => c !== "\u0000"),
  },
);

/** An MQTT UTF-8 string (§1.5.4) of `maxLength` characters at most. */
export function arbMqttString(
  constraints: { minLength?: number; maxLength?: number; exclude?: string } = {},
): fc.Arbitrary<string> {
  const { minLength = 0, maxLength = 12, exclude = "" } = constraints;
  const unit = exclude === "" ? arbChar : arbChar.filter((c) => !exclude.includes(c));
  return fc.string({ unit, minLength, maxLength });
}

/** One topic level without wildcards or separators (may be empty: "a//b" is valid). */
const arbLevel = arbMqttString({ maxLength: 6, exclude: "+#/" });

/** A Topic Name (§4.7): non-empty, no `+` or `#` [MQTT-3.3.2-2], any levels, `$` topics included. */
export const arbTopicName: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 6, arbitrary: fc.array(arbLevel, { minLength: 1, maxLength: 5 }) },
    {
      weight: 1,
      arbitrary: fc.array(arbLevel, { maxLength: 3 }).map((rest) => ["$SYS", ...rest]),
    },
  )
  .map((levels) => levels.join("/"))
  .filter((t) => t.length > 0);

/**
 * A Topic Filter (§4.7.1): `+` only as a whole level, `#` only as the whole
 * last level; never empty [MQTT-4.7.3-1]. With `shared`, sometimes a
 * `$share/{ShareName}/{filter}` (§4.8.2) too.
 */
export function arbTopicFilter(shared = false): fc.Arbitrary<string> {
  const plain = fc
    .tuple(
      fc.array(
        fc.oneof({ weight: 3, arbitrary: arbLevel }, { weight: 1, arbitrary: fc.constant("+") }),
        {
          minLength: 0,
          maxLength: 5,
        },
      ),
      fc.boolean(),
    )
    .map(([levels, multi]) => (multi ? [...levels, "#"] : levels).join("/"))
    .filter((f) => f.length > 0);
  if (!shared) return plain;
  const shareName = arbMqttString({ minLength: 1, maxLength: 5, exclude: "+#/" });
  return fc.oneof(
    { weight: 5, arbitrary: plain },
    { weight: 1, arbitrary: fc.tuple(shareName, plain).map(([g, f]) => `$share/${g}/${f}`) },
  );
}

// ---------------------------------------------------------------------------
// Binary data and payloads

export const arbBinary: fc.Arbitrary<Uint8Array> = fc.uint8Array({ maxLength: 24 });

const textEncoder = new TextEncoder();
/** Well-formed UTF-8 bytes (U+0000 allowed: it is a valid character in a payload). */
export const arbUtf8Payload: fc.Arbitrary<Uint8Array> = fc
  .string({ unit: fc.oneof(arbChar, fc.constant("\u0000")), maxLength: 40 })
  .map((s) => textEncoder.encode(s));

/** A payload: usually short random bytes, sometimes UTF-8, rarely large. */
export function arbPayload(maxLength = 20_000): fc.Arbitrary<Uint8Array> {
  const small = Math.min(maxLength, 64);
  const choices: fc.WeightedArbitrary<Uint8Array>[] = [
    { weight: 10, arbitrary: fc.uint8Array({ maxLength: small }) },
    { weight: 3, arbitrary: arbUtf8Payload.filter((b) => b.length <= maxLength) },
  ];
  if (maxLength > small) {
    // Large payloads cross the 2- and 3-byte Remaining Length boundaries; filled from a seed, not generated byte by byte.
    choices.push({
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: small, max: maxLength }), fc.integer({ min: 0, max: 255 }))
        .map(([n, seed]) => {
          const out = new Uint8Array(n);
          for (let i = 0; i < n; i++) out[i] = (seed + i * 31) & 0xff;
          return out;
        }),
    });
  }
  return fc.oneof(...choices);
}

// ---------------------------------------------------------------------------
// Properties

/** Array-index-like names are reordered by JavaScript objects (ascending, before other keys). */
function isArrayIndex(s: string): boolean {
  return /^(0|[1-9][0-9]*)$/.test(s) && Number(s) < 2 ** 32 - 1;
}

function arbUserProperties(o: Options): fc.Arbitrary<Array<[string, string]>> {
  const value = arbMqttString({ maxLength: 8 });
  if (o.distinctUserPropertyNames) {
    const name = arbMqttString({ maxLength: 8 }).filter((n) => !isArrayIndex(n));
    return fc.uniqueArray(fc.tuple(name, value), {
      minLength: 1,
      maxLength: 4,
      selector: ([n]) => n,
    });
  }
  // A small pool of names makes duplicates (same name, several values) common.
  const name = fc.oneof(
    fc.constantFrom("a", "region", "ключ", "", "0", "😀"),
    arbMqttString({ maxLength: 8 }),
  );
  return fc.array(fc.tuple(name, value), { minLength: 1, maxLength: 5 });
}

/** Where a property block sits: a packet type, or the Will Properties of CONNECT. */
export type PropertyContext =
  | "connect"
  | "will"
  | "connack"
  | "publish"
  | "puback"
  | "pubrec"
  | "pubrel"
  | "pubcomp"
  | "subscribe"
  | "suback"
  | "unsubscribe"
  | "unsuback"
  | "disconnect"
  | "auth";

type PropertyName = keyof Properties;

/**
 * Which properties each packet may carry: MQTT 5.0 Table 2-4, written out
 * again here rather than read from properties.ts, so the tests check the
 * codec's table instead of trusting it.
 */
export const propertiesByContext: Record<PropertyContext, readonly PropertyName[]> = {
  connect: [
    "sessionExpiryInterval",
    "receiveMaximum",
    "maximumPacketSize",
    "topicAliasMaximum",
    "requestResponseInformation",
    "requestProblemInformation",
    "userProperties",
    "authenticationMethod",
    "authenticationData",
  ],
  will: [
    "willDelayInterval",
    "payloadFormatIndicator",
    "messageExpiryInterval",
    "contentType",
    "responseTopic",
    "correlationData",
    "userProperties",
  ],
  connack: [
    "sessionExpiryInterval",
    "receiveMaximum",
    "maximumQoS",
    "retainAvailable",
    "maximumPacketSize",
    "assignedClientIdentifier",
    "topicAliasMaximum",
    "reasonString",
    "userProperties",
    "wildcardSubscriptionAvailable",
    "subscriptionIdentifierAvailable",
    "sharedSubscriptionAvailable",
    "serverKeepAlive",
    "responseInformation",
    "serverReference",
    "authenticationMethod",
    "authenticationData",
  ],
  publish: [
    "payloadFormatIndicator",
    "messageExpiryInterval",
    "topicAlias",
    "responseTopic",
    "correlationData",
    "userProperties",
    "subscriptionIdentifiers",
    "contentType",
  ],
  puback: ["reasonString", "userProperties"],
  pubrec: ["reasonString", "userProperties"],
  pubrel: ["reasonString", "userProperties"],
  pubcomp: ["reasonString", "userProperties"],
  subscribe: ["subscriptionIdentifier", "userProperties"],
  suback: ["reasonString", "userProperties"],
  unsubscribe: ["userProperties"],
  unsuback: ["reasonString", "userProperties"],
  disconnect: ["sessionExpiryInterval", "reasonString", "userProperties", "serverReference"],
  auth: ["authenticationMethod", "authenticationData", "reasonString", "userProperties"],
};

type PropertyArbitraries = { [K in PropertyName]-?: fc.Arbitrary<NonNullable<Properties[K]>> };

function propertyArbitraries(o: Options): PropertyArbitraries {
  const str = arbMqttString();
  return {
    payloadFormatIndicator: fc.constantFrom(0, 1),
    messageExpiryInterval: arbU32,
    contentType: str,
    responseTopic: arbTopicName,
    correlationData: arbBinary,
    subscriptionIdentifiers: fc.array(arbSubscriptionIdentifier, { minLength: 1, maxLength: 3 }),
    subscriptionIdentifier: arbSubscriptionIdentifier,
    sessionExpiryInterval: arbU32,
    assignedClientIdentifier: str,
    serverKeepAlive: arbU16,
    authenticationMethod: str,
    authenticationData: arbBinary,
    requestProblemInformation: fc.boolean(),
    willDelayInterval: arbU32,
    requestResponseInformation: fc.boolean(),
    responseInformation: str,
    serverReference: str,
    reasonString: str,
    receiveMaximum: arbU16NonZero,
    topicAliasMaximum: arbU16,
    topicAlias: arbU16NonZero,
    maximumQoS: fc.constantFrom(0, 1),
    retainAvailable: fc.boolean(),
    userProperties: arbUserProperties(o),
    maximumPacketSize: arbU32NonZero,
    wildcardSubscriptionAvailable: fc.boolean(),
    subscriptionIdentifierAvailable: fc.boolean(),
    sharedSubscriptionAvailable: fc.boolean(),
  };
}

/** Marks a property left out of a generated block. */
const ABSENT: unique symbol = Symbol("absent");

/**
 * A property block for `context`, or undefined (the decoder leaves an empty
 * block out). A quarter of the blocks are absent, and each property of the
 * others is present with probability 1/3 (fast-check's `record` would
 * include nearly all of them, so short forms would hardly be tested). Keys
 * come in random order, which is also their order on the wire. `required`
 * properties are always present, and so is the block.
 */
export function arbProperties(
  context: PropertyContext,
  options: PacketArbitraryOptions = {},
  required: readonly PropertyName[] = [],
): fc.Arbitrary<Properties | undefined> {
  const o = withDefaults(options);
  const all = propertyArbitraries(o);
  const names = propertiesByContext[context];
  const values = names.map(
    (n): fc.Arbitrary<unknown> =>
      required.includes(n)
        ? all[n]
        : fc.oneof(
            { weight: 2, arbitrary: fc.constant(ABSENT) },
            { weight: 1, arbitrary: all[n] as fc.Arbitrary<unknown> },
          ),
  );
  const block = fc
    .tuple(fc.tuple(...values), fc.shuffledSubarray([...names], { minLength: names.length }))
    .map(([vals, order]) => {
      const props: Record<string, unknown> = {};
      for (const n of order) {
        const v = vals[names.indexOf(n)];
        if (v !== ABSENT) props[n] = v;
      }
      // Authentication Data only with an Authentication Method (§3.1.2.11.10, §3.2.2.3.18).
      if ("authenticationData" in props && !("authenticationMethod" in props)) {
        delete props.authenticationData;
      }
      return Object.keys(props).length === 0 ? undefined : (props as Properties);
    });
  if (required.length > 0) return block;
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 3, arbitrary: block },
  );
}

/** Sets `properties` on `target` only when defined, so an absent block is an absent key. */
function withProps<T extends { properties?: Properties }>(
  target: T,
  props: Properties | undefined,
): T {
  if (props !== undefined) target.properties = props;
  return target;
}

// ---------------------------------------------------------------------------
// Packets

function arbConnect(version: ProtocolVersion, o: Options): fc.Arbitrary<ConnectPacket> {
  const v5 = version === 5;
  // MQTT 3.1 requires 1..23 characters (3.1 §3.1); 3.1.1 and 5.0 allow an empty id.
  const clientId =
    version === 3
      ? arbMqttString({ minLength: 1, maxLength: 23 })
      : arbMqttString({ maxLength: 23 });
  const will: fc.Arbitrary<Will> = fc
    .record({
      topic: arbTopicName,
      qos: arbQoS,
      retain: fc.boolean(),
      props: v5 ? arbProperties("will", o) : fc.constant(undefined),
      payload: fc.uint8Array({ maxLength: 40 }),
      utf8Payload: arbUtf8Payload,
    })
    .map(({ topic, qos, retain, props, payload, utf8Payload }) => {
      // Payload Format Indicator 1 promises a UTF-8 payload (§3.1.3.2.3).
      const p = props?.payloadFormatIndicator === 1 ? utf8Payload : payload;
      return withProps<Will>({ topic, payload: p, qos, retain }, props);
    });
  return fc
    .record(
      {
        clean: fc.boolean(),
        keepalive: arbU16,
        clientId,
        will,
        username: arbMqttString(),
        password: arbBinary,
        properties: v5 ? arbProperties("connect", o) : fc.constant(undefined),
      },
      { requiredKeys: ["clean", "keepalive", "clientId", "properties"] },
    )
    .map((r) => {
      const p: ConnectPacket = {
        type: "connect",
        protocolVersion: version,
        // 3.1.1: a zero-byte Client Identifier needs Clean Session 1 [MQTT-3.1.3-7].
        clean: version === 4 && r.clientId === "" ? true : r.clean,
        keepalive: r.keepalive,
        clientId: r.clientId,
      };
      if (r.will !== undefined) p.will = r.will;
      if (r.username !== undefined) p.username = r.username;
      // 3.1.x: a password only with a user name [MQTT-3.1.2-22]; 5.0 lifts the rule (§3.1.2.9).
      if (r.password !== undefined && (v5 || r.username !== undefined)) p.password = r.password;
      return withProps(p, r.properties);
    });
}

function arbConnack(version: ProtocolVersion, o: Options): fc.Arbitrary<ConnackPacket> {
  const code =
    version === 5 ? arbReasonCode(allowedReasonCodes.connack) : fc.integer({ min: 0, max: 5 });
  return fc
    .record({
      reasonCode: fc.oneof(fc.constant(0), code),
      sessionPresent: fc.boolean(),
      props: version === 5 ? arbProperties("connack", o) : fc.constant(undefined),
    })
    .map(({ reasonCode, sessionPresent, props }) =>
      withProps<ConnackPacket>(
        {
          type: "connack",
          // Session Present only when accepted [MQTT-3.2.2-4 (3.1.1)] [MQTT-3.2.2-6 (5.0)];
          // MQTT 3.1 has no such flag (the byte is reserved).
          sessionPresent: version !== 3 && reasonCode === 0 && sessionPresent,
          reasonCode,
        },
        props,
      ),
    );
}

function arbPublish(version: ProtocolVersion, o: Options): fc.Arbitrary<PublishPacket> {
  return fc
    .record({
      topic: arbTopicName,
      qos: arbQoS,
      retain: fc.boolean(),
      dup: fc.boolean(),
      packetId: arbPacketId,
      payload: arbPayload(o.maxPayloadLength),
      utf8Payload: arbUtf8Payload,
      props: version === 5 ? arbProperties("publish", o) : fc.constant(undefined),
      emptyTopic: fc.boolean(),
    })
    .map((r) => {
      const p: PublishPacket = {
        type: "publish",
        // 5.0: a zero-length Topic Name only with a Topic Alias (§3.3.2.3.4).
        topic: r.props?.topicAlias !== undefined && r.emptyTopic ? "" : r.topic,
        payload: r.props?.payloadFormatIndicator === 1 ? r.utf8Payload : r.payload,
        qos: r.qos,
        retain: r.retain,
        // DUP is 0 on QoS 0 [MQTT-3.3.1-2]; a packet id exactly when QoS > 0 [MQTT-2.2.1-2].
        dup: r.qos > 0 && r.dup,
      };
      if (r.qos > 0) p.packetId = r.packetId;
      return withProps(p, r.props);
    });
}

function arbAck<T extends AckType>(
  type: T,
  version: ProtocolVersion,
  o: Options,
): fc.Arbitrary<Packet> {
  if (version !== 5) return arbPacketId.map((packetId) => ({ type, packetId }) as Packet);
  return fc
    .record({
      packetId: arbPacketId,
      reasonCode: fc.oneof(fc.constant(0), arbReasonCode(allowedReasonCodes[type])),
      props: arbProperties(type, o),
    })
    .map(({ packetId, reasonCode, props }) => {
      const p: { type: T; packetId: number; reasonCode: number; properties?: Properties } = {
        type,
        packetId,
        reasonCode,
      };
      return withProps(p, props) as Packet;
    });
}

function arbSubscribe(version: ProtocolVersion, o: Options): fc.Arbitrary<SubscribePacket> {
  const v5 = version === 5;
  const subscription: fc.Arbitrary<Subscription> = v5
    ? fc
        .record(
          {
            topicFilter: arbTopicFilter(true),
            qos: arbQoS,
            noLocal: fc.boolean(),
            retainAsPublished: fc.boolean(),
            retainHandling: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
          },
          { noNullPrototype: true },
        )
        // No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4].
        .map((s) => (s.topicFilter.startsWith("$share/") ? { ...s, noLocal: false } : s))
    : fc.record({ topicFilter: arbTopicFilter(), qos: arbQoS }, { noNullPrototype: true });
  return fc
    .record({
      packetId: arbPacketId,
      subscriptions: fc.array(subscription, { minLength: 1, maxLength: 4 }),
      props: v5 ? arbProperties("subscribe", o) : fc.constant(undefined),
    })
    .map(({ packetId, subscriptions, props }) =>
      withProps<SubscribePacket>({ type: "subscribe", packetId, subscriptions }, props),
    );
}

function arbSuback(version: ProtocolVersion, o: Options): fc.Arbitrary<SubackPacket> {
  const code =
    version === 5
      ? arbReasonCode(allowedReasonCodes.suback)
      : // 3.1.1 adds 0x80 Failure (§3.9.3); MQTT 3.1 grants QoS 0..2 only.
        fc.constantFrom(...(version === 4 ? [0, 1, 2, 0x80] : [0, 1, 2]));
  return fc
    .record({
      packetId: arbPacketId,
      reasonCodes: fc.array(code, { minLength: 1, maxLength: 5 }),
      props: version === 5 ? arbProperties("suback", o) : fc.constant(undefined),
    })
    .map(({ packetId, reasonCodes, props }) =>
      withProps<SubackPacket>({ type: "suback", packetId, reasonCodes }, props),
    );
}

function arbUnsubscribe(version: ProtocolVersion, o: Options): fc.Arbitrary<UnsubscribePacket> {
  return fc
    .record({
      packetId: arbPacketId,
      topicFilters: fc.array(arbTopicFilter(version === 5), { minLength: 1, maxLength: 4 }),
      props: version === 5 ? arbProperties("unsubscribe", o) : fc.constant(undefined),
    })
    .map(({ packetId, topicFilters, props }) =>
      withProps<UnsubscribePacket>({ type: "unsubscribe", packetId, topicFilters }, props),
    );
}

function arbUnsuback(version: ProtocolVersion, o: Options): fc.Arbitrary<UnsubackPacket> {
  if (version !== 5) return arbPacketId.map((packetId) => ({ type: "unsuback", packetId }));
  return fc
    .record({
      packetId: arbPacketId,
      reasonCodes: fc.array(arbReasonCode(allowedReasonCodes.unsuback), {
        minLength: 1,
        maxLength: 5,
      }),
      props: arbProperties("unsuback", o),
    })
    .map(({ packetId, reasonCodes, props }) =>
      withProps<UnsubackPacket>({ type: "unsuback", packetId, reasonCodes }, props),
    );
}

function arbDisconnect(version: ProtocolVersion, o: Options): fc.Arbitrary<DisconnectPacket> {
  if (version !== 5) return fc.constant({ type: "disconnect" });
  return fc
    .record({
      reasonCode: fc.oneof(fc.constant(0), arbReasonCode(allowedReasonCodes.disconnect)),
      props: arbProperties("disconnect", o),
    })
    .map(({ reasonCode, props }) =>
      withProps<DisconnectPacket>({ type: "disconnect", reasonCode }, props),
    );
}

function arbAuth(o: Options): fc.Arbitrary<AuthPacket> {
  // Either the bare form (Remaining Length 0 means Success, §3.15.2.1), or a reason
  // code with properties that name the method (§3.15.2.2.2: omitting it is a Protocol Error).
  const full = fc
    .record({
      reasonCode: arbReasonCode(allowedReasonCodes.auth),
      props: arbProperties("auth", o, ["authenticationMethod"]),
    })
    .map(({ reasonCode, props }) => withProps<AuthPacket>({ type: "auth", reasonCode }, props));
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<AuthPacket>({ type: "auth", reasonCode: 0 }) },
    { weight: 4, arbitrary: full },
  );
}

/** Valid packets of one type at one protocol level. AUTH exists only in MQTT 5. */
export function arbPacketOfType(
  type: PacketName,
  version: ProtocolVersion,
  options: PacketArbitraryOptions = {},
): fc.Arbitrary<Packet> {
  const o = withDefaults(options);
  switch (type) {
    case "connect":
      return arbConnect(version, o);
    case "connack":
      return arbConnack(version, o);
    case "publish":
      return arbPublish(version, o);
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return arbAck(type, version, o);
    case "subscribe":
      return arbSubscribe(version, o);
    case "suback":
      return arbSuback(version, o);
    case "unsubscribe":
      return arbUnsubscribe(version, o);
    case "unsuback":
      return arbUnsuback(version, o);
    case "pingreq":
      return fc.constant({ type: "pingreq" });
    case "pingresp":
      return fc.constant({ type: "pingresp" });
    case "disconnect":
      return arbDisconnect(version, o);
    case "auth":
      if (version !== 5) throw new Error("AUTH exists only in MQTT 5");
      return arbAuth(o);
  }
}

/** Extra weight for the packets with the most fields, so they get most of the runs. */
const weights: Partial<Record<PacketName, number>> = { publish: 4, connect: 3, subscribe: 2 };

/**
 * Valid packets of every type at protocol level `version`, shaped as the
 * decoder returns them: MQTT 5 acks, DISCONNECT and AUTH always carry
 * `reasonCode`; MQTT 5 subscriptions carry all three options; absent
 * optional fields are absent keys.
 */
export function arbPacket(
  version: ProtocolVersion,
  options: PacketArbitraryOptions = {},
): fc.Arbitrary<Packet> {
  return fc.oneof(
    ...packetTypes(version).map((type) => ({
      weight: weights[type] ?? 1,
      arbitrary: arbPacketOfType(type, version, options),
    })),
  );
}
