/**
 * Fuzzing a running broker over TCP: at least 100,000 malformed and mutated
 * packets over many short connections, while a well-behaved publisher and
 * subscriber keep exchanging numbered QoS 1 messages through it.
 *
 * The fuzz clients run in a worker thread (the broker keeps the main thread),
 * 48 connections at a time, each of one of two kinds:
 * - before CONNECT: one input (random bytes, random bodies behind a valid
 *   fixed header, mutated CONNECTs, mutated other packets), then EOF;
 * - after a valid CONNECT (3.1, 3.1.1 or 5.0; sometimes a subscription to
 *   `#` first): a batch of 1–24 inputs, each followed by PINGREQ, written at
 *   once in up to three chunks cut anywhere. Before the last input they are
 *   mostly gentle mutations that still decode (edge values in fields, one bit
 *   flipped or byte overwritten), so the connection lives on and the
 *   handlers see them; otherwise, and last, any mutation — mostly malformed.
 *
 * A decoder fed the same stream ("the mirror") says what the broker must do:
 * answer every PINGREQ it can read, and close the connection at a malformed
 * packet. Only inputs the broker provably read count: those before the last
 * PINGRESP, and the one it stopped at. A connection where the broker neither
 * answers nor closes within ANSWER_MS fails the test.
 *
 * Mutations: bit flips, insertions, deletions, truncation, Remaining Length
 * and length-prefix tampering, splices, wrong fixed-header flags, malformed
 * UTF-8 in strings, huge announced lengths, packet id 0, edge values.
 *
 * Afterwards: the subscriber got every message, in order, once, and kept
 * getting them during the run; no exception reached the process; the broker
 * holds only the well-behaved clients; the fuzz sessions expire; the heap is
 * back within bounds; what the broker wrote to fuzz clients always decoded;
 * and the fuzz reached the error paths.
 *
 * The seed is in the test name; FUZZ_SEED reruns one, FUZZ_SCALE multiplies
 * the input count. The inputs of fuzz connection k depend only on the seed
 * and k; a failure names the last connections with their inputs in hex.
 */
import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import type { Broker } from "../../src/broker/index.js";
import {
  type ConnectPacket,
  Decoder,
  encode,
  type Packet,
  type ProtocolVersion,
  type QoS,
} from "../../src/protocol/index.js";
import { writeVarint } from "../../src/protocol/wire.js";
import { sleep, startBroker, tcpPort } from "../helpers/broker.js";

const SEED = Number(process.env.FUZZ_SEED ?? 0x62726b72) >>> 0;
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const TARGET_INPUTS = Math.round(100_000 * SCALE);
/** Fuzz connections open at once. */
const CONCURRENCY = 48;
/** How long the broker has to answer the PINGREQ after an input, or to close the connection. */
const ANSWER_MS = 10_000;
const seedHex = (s: number) => `0x${(s >>> 0).toString(16).padStart(8, "0")}`;

/** mulberry32, as in the codec fuzz test: fully determined by its seed. */
class Rng {
  #a: number;
  constructor(seed: number) {
    this.#a = seed >>> 0;
  }
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
  /** Lengths skewed short. */
  length(max: number): number {
    const r = this.next();
    return Math.floor(r * r * r * (max + 1));
  }
}

/** The seed of fuzz connection `k`: depends on nothing else, whatever the interleaving. */
const connectionSeed = (k: number) =>
  (Math.imul(SEED ^ 0x9e3779b9, 0x85ebca6b) + k * 0x27d4eb2f) >>> 0;

const te = new TextEncoder();
const b = (s: string) => te.encode(s);

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const hex = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
/** An input for a failure message: its hex, cut after 128 bytes (the seed and k recreate it). */
const brief = (bytes: Uint8Array) =>
  bytes.length <= 128 ? hex(bytes) : `${hex(bytes.subarray(0, 128))}…(${bytes.length} bytes)`;

// ---------------------------------------------------------------------------
// Valid packets a client may send (and a few it may not), for one version.
// Strings carry the marker `XXXX`, which the UTF-8 mutation overwrites.

function connectPacket(rng: Rng, version: ProtocolVersion, clientId: string): ConnectPacket {
  const p: ConnectPacket = {
    type: "connect",
    protocolVersion: version,
    // 3.1.x clean session 0 lives for limits.persistentSessionExpiry seconds.
    clean: rng.chance(0.7),
    keepalive: rng.pick([0, 0, 30, 600]),
    clientId,
  };
  if (rng.chance(0.3)) {
    p.username = "user-XXXX";
    p.password = rng.bytes(rng.int(12));
  }
  if (rng.chance(0.3)) {
    p.will = {
      topic: rng.pick(["fz/will/XXXX", "fz/will"]),
      payload: rng.bytes(rng.int(40)),
      qos: rng.int(3) as QoS,
      retain: rng.chance(0.3),
    };
    if (version === 5 && rng.chance(0.5)) {
      p.will.properties = {
        willDelayInterval: rng.int(2),
        messageExpiryInterval: 1 + rng.int(5),
        contentType: "text/XXXX",
        userProperties: [["XXXX", "v"]],
      };
    }
  }
  if (version === 5) {
    p.properties = { sessionExpiryInterval: rng.int(3) };
    if (rng.chance(0.5)) p.properties.receiveMaximum = 1 + rng.int(30);
    if (rng.chance(0.3)) p.properties.topicAliasMaximum = rng.int(10);
    if (rng.chance(0.2)) p.properties.maximumPacketSize = 64 + rng.int(512);
    if (rng.chance(0.2)) p.properties.requestProblemInformation = rng.chance(0.5);
    if (rng.chance(0.2)) p.properties.userProperties = [["XXXX", "1"]];
  }
  return p;
}

const TOPICS = ["fz/XXXX", "fz/a/b", "fz/ü/温度/XXXX", "fz/XXXX/c", "XXXX"];
const FILTERS = ["fz/#", "#", "+/+", "fz/+/XXXX", "$share/g/fz/#", "$share/XXXX/#", "fz/XXXX"];

