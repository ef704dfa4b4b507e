/**
 * Property-based tests of the wire codec: for valid packets of every type at
 * every protocol level, decoding inverts encoding — whole, split into chunks
 * at random points, and byte by byte — and re-encoding a decoded packet gives
 * the same bytes. The generators are in arbitraries.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { ProtocolVersion } from "../../src/protocol/constants.js";
import { Decoder } from "../../src/protocol/decoder.js";
import { encode, encodePublishHeader } from "../../src/protocol/encoder.js";
import type { Packet, PublishPacket } from "../../src/protocol/packet.js";
import { arbPacket, arbPacketOfType } from "./arbitraries.js";

/** Runs of the main round-trip property per protocol level. */
const NUM_RUNS = 2000;

const versions: { version: ProtocolVersion; name: string }[] = [
  { version: 3, name: "MQTT 3.1" },
  { version: 4, name: "MQTT 3.1.1" },
  { version: 5, name: "MQTT 5.0" },
];

function decodeOne(bytes: Uint8Array, version: ProtocolVersion): Packet {
  const packets = new Decoder({ version }).decodeAll(bytes);
  assert.equal(packets.length, 1, "one encoding decodes to exactly one packet");
  return packets[0];
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `bytes` cut at `cuts` (any naturals, taken modulo the length; empty chunks included). */
function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const at of points) {
    chunks.push(bytes.subarray(from, at));
    from = at;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

function decodeChunks(chunks: readonly Uint8Array[], version: ProtocolVersion): Packet[] {
  const decoder = new Decoder({ version });
  const out: Packet[] = [];
  for (const chunk of chunks) decoder.push(chunk, (p) => out.push(p));
  assert.equal(decoder.buffered, 0, "nothing is left over after the last packet");
  return out;
}

for (const { version, name } of versions) {
  describe(`codec properties, ${name} (protocol level ${version})`, () => {
    it("decode(encode(p)) deep-equals p for every packet type", () => {
      fc.assert(
        fc.property(arbPacket(version), (p) => {
          assert.deepStrictEqual(decodeOne(encode(p, version), version), p);
        }),
        { numRuns: NUM_RUNS },
      );
    });

    it("encode(decode(encode(p))) is byte-identical to encode(p)", () => {
      fc.assert(
        fc.property(arbPacket(version), (p) => {
          const bytes = encode(p, version);
          assert.deepStrictEqual(encode(decodeOne(bytes, version), version), bytes);
        }),
        { numRuns: NUM_RUNS },
      );
    });

    it("a stream of packets split at random points decodes to the same packets", () => {
      fc.assert(
        fc.property(
          fc.array(arbPacket(version), { minLength: 1, maxLength: 6 }),
          fc.array(fc.nat(), { maxLength: 12 }),
          (packets, cuts) => {
            const stream = concat(packets.map((p) => encode(p, version)));
            assert.deepStrictEqual(decodeChunks(split(stream, cuts), version), packets);
          },
        ),
        { numRuns: NUM_RUNS / 4 },
      );
    });

    it("a stream of packets fed one byte at a time decodes to the same packets", () => {
      const small = arbPacket(version, { maxPayloadLength: 200 });
      fc.assert(
        fc.property(fc.array(small, { minLength: 1, maxLength: 4 }), (packets) => {
          const stream = concat(packets.map((p) => encode(p, version)));
          const bytes = Array.from(stream, (_, i) => stream.subarray(i, i + 1));
          assert.deepStrictEqual(decodeChunks(bytes, version), packets);
        }),
        { numRuns: NUM_RUNS / 10 },
      );
    });

    it("the encoder writes every byte it allocates (garbage-filled buffers give the same bytes)", () => {
      const dirty = (size: number) => new Uint8Array(size).fill(0xa5);
      fc.assert(
        fc.property(arbPacket(version), (p) => {
          assert.deepStrictEqual(encode(p, version, dirty), encode(p, version));
        }),
        { numRuns: NUM_RUNS / 4 },
      );
    });

    it("encodePublishHeader(p) followed by the payload is encode(p); the decoded payload is a view of the chunk", () => {
      fc.assert(
        fc.property(arbPacketOfType("publish", version), (packet) => {
          const p = packet as PublishPacket;
          const whole = encode(p, version);
          const header = encodePublishHeader(p, version, (n) => new Uint8Array(n).fill(0xa5));
          assert.deepStrictEqual(concat([header, p.payload]), whole);
          const decoded = decodeOne(whole, version) as PublishPacket;
          // Decode once, slice instead of copy (STYLE.md, "The hot path").
          assert.equal(decoded.payload.buffer, whole.buffer);
        }),
        { numRuns: NUM_RUNS / 4 },
      );
    });
  });
}
