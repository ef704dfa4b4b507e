/**
 * Deterministic fuzzing of the decoder: random byte strings, random bodies
 * behind plausible fixed headers, and mutations of valid packets of every
 * type and version (bit flips, byte insertion and deletion, truncation,
 * Remaining Length / length-field tampering, splices of two streams).
 *
 * Every input goes to fresh decoders — a server-mode one (no version: 3.1.1
 * until a CONNECT names the level) and a client-mode MQTT 5 one — fed whole
 * and in random splits. The checks:
 * - the decoder throws nothing but ProtocolError (and never hangs);
 * - whole and split feeding give the same packets and the same error;
 * - `buffered` never exceeds `maxPacketSize`;
 * - every packet it emits re-encodes without error and decodes back equal;
 * - the heap does not grow without bound over the run.
 *
 * The seed is in the test names; set FUZZ_SEED to rerun one (FUZZ_SCALE
 * multiplies the counts for a longer run). A failure message carries the
 * input in hex and the split points.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { MAX_PACKET_SIZE, type ProtocolVersion } from "../../src/protocol/constants.js";
import { Decoder } from "../../src/protocol/decoder.js";
import { encode } from "../../src/protocol/encoder.js";
import { InvalidArgumentError, ProtocolError } from "../../src/protocol/errors.js";
import type { Packet } from "../../src/protocol/packet.js";
import type { DecoderOptions } from "../../src/protocol/stream-decoder.js";
import { writeVarint } from "../../src/protocol/wire.js";

const SEED = Number(process.env.FUZZ_SEED ?? 0x6d717474) >>> 0;
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const seedHex = (s: number) => `0x${(s >>> 0).toString(16).padStart(8, "0")}`;

/** mulberry32: small, fast, good enough to spread inputs; fully determined by its seed. */
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
  /** Lengths skewed short: most inputs are small, a few reach `max`. */
  length(max: number): number {
    const r = this.next();
    return Math.floor(r * r * r * (max + 1));
  }
}

// ---------------------------------------------------------------------------
// Valid packets of every type, for MQTT 3.1, 3.1.1 and 5.0.

const te = new TextEncoder();
const b = (s: string) => te.encode(s);

function connect(version: ProtocolVersion, full: boolean): Packet {
  const p: Packet = {
    type: "connect",
    protocolVersion: version,
    clean: true,
    keepalive: 60,
    clientId: "fuzz-client",
  };
  if (!full) return p;
  p.clean = false;
  p.username = "user";
  p.password = b("secret");
  p.will = { topic: "will/topic", payload: b("gone"), qos: 1, retain: true };
  if (version === 5) {
    p.properties = {
      sessionExpiryInterval: 3600,
      receiveMaximum: 20,
      maximumPacketSize: 65_536,
      topicAliasMaximum: 10,
      requestResponseInformation: true,
      requestProblemInformation: false,
      userProperties: [
        ["k", "v"],
        ["k", "v2"],
      ],
      authenticationMethod: "SCRAM-SHA-1",
      authenticationData: b("client-first"),
    };
    p.will.properties = {
      willDelayInterval: 5,
      payloadFormatIndicator: 1,
      messageExpiryInterval: 60,
      contentType: "text/plain",
      responseTopic: "will/reply",
      correlationData: b("cid"),
      userProperties: [["w", "1"]],
    };
  }
  return p;
}

