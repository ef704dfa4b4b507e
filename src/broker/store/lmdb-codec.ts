/**
 * Keys and values of the LMDB store, format 2 (see `lmdb.ts` for the layout).
 *
 * Keys are raw bytes compared bytewise (lmdb `keyEncoding: "binary"`):
 *
 * - a client's part is its id's UTF-8 bytes after one length byte (0..200),
 *   or byte 0xFF and the SHA-256 of the id for longer ids. It delimits
 *   itself, so one client's keys form one contiguous range that no other
 *   client's keys fall into.
 * - numbers are big-endian (8 bytes for message ids and seqs, which stay below
 *   2^53; 2 bytes for packet ids), so byte order is numeric order.
 * - a retained topic is byte 0x00 and its UTF-8 bytes (UTF-8 byte order is
 *   code point order), or byte 0x01 and its SHA-256 when longer than 1024 bytes
 *   (LMDB keys stop at 1978 bytes); the value carries the topic.
 *
 * Values are MessagePack (lmdb-js's msgpackr, maps for objects, no record
 * extension). Byte arrays are MessagePack `bin`: a payload is stored as it
 * is, never as base64 or JSON. Hot records are tuples to keep them small.
 */
import { createHash } from "node:crypto";
import type { Properties, QoS, Will } from "../../protocol/index.js";
import { copySession } from "./records.js";
import type { StoredDelivery, StoredInflight, StoredMessage, StoredSession } from "./types.js";

const MAX_INLINE_CLIENT_ID = 200;
const MAX_INLINE_TOPIC = 1024;

/** The key part that names one client (see the module comment). */
export function clientPart(clientId: string): Buffer {
  const utf8 = Buffer.from(clientId, "utf8");
  if (utf8.length <= MAX_INLINE_CLIENT_ID) {
    const out = Buffer.allocUnsafe(1 + utf8.length);
    out[0] = utf8.length;
    utf8.copy(out, 1);
    return out;
  }
  return Buffer.concat([Buffer.of(0xff), createHash("sha256").update(utf8).digest()]);
}

/** 8-byte big-endian key of a non-negative integer below 2^53. */
export function u64(n: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeUInt32BE(Math.floor(n / 0x1_0000_0000), 0);
  out.writeUInt32BE(n >>> 0, 4);
  return out;
}

export function readU64(buf: Uint8Array, offset: number): number {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return b.readUInt32BE(offset) * 0x1_0000_0000 + b.readUInt32BE(offset + 4);
}

/** Key of a queue entry: client part, seq. */
export function queueKey(client: Buffer, seq: number): Buffer {
  return Buffer.concat([client, u64(seq)]);
}

/** Key of an in-flight or inbound QoS 2 entry: client part, packet id. */
export function packetKey(client: Buffer, packetId: number): Buffer {
  const out = Buffer.allocUnsafe(client.length + 2);
  client.copy(out, 0);
  out.writeUInt16BE(packetId & 0xffff, client.length);
  return out;
}

/** An exclusive end for every key of one client (after all of its fixed-width suffixes). */
export function clientEnd(client: Buffer): Buffer {
  return Buffer.concat([client, Buffer.alloc(9, 0xff)]);
}

export function retainedKey(topic: string): Buffer {
  const utf8 = Buffer.from(topic, "utf8");
  if (utf8.length <= MAX_INLINE_TOPIC) return Buffer.concat([Buffer.of(0), utf8]);
  return Buffer.concat([Buffer.of(1), createHash("sha256").update(utf8).digest()]);
}

// ---- values ----------------------------------------------------------------------

/** A plain Uint8Array view of bytes decoded as a Node Buffer (no copy). */
function bytes(value: Uint8Array): Uint8Array {
  return Buffer.isBuffer(value)
    ? new Uint8Array(value.buffer, value.byteOffset, value.length)
    : value;
}

function decodeProperties(raw: Record<string, unknown>): Properties {
  for (const key of Object.keys(raw)) {
    const value = raw[key];
    if (value instanceof Uint8Array) raw[key] = bytes(value);
  }
  return raw as Properties;
}