/** A packet a client may send (`connected`: only those after which it stays connected). */
function clientPacket(rng: Rng, version: ProtocolVersion, connected = false): Packet {
  const v5 = version === 5;
  const packetId = rng.chance(0.9) ? 1 + rng.int(20) : 1 + rng.int(65_535);
  switch (rng.int(connected ? 13 : 16)) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4: {
      const qos = rng.int(3) as QoS;
      const p: Packet = {
        type: "publish",
        topic: rng.pick(TOPICS),
        payload: rng.chance(0.3) ? b("payload XXXX") : rng.bytes(rng.length(400)),
        qos,
        retain: rng.chance(0.2),
        dup: qos > 0 && rng.chance(0.1),
      };
      if (qos > 0) p.packetId = packetId;
      if (v5 && rng.chance(0.5)) {
        p.properties = {};
        if (rng.chance(0.4)) {
          p.properties.topicAlias = 1 + rng.int(5);
          if (rng.chance(0.4)) p.topic = "";
        }
        if (rng.chance(0.3)) {
          p.properties.payloadFormatIndicator = 1;
          p.payload = b("text XXXX");
        }
        if (rng.chance(0.3)) p.properties.messageExpiryInterval = rng.int(5);
        if (rng.chance(0.3)) p.properties.responseTopic = "fz/reply/XXXX";
        if (rng.chance(0.3)) p.properties.correlationData = rng.bytes(rng.int(8));
        if (rng.chance(0.3)) p.properties.userProperties = [["XXXX", "v"]];
        if (rng.chance(0.2)) p.properties.contentType = "XXXX";
      }
      return p;
    }
    case 5:
      return v5
        ? { type: "puback", packetId, reasonCode: rng.pick([0, 0x10, 0x80]) }
        : { type: "puback", packetId };
    case 6:
      return v5 ? { type: "pubrec", packetId, reasonCode: 0 } : { type: "pubrec", packetId };
    case 7:
      return v5 ? { type: "pubrel", packetId, reasonCode: 0 } : { type: "pubrel", packetId };
    case 8:
      return v5 ? { type: "pubcomp", packetId, reasonCode: 0 } : { type: "pubcomp", packetId };
    case 9:
    case 10: {
      const n = 1 + rng.int(3);
      const subscriptions = [];
      for (let i = 0; i < n; i++) {
        const s = { topicFilter: rng.pick(FILTERS), qos: rng.int(3) as QoS };
        subscriptions.push(
          v5
            ? {
                ...s,
                noLocal: rng.chance(0.3),
                retainAsPublished: rng.chance(0.3),
                retainHandling: rng.int(3) as 0 | 1 | 2,
              }
            : s,
        );
      }
      const p: Packet = { type: "subscribe", packetId, subscriptions };
      if (v5 && rng.chance(0.3)) p.properties = { subscriptionIdentifier: 1 + rng.int(100) };
      return p;
    }
    case 11:
      return { type: "unsubscribe", packetId, topicFilters: [rng.pick(FILTERS)] };
    case 12:
      return { type: "pingreq" };
    case 13:
      if (!v5) return { type: "disconnect" };
      return rng.chance(0.5)
        ? { type: "disconnect", reasonCode: rng.pick([0, 4]) }
        : { type: "auth", reasonCode: 0x18, properties: { authenticationMethod: "XXXX" } };
    case 14:
      return connectPacket(rng, version, `fz-XXXX-${rng.int(1000)}`);
    default:
      // Only servers send these.
      return rng.pick<Packet>([
        { type: "connack", sessionPresent: false, reasonCode: 0 },
        { type: "suback", packetId, reasonCodes: [0] },
        { type: "pingresp" },
      ]);
  }
}

// ---------------------------------------------------------------------------
// Mutations.

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xc0, 0xed, 0xef, 0xf4, 0xff, 0x23, 0x2b, 0x2f];

/** Four bytes that are not well-formed MQTT UTF-8 (or are characters MQTT forbids). */
const BAD_UTF8 = [
  [0xff, 0x41, 0x41, 0x41], // never valid
  [0xc0, 0x80, 0x41, 0x41], // overlong NUL
  [0xed, 0xa0, 0x80, 0x41], // UTF-16 surrogate
  [0x41, 0x00, 0x41, 0x41], // U+0000 [MQTT-1.5.4-2]
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0x41, 0x80, 0x41, 0x41], // lone continuation byte
  [0xe2, 0x82, 0x41, 0x41], // truncated sequence
  [0x23, 0x41, 0x2b, 0x41], // wildcards inside a topic name
];

/** Byte offset of the Remaining Length's end (the variable header's start). */
function headerEnd(bytes: Uint8Array): number {
  let i = 1;
  while (i < bytes.length && i < 5 && (bytes[i] as number) & 0x80) i++;
  return Math.min(i + 1, bytes.length);
}

function withRemainingLength(bytes: Uint8Array, field: Uint8Array): Uint8Array {
  return concat([bytes.subarray(0, 1), field, bytes.subarray(headerEnd(bytes))]);
}

function varint(n: number): Uint8Array {
  const tmp = new Uint8Array(4);
  return tmp.subarray(0, writeVarint(tmp, 0, n));
}

/** One generic mutation round (the codec fuzz test's set). */
function mutateOnce(rng: Rng, bytes: Uint8Array, version: ProtocolVersion): Uint8Array {
  const n = bytes.length;
  switch (rng.int(8)) {
    case 0: {
      if (n === 0) return bytes;
      const flips = 1 + rng.int(3);
      for (let i = 0; i < flips; i++) bytes[rng.int(n)] ^= 1 << rng.int(8);
      return bytes;
    }
    case 1: {
      const at = rng.int(n + 1);
      return concat([bytes.subarray(0, at), rng.bytes(1 + rng.int(4)), bytes.subarray(at)]);
    }
    case 2: {
      if (n === 0) return bytes;
      const at = rng.int(n);
      const len = 1 + rng.int(Math.min(4, n - at));
      return concat([bytes.subarray(0, at), bytes.subarray(at + len)]);
    }
    case 3:
      return bytes.subarray(0, rng.int(n + 1));
    case 4:
      if (n > 0) bytes[rng.int(n)] = rng.pick(INTERESTING);
      return bytes;
    case 5: {
      // Remaining Length off by a little.
      if (n < 2) return bytes;
      const rest = n - headerEnd(bytes);
      return withRemainingLength(bytes, varint(Math.max(0, rest + rng.int(9) - 4)));
    }
    case 6: {
      // A two-byte length prefix (string, binary data or packet id) tampered with.
      if (n < 4) return bytes;
      const at = 2 + rng.int(n - 3);
      const v = rng.pick([
        0,
        1,
        0xff,
        0xffff,
        ((bytes[at] as number) << 8) + (bytes[at + 1] as number) + rng.int(7) - 3,
      ]);
      bytes[at] = (v >>> 8) & 0xff;
      bytes[at + 1] = v & 0xff;
      return bytes;
    }
    default: {
      // Splice with another packet of the same version.
      const other = encode(clientPacket(rng, version), version);
      return concat([bytes.subarray(0, rng.int(n + 1)), other.subarray(rng.int(other.length + 1))]);
    }
  }
}

