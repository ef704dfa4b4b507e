/**
 * MQTT 5 properties (§2.2.2): the full table of identifiers with their wire
 * types, the packets each may appear in, and their decoding and encoding.
 *
 * Properties decode to a plain object with the spec's names in camelCase.
 * User properties keep their order and duplicates as `[name, value]` pairs
 * (§3.3.2.3.7: the order must be kept when forwarded). In PUBLISH, the
 * Subscription Identifier may appear more than once and decodes to the array
 * `subscriptionIdentifiers`; in SUBSCRIBE it is the single
 * `subscriptionIdentifier`.
 */
import { MAX_VARINT, PacketType } from "./constants.js";
import {
  ErrorCode,
  InvalidArgumentError,
  malformed,
  ProtocolError,
  protocolError,
} from "./errors.js";
import { ReasonCode } from "./reason-codes.js";
import { utf8Length, writeUtf8 } from "./utf8.js";
import { type Reader, varintLength, writeBinary, writeU16, writeU32, writeVarint } from "./wire.js";

/** Every MQTT 5 property. Each packet type allows a subset (see the packet's type). */
export interface Properties {
  payloadFormatIndicator?: 0 | 1;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Uint8Array;
  /** PUBLISH only: every matching subscription's identifier (§3.3.2.3.8). */
  subscriptionIdentifiers?: number[];
  /** SUBSCRIBE only (§3.8.2.1.2). */
  subscriptionIdentifier?: number;
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Uint8Array;
  requestProblemInformation?: boolean;
  willDelayInterval?: number;
  requestResponseInformation?: boolean;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQoS?: 0 | 1;
  retainAvailable?: boolean;
  userProperties?: Array<[string, string]>;
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: boolean;
  subscriptionIdentifierAvailable?: boolean;
  sharedSubscriptionAvailable?: boolean;
}

/** Property identifiers (§2.2.2.2, Table 2-4). */
export const PropertyId = {
  PayloadFormatIndicator: 0x01,
  MessageExpiryInterval: 0x02,
  ContentType: 0x03,
  ResponseTopic: 0x08,
  CorrelationData: 0x09,
  SubscriptionIdentifier: 0x0b,
  SessionExpiryInterval: 0x11,
  AssignedClientIdentifier: 0x12,
  ServerKeepAlive: 0x13,
  AuthenticationMethod: 0x15,
  AuthenticationData: 0x16,
  RequestProblemInformation: 0x17,
  WillDelayInterval: 0x18,
  RequestResponseInformation: 0x19,
  ResponseInformation: 0x1a,
  ServerReference: 0x1c,
  ReasonString: 0x1f,
  ReceiveMaximum: 0x21,
  TopicAliasMaximum: 0x22,
  TopicAlias: 0x23,
  MaximumQoS: 0x24,
  RetainAvailable: 0x25,
  UserProperty: 0x26,
  MaximumPacketSize: 0x27,
  WildcardSubscriptionAvailable: 0x28,
  SubscriptionIdentifierAvailable: 0x29,
  SharedSubscriptionAvailable: 0x2a,
} as const;
export type PropertyId = (typeof PropertyId)[keyof typeof PropertyId];

/** Wire types of property values (§1.5). */
export const WireType = {
  Byte: 1,
  TwoByteInteger: 2,
  FourByteInteger: 3,
  VariableByteInteger: 4,
  Utf8String: 5,
  BinaryData: 6,
  Utf8StringPair: 7,
} as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

/** Where a property block sits: a packet type, or the Will Properties of CONNECT. */
export const WILL_PROPERTIES = 16;
export type PropertyContext = PacketType | typeof WILL_PROPERTIES;

const T = PacketType;
const W = WireType;