function common(version: ProtocolVersion): Packet[] {
  const v5 = version === 5;
  const rc = v5 ? { reasonCode: 0 } : {};
  const packets: Packet[] = [
    { type: "publish", topic: "a/b", payload: b("hello"), qos: 0, retain: false, dup: false },
    {
      type: "publish",
      topic: "sensors/ü/温度",
      payload: new Uint8Array(300).fill(7),
      qos: 1,
      retain: true,
      dup: false,
      packetId: 1,
    },
    {
      type: "publish",
      topic: "x",
      payload: new Uint8Array(0),
      qos: 2,
      retain: false,
      dup: true,
      packetId: 65_535,
    },
    // In 5.0 the decoder reports an omitted reason code as 0 (§3.4.2.1).
    { type: "puback", packetId: 1, ...rc },
    { type: "pubrec", packetId: 2, ...rc },
    { type: "pubrel", packetId: 3, ...rc },
    { type: "pubcomp", packetId: 4, ...rc },
    {
      type: "subscribe",
      packetId: 10,
      subscriptions: [
        { topicFilter: "a/+/c", qos: 0 },
        { topicFilter: "#", qos: 2 },
      ],
    },
    { type: "suback", packetId: 10, reasonCodes: v5 ? [0, 1, 2, 0x80, 0x97] : [0, 1, 2, 0x80] },
    { type: "unsubscribe", packetId: 11, topicFilters: ["a/+/c", "$share/g/x"] },
    v5
      ? { type: "unsuback", packetId: 11, reasonCodes: [0, 0x11] }
      : { type: "unsuback", packetId: 11 },
    { type: "pingreq" },
    { type: "pingresp" },
    { type: "disconnect", ...rc },
    { type: "connack", sessionPresent: true, reasonCode: 0 },
    { type: "connack", sessionPresent: false, reasonCode: v5 ? 0x87 : 5 },
  ];
  if (!v5) return packets;
  const reason = { reasonString: "why", userProperties: [["a", "b"]] as Array<[string, string]> };
  packets.push(
    {
      type: "publish",
      topic: "req/1",
      payload: b('{"x":1}'),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 7,
      properties: {
        payloadFormatIndicator: 1,
        messageExpiryInterval: 30,
        topicAlias: 3,
        responseTopic: "res/1",
        correlationData: b("corr"),
        userProperties: [
          ["u", "1"],
          ["u", "2"],
        ],
        subscriptionIdentifiers: [1, 268_435_455],
        contentType: "application/json",
      },
    },
    {
      type: "publish",
      topic: "",
      payload: b("by alias"),
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 3 },
    },
    { type: "puback", packetId: 5, reasonCode: 0x10, properties: reason },
    { type: "pubrec", packetId: 6, reasonCode: 0x80 },
    { type: "pubrel", packetId: 7, reasonCode: 0x92, properties: reason },
    { type: "pubcomp", packetId: 8, reasonCode: 0, properties: { reasonString: "ok" } },
    {
      type: "subscribe",
      packetId: 12,
      subscriptions: [
        { topicFilter: "t/#", qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 },
        { topicFilter: "u", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 1 },
      ],
      properties: { subscriptionIdentifier: 42, userProperties: [["s", "1"]] },
    },
    { type: "suback", packetId: 12, reasonCodes: [1, 0xa2], properties: reason },
    {
      type: "unsubscribe",
      packetId: 13,
      topicFilters: ["t/#"],
      properties: { userProperties: [["x", "y"]] },
    },
    { type: "unsuback", packetId: 13, reasonCodes: [0x80], properties: reason },
    {
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: {
        sessionExpiryInterval: 10,
        receiveMaximum: 100,
        maximumQoS: 1,
        retainAvailable: false,
        maximumPacketSize: 1_000_000,
        assignedClientIdentifier: "auto-1",
        topicAliasMaximum: 5,
        reasonString: "welcome",
        wildcardSubscriptionAvailable: true,
        subscriptionIdentifierAvailable: false,
        sharedSubscriptionAvailable: true,
        serverKeepAlive: 30,
        responseInformation: "resp/",
        serverReference: "other:1883",
        authenticationMethod: "SCRAM-SHA-1",
        authenticationData: b("server-final"),
      },
    },
    { type: "disconnect", reasonCode: 0x04 },
    {
      type: "disconnect",
      reasonCode: 0x9c,
      properties: { serverReference: "b:1883", sessionExpiryInterval: 0, reasonString: "move" },
    },
    { type: "auth", reasonCode: 0 },
    {
      type: "auth",
      reasonCode: 0x18,
      properties: { authenticationMethod: "SCRAM-SHA-1", authenticationData: b("c") },
    },
  );
  return packets;
}

