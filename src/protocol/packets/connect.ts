/** CONNECT (§3.1): the first packet a client sends. */
import { PacketType, type ProtocolVersion, type QoS } from "../constants.js";
import {
  ErrorCode,
  InvalidArgumentError,
  malformed,
  ProtocolError,
  protocolError,
} from "../errors.js";
import {
  type Properties,
  propertiesLength,
  readProperties,
  WILL_PROPERTIES,
  writeProperties,
} from "../properties.js";
import { ReasonCode } from "../reason-codes.js";
import { isWellFormedUtf8, utf8Length, writeUtf8 } from "../utf8.js";
import {
  type Reader,
  STRING_RULES_V4,
  STRING_RULES_V5,
  varintLength,
  writeBinary,
  writeU16,
} from "../wire.js";
import { type Alloc, checkU16, sid, startPacket, stringFieldLength } from "./common.js";

/** The Will Message carried in CONNECT (§3.1.2.5, §3.1.3.2–4). */
export interface Will {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 Will Properties. */
  properties?: Properties;
}

export interface ConnectPacket {
  type: "connect";
  /** 3 (MQTT 3.1, name `MQIsdp`), 4 (3.1.1) or 5; the protocol name follows from it. */
  protocolVersion: ProtocolVersion;
  /** Clean Session (3.1.x) or Clean Start (5.0). */
  clean: boolean;
  /** Keep Alive in seconds; 0 turns it off. */
  keepalive: number;
  clientId: string;
  will?: Will;
  username?: string;
  password?: Uint8Array;
  properties?: Properties;
}

/** Protocol name for each level (§3.1.2.1). */
export function protocolName(version: ProtocolVersion): string {
  return version === 3 ? "MQIsdp" : "MQTT";
}

/**
 * The CONNECT names a protocol this codec does not speak. The broker answers
 * with CONNACK 0x84 (5.0) or return code 1 (3.1.x) and closes. The statement
 * is [MQTT-3.1.2-1] when the protocol name is wrong, [MQTT-3.1.2-2] when the
 * name is right but the level is not supported.
 */
export class UnsupportedProtocolError extends ProtocolError {
  readonly protocolName: string;
  readonly protocolLevel: number;
  constructor(name: string, level: number) {
    super(
      ErrorCode.UnsupportedProtocolVersion,
      ReasonCode.UnsupportedProtocolVersion,
      name === "MQTT" || name === "MQIsdp" ? "MQTT-3.1.2-2" : "MQTT-3.1.2-1",
      `unsupported protocol ${JSON.stringify(name)} level ${level}`,
    );
    this.name = "UnsupportedProtocolError";
    this.protocolName = name;
    this.protocolLevel = level;
  }
}

export interface DecodeOptions {
  /** Check payloads whose Payload Format Indicator is 1 for valid UTF-8 (§3.3.2.3.2). */
  validatePayloadFormat: boolean;
}

export function decodeConnect(r: Reader, opts: DecodeOptions): ConnectPacket {
  const nameLen = r.u16("Protocol Name");
  if (nameLen !== 4 && nameLen !== 6) {
    throw new UnsupportedProtocolError(`<${nameLen} bytes>`, -1);
  }
  r.pos -= 2;
  const name = r.utf8("Protocol Name");
  const level = r.u8("Protocol Level");
  if (!((name === "MQTT" && (level === 4 || level === 5)) || (name === "MQIsdp" && level === 3))) {
    throw new UnsupportedProtocolError(name, level);
  }
  const version = level as ProtocolVersion;
  r.strings = version === 5 ? STRING_RULES_V5 : STRING_RULES_V4;
  const flags = r.u8("Connect Flags");
  if ((flags & 0x01) !== 0) {
    throw malformed("MQTT-3.1.2-3", "the reserved bit of Connect Flags must be 0");
  }
  const willFlag = (flags & 0x04) !== 0;
  const willQos = (flags >> 3) & 0x03;
  const willRetain = (flags & 0x20) !== 0;
  const passwordFlag = (flags & 0x40) !== 0;
  const usernameFlag = (flags & 0x80) !== 0;
  // Without a Will Flag any non-zero Will QoS (3 included) breaks -13 / -11;
  // with one, only 3 is refused (-14 / -12).
  if (!willFlag && willQos !== 0) {
    throw malformed(
      sid(version, "MQTT-3.1.2-13", "MQTT-3.1.2-11"),
      "Will QoS must be 0 without a Will Flag",
    );
  }
  if (willQos === 3) {
    throw malformed(sid(version, "MQTT-3.1.2-14", "MQTT-3.1.2-12"), "Will QoS must not be 3");
  }
  if (!willFlag && willRetain) {
    throw malformed(
      sid(version, "MQTT-3.1.2-15", "MQTT-3.1.2-13"),
      "Will Retain must be 0 without a Will Flag",
    );
  }
  if (version !== 5 && passwordFlag && !usernameFlag) {
    throw malformed("MQTT-3.1.2-22", "a password needs a user name in MQTT 3.1.x");
  }
  const keepalive = r.u16("Keep Alive");
  const packet: ConnectPacket = {
    type: "connect",
    protocolVersion: version,
    clean: (flags & 0x02) !== 0,
    keepalive,
    clientId: "",
  };
  if (version === 5) {
    const props = readProperties(r, PacketType.CONNECT);
    if (props !== undefined) {
      if (props.authenticationData !== undefined && props.authenticationMethod === undefined) {
        throw protocolError("§3.1.2.11.10", "Authentication Data needs an Authentication Method");
      }
      packet.properties = props;
    }
  }
  packet.clientId = r.utf8("Client Identifier");
  if (willFlag) {
    let willProps: Properties | undefined;
    if (version === 5) willProps = readProperties(r, WILL_PROPERTIES);
    const topic = r.utf8("Will Topic");
    if (topic.length === 0 || topic.includes("+") || topic.includes("#")) {
      throw new ProtocolError(
        ErrorCode.TopicNameInvalid,
        ReasonCode.TopicNameInvalid,
        sid(version, "§3.1.3.2", "§3.1.3.3"),
        "Will Topic must be a topic name: not empty, no wildcards",
      );
    }
    const payload = r.binary("Will Payload");
    if (
      willProps?.payloadFormatIndicator === 1 &&
      opts.validatePayloadFormat &&
      !isWellFormedUtf8(payload)
    ) {
      throw new ProtocolError(
        ErrorCode.PayloadFormatInvalid,
        ReasonCode.PayloadFormatInvalid,
        "§3.1.3.2.3",
        "Will Payload is marked UTF-8 but is not well-formed UTF-8",
      );
    }
    const will: Will = { topic, payload, qos: willQos as QoS, retain: willRetain };
    if (willProps !== undefined) will.properties = willProps;
    packet.will = will;
  }
  if (usernameFlag) packet.username = r.utf8("User Name");
  if (passwordFlag) packet.password = r.binary("Password");
  r.done("CONNECT");
  return packet;
}