type MessageTuple = [string, Uint8Array, QoS, boolean, number, string, Record<string, unknown>?];

export function encodeMessage(m: StoredMessage): unknown {
  const tuple: MessageTuple = [m.topic, m.payload, m.qos, m.retain, m.expiresAt, m.origin];
  if (m.properties !== undefined) tuple.push(withoutUndefined(m.properties));
  return tuple;
}

export function decodeMessage(value: unknown): StoredMessage {
  const [topic, payload, qos, retain, expiresAt, origin, properties] = value as MessageTuple;
  const out: StoredMessage = { topic, payload: bytes(payload), qos, retain, expiresAt, origin };
  if (properties !== undefined) out.properties = decodeProperties(properties);
  return out;
}

/**
 * The optional tail of a queue or in-flight tuple: `subscriptionIds` (null
 * when absent but `bytes` follows), then `bytes`. Tuples written without
 * `bytes` (format 1) end earlier and decode with `bytes` undefined.
 */
type OptionalTail = [(number[] | null)?, number?];

function pushTail(tuple: unknown[], d: StoredDelivery): void {
  if (d.bytes !== undefined) tuple.push(d.subscriptionIds ?? null, d.bytes);
  else if (d.subscriptionIds !== undefined) tuple.push(d.subscriptionIds);
}

function readTail(out: StoredDelivery, [subscriptionIds, bytes]: OptionalTail): void {
  if (subscriptionIds != null) out.subscriptionIds = subscriptionIds;
  if (bytes !== undefined) out.bytes = bytes;
}

type DeliveryTuple = [number, QoS, boolean, ...OptionalTail];

export function encodeDelivery(d: StoredDelivery): unknown {
  const tuple: DeliveryTuple = [d.messageId, d.qos, d.retain];
  pushTail(tuple, d);
  return tuple;
}

export function decodeDelivery(value: unknown): StoredDelivery {
  const [messageId, qos, retain, ...tail] = value as DeliveryTuple;
  const out: StoredDelivery = { messageId, qos, retain };
  readTail(out, tail);
  return out;
}

/** Just the `bytes` of an encoded queue entry (0 when absent), without building the record. */
export function deliveryBytes(value: unknown): number {
  return (value as DeliveryTuple)[4] ?? 0;
}

type InflightTuple = [number, QoS, boolean, number, 0 | 1, number, ...OptionalTail];

export function encodeInflight(e: StoredInflight): unknown {
  const tuple: InflightTuple = [
    e.messageId,
    e.qos,
    e.retain,
    e.packetId,
    e.state === "pubrel" ? 1 : 0,
    e.order,
  ];
  pushTail(tuple, e);
  return tuple;
}

export function decodeInflight(value: unknown): StoredInflight {
  const [messageId, qos, retain, packetId, state, order, ...tail] = value as InflightTuple;
  const out: StoredInflight = {
    messageId,
    qos,
    retain,
    packetId,
    state: state === 1 ? "pubrel" : "publish",
    order,
  };
  readTail(out, tail);
  return out;
}

/** A queue floor (`floors` table): [client id, floor seq]. */
export type FloorTuple = [string, number];

/** Sessions are maps (rarely written, and free to grow fields). */
export function encodeSession(s: StoredSession): unknown {
  return copySession(s);
}

export function decodeSession(value: unknown): StoredSession {
  const session = value as StoredSession;
  if (session.will !== undefined) session.will = decodeWill(session.will);
  return session;
}

function decodeWill(will: Will): Will {
  will.payload = bytes(will.payload);
  if (will.properties !== undefined) {
    will.properties = decodeProperties(will.properties as Record<string, unknown>);
  }
  return will;
}

/** A retained entry: [topic, message id]. */
export type RetainedTuple = [string, number];

function withoutUndefined(properties: Properties): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(properties)) if (value !== undefined) out[key] = value;
  return out;
}