const EDGE_TOPICS = [
  "",
  "#",
  "fz/+",
  "/",
  "//",
  "$SYS/fz",
  "$share/g/fz",
  "fz/".repeat(100),
  "\u{1F600}",
];
const EDGE_FILTERS = [
  "",
  "fz/#/x",
  "#/",
  "fz+",
  "+/+/#",
  "$share/",
  "$share/g",
  "$share/g/",
  "$share/+/fz",
  "$share/g/#",
  "$SYS/#",
  "+".repeat(1).concat("/+".repeat(150)),
];
const EDGE_NUMBERS = [0, 1, 0xff, 0xffff, 0xffff_ffff];

/**
 * Edge values in the fields of a well-formed packet: topics and filters the
 * broker must refuse or treat specially, packet id 0, topic alias 0 or past
 * the maximum, Subscription Identifiers from a client, invalid UTF-8 in a
 * payload marked as text, many subscriptions or user properties. Returns
 * false when the packet has no such field.
 */
function edgeValues(rng: Rng, p: Packet, version: ProtocolVersion): boolean {
  const v5 = version === 5;
  switch (p.type) {
    case "publish": {
      const r = rng.int(v5 ? 9 : 4);
      if (r === 0) p.topic = rng.pick(EDGE_TOPICS);
      else if (r === 1) p.packetId = rng.pick([0, 0xffff]);
      else if (r === 2) {
        p.qos = rng.int(3) as QoS;
        p.dup = rng.chance(0.5);
        p.packetId = p.qos > 0 ? 1 + rng.int(20) : undefined;
      } else if (r === 3)
        p.payload = new Uint8Array(rng.chance(0.1) ? MAX_PACKET - 64 : rng.pick([0, 65_536]));
      else {
        p.properties ??= {};
        if (r === 4) p.properties.topicAlias = rng.pick([0, 64, 65, 0xffff]);
        else if (r === 5) p.properties.subscriptionIdentifiers = [1 + rng.int(10)];
        else if (r === 6) {
          p.properties.payloadFormatIndicator = 1;
          p.payload = Uint8Array.of(0x61, 0xff, 0xc0, 0x80);
        } else if (r === 7) p.properties.messageExpiryInterval = rng.pick(EDGE_NUMBERS);
        else p.properties.responseTopic = rng.pick(["fz/+", "#", ""]);
      }
      return true;
    }
    case "subscribe": {
      const r = rng.int(v5 ? 5 : 3);
      if (r === 0)
        p.subscriptions[0] = {
          ...p.subscriptions[0],
          topicFilter: rng.pick(EDGE_FILTERS),
        } as (typeof p.subscriptions)[0];
      else if (r === 1) p.packetId = 0;
      else if (r === 2)
        p.subscriptions = Array.from({ length: 2 + rng.int(100) }, (_, i) => ({
          topicFilter: `fz/${i}/#`,
          qos: rng.int(3) as QoS,
        }));
      else if (r === 3) p.properties = { subscriptionIdentifier: rng.pick([1, 268_435_455]) };
      else p.subscriptions[0] = { topicFilter: "$share/g/fz/#", qos: 1, noLocal: true };
      return true;
    }
    case "unsubscribe":
      if (rng.chance(0.3)) p.packetId = 0;
      else
        p.topicFilters = rng.chance(0.5)
          ? [rng.pick(EDGE_FILTERS)]
          : Array.from({ length: 100 }, (_, i) => `fz/${i}/#`);
      return true;
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      if (v5 && rng.chance(0.5)) {
        p.reasonCode = rng.pick([0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x92, 0x97, 0x99]);
        p.properties = {
          reasonString: "XXXX",
          userProperties: Array.from(
            { length: 1 + rng.int(50) },
            () => ["k", "v"] as [string, string],
          ),
        };
      } else p.packetId = rng.pick([0, 0xffff, 1 + rng.int(20)]);
      return true;
    default:
      return false;
  }
}

/**
 * An input meant to keep the connection open: a packet a connected client may
 * send with edge values in its fields, or with one bit flipped or one byte
 * overwritten. The encoder refuses some edge values; then a byte is mutated.
 */
function gentleInput(rng: Rng, version: ProtocolVersion): Uint8Array {
  const p = clientPacket(rng, version, true);
  if (rng.chance(0.5) && edgeValues(rng, p, version)) {
    try {
      return encode(p, version);
    } catch {
      // Not encodable: fall through to a byte mutation of a fresh packet.
    }
  }
  const bytes = Uint8Array.from(encode(clientPacket(rng, version, true), version));
  const at = rng.int(bytes.length);
  if (rng.chance(0.5)) bytes[at] ^= 1 << rng.int(8);
  else bytes[at] = rng.pick(INTERESTING);
  return bytes;
}

/** Which first-byte flags each type must carry; PUBLISH's come from its QoS/DUP/RETAIN. */
const REQUIRED_FLAGS: Record<number, number> = { 6: 2, 8: 2, 10: 2 };