export function encodeConnect(p: ConnectPacket, alloc: Alloc): Uint8Array {
  const version = p.protocolVersion;
  if (version !== 3 && version !== 4 && version !== 5) {
    throw new InvalidArgumentError(`protocolVersion must be 3, 4 or 5, got ${String(version)}`);
  }
  const v5 = version === 5;
  const name = protocolName(version);
  const will = p.will;
  if (will !== undefined && will.qos !== 0 && will.qos !== 1 && will.qos !== 2) {
    throw new InvalidArgumentError(`Will QoS must be 0, 1 or 2, got ${String(will.qos)}`);
  }
  if (!v5 && p.password !== undefined && p.username === undefined) {
    throw new InvalidArgumentError(
      "MQTT 3.1.x allows a password only with a user name [MQTT-3.1.2-22]",
    );
  }
  checkU16(p.keepalive, "keepalive");
  const clientIdLen = utf8Length(p.clientId);
  let n = 2 + name.length + 1 + 1 + 2 + stringFieldLength(clientIdLen, "clientId");
  let propsLen = 0;
  if (v5) {
    propsLen = propertiesLength(p.properties, PacketType.CONNECT);
    n += varintLength(propsLen) + propsLen;
  }
  let willPropsLen = 0;
  let willTopicLen = 0;
  if (will !== undefined) {
    if (v5) {
      willPropsLen = propertiesLength(will.properties, WILL_PROPERTIES);
      n += varintLength(willPropsLen) + willPropsLen;
    }
    willTopicLen = utf8Length(will.topic);
    n += stringFieldLength(willTopicLen, "will topic") + 2 + will.payload.length;
    if (will.payload.length > 0xffff)
      throw new InvalidArgumentError("Will payload exceeds 65535 bytes");
  }
  let usernameLen = 0;
  if (p.username !== undefined) {
    usernameLen = utf8Length(p.username);
    n += stringFieldLength(usernameLen, "username");
  }
  if (p.password !== undefined) {
    if (p.password.length > 0xffff) throw new InvalidArgumentError("password exceeds 65535 bytes");
    n += 2 + p.password.length;
  }
  const { buf, pos: start } = startPacket(alloc, PacketType.CONNECT << 4, n);
  let pos = writeU16(buf, start, name.length);
  pos = writeUtf8(buf, pos, name, name.length);
  buf[pos++] = version;
  let flags = p.clean ? 0x02 : 0;
  if (will !== undefined) flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  if (p.password !== undefined) flags |= 0x40;
  if (p.username !== undefined) flags |= 0x80;
  buf[pos++] = flags;
  pos = writeU16(buf, pos, p.keepalive);
  if (v5) pos = writeProperties(buf, pos, p.properties, propsLen, PacketType.CONNECT);
  pos = writeUtf8(buf, writeU16(buf, pos, clientIdLen), p.clientId, clientIdLen);
  if (will !== undefined) {
    if (v5) pos = writeProperties(buf, pos, will.properties, willPropsLen, WILL_PROPERTIES);
    pos = writeUtf8(buf, writeU16(buf, pos, willTopicLen), will.topic, willTopicLen);
    pos = writeBinary(buf, pos, will.payload);
  }
  if (p.username !== undefined) {
    pos = writeUtf8(buf, writeU16(buf, pos, usernameLen), p.username, usernameLen);
  }
  if (p.password !== undefined) writeBinary(buf, pos, p.password);
  return buf;
}