const VERSIONS: ProtocolVersion[] = [3, 4, 5];
const encoded: Record<ProtocolVersion, { connects: Uint8Array[]; packets: Uint8Array[] }> = {
  3: { connects: [], packets: [] },
  4: { connects: [], packets: [] },
  5: { connects: [], packets: [] },
};
for (const v of VERSIONS) {
  encoded[v].connects = [encode(connect(v, false), v), encode(connect(v, true), v)];
  encoded[v].packets = common(v).map((p) => encode(p, v));
}

// ---------------------------------------------------------------------------
// Running one input.

const KIB64 = 64 * 1024;

interface Outcome {
  packets: Packet[];
  /** Protocol level each packet was decoded at. */
  versions: ProtocolVersion[];
  error: ProtocolError | null;
}

interface Stats {
  inputs: number;
  feeds: number;
  packets: number;
  errors: Map<string, number>;
  /** InvalidArgumentError from re-encoding a decoded packet (none are expected). */
  invalidArgument: string[];
}

const stats: Stats = { inputs: 0, feeds: 0, packets: 0, errors: new Map(), invalidArgument: [] };

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

function describeInput(input: Uint8Array, cuts: number[], options: DecoderOptions): string {
  return `input ${toHex(input)} (${input.length} bytes), cuts [${cuts.join(", ")}], options ${JSON.stringify(options)}`;
}

/** Feeds `input` cut at `cuts` to a fresh decoder. */
function feed(input: Uint8Array, cuts: number[], options: DecoderOptions): Outcome {
  stats.feeds++;
  const decoder = new Decoder(options);
  const max = options.maxPacketSize ?? MAX_PACKET_SIZE;
  const out: Outcome = { packets: [], versions: [], error: null };
  const onPacket = (p: Packet) => {
    out.packets.push(p);
    out.versions.push(decoder.version);
  };
  let from = 0;
  for (const to of [...cuts, input.length]) {
    try {
      decoder.push(input.subarray(from, to), onPacket);
    } catch (err) {
      if (!(err instanceof ProtocolError)) {
        assert.fail(
          `decoder threw ${String(err)} (not a ProtocolError)\n${describeInput(input, cuts, options)}`,
        );
      }
      out.error = err;
      return out;
    }
    if (decoder.buffered > max) {
      assert.fail(
        `buffered ${decoder.buffered} > maxPacketSize ${max}\n${describeInput(input, cuts, options)}`,
      );
    }
    from = to;
  }
  return out;
}

function randomCuts(rng: Rng, length: number): number[] {
  if (length < 2) return [];
  if (length <= 64 && rng.chance(0.1)) return Array.from({ length: length - 1 }, (_, i) => i + 1);
  const cuts = new Set<number>();
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) cuts.add(1 + rng.int(length - 1));
  return [...cuts].sort((x, y) => x - y);
}

/** Re-encodes `p` and decodes it back: it must come back equal. */
function roundTrip(p: Packet, version: ProtocolVersion, context: () => string): void {
  let bytes: Uint8Array;
  try {
    bytes = encode(p, version);
  } catch (err) {
    if (err instanceof InvalidArgumentError) {
      stats.invalidArgument.push(`${err.message} — ${JSON.stringify(p.type)} v${version}`);
      return;
    }
    assert.fail(`encode threw ${String(err)} for a decoded ${p.type} (v${version})\n${context()}`);
  }
  let back: Packet[];
  try {
    back = new Decoder({ version }).decodeAll(bytes);
  } catch (err) {
    assert.fail(
      `re-encoded ${p.type} (v${version}) does not decode: ${String(err)}\nre-encoded ${toHex(bytes)}\n${context()}`,
    );
  }
  try {
    assert.deepStrictEqual(back, [p]);
  } catch (err) {
    assert.fail(
      `${p.type} (v${version}) changed in a round trip: ${(err as Error).message}\n${context()}`,
    );
  }
}