/** How a property's value is checked and shown. */
const Kind = { Number: 0, Flag: 1, NonZero: 2 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

interface PropertyDef {
  id: number;
  name: keyof Properties;
  type: WireType;
  /** Bit `1 << context` set for each context the property may appear in. */
  contexts: number;
  /** May appear more than once (user property; subscription identifier in PUBLISH). */
  multiple: boolean;
  kind: Kind;
  /** For byte properties: the largest allowed value (every byte property is 0 or 1). */
  max?: number;
  /** Where the spec states the value rule. */
  section: string;
}

// Context masks, written out so the table stays one line per property.
const CONNECT = 1 << T.CONNECT;
const CONNACK = 1 << T.CONNACK;
const PUBLISH = 1 << T.PUBLISH;
const ACKS = (1 << T.PUBACK) | (1 << T.PUBREC) | (1 << T.PUBREL) | (1 << T.PUBCOMP);
const SUBSCRIBE = 1 << T.SUBSCRIBE;
const SUBACK = 1 << T.SUBACK;
const UNSUBSCRIBE = 1 << T.UNSUBSCRIBE;
const UNSUBACK = 1 << T.UNSUBACK;
const DISCONNECT = 1 << T.DISCONNECT;
const AUTH = 1 << T.AUTH;
const WILL = 1 << WILL_PROPERTIES;

function def(
  id: number,
  name: keyof Properties,
  type: WireType,
  contexts: number,
  section: string,
  kind: Kind = Kind.Number,
): PropertyDef {
  return {
    id,
    name,
    type,
    contexts,
    multiple: id === 0x26 || id === 0x0b,
    kind,
    max: type === W.Byte ? 1 : undefined,
    section: `§${section}`,
  };
}

/** Table 2-4 of §2.2.2.2: identifier, name, wire type, where allowed, where its rules are. */
const defs: PropertyDef[] = [
  def(0x01, "payloadFormatIndicator", W.Byte, PUBLISH | WILL, "3.3.2.3.2"),
  def(0x02, "messageExpiryInterval", W.FourByteInteger, PUBLISH | WILL, "3.3.2.3.3"),
  def(0x03, "contentType", W.Utf8String, PUBLISH | WILL, "3.3.2.3.9"),
  def(0x08, "responseTopic", W.Utf8String, PUBLISH | WILL, "3.3.2.3.5"),
  def(0x09, "correlationData", W.BinaryData, PUBLISH | WILL, "3.3.2.3.6"),
  def(
    0x0b,
    "subscriptionIdentifiers",
    W.VariableByteInteger,
    PUBLISH | SUBSCRIBE,
    "3.3.2.3.8",
    Kind.NonZero,
  ),
  def(
    0x11,
    "sessionExpiryInterval",
    W.FourByteInteger,
    CONNECT | CONNACK | DISCONNECT,
    "3.1.2.11.2",
  ),
  def(0x12, "assignedClientIdentifier", W.Utf8String, CONNACK, "3.2.2.3.7"),
  def(0x13, "serverKeepAlive", W.TwoByteInteger, CONNACK, "3.2.2.3.14"),
  def(0x15, "authenticationMethod", W.Utf8String, CONNECT | CONNACK | AUTH, "3.1.2.11.9"),
  def(0x16, "authenticationData", W.BinaryData, CONNECT | CONNACK | AUTH, "3.1.2.11.10"),
  def(0x17, "requestProblemInformation", W.Byte, CONNECT, "3.1.2.11.7", Kind.Flag),
  def(0x18, "willDelayInterval", W.FourByteInteger, WILL, "3.1.3.2.2"),
  def(0x19, "requestResponseInformation", W.Byte, CONNECT, "3.1.2.11.6", Kind.Flag),
  def(0x1a, "responseInformation", W.Utf8String, CONNACK, "3.2.2.3.15"),
  def(0x1c, "serverReference", W.Utf8String, CONNACK | DISCONNECT, "3.2.2.3.16"),
  def(
    0x1f,
    "reasonString",
    W.Utf8String,
    CONNACK | ACKS | SUBACK | UNSUBACK | DISCONNECT | AUTH,
    "3.2.2.3.9",
  ),
  def(0x21, "receiveMaximum", W.TwoByteInteger, CONNECT | CONNACK, "3.1.2.11.3", Kind.NonZero),
  def(0x22, "topicAliasMaximum", W.TwoByteInteger, CONNECT | CONNACK, "3.1.2.11.5"),
  def(0x23, "topicAlias", W.TwoByteInteger, PUBLISH, "3.3.2.3.4", Kind.NonZero),
  def(0x24, "maximumQoS", W.Byte, CONNACK, "3.2.2.3.4"),
  def(0x25, "retainAvailable", W.Byte, CONNACK, "3.2.2.3.5", Kind.Flag),
  def(
    0x26,
    "userProperties",
    W.Utf8StringPair,
    CONNECT |
      CONNACK |
      PUBLISH |
      ACKS |
      SUBSCRIBE |
      SUBACK |
      UNSUBSCRIBE |
      UNSUBACK |
      DISCONNECT |
      AUTH |
      WILL,
    "3.1.2.11.8",
  ),
  def(0x27, "maximumPacketSize", W.FourByteInteger, CONNECT | CONNACK, "3.1.2.11.4", Kind.NonZero),
  def(0x28, "wildcardSubscriptionAvailable", W.Byte, CONNACK, "3.2.2.3.11", Kind.Flag),
  def(0x29, "subscriptionIdentifierAvailable", W.Byte, CONNACK, "3.2.2.3.12", Kind.Flag),
  def(0x2a, "sharedSubscriptionAvailable", W.Byte, CONNACK, "3.2.2.3.13", Kind.Flag),
];

const byId: (PropertyDef | undefined)[] = [];
const byName = new Map<string, PropertyDef>();
for (const d of defs) {
  byId[d.id] = d;
  byName.set(d.name, d);
}
byName.set("subscriptionIdentifier", byId[0x0b] as PropertyDef);

const contextNames: Record<number, string> = {
  [WILL_PROPERTIES]: "Will Properties",
};
for (const [name, value] of Object.entries(PacketType)) contextNames[value] = name;

/** The wire type of a property identifier, or undefined for an unknown one. */
export function propertyWireType(id: number): WireType | undefined {
  return byId[id]?.type;
}

/** Whether property `id` may appear in `context`. */
export function propertyAllowed(id: number, context: PropertyContext): boolean {
  const d = byId[id];
  return d !== undefined && (d.contexts & (1 << context)) !== 0;
}

function hasWildcard(s: string): boolean {
  return s.includes("+") || s.includes("#");
}

/**
 * Reads a property block (length, then properties) at the reader's position.
 * Returns undefined when the block is empty.
 */
export function readProperties(r: Reader, context: PropertyContext): Properties | undefined {
  const length = r.varint("Property Length");
  if (length === 0) return undefined;
  const end = r.pos + length;
  if (end > r.end) throw malformed("§2.2.2.1", "Property Length runs past the end of the packet");
  const outerEnd = r.end;
  const outerBound = r.bound;
  r.end = end; // a property must not read past its block
  r.bound = "§2.2.2.1";
  const props: Properties = {};
  // Identifiers seen so far, as a bitmask (all identifiers are below 64).
  let seenLow = 0;
  let seenHigh = 0;
  const where = contextNames[context];
  while (r.pos < end) {
    const id = r.varint("Property Identifier");
    const d = byId[id];
    if (d === undefined)
      throw malformed("§2.2.2.2", `unknown property identifier 0x${id.toString(16)} in ${where}`);
    if ((d.contexts & (1 << context)) === 0) {
      // §2.2.2.2: "A Control Packet which contains an Identifier which is not valid for its
      // packet type ... is a Malformed Packet" (0x81), not a Protocol Error.
      throw malformed("§2.2.2.2", `property ${d.name} is not allowed in ${where}`);
    }
    let value: number | string | Uint8Array | [string, string];
    switch (d.type) {
      case W.Byte:
        value = r.u8(d.name);
        break;
      case W.TwoByteInteger:
        value = r.u16(d.name);
        break;
      case W.FourByteInteger:
        value = r.u32(d.name);
        break;
      case W.VariableByteInteger:
        value = r.varint(d.name);
        break;
      case W.Utf8String:
        value = r.utf8(d.name);
        break;
      case W.BinaryData:
        value = r.binary(d.name);
        break;
      default:
        value = [r.utf8("User Property name"), r.utf8("User Property value")];
    }
    if (typeof value === "number") {
      if (d.max !== undefined && value > d.max) {
        throw protocolError(d.section, `${d.name} must be 0 or ${d.max}, got ${value}`);
      }
      if (d.kind === Kind.NonZero && value === 0) {
        if (d.id === 0x23) {
          // §3.3.4: "A Topic Alias value of 0 ... is a Protocol Error, the receiver uses
          // DISCONNECT with Reason Code of 0x94 (Topic Alias invalid)".
          throw new ProtocolError(
            ErrorCode.ProtocolError,
            ReasonCode.TopicAliasInvalid,
            "MQTT-3.3.2-8",
            "Topic Alias must not be 0",
          );
        }
        throw protocolError(
          d.id === 0x0b && context === T.SUBSCRIBE ? "§3.8.2.1.2" : d.section,
          `${d.name} must not be 0`,
        );
      }
    }
    if (d.id === 0x26) {
      const list = props.userProperties;
      if (list === undefined) props.userProperties = [value as [string, string]];
      else list.push(value as [string, string]);
      continue;
    }
    if (d.id === 0x0b) {
      if (context === T.SUBSCRIBE) {
        if (props.subscriptionIdentifier !== undefined) {
          throw protocolError("§3.8.2.1.2", "Subscription Identifier appears more than once");
        }
        props.subscriptionIdentifier = value as number;
      } else {
        const list = props.subscriptionIdentifiers;
        if (list === undefined) props.subscriptionIdentifiers = [value as number];
        else list.push(value as number);
      }
      continue;
    }
    const mask = 1 << (id & 31);
    if (((id < 32 ? seenLow : seenHigh) & mask) !== 0) {
      throw protocolError(d.section, `property ${d.name} appears more than once in ${where}`);
    }
    if (id < 32) seenLow |= mask;
    else seenHigh |= mask;
    if (d.id === 0x08 && hasWildcard(value as string)) {
      throw protocolError("MQTT-3.3.2-14", "Response Topic must not contain wildcards");
    }
    (props as Record<string, unknown>)[d.name] = d.kind === Kind.Flag ? value === 1 : value;
  }
  r.end = outerEnd;
  r.bound = outerBound;
  if (r.pos !== end) throw malformed("§2.2.2.1", "a property runs past the Property Length");
  return props;
}

function misuse(message: string): InvalidArgumentError {
  return new InvalidArgumentError(message);
}

function checkU(name: string, v: unknown, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    throw misuse(`property ${name} must be an integer in 0..${max}, got ${String(v)}`);
  }
  return v;
}

