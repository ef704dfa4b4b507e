/**
 * Table-driven codec tests: for every fixture (hand-written bytes, see
 * fixtures.ts) decoding gives exactly the packet, encoding gives exactly the
 * bytes, both round trips hold, and decoding is unchanged whether the bytes
 * arrive whole, one byte at a time, or cut at random (seeded) points.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Decoder } from "../../src/protocol/decoder.js";
import { encode } from "../../src/protocol/encoder.js";
import type { Packet } from "../../src/protocol/packet.js";
import { prng } from "../helpers/prng.js";
import { type Fixture, fixtureBytes, fixtures, fixturesOf, plain } from "./fixtures.js";

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

/** Decodes `chunks` in order with one decoder; returns every packet delivered. */
function decodeChunks(f: Fixture, chunks: Uint8Array[]): Packet[] {
  const decoder = new Decoder({ version: f.version });
  const out: Packet[] = [];
  for (const chunk of chunks) decoder.push(chunk, (p) => out.push(p));
  assert.equal(decoder.buffered, 0, "no bytes left over");
  return out;
}

function assertDecodesTo(f: Fixture, chunks: Uint8Array[], how: string): void {
  const packets = decodeChunks(f, chunks);
  assert.equal(packets.length, 1, `${how}: exactly one packet`);
  assert.deepEqual(plain(packets[0]), plain(f.packet), how);
}

/** A seed derived from the fixture's name, so adding a fixture does not move the others' cuts. */
function seedOf(f: Fixture): number {
  let h = 2166136261 ^ f.version;
  for (let i = 0; i < f.name.length; i++) h = Math.imul(h ^ f.name.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** `bytes` cut at the sorted, distinct positions `cuts` (each in 1..length-1). */
function cutAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const c of [...new Set(cuts)].sort((x, y) => x - y)) {
    chunks.push(bytes.subarray(from, c));
    from = c;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

/** An allocator that hands out garbage-filled memory, as Buffer.allocUnsafe may. */
const dirtyAlloc = (size: number): Uint8Array => new Uint8Array(size).fill(0xa5);

for (const version of [3, 4, 5] as const) {
  describe(`codec fixtures, protocol level ${version}`, () => {
    for (const f of fixturesOf(version)) {
      describe(`[${f.spec}] ${f.name}`, () => {
        const bytes = fixtureBytes(f);

        it("decodes to exactly the packet", () => {
          assertDecodesTo(f, [bytes], "whole chunk");
        });

        it("encodes to exactly the bytes", () => {
          assert.equal(toHex(encode(f.packet, f.version)), toHex(bytes));
          // Every byte is written: memory from the allocator is not assumed zeroed.
          assert.equal(toHex(encode(f.packet, f.version, dirtyAlloc)), toHex(bytes));
          const viaBuffer = encode(f.packet, f.version, (n) => Buffer.allocUnsafe(n));
          assert.ok(Buffer.isBuffer(viaBuffer), "the allocator's buffer is returned");
          assert.equal(toHex(viaBuffer), toHex(bytes));
        });

        it("round trips packet → bytes → packet and bytes → packet → bytes", () => {
          const decoded = new Decoder({ version: f.version }).decodeAll(
            encode(f.packet, f.version),
          );
          assert.deepEqual(plain(decoded), plain([f.packet]));
          const [again] = new Decoder({ version: f.version }).decodeAll(bytes);
          assert.equal(toHex(encode(again, f.version)), toHex(bytes));
        });

        it("decodes the same when fed one byte at a time", () => {
          const chunks: Uint8Array[] = [];
          for (let i = 0; i < bytes.length; i++) chunks.push(bytes.slice(i, i + 1));
          assertDecodesTo(f, chunks, "byte by byte");
        });

        it("decodes the same when cut at 20 random points (seeded)", () => {
          const random = prng(seedOf(f));
          const span = bytes.length - 1; // cut positions 1..length-1
          for (let trial = 0; trial < 20; trial++) {
            // Trials 0-9 cut once; 10-19 cut up to four times.
            const count = trial < 10 ? 1 : 1 + Math.floor(random() * 4);
            const cuts = Array.from({ length: count }, () => 1 + Math.floor(random() * span));
            assertDecodesTo(f, cutAt(bytes, cuts), `cut at ${cuts.join(",")}`);
          }
        });
      });
    }
  });
}

describe("fixture table", () => {
  const kinds: Record<number, Packet["type"][]> = {
    3: [
      "connect",
      "connack",
      "publish",
      "puback",
      "pubrec",
      "pubrel",
      "pubcomp",
      "subscribe",
      "suback",
      "unsubscribe",
      "unsuback",
      "pingreq",
      "pingresp",
      "disconnect",
    ],
  };
  kinds[4] = kinds[3];
  kinds[5] = [...kinds[3], "auth"];

  for (const version of [3, 4, 5] as const) {
    it(`covers every packet type of protocol level ${version}`, () => {
      const seen = new Set(fixturesOf(version).map((f) => f.packet.type));
      assert.deepEqual([...seen].sort(), [...kinds[version]].sort());
    });
  }

  it("has unique names within each version", () => {
    const keys = fixtures.map((f) => `${f.version} ${f.name}`);
    assert.equal(new Set(keys).size, keys.length);
  });

  it("CONNECT fixtures name their own protocol level", () => {
    for (const f of fixtures) {
      if (f.packet.type === "connect") assert.equal(f.packet.protocolVersion, f.version, f.name);
    }
  });
});