/** A mutated packet, by one targeted mutation or 1–3 generic rounds. */
function mutate(rng: Rng, packet: Uint8Array, version: ProtocolVersion): Uint8Array {
  let bytes: Uint8Array = Uint8Array.from(packet);
  switch (rng.int(10)) {
    case 0: {
      // Wrong fixed-header flags [MQTT-2.2.2-1/2]; for PUBLISH, QoS 3 or DUP on QoS 0.
      const type = (bytes[0] as number) >> 4;
      if (type === 3) bytes[0] = rng.chance(0.5) ? 0x36 | rng.int(2) : 0x38 | rng.int(2);
      else {
        const required = REQUIRED_FLAGS[type] ?? 0;
        let flags = rng.int(16);
        if (flags === required) flags ^= 1 << rng.int(4);
        bytes[0] = (type << 4) | flags;
      }
      return bytes;
    }
    case 1: {
      // Malformed UTF-8 in one marked string.
      const hits: number[] = [];
      for (let i = 0; i + 4 <= bytes.length; i++) {
        if (
          bytes[i] === 0x58 &&
          bytes[i + 1] === 0x58 &&
          bytes[i + 2] === 0x58 &&
          bytes[i + 3] === 0x58
        )
          hits.push(i);
      }
      if (hits.length === 0) return mutateOnce(rng, bytes, version);
      bytes.set(rng.pick(BAD_UTF8), rng.pick(hits));
      return bytes;
    }
    case 2: {
      // A huge announced length: beyond the protocol, beyond maxPacketSize, or just under it.
      const pick = rng.int(4);
      if (pick === 0) return withRemainingLength(bytes, Uint8Array.of(0xff, 0xff, 0xff, 0x7f));
      if (pick === 1)
        return withRemainingLength(bytes, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x7f));
      if (pick === 2) return withRemainingLength(bytes, varint(MAX_PACKET + 1 + rng.int(1000)));
      return withRemainingLength(bytes, varint(MAX_PACKET - 16 - rng.int(1000)));
    }
    case 3: {
      // Packet Identifier 0 where one is required [MQTT-2.2.1-3].
      const type = (bytes[0] as number) >> 4;
      const at = headerEnd(bytes);
      if (type === 3) {
        const topicLen = ((bytes[at] as number) << 8) | (bytes[at + 1] as number);
        const id = at + 2 + topicLen;
        if (id + 1 < bytes.length) bytes.set([0, 0], id);
      } else if (at + 1 < bytes.length) bytes.set([0, 0], at);
      return bytes;
    }
    default: {
      const rounds = 1 + rng.int(3);
      for (let r = 0; r < rounds; r++) bytes = mutateOnce(rng, bytes, version);
      return bytes;
    }
  }
}

const FIRST_BYTES = [
  0x10, 0x30, 0x32, 0x34, 0x3b, 0x40, 0x50, 0x62, 0x70, 0x82, 0xa2, 0xc0, 0xe0, 0xf0,
];

/** A valid fixed header and a matching Remaining Length, then random bytes. */
function randomBody(rng: Rng): Uint8Array {
  const body = rng.bytes(rng.length(300));
  return concat([Uint8Array.of(rng.pick(FIRST_BYTES)), varint(body.length), body]);
}

/** An input sent after a valid CONNECT. */
function connectedInput(rng: Rng, version: ProtocolVersion): Uint8Array {
  const r = rng.next();
  if (r < 0.06) return rng.bytes(1 + rng.length(256));
  if (r < 0.12) return randomBody(rng);
  return mutate(rng, encode(clientPacket(rng, version), version), version);
}

/** An input sent as the first bytes of a connection. */
function firstInput(rng: Rng, k: number): Uint8Array {
  const r = rng.next();
  if (r < 0.15) return rng.bytes(1 + rng.length(256));
  if (r < 0.25) return randomBody(rng);
  const version = rng.pick<ProtocolVersion>([3, 4, 5]);
  if (r < 0.4) return mutate(rng, encode(clientPacket(rng, version), version), version);
  // Mutated CONNECTs; a few are still valid and connect.
  const connect = encode(connectPacket(rng, version, `fz-XXXX-${k}`), version);
  if (rng.chance(0.2)) {
    // A protocol name or level the broker does not speak.
    const bytes = Uint8Array.from(connect);
    const at = headerEnd(bytes);
    const nameLen = ((bytes[at] as number) << 8) | (bytes[at + 1] as number);
    if (rng.chance(0.5)) bytes[at + 2 + rng.int(nameLen)] ^= 0x20;
    else bytes[at + 2 + nameLen] = rng.pick([0, 1, 2, 6, 7, 0x83, 0x84, 0xff]);
    return bytes;
  }
  return mutate(rng, connect, version);
}

// ---------------------------------------------------------------------------
// Peers.

const MAX_PACKET = 256 * 1024;
const PINGREQ = Uint8Array.of(0xc0, 0x00);

/** A TCP peer that writes raw bytes and decodes what the broker sends back. */
class Peer {
  readonly socket: Socket;
  readonly decoder: Decoder | undefined;
  readonly closed: Promise<void>;
  isClosed = false;
  /** What the broker sent that the decoder refused (a broker bug), with the chunk. */
  decodeError: string | undefined;
  onPacket: (p: Packet) => void = () => {};

  private constructor(socket: Socket, version: ProtocolVersion | undefined) {
    this.socket = socket;
    this.decoder = version === undefined ? undefined : new Decoder({ version });
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.isClosed = true;
        resolve();
      }),
    );
    socket.on("error", () => {});
    const decoder = this.decoder;
    if (decoder === undefined) socket.resume();
    else
      socket.on("data", (chunk: Buffer) => {
        if (this.decodeError !== undefined) return;
        try {
          decoder.push(chunk, (p) => this.onPacket(p));
        } catch (err) {
          this.decodeError = `${String(err)} in ${brief(chunk)}`;
        }
      });
  }

  /** Connects to 127.0.0.1:`port`; decodes the broker's packets at `version` if given. */
  static open(port: number, version: ProtocolVersion | undefined): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const socket = netConnect(port, "127.0.0.1");
      socket.setNoDelay(true);
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new Peer(socket, version));
      });
    });
  }

  write(bytes: Uint8Array): void {
    if (!this.isClosed && this.socket.writable) this.socket.write(bytes);
  }

  send(p: Packet, version: ProtocolVersion): void {
    this.write(encode(p, version));
  }
}

/** Waits for `cond` to hold, polling; false on timeout. */
async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}

// ---------------------------------------------------------------------------
// The well-behaved pair: numbered QoS 1 messages, a few in flight at a time.