function valueLength(d: PropertyDef, v: unknown): number {
  switch (d.type) {
    case W.Byte:
      return 1;
    case W.TwoByteInteger:
      return 2;
    case W.FourByteInteger:
      return 4;
    case W.VariableByteInteger:
      return varintLength(checkU(d.name, v, MAX_VARINT));
    case W.Utf8String:
      return 2 + utf8Length(v as string);
    case W.BinaryData:
      return 2 + (v as Uint8Array).length;
    default: {
      const [k, val] = v as [string, string];
      return 4 + utf8Length(k) + utf8Length(val);
    }
  }
}

function defFor(name: string, context: PropertyContext): PropertyDef {
  const d = byName.get(name);
  if (d === undefined) throw misuse(`unknown MQTT 5 property ${name}`);
  const wrongIdForm =
    (name === "subscriptionIdentifiers" && context !== T.PUBLISH) ||
    (name === "subscriptionIdentifier" && context !== T.SUBSCRIBE);
  if ((d.contexts & (1 << context)) === 0 || wrongIdForm) {
    throw misuse(`property ${name} is not allowed in ${contextNames[context]}`);
  }
  return d;
}

/**
 * Byte length of the property block's contents (without its own length
 * prefix). Throws {@link InvalidArgumentError} for a property the packet does
 * not allow.
 */
