/**
 * An application message inside the broker, as routed from a publisher (or
 * a will, or $SYS) to sessions. The payload is the slice the decoder produced;
 * it is never copied on its way to the receivers.
 */
import type { Properties, QoS } from "../../protocol/index.js";

export interface Message {
  topic: string;
  payload: Uint8Array;
  /** QoS as published; each receiver gets at most its subscription's QoS. */
  qos: QoS;
  /** RETAIN as published. */
  retain: boolean;
  /**
   * MQTT 5 properties forwarded unchanged (§3.3.2.3): Payload Format
   * Indicator, Content Type, Response Topic, Correlation Data, User
   * Properties in order. Topic Alias, Subscription Identifiers and Message
   * Expiry Interval are per delivery and never stored here.
   */
  properties: Properties | undefined;
  /** When the message expires (ms since the epoch), or 0 for never. */
  expiresAt: number;
  /** Client id of the publisher, for No Local; "" for the broker's own messages. */
  origin: string;
  /**
   * Id of the message in the durable store, once a persistent session or
   * the retained store refers to it (added once however many refer to it).
   */
  storeId?: number;
}

/** The properties a server forwards to subscribers (§3.3.2.3, [MQTT-3.3.2-4], [MQTT-3.3.2-17]). */
export function forwardedProperties(props: Properties | undefined): Properties | undefined {
  if (props === undefined) return undefined;
  const out: Properties = {};
  let any = false;
  for (const key of FORWARDED) {
    const value = props[key];
    if (value !== undefined) {
      (out as Record<string, unknown>)[key] = value;
      any = true;
    }
  }
  return any ? out : undefined;
}

const FORWARDED = [
  "payloadFormatIndicator",
  "contentType",
  "responseTopic",
  "correlationData",
  "userProperties",
] as const satisfies readonly (keyof Properties)[];

/** Seconds left before `expiresAt`, rounded up; 0 means expired. */
export function remainingSeconds(expiresAt: number, now: number): number {
  return Math.max(0, Math.ceil((expiresAt - now) / 1000));
}

/**
 * Makes the message own its payload when it is a small view of a larger
 * buffer (the decoder's zero-copy slice of a socket chunk). Called before a
 * message is kept beyond the current delivery — retained, queued, or left in
 * flight for an offline session — so a 10-byte message never pins a 64 KiB
 * read buffer. Idempotent; the copy is shared by every holder of the message.
 */
export function ownPayload(msg: Message): void {
  const p = msg.payload;
  if (p.byteLength + 64 < p.buffer.byteLength) msg.payload = p.slice();
}