class WellBehaved {
  readonly topic = `wb/${seedHex(SEED)}/seq`;
  pub!: Peer;
  sub!: Peer;
  published = 0;
  acked = 0;
  readonly received: number[] = [];
  /** Longest time without a message arriving while the pair runs, in ms. */
  longestGap = 0;
  #lastArrival = 0;
  readonly badDeliveries: string[] = [];
  #stopping = false;
  #inflight = new Map<number, number>();
  #nextId = 1;
  #rng = new Rng(SEED ^ 0x5bd1e995);
  #stopped: Promise<void> | undefined;
  #resolveStopped: (() => void) | undefined;

  async start(port: number): Promise<void> {
    this.sub = await Peer.open(port, 5);
    const subReady = new Promise<void>((resolve, reject) => {
      this.sub.onPacket = (p) => {
        if (p.type === "connack") {
          if (p.reasonCode !== 0) reject(new Error(`subscriber refused: ${p.reasonCode}`));
          this.sub.send(
            {
              type: "subscribe",
              packetId: 1,
              subscriptions: [{ topicFilter: this.topic, qos: 1 }],
            },
            5,
          );
        } else if (p.type === "suback") {
          if (p.reasonCodes[0] !== 1) reject(new Error(`SUBACK ${p.reasonCodes.join(",")}`));
          resolve();
        } else if (p.type === "publish") {
          const n = Number(new TextDecoder().decode(p.payload).split(" ")[0]);
          if (p.topic !== this.topic || p.qos !== 1 || p.dup || p.packetId === undefined)
            this.badDeliveries.push(`${p.topic} qos ${p.qos} dup ${p.dup} #${n}`);
          this.received.push(n);
          const now = Date.now();
          if (this.#lastArrival !== 0 && !this.#stopping)
            this.longestGap = Math.max(this.longestGap, now - this.#lastArrival);
          this.#lastArrival = now;
          if (p.packetId !== undefined) this.sub.send({ type: "puback", packetId: p.packetId }, 5);
        } else this.badDeliveries.push(`subscriber got ${p.type}`);
      };
    });
    this.sub.send(
      {
        type: "connect",
        protocolVersion: 5,
        clean: true,
        keepalive: 0,
        clientId: `wb-sub-${seedHex(SEED)}`,
      },
      5,
    );
    await subReady;

    this.pub = await Peer.open(port, 4);
    const pubReady = new Promise<void>((resolve, reject) => {
      this.pub.onPacket = (p) => {
        if (p.type === "connack") {
          if (p.reasonCode !== 0) reject(new Error(`publisher refused: ${p.reasonCode}`));
          resolve();
        } else if (p.type === "puback") {
          if (!this.#inflight.delete(p.packetId))
            this.badDeliveries.push(`unexpected PUBACK ${p.packetId}`);
          this.acked++;
          // Paced (about a message a millisecond), so the pair is traffic, not a load test.
          setTimeout(() => this.#fill(), 1);
        } else this.badDeliveries.push(`publisher got ${p.type}`);
      };
    });
    this.pub.send(
      {
        type: "connect",
        protocolVersion: 4,
        clean: true,
        keepalive: 0,
        clientId: `wb-pub-${seedHex(SEED)}`,
      },
      4,
    );
    await pubReady;
    this.#fill();
  }

  /** Keeps two messages in flight until told to stop. */
  #fill(): void {
    if (this.#stopping) {
      if (this.#inflight.size === 0) this.#resolveStopped?.();
      return;
    }
    while (this.#inflight.size < 2) {
      const n = this.published++;
      const id = this.#nextId;
      this.#nextId = id === 65_535 ? 1 : id + 1;
      this.#inflight.set(id, n);
      const padding = "p".repeat(this.#rng.int(200));
      this.pub.send(
        {
          type: "publish",
          topic: this.topic,
          payload: b(`${n} ${padding}`),
          qos: 1,
          retain: false,
          dup: false,
          packetId: id,
        },
        4,
      );
    }
  }

  /** Stops publishing; resolves once every PUBLISH sent is acknowledged. */
  stop(): Promise<void> {
    this.#stopping = true;
    this.#stopped ??= new Promise((resolve) => {
      this.#resolveStopped = resolve;
      if (this.#inflight.size === 0) resolve();
    });
    return this.#stopped;
  }

  close(): void {
    this.pub?.socket.destroy();
    this.sub?.socket.destroy();
  }
}

// ---------------------------------------------------------------------------
// Fuzz connections.

interface FuzzStats {
  inputs: number;
  /** Inputs after CONNECT that the codec itself rejects. */
  malformed: number;
  connections: number;
  preConnect: number;
  connackRefused: number;
  closedByBroker: number;
  stalled: number;
  survivedBatch: number;
  /** Broker output the client-side decoder refused. */
  decodeErrors: string[];
  /** Inputs after which the broker neither answered PINGREQ nor closed as it should. */
  unanswered: string[];
}

/** Inputs of the fuzz connections in flight, for a failure message. */
const inFlight = new Map<number, string[]>();
/** Inputs of the last connections that ended. */
const recent: string[] = [];

/** Resolves when the broker sent a packet `done` accepts, closed the connection, or `ms` passed. */
function waitFor(
  peer: Peer,
  ms: number,
  done: (p: Packet) => boolean,
): Promise<"closed" | "done" | "stall"> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: "closed" | "done" | "stall") => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      peer.onPacket = () => {};
      resolve(r);
    };
    const timer = setTimeout(() => finish("stall"), ms);
    peer.onPacket = (p) => {
      if (done(p)) finish("done");
    };
    void peer.closed.then(() => finish("closed"));
  });
}

/** Packets after which a connection goes on (unless a handler refuses their content). */
const SURVIVABLE = new Set([
  "publish",
  "puback",
  "pubrec",
  "pubrel",
  "pubcomp",
  "subscribe",
  "unsubscribe",
  "pingreq",
]);

/**
 * Whether `input` followed by PINGREQ decodes at `version` into whole packets of
 * types a client may send once connected (no CONNECT, DISCONNECT, AUTH, or a
 * server's packet), ending with the PINGREQ.
 */
