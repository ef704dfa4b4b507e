/** A message as the client hands it to the application. */
import type { Properties, PublishPacket, QoS } from "../protocol/index.js";

const decoder = new TextDecoder();

export interface Message {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** The PUBLISH's packet identifier (QoS 1 and 2), as the broker chose it. */
  packetId?: number;
  /** MQTT 5 properties (content type, user properties, response topic …). */
  properties: Properties | undefined;
  /** The payload as UTF-8 text. */
  text(): string;
  /** The payload parsed as JSON. */
  json<T = unknown>(): T;
}

export function toMessage(p: PublishPacket, topic: string): Message {
  const payload = p.payload;
  return {
    topic,
    payload,
    qos: p.qos,
    retain: p.retain,
    dup: p.dup,
    packetId: p.packetId,
    properties: p.properties,
    text: () => decoder.decode(payload),
    json: <T>() => JSON.parse(decoder.decode(payload)) as T,
  };
}