function sameError(a: ProtocolError | null, b: ProtocolError | null): boolean {
  if (a === null || b === null) return a === b;
  return a.code === b.code && a.reasonCode === b.reasonCode && a.statement === b.statement;
}

/** The checks for one input, under one set of decoder options. */
function check(rng: Rng, input: Uint8Array, options: DecoderOptions): void {
  const whole = feed(input, [], options);
  const cuts = randomCuts(rng, input.length);
  const split = feed(input, cuts, options);
  const context = () => describeInput(input, cuts, options);
  if (!sameError(whole.error, split.error)) {
    assert.fail(
      `whole and split feeding disagree: ${String(whole.error)} vs ${String(split.error)}\n${context()}`,
    );
  }
  try {
    assert.deepStrictEqual(split.packets, whole.packets);
  } catch (err) {
    assert.fail(
      `whole and split feeding emit different packets: ${(err as Error).message}\n${context()}`,
    );
  }
  if (whole.error !== null) {
    const key = `${whole.error.code} ${whole.error.statement}`;
    stats.errors.set(key, (stats.errors.get(key) ?? 0) + 1);
  }
  stats.packets += whole.packets.length;
  whole.packets.forEach((p, i) => {
    roundTrip(p, whole.versions[i] as ProtocolVersion, context);
  });
}

/** Each input runs in server mode and in MQTT 5 client mode. */
function checkBoth(rng: Rng, input: Uint8Array, maxPacketSize: number | undefined): void {
  stats.inputs++;
  const base: DecoderOptions = maxPacketSize === undefined ? {} : { maxPacketSize };
  check(rng, input, base);
  check(rng, input, { ...base, version: 5 });
}

// ---------------------------------------------------------------------------
// Input generators.

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

/** First bytes with valid flags for each type, in 3.1.1 and 5.0. */
const VALID_FIRST_BYTES = [
  0x10, 0x20, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x3a, 0x3b, 0x3c, 0x3d, 0x40, 0x50, 0x62, 0x70,
  0x82, 0x90, 0xa2, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0,
];

/** A valid fixed header with a matching Remaining Length, then random bytes. */
function randomBody(rng: Rng): Uint8Array {
  const body = rng.bytes(rng.length(300));
  const head = new Uint8Array(5);
  head[0] = rng.pick(VALID_FIRST_BYTES);
  const end = writeVarint(head, 1, body.length);
  const packet = concat([head.subarray(0, end), body]);
  // Sometimes behind a CONNECT, so server mode decodes it at the CONNECT's level.
  if (rng.chance(0.3)) return concat([rng.pick(encoded[rng.pick(VERSIONS)].connects), packet]);
  return packet;
}

/** A valid stream: for server mode a CONNECT, then 1–3 packets of its version. */
function validStream(rng: Rng): Uint8Array {
  const version = rng.pick(VERSIONS);
  const parts: Uint8Array[] = [];
  if (rng.chance(0.8)) parts.push(rng.pick(encoded[version].connects));
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) parts.push(rng.pick(encoded[version].packets));
  return concat(parts);
}

const INTERESTING = [
  0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0x81, 0xc0, 0xed, 0xef, 0xf4, 0xff, 0x23, 0x2b,
];