function survivable(input: Uint8Array, version: ProtocolVersion): boolean {
  const probe = new Decoder({ version, maxPacketSize: MAX_PACKET });
  let ok = true;
  let last = "";
  // Most candidates are refused: skip capturing a stack for each ProtocolError (the
  // worker's isolate only; the broker's errors keep theirs).
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    probe.push(concat([input, PINGREQ]), (p) => {
      if (!SURVIVABLE.has(p.type)) ok = false;
      last = p.type;
    });
  } catch {
    return false;
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  return ok && probe.buffered === 0 && last === "pingreq";
}

/** Waits for the broker to close `peer` after our EOF; a broker that does not is a failure. */
async function closedBy(peer: Peer, stats: FuzzStats, what: () => string): Promise<void> {
  if ((await waitFor(peer, ANSWER_MS, () => false)) === "stall") {
    stats.unanswered.push(`still open ${ANSWER_MS} ms after our EOF: ${what()}`);
    peer.socket.destroy();
  }
}

async function fuzzConnection(port: number, k: number, stats: FuzzStats): Promise<void> {
  const rng = new Rng(connectionSeed(k));
  const sent: string[] = [];
  inFlight.set(k, sent);
  stats.connections++;
  try {
    if (rng.chance(0.2)) {
      // Before CONNECT: one input, then EOF; the broker reads it all before the EOF.
      stats.preConnect++;
      const input = firstInput(rng, k);
      const peer = await Peer.open(port, undefined);
      sent.push(brief(input));
      if (rng.chance(0.3) && input.length > 1) {
        const cut = 1 + rng.int(input.length - 1);
        peer.write(input.subarray(0, cut));
        await new Promise((r) => setImmediate(r));
        peer.write(input.subarray(cut));
      } else peer.write(input);
      stats.inputs++;
      peer.socket.end();
      await closedBy(peer, stats, () => `connection ${k} (before CONNECT): ${sent.join(" | ")}`);
      return;
    }

    const version = rng.pick<ProtocolVersion>([3, 4, 4, 5, 5]);
    const peer = await Peer.open(port, version);
    // The broker's view of the stream, to know what each input should lead to.
    const mirror = new Decoder({ maxPacketSize: MAX_PACKET });
    let pings = 0;
    const onMirror = (p: Packet) => {
      if (p.type === "pingreq") pings++;
    };
    const connect = encode(connectPacket(rng, version, `fz-${k}`), version);
    mirror.push(connect, onMirror);
    const connected = waitFor(peer, ANSWER_MS, (p) => p.type === "connack" && p.reasonCode === 0);
    peer.write(connect);
    if ((await connected) !== "done") {
      stats.connackRefused++;
      peer.socket.destroy();
      return;
    }
    const parts: Uint8Array[] = [];
    if (rng.chance(0.1)) {
      // Subscribed to everything: the broker also writes PUBLISHes to this fuzz client.
      const filter = rng.pick(["#", "fz/#", "$share/g/#"]);
      const subscribe = encode(
        {
          type: "subscribe",
          packetId: 1,
          subscriptions: [{ topicFilter: filter, qos: rng.int(3) as QoS }],
        },
        version,
      );
      mirror.push(subscribe, onMirror);
      parts.push(subscribe);
    }

    // A batch of inputs, each followed by PINGREQ, written at once (in up to three chunks
    // cut anywhere). Each PINGRESP proves the broker read everything before its PINGREQ.
    const batch = 1 + rng.int(24);
    /** PINGREQs the broker reads up to the end of each input's own PINGREQ. */
    const pingsAfter: number[] = [];
    let state: "complete" | "partial" | "error" = "complete";
    let malformedAt = -1;
    for (let i = 0; i < batch; i++) {
      // Before the last input, mostly gentle mutations that still decode to packets a
      // connected client may send, so the connection lives on and the handlers get their
      // content (a handler may still refuse it and close); otherwise, and last, whatever
      // the generator made (malformed, mostly).
      let input: Uint8Array;
      if (i < batch - 1 && rng.chance(0.9)) {
        input = gentleInput(rng, version);
        for (let tries = 0; tries < 10 && !survivable(input, version); tries++)
          input = gentleInput(rng, version);
      } else input = connectedInput(rng, version);
      sent.push(brief(input));
      parts.push(input, PINGREQ);
      if (state !== "error") {
        try {
          mirror.push(input, onMirror);
          mirror.push(PINGREQ, onMirror);
          state = mirror.buffered > 0 ? "partial" : "complete";
        } catch {
          state = "error";
          malformedAt = i;
        }
      }
      pingsAfter.push(state === "error" ? Number.POSITIVE_INFINITY : pings);
    }
    // Malformed: the broker must answer the PINGREQs before the bad bytes, then close.
    // Otherwise it must answer them all, unless a handler refuses what decodes and closes.
    const expected = pings;
    let answered = 0;
    const waiting =
      expected === 0 && state !== "error"
        ? Promise.resolve<"done">("done")
        : waitFor(
            peer,
            ANSWER_MS,
            (p) => p.type === "pingresp" && ++answered >= expected && state !== "error",
          );
    const stream = concat(parts);
    const cuts = [0, stream.length];
    for (let c = rng.int(3); c > 0; c--) cuts.push(rng.int(stream.length + 1));
    cuts.sort((x, y) => x - y);
    for (let c = 1; c < cuts.length; c++) {
      if (c > 1) await new Promise((r) => setImmediate(r));
      peer.write(stream.subarray(cuts[c - 1], cuts[c]));
    }
    const outcome = await waiting;
    let acknowledged = 0;
    while (acknowledged < batch && (pingsAfter[acknowledged] as number) <= answered) acknowledged++;
    // The broker read every acknowledged input, and the one it stopped at.
    stats.inputs += Math.min(batch, acknowledged + 1);
    if (malformedAt === acknowledged) stats.malformed++;
    const what = () =>
      `connection ${k} (v${version}): ${answered} of ${expected} PINGREQs answered, the stream ends ${state}; inputs ${sent.join(" | ")}`;
    if (outcome === "stall") stats.unanswered.push(`no answer within ${ANSWER_MS} ms: ${what()}`);
    if (answered > expected) stats.unanswered.push(`more PINGRESPs than PINGREQs: ${what()}`);
    if (peer.decoder !== undefined && peer.decodeError !== undefined)
      stats.decodeErrors.push(`connection ${k} (v${version}): ${peer.decodeError}`);
    if (outcome === "closed") stats.closedByBroker++;
    else if (state === "partial") stats.stalled++;
    else stats.survivedBatch++;
    if (!peer.isClosed) {
      const end = rng.int(3);
      if (end === 0) peer.socket.destroy();
      else {
        if (end === 1)
          peer.send(
            version === 5 ? { type: "disconnect", reasonCode: 0 } : { type: "disconnect" },
            version,
          );
        peer.socket.end();
      }
    }
    await closedBy(peer, stats, what);
  } finally {
    inFlight.delete(k);
    recent.push(`#${k}: ${sent.join(" | ")}`);
    if (recent.length > 32) recent.shift();
  }
}

