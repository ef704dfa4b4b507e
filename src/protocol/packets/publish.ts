/**
 * PUBLISH (§3.3). Besides whole-packet encoding, {@link encodePublishHeader}
 * encodes everything but the payload, so one payload can be written to many
 * receivers without copying while each gets its own packet id, QoS, DUP,
 * retain flag and properties.
 */
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
  writeProperties,
} from "../properties.js";
import { ReasonCode } from "../reason-codes.js";
import { isWellFormedUtf8, utf8Length, writeUtf8 } from "../utf8.js";
import { type Reader, varintLength, writeU16 } from "../wire.js";
import {
  type Alloc,
  checkPacketId,
  defaultAlloc,
  sid,
  startPacket,
  stringFieldLength,
} from "./common.js";

export interface PublishPacket {
  type: "publish";
  /** Topic Name; empty only in MQTT 5 with a Topic Alias. */
  topic: string;
  /** Application message; a slice of the received bytes when decoded. */
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Required for QoS 1 and 2, absent for QoS 0 [MQTT-2.2.1-2]. */
  packetId?: number;
  properties?: Properties;
}

export interface PublishDecodeOptions {
  validatePayloadFormat: boolean;
}

function hasWildcardByte(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b === 0x23 || b === 0x2b) return true;
  }
  return false;
}

export function decodePublish(
  r: Reader,
  flags: number,
  version: ProtocolVersion,
  opts: PublishDecodeOptions,
): PublishPacket {
  const qos = (flags >> 1) & 0x03;
  if (qos === 3) throw malformed("MQTT-3.3.1-4", "PUBLISH must not have QoS 3");
  const dup = (flags & 0x08) !== 0;
  if (dup && qos === 0) throw malformed("MQTT-3.3.1-2", "DUP must be 0 on a QoS 0 PUBLISH");
  const topicStart = r.pos + 2;
  const topic = r.utf8("Topic Name");
  if (hasWildcardByte(r.buf, topicStart, r.pos)) {
    throw new ProtocolError(
      ErrorCode.TopicNameInvalid,
      ReasonCode.TopicNameInvalid,
      "MQTT-3.3.2-2",
      "a Topic Name must not contain wildcards",
    );
  }
  let packetId: number | undefined;
  if (qos > 0) {
    packetId = r.u16("Packet Identifier");
    if (packetId === 0) {
      throw malformed(
        sid(version, "MQTT-2.3.1-1", "MQTT-2.2.1-3"),
        "a QoS > 0 PUBLISH needs a non-zero Packet Identifier",
      );
    }
  }
  let properties: Properties | undefined;
  if (version === 5) properties = readProperties(r, PacketType.PUBLISH);
  if (topic.length === 0) {
    if (version !== 5)
      throw malformed("MQTT-4.7.3-1", "a Topic Name must be at least one character long");
    if (properties?.topicAlias === undefined) {
      throw protocolError("§3.3.2.1", "an empty Topic Name needs a Topic Alias");
    }
  }
  const payload = r.rest();
  if (
    properties?.payloadFormatIndicator === 1 &&
    opts.validatePayloadFormat &&
    !isWellFormedUtf8(payload)
  ) {
    throw new ProtocolError(
      ErrorCode.PayloadFormatInvalid,
      ReasonCode.PayloadFormatInvalid,
      "§3.3.2.3.2",
      "payload is marked UTF-8 (Payload Format Indicator 1) but is not well-formed UTF-8",
    );
  }
  const packet: PublishPacket = {
    type: "publish",
    topic,
    payload,
    qos: qos as QoS,
    retain: (flags & 0x01) !== 0,
    dup,
  };
  if (packetId !== undefined) packet.packetId = packetId;
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

function firstByte(p: PublishPacket): number {
  const qos = p.qos;
  if (qos !== 0 && qos !== 1 && qos !== 2) {
    throw new InvalidArgumentError(`PUBLISH QoS must be 0, 1 or 2, got ${String(qos)}`);
  }
  if (p.dup && qos === 0)
    throw new InvalidArgumentError("DUP must be 0 on a QoS 0 PUBLISH [MQTT-3.3.1-2]");
  return (PacketType.PUBLISH << 4) | (p.dup ? 0x08 : 0) | (qos << 1) | (p.retain ? 0x01 : 0);
}

/**
 * Encodes the fixed and variable header of `p`, for a payload of
 * `p.payload.length` bytes written right after it. The Remaining Length
 * counts the payload.
 */
export function encodePublishHeader(
  p: PublishPacket,
  version: ProtocolVersion,
  alloc: Alloc = defaultAlloc,
): Uint8Array {
  return encode(p, version, alloc, false);
}

/** Encodes the whole PUBLISH, payload included, into one buffer. */
export function encodePublish(
  p: PublishPacket,
  version: ProtocolVersion,
  alloc: Alloc,
): Uint8Array {
  return encode(p, version, alloc, true);
}

function encode(
  p: PublishPacket,
  version: ProtocolVersion,
  alloc: Alloc,
  withPayload: boolean,
): Uint8Array {
  const b0 = firstByte(p);
  const topic = p.topic;
  const topicLen = utf8Length(topic);
  let variable = stringFieldLength(topicLen, "topic");
  if (p.qos > 0) variable += 2;
  let propsLen = 0;
  if (version === 5) {
    propsLen = p.properties === undefined ? 0 : propertiesLength(p.properties, PacketType.PUBLISH);
    variable += varintLength(propsLen) + propsLen;
  }
  const payloadLen = p.payload.length;
  const remaining = variable + payloadLen;
  let buf: Uint8Array;
  let pos: number;
  if (withPayload) {
    ({ buf, pos } = startPacket(alloc, b0, remaining));
  } else {
    // The header buffer holds everything but the payload.
    const headerOnly = startPacket((size) => alloc(size - payloadLen), b0, remaining);
    buf = headerOnly.buf;
    pos = headerOnly.pos;
  }
  pos = writeU16(buf, pos, topicLen);
  pos = writeUtf8(buf, pos, topic, topicLen);
  if (p.qos > 0) pos = writeU16(buf, pos, checkPacketId(p.packetId, "a QoS > 0 PUBLISH"));
  if (version === 5) pos = writeProperties(buf, pos, p.properties, propsLen, PacketType.PUBLISH);
  if (withPayload) buf.set(p.payload, pos);
  return buf;
}