function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  let bytes: Uint8Array = Uint8Array.from(input);
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    const n = bytes.length;
    switch (rng.int(9)) {
      case 0: {
        // Flip one to three bits.
        if (n === 0) break;
        const flips = 1 + rng.int(3);
        for (let i = 0; i < flips; i++) bytes[rng.int(n)] ^= 1 << rng.int(8);
        break;
      }
      case 1: {
        // Insert random bytes.
        const at = rng.int(n + 1);
        bytes = concat([bytes.subarray(0, at), rng.bytes(1 + rng.int(4)), bytes.subarray(at)]);
        break;
      }
      case 2: {
        // Delete a run of bytes.
        if (n === 0) break;
        const at = rng.int(n);
        const len = 1 + rng.int(Math.min(4, n - at));
        bytes = concat([bytes.subarray(0, at), bytes.subarray(at + len)]);
        break;
      }
      case 3:
        // Truncate.
        bytes = bytes.subarray(0, rng.int(n + 1));
        break;
      case 4: {
        // Overwrite with a value decoders trip on.
        if (n === 0) break;
        bytes[rng.int(n)] = rng.pick(INTERESTING);
        break;
      }
      case 5: {
        // Tamper with the first packet's Remaining Length: another value,
        // an over-long form, or a 5-byte form.
        if (n < 2) break;
        let end = 1;
        while (end < n && end < 5 && (bytes[end] as number) & 0x80) end++;
        const rest = bytes.subarray(Math.min(end + 1, n));
        const kind = rng.int(4);
        let field: Uint8Array;
        if (kind === 0) field = Uint8Array.of(rng.int(128));
        else if (kind === 1) field = Uint8Array.of(((bytes[1] as number) & 0x7f) | 0x80, 0x00);
        else if (kind === 2) field = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x7f);
        else {
          const v = Math.max(0, rest.length + rng.int(9) - 4);
          const tmp = new Uint8Array(4);
          field = tmp.subarray(0, writeVarint(tmp, 0, v));
        }
        bytes = concat([bytes.subarray(0, 1), field, rest]);
        break;
      }
      case 6: {
        // Tamper with a two-byte length prefix (string, binary or packet id).
        if (n < 4) break;
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
        break;
      }
      case 7: {
        // Splice: a prefix of this input and a suffix of another stream.
        const other = validStream(rng);
        bytes = concat([
          bytes.subarray(0, rng.int(n + 1)),
          other.subarray(rng.int(other.length + 1)),
        ]);
        break;
      }
      default: {
        // Duplicate a slice in place.
        if (n === 0) break;
        const at = rng.int(n);
        const len = 1 + rng.int(Math.min(16, n - at));
        bytes = concat([
          bytes.subarray(0, at + len),
          bytes.subarray(at, at + len),
          bytes.subarray(at + len),
        ]);
      }
    }
  }
  return bytes;
}

// ---------------------------------------------------------------------------

interface Campaign {
  name: string;
  count: number;
  maxPacketSize: number | undefined;
  input: (rng: Rng) => Uint8Array;
}

const campaigns: Campaign[] = [
  {
    name: "random byte strings",
    count: 20_000,
    maxPacketSize: KIB64,
    input: (rng) => rng.bytes(rng.length(512)),
  },
  {
    name: "random bodies behind valid fixed headers",
    count: 20_000,
    maxPacketSize: KIB64,
    input: randomBody,
  },
  {
    name: "mutated valid packets",
    count: 40_000,
    maxPacketSize: KIB64,
    input: (rng) => mutate(rng, validStream(rng)),
  },
  {
    name: "mutated valid packets",
    count: 15_000,
    maxPacketSize: undefined,
    input: (rng) => mutate(rng, validStream(rng)),
  },
  {
    name: "random bodies behind valid fixed headers",
    count: 5_000,
    maxPacketSize: undefined,
    input: randomBody,
  },
  {
    name: "random byte strings",
    count: 5_000,
    maxPacketSize: undefined,
    input: (rng) => rng.bytes(rng.length(512)),
  },
  { name: "valid streams, unmutated", count: 2_000, maxPacketSize: KIB64, input: validStream },
];