interface FuzzResult extends FuzzStats {
  /** Inputs of the connections in flight when the run stopped, and of the last ones before. */
  lastInputs: string[];
}

/** Runs fuzz connections, `concurrency` at a time, until `target` inputs were sent or `stop()`. */
async function runFuzz(port: number, target: number, stop: () => boolean): Promise<FuzzResult> {
  const stats: FuzzStats = {
    inputs: 0,
    malformed: 0,
    connections: 0,
    preConnect: 0,
    connackRefused: 0,
    closedByBroker: 0,
    stalled: 0,
    survivedBatch: 0,
    decodeErrors: [],
    unanswered: [],
  };
  let next = 0;
  let lastInputs: string[] | undefined;
  const lane = async () => {
    while (stats.inputs < target) {
      if (stop()) {
        lastInputs ??= [
          ...recent,
          ...[...inFlight].map(([k, inputs]) => `#${k} (in flight): ${inputs.join(" | ")}`),
        ];
        return;
      }
      await fuzzConnection(port, next++, stats);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  return { ...stats, lastInputs: lastInputs ?? recent };
}

/**
 * The fuzz clients run in a worker thread: the broker keeps the main thread
 * (and the second core) to itself, as it would facing remote clients.
 */
function fuzzInWorker(port: number, target: number): { result: Promise<FuzzResult>; stop(): void } {
  // The worker loads this file through tsx, as the test runner did.
  const bootstrap = `import("tsx/esm/api").then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); });`;
  const worker = new Worker(bootstrap, {
    eval: true,
    workerData: { fuzzBroker: { port, target } },
  });
  const result = new Promise<FuzzResult>((resolve, reject) => {
    worker.once("message", (r: FuzzResult) => resolve(r));
    worker.once("error", reject);
    worker.once("exit", (code) =>
      reject(new Error(`fuzz worker exited with ${code} before reporting`)),
    );
  });
  return { result, stop: () => worker.postMessage("stop") };
}

if (!isMainThread && workerData?.fuzzBroker !== undefined) {
  const { port, target } = workerData.fuzzBroker as { port: number; target: number };
  let stopping = false;
  parentPort?.on("message", (m) => {
    if (m === "stop") stopping = true;
  });
  void runFuzz(port, target, () => stopping).then((r) => {
    parentPort?.postMessage(r);
    parentPort?.close();
  });
}

// ---------------------------------------------------------------------------

/** A real, full GC: `--expose-gc` cannot be passed through the test runner, so turn it on here. */
function collectGarbage(): () => void {
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as (() => void) | undefined;
    if (typeof gc === "function") return gc;
  } catch {
    // Fall through: compare heaps without a forced collection.
  }
  return () => {};
}

if (isMainThread)
  describe(`broker fuzz over TCP (seed ${seedHex(SEED)})`, () => {
    let broker: Broker;
    const wb = new WellBehaved();
    const problems: unknown[] = [];
    const warnings: string[] = [];
    let stopFuzz = () => {};
    const onProblem = (err: unknown) => {
      problems.push(err);
      stopFuzz();
    };
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);

    before(async () => {
      process.on("uncaughtException", onProblem);
      process.on("unhandledRejection", onProblem);
      process.on("warning", onWarning);
      broker = await startBroker({
        limits: {
          maxPacketSize: MAX_PACKET,
          // Fuzz sessions that survive their connection go after two seconds.
          persistentSessionExpiry: 2,
          maxQueuedMessages: 100,
          // Sooner than the default, so connections that never CONNECT do not linger.
          connectTimeoutMs: 3000,
        },
      });
    });

    after(async () => {
      wb.close();
      await broker?.close();
      process.off("uncaughtException", onProblem);
      process.off("unhandledRejection", onProblem);
      process.off("warning", onWarning);
    });

    it(`${TARGET_INPUTS.toLocaleString("en")} malformed and mutated packets while a well-behaved pair exchanges QoS 1 messages (seed ${seedHex(SEED)})`, async (t) => {
      const gc = collectGarbage();
      const port = tcpPort(broker);
      await wb.start(port);
      gc();
      const heapBefore = process.memoryUsage().heapUsed;
      const started = Date.now();

      const fuzz = fuzzInWorker(port, TARGET_INPUTS);
      stopFuzz = fuzz.stop;
      let stats: FuzzResult;
      let peakHeap = 0;
      let peakClients = 0;
      const sampler = setInterval(() => {
        peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
        peakClients = Math.max(peakClients, broker.core.clients.size);
      }, 100);
      try {
        stats = await fuzz.result;
      } finally {
        clearInterval(sampler);
      }
      const fuzzMs = Date.now() - started;
      const publishedDuringFuzz = wb.published;

      assert.deepEqual(
        problems,
        [],
        `exceptions reached the process; the last fuzz connections:\n${stats.lastInputs.join("\n")}`,
      );

      // Every fuzz connection is closed on our side; the broker must let go of them too.
      const onlyWb = await until(() => broker.core.clients.size === 2, 10_000);
      assert.ok(
        onlyWb,
        `broker still holds ${broker.core.clients.size} clients (expected the 2 well-behaved ones)`,
      );

      // The well-behaved pair: stop, then every message must have arrived, in order, once.
      await wb.stop();
      const all = await until(() => wb.received.length >= wb.published, 10_000);
      await sleep(100); // a duplicate would show up now
      assert.deepEqual(wb.badDeliveries, []);
      assert.equal(wb.pub.decodeError, undefined);
      assert.equal(wb.sub.decodeError, undefined);
      assert.ok(all, `subscriber got ${wb.received.length} of ${wb.published}`);
      assert.equal(wb.acked, wb.published);
      assert.equal(wb.received.length, wb.published, "duplicates");
      for (let i = 0; i < wb.received.length; i++) {
        if (wb.received[i] !== i)
          assert.fail(
            `message ${i} arrived as #${wb.received[i]} (lost, duplicated or out of order)`,
          );
      }
      assert.ok(
        publishedDuringFuzz > 100,
        `only ${publishedDuringFuzz} well-behaved messages during the fuzz`,
      );
      assert.ok(
        wb.longestGap < 5000,
        `the well-behaved subscriber got nothing for ${wb.longestGap} ms during the fuzz`,
      );

      assert.ok(stats.inputs >= TARGET_INPUTS, `${stats.inputs} inputs`);
      assert.deepEqual(stats.unanswered, [], "the broker hung on a fuzz connection");
      assert.deepEqual(stats.decodeErrors, [], "the broker wrote bytes its own codec refuses");
      assert.ok(broker.core.stats.protocolErrors > 0, "the fuzz never reached a protocol error");
      assert.ok(!broker.core.closing);

      // Fuzz sessions expire (2 s for 3.1.x, ≤ 2 s or whatever a mutation made of it for 5.0).
      await sleep(2500);
      const sessionsLeft = [...broker.core.sessions.keys()].filter((id) => !id.startsWith("wb-"));
      let queued = 0;
      for (const s of broker.core.sessions.values()) queued += s.queue.length + s.inflight.size;
      gc();
      await sleep(50);
      gc();
      const heapAfter = process.memoryUsage().heapUsed;
      const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
      t.diagnostic(
        `${stats.inputs} inputs over ${stats.connections} connections (${stats.preConnect} before CONNECT, ${stats.malformed} malformed after CONNECT) in ${fuzzMs} ms; ` +
          `after CONNECT: ${stats.closedByBroker} closed by the broker, ${stats.stalled} left a packet unfinished, ${stats.survivedBatch} survived their batch, ${stats.connackRefused} refused`,
      );
      t.diagnostic(
        `broker: ${broker.core.stats.protocolErrors} protocol errors, ${broker.core.stats.clientsTotal} clients total, peak ${peakClients} at once; ` +
          `well-behaved: ${wb.published} messages (${publishedDuringFuzz} during the fuzz, longest gap ${wb.longestGap} ms)`,
      );
      t.diagnostic(
        `heap ${mib(heapBefore)} → peak ${mib(peakHeap)} → ${mib(heapAfter)} after GC; ` +
          `${sessionsLeft.length} fuzz sessions left, ${queued} messages queued or in flight, ${broker.core.retained.size} retained, ${broker.core.router.count} subscriptions`,
      );
      assert.ok(
        heapAfter < heapBefore + 64 * 1024 * 1024,
        `heap grew from ${mib(heapBefore)} to ${mib(heapAfter)}`,
      );
      assert.ok(sessionsLeft.length <= 50, `${sessionsLeft.length} fuzz sessions left`);
      assert.deepEqual(
        warnings.filter((w) => w.startsWith("MaxListenersExceeded")),
        [],
        "listener leak",
      );
    });
  });