export function propertiesLength(props: Properties | undefined, context: PropertyContext): number {
  if (props === undefined) return 0;
  let n = 0;
  for (const name in props) {
    const v = (props as Record<string, unknown>)[name];
    if (v === undefined) continue;
    const d = defFor(name, context);
    if (Array.isArray(v) && d.multiple && name !== "subscriptionIdentifier") {
      for (const item of v) n += 1 + valueLength(d, item);
    } else {
      n += 1 + valueLength(d, v);
    }
  }
  return n;
}

function writeValue(buf: Uint8Array, pos: number, d: PropertyDef, v: unknown): number {
  buf[pos++] = d.id;
  switch (d.type) {
    case W.Byte: {
      const n = typeof v === "boolean" ? (v ? 1 : 0) : checkU(d.name, v, d.max ?? 255);
      buf[pos] = n;
      return pos + 1;
    }
    case W.TwoByteInteger:
      return writeU16(buf, pos, checkU(d.name, v, 0xffff));
    case W.FourByteInteger:
      return writeU32(buf, pos, checkU(d.name, v, 0xffffffff));
    case W.VariableByteInteger:
      return writeVarint(buf, pos, v as number);
    case W.Utf8String: {
      const s = v as string;
      const len = utf8Length(s);
      pos = writeU16(buf, pos, len);
      return writeUtf8(buf, pos, s, len);
    }
    case W.BinaryData:
      return writeBinary(buf, pos, v as Uint8Array);
    default: {
      const [k, val] = v as [string, string];
      const kl = utf8Length(k);
      pos = writeUtf8(buf, writeU16(buf, pos, kl), k, kl);
      const vl = utf8Length(val);
      return writeUtf8(buf, writeU16(buf, pos, vl), val, vl);
    }
  }
}

/** Writes the property block (length prefix and contents) whose content length is `length`. */
export function writeProperties(
  buf: Uint8Array,
  pos: number,
  props: Properties | undefined,
  length: number,
  context: PropertyContext,
): number {
  pos = writeVarint(buf, pos, length);
  if (props === undefined || length === 0) return pos;
  for (const name in props) {
    const v = (props as Record<string, unknown>)[name];
    if (v === undefined) continue;
    const d = defFor(name, context);
    if (Array.isArray(v) && d.multiple && name !== "subscriptionIdentifier") {
      for (const item of v) pos = writeValue(buf, pos, d, item);
    } else {
      pos = writeValue(buf, pos, d, v);
    }
  }
  return pos;
}