describe(`codec fuzz (seed ${seedHex(SEED)}; rerun with FUZZ_SEED=${SEED})`, () => {
  let heapBefore = 0;
  let started = 0;

  before(() => {
    heapBefore = process.memoryUsage().heapUsed;
    started = performance.now();
  });

  it("the valid packets decode, and re-encode to the same bytes", () => {
    for (const v of VERSIONS) {
      const packets = [connect(v, false), connect(v, true), ...common(v)];
      for (const p of packets) {
        const bytes = encode(p, v);
        const decoded = new Decoder({ version: v }).decodeAll(bytes);
        assert.equal(decoded.length, 1, `${p.type} v${v}`);
        assert.equal(decoded[0]?.type, p.type);
        assert.equal(toHex(encode(decoded[0] as Packet, v)), toHex(bytes), `${p.type} v${v}`);
      }
    }
  });

  campaigns.forEach((c, index) => {
    const seed = (SEED + Math.imul(index + 1, 0x9e3779b9)) >>> 0;
    const count = Math.max(1, Math.round(c.count * SCALE));
    const limit =
      c.maxPacketSize === undefined ? "default maxPacketSize" : `maxPacketSize ${c.maxPacketSize}`;
    it(`${c.name} ×${count}, ${limit} (seed ${seedHex(seed)})`, { timeout: 120_000 }, () => {
      const rng = new Rng(seed);
      for (let i = 0; i < count; i++) checkBoth(rng, c.input(rng), c.maxPacketSize);
    });
  });

  it(`large packets spanning random chunks decode as when whole (seed ${seedHex(SEED)})`, () => {
    const rng = new Rng(SEED ^ 0x1a2b3c4d);
    for (let n = 0; n < 40; n++) {
      const version = rng.pick(VERSIONS);
      const size = 60_000 + rng.int(400_000);
      const packet: Packet = {
        type: "publish",
        topic: "big",
        payload: rng.bytes(size),
        qos: 1,
        retain: false,
        dup: false,
        packetId: 9,
        ...(version === 5 ? { properties: { userProperties: [["n", String(n)]] } } : {}),
      };
      const input = concat([encode(packet, version), rng.pick(encoded[version].packets)]);
      const whole = new Decoder({ version }).decodeAll(input);
      const decoder = new Decoder({ version });
      const parts: Packet[] = [];
      let at = 0;
      while (at < input.length) {
        const next = Math.min(input.length, at + 1 + rng.length(70_000));
        decoder.push(input.subarray(at, next), (p) => parts.push(p));
        at = next;
        assert.ok(decoder.buffered <= at, "buffers only bytes it has received");
      }
      assert.deepStrictEqual(parts, whole);
    }
  });

  it("a header announcing a huge packet costs what arrives, not what it announces", () => {
    const before = process.memoryUsage().arrayBuffers;
    const decoders: Decoder[] = [];
    for (let i = 0; i < 256; i++) {
      const decoder = new Decoder();
      decoder.push(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0x7f, 0x00), () => {});
      assert.equal(decoder.buffered, 6);
      decoders.push(decoder);
    }
    const grown = process.memoryUsage().arrayBuffers - before;
    // 256 × 256 MiB if sized from the header; 256 × 64 KiB as it is.
    assert.ok(
      grown < 256 * 2 ** 20,
      `${(grown / 2 ** 20).toFixed(0)} MiB for ${decoders.length} decoders`,
    );
  });

  it("re-encoding a decoded packet never refuses it (InvalidArgumentError)", () => {
    assert.deepEqual(stats.invalidArgument.slice(0, 10), []);
  });

  after(() => {
    const ms = performance.now() - started;
    const growth = process.memoryUsage().heapUsed - heapBefore;
    const top = [...stats.errors.entries()].sort((x, y) => y[1] - x[1]).slice(0, 12);
    console.log(
      `codec fuzz: ${stats.inputs} inputs, ${stats.feeds} decoder feeds, ${stats.packets} packets ` +
        `round-tripped, ${Math.round(ms)} ms, heap growth ${(growth / 2 ** 20).toFixed(1)} MiB\n` +
        `  most frequent errors: ${top.map(([k, n]) => `${k} ×${n}`).join(", ")}`,
    );
  });

  it("heap growth stays bounded over the run", () => {
    // Generous: the run allocates hundreds of MiB in total; a leak of the
    // decoded packets or of partial buffers would keep far more than this.
    const growth = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(growth < 256 * 2 ** 20, `heap grew by ${(growth / 2 ** 20).toFixed(1)} MiB`);
  });
});