/** Findings of this fuzz run, kept as plain regression tests. */
if (isMainThread)
  describe("broker fuzz findings", () => {
    let broker: Broker;
    const problems: unknown[] = [];
    const onProblem = (err: unknown) => problems.push(err);
    before(async () => {
      process.on("uncaughtException", onProblem);
      broker = await startBroker();
    });
    after(async () => {
      await broker?.close();
      process.off("uncaughtException", onProblem);
    });

    /** A connected 5.0 client and a subscriber to `topic`, over TCP. */
    async function pair(name: string, topic: string): Promise<{ peer: Peer; seen: string[] }> {
      const seen: string[] = [];
      const sub = await Peer.open(tcpPort(broker), 4);
      const subscribed = waitFor(sub, 3000, (p) => p.type === "suback");
      sub.send(
        { type: "connect", protocolVersion: 4, clean: true, keepalive: 0, clientId: `${name}-sub` },
        4,
      );
      sub.send(
        { type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: topic, qos: 0 }] },
        4,
      );
      assert.equal(await subscribed, "done");
      sub.onPacket = (p) => {
        if (p.type === "publish") seen.push(new TextDecoder().decode(p.payload));
      };
      const peer = await Peer.open(tcpPort(broker), 5);
      const connected = waitFor(peer, 3000, (p) => p.type === "connack" && p.reasonCode === 0);
      peer.send(
        { type: "connect", protocolVersion: 5, clean: true, keepalive: 0, clientId: name },
        5,
      );
      assert.equal(await connected, "done");
      return { peer, seen };
    }

    it("[MQTT-3.1.0-2] a second CONNECT of an unknown protocol level gets DISCONNECT 0x82, not a crash", async () => {
      const { peer } = await pair("fz-level", "fz/level");
      let reason: number | undefined;
      const closed = waitFor(peer, 3000, (p) => {
        if (p.type === "disconnect") reason = p.reasonCode;
        return false;
      });
      // CONNECT, protocol name MQTT, level 6: the decoder reports 0x84 (Unsupported Protocol
      // Version), which DISCONNECT cannot carry; encoding it threw out of the data handler.
      peer.write(Uint8Array.from(Buffer.from("100c00044d515454060200000000", "hex")));
      assert.equal(await closed, "closed");
      assert.equal(reason, 0x82);
      assert.deepEqual(problems, []);
    });

    it("packets behind a protocol error, in the same read, are not processed", async () => {
      const { peer, seen } = await pair("fz-behind", "fz/behind");
      const second = encode(
        { type: "connect", protocolVersion: 5, clean: true, keepalive: 0, clientId: "again" },
        5,
      );
      const after = encode(
        {
          type: "publish",
          topic: "fz/behind",
          payload: b("after"),
          qos: 0,
          retain: false,
          dup: false,
        },
        5,
      );
      peer.write(concat([second, after]));
      assert.equal(await waitFor(peer, 3000, () => false), "closed");
      await sleep(100);
      assert.deepEqual(seen, []);
    });
  });
