/**
 * Copies of stored records in one normal form shared by every store: fields
 * that are `undefined` are left out, arrays and byte arrays are not shared
 * with the caller's objects (except a message's payload, which is large and
 * treated as immutable everywhere). Every store returns records in this form,
 * so the same value reads back the same from any implementation.
 */
import type { Properties, Will } from "../../protocol/index.js";
import type {
  StoredDelivery,
  StoredInflight,
  StoredMessage,
  StoredSession,
  StoredSubscription,
} from "./types.js";

/** A copy of MQTT 5 properties without `undefined` fields; byte arrays and lists copied. */
export function copyProperties(properties: Properties): Properties {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(properties)) {
    if (value === undefined) continue;
    if (value instanceof Uint8Array) out[key] = new Uint8Array(value);
    else if (key === "userProperties") {
      out[key] = (value as Array<[string, string]>).map(([k, v]) => [k, v]);
    } else if (Array.isArray(value)) out[key] = [...value];
    else out[key] = value;
  }
  return out as Properties;
}

export function copyWill(will: Will): Will {
  const out: Will = {
    topic: will.topic,
    payload: new Uint8Array(will.payload),
    qos: will.qos,
    retain: will.retain,
  };
  if (will.properties !== undefined) out.properties = copyProperties(will.properties);
  return out;
}

export function copySubscription(s: StoredSubscription): StoredSubscription {
  const out: StoredSubscription = {
    filter: s.filter,
    qos: s.qos,
    noLocal: s.noLocal,
    retainAsPublished: s.retainAsPublished,
    retainHandling: s.retainHandling,
  };
  if (s.subscriptionId !== undefined) out.subscriptionId = s.subscriptionId;
  return out;
}

export function copySession(session: StoredSession): StoredSession {
  const out: StoredSession = {
    clientId: session.clientId,
    version: session.version,
    expiryInterval: session.expiryInterval,
    subscriptions: session.subscriptions.map(copySubscription),
    disconnectedAt: session.disconnectedAt,
  };
  if (session.will !== undefined) out.will = copyWill(session.will);
  if (session.willUsername !== undefined) out.willUsername = session.willUsername;
  return out;
}

export function copyDelivery(d: StoredDelivery): StoredDelivery {
  const out: StoredDelivery = { messageId: d.messageId, qos: d.qos, retain: d.retain };
  if (d.subscriptionIds !== undefined) out.subscriptionIds = [...d.subscriptionIds];
  if (d.bytes !== undefined) out.bytes = d.bytes;
  return out;
}

export function copyInflight(e: StoredInflight): StoredInflight {
  const out: StoredInflight = {
    messageId: e.messageId,
    qos: e.qos,
    retain: e.retain,
    packetId: e.packetId,
    state: e.state,
    order: e.order,
  };
  if (e.subscriptionIds !== undefined) out.subscriptionIds = [...e.subscriptionIds];
  if (e.bytes !== undefined) out.bytes = e.bytes;
  return out;
}

/** A message in normal form; the payload is shared, not copied. */
export function normalMessage(m: StoredMessage): StoredMessage {
  const out: StoredMessage = {
    topic: m.topic,
    payload: m.payload,
    qos: m.qos,
    retain: m.retain,
    expiresAt: m.expiresAt,
    origin: m.origin,
  };
  if (m.properties !== undefined) out.properties = copyProperties(m.properties);
  return out;
}

/** In-flight entries in send order (ties, which the broker never makes, by packet id). */
export function byOrder(a: StoredInflight, b: StoredInflight): number {
  return a.order - b.order || a.packetId - b.packetId;
}
