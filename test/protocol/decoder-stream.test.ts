/**
 * The streaming decoder over many packets and arbitrary chunking: order,
 * every split point, zero-copy slices, `buffered`, the server's switch to the
 * CONNECT's protocol level, the maximum packet size checked before a body is
 * buffered, and the sticky error. Also encodePublishHeader against encode().
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ErrorCode, ProtocolError } from "../../src/protocol/errors.js";
import { Decoder, encode, encodePublishHeader } from "../../src/protocol/index.js";
import type { Packet, PublishPacket } from "../../src/protocol/packet.js";
import { ReasonCode } from "../../src/protocol/reason-codes.js";
import { prng } from "../helpers/prng.js";
import { type Fixture, fixtureBytes, fixtures, fixturesOf, hex, plain } from "./fixtures.js";

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

/** Pushes `chunks` in order into `decoder`; returns every packet delivered. */
function pushAll(decoder: Decoder, chunks: Uint8Array[]): Packet[] {
  const out: Packet[] = [];
  for (const chunk of chunks) decoder.push(chunk, (p) => out.push(p));
  return out;
}

/** Finds one fixture by version and name (fails loudly if the table changes). */
function fixture(version: 3 | 4 | 5, name: string): Fixture {
  const f = fixtures.find((x) => x.version === version && x.name === name);
  if (f === undefined) throw new Error(`no fixture "${name}" for level ${version}`);
  return f;
}

/** Asserts `fn` throws a ProtocolError with this code and reason code; returns it. */
function assertProtocolError(fn: () => unknown, code: string, reasonCode: number): ProtocolError {
  let caught: unknown;
  assert.throws(fn, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof ProtocolError, `expected a ProtocolError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.equal(caught.reasonCode, reasonCode);
  return caught;
}

for (const version of [3, 4, 5] as const) {
  describe(`a stream of every level-${version} fixture`, () => {
    const all = fixturesOf(version);
    const stream = concat(all.map(fixtureBytes));
    const expected = plain(all.map((f) => f.packet));
    // The every-split-point test skips the 20 kB packets to stay quick; the others keep them.
    const small = all.filter((f) => fixtureBytes(f).length <= 1000);
    const smallStream = concat(small.map(fixtureBytes));
    const smallExpected = plain(small.map((f) => f.packet));

    it("decodes from one chunk, in order", () => {
      const decoder = new Decoder({ version });
      assert.deepEqual(plain(decoder.decodeAll(stream)), expected);
      assert.equal(decoder.buffered, 0);
    });

    it(`decodes the same cut at every single split point (${smallStream.length - 1} cuts)`, () => {
      for (let cut = 1; cut < smallStream.length; cut++) {
        const decoder = new Decoder({ version });
        const packets = pushAll(decoder, [smallStream.subarray(0, cut), smallStream.subarray(cut)]);
        assert.deepEqual(plain(packets), smallExpected, `cut at ${cut}`);
        assert.equal(decoder.buffered, 0);
      }
    });

    it("decodes the same fed one byte at a time", () => {
      const decoder = new Decoder({ version });
      const packets: Packet[] = [];
      for (let i = 0; i < stream.length; i++) {
        decoder.push(stream.subarray(i, i + 1), (p) => packets.push(p));
      }
      assert.deepEqual(plain(packets), expected);
      assert.equal(decoder.buffered, 0);
    });

    it("decodes the same in 30 random chunkings (seeded)", () => {
      const random = prng(0x5eed + version);
      for (let trial = 0; trial < 30; trial++) {
        const chunks: Uint8Array[] = [];
        for (let at = 0; at < stream.length; ) {
          // Mostly short chunks, sometimes long ones that hold whole packets.
          const size =
            random() < 0.8 ? 1 + Math.floor(random() * 40) : Math.floor(random() * 30000);
          chunks.push(stream.subarray(at, at + size));
          at += size;
        }
        const decoder = new Decoder({ version });
        assert.deepEqual(plain(pushAll(decoder, chunks)), expected, `trial ${trial}`);
      }
    });
  });
}

describe("zero-copy decoding", () => {
  const publish = fixture(
    5,
    "PUBLISH QoS 1 with properties; repeated user property names keep their order",
  );
  const before = hex("c0 00"); // PINGREQ
  const after = hex("d0 00"); // PINGRESP
  const publishBytes = fixtureBytes(publish);
  const payloadOffset = publishBytes.length - 3; // payload "hé" is the last 3 bytes
  // fixed header 2, topic 5, packet id 2, property length 1, then properties 01 (2),
  // 02 (5), 23 (3), 08 (6) and the correlation data's id and length 09 00 02 (3).
  const correlationOffset = 2 + 5 + 2 + 1 + 2 + 5 + 3 + 6 + 3;

  it("a PUBLISH inside one Uint8Array chunk gets slices of that chunk", () => {
    // The chunk itself is a view at a non-zero offset of a larger buffer.
    const backing = new Uint8Array(7 + before.length + publishBytes.length + after.length);
    const chunk = backing.subarray(7);
    chunk.set(concat([before, publishBytes, after]));
    const [, packet] = new Decoder({ version: 5 }).decodeAll(chunk);
    assert.equal(packet.type, "publish");
    const p = packet as PublishPacket;
    assert.equal(p.payload.buffer, chunk.buffer, "payload shares the chunk's memory");
    assert.equal(p.payload.byteOffset, chunk.byteOffset + before.length + payloadOffset);
    assert.equal(toHex(p.payload), "68c3a9");
    const correlation = p.properties?.correlationData;
    assert.ok(correlation !== undefined);
    assert.equal(correlation.buffer, chunk.buffer, "binary properties are slices too");
    assert.equal(correlation.byteOffset, chunk.byteOffset + before.length + correlationOffset);
    assert.equal(toHex(correlation), "0001");
  });

  it("a Node Buffer chunk gives Buffer payloads over the same memory", () => {
    const chunk = Buffer.from(concat([before, publishBytes, after]));
    const [, packet] = new Decoder({ version: 5 }).decodeAll(chunk);
    const p = packet as PublishPacket;
    assert.ok(Buffer.isBuffer(p.payload), "payload is a Buffer");
    assert.equal(p.payload.buffer, chunk.buffer);
    assert.equal(p.payload.byteOffset, chunk.byteOffset + before.length + payloadOffset);
    assert.ok(Buffer.isBuffer(p.properties?.correlationData));
  });

  it("a PUBLISH split across chunks is gathered into its own copy", () => {
    const first = publishBytes.slice(0, 20);
    const second = publishBytes.slice(20);
    const decoder = new Decoder({ version: 5 });
    const packets = pushAll(decoder, [first, second]);
    assert.deepEqual(plain(packets), plain([publish.packet]));
    const p = packets[0] as PublishPacket;
    assert.notEqual(p.payload.buffer, first.buffer);
    assert.notEqual(p.payload.buffer, second.buffer);
    // The caller may reuse its chunks (as a socket reuses read buffers).
    first.fill(0);
    second.fill(0);
    assert.deepEqual(plain(packets), plain([publish.packet]));
  });

  it("a 20 kB PUBLISH split in three is correct", () => {
    const big = fixture(5, "PUBLISH QoS 1, 20000-byte payload: 3-byte Remaining Length");
    const bytes = fixtureBytes(big);
    const decoder = new Decoder({ version: 5 });
    const packets = pushAll(decoder, [
      bytes.subarray(0, 2), // inside the Remaining Length
      bytes.subarray(2, 10_000),
      bytes.subarray(10_000),
    ]);
    assert.deepEqual(plain(packets), plain([big.packet]));
  });
});

describe("Decoder.buffered", () => {
  // PUBLISH, 200-byte payload, Remaining Length "cb 01": 206 bytes in all.
  const bytes = fixtureBytes(fixture(4, "PUBLISH 200-byte payload: 2-byte Remaining Length"));

  it("reports the bytes held for an incomplete packet, from the first byte", () => {
    const decoder = new Decoder({ version: 4 });
    const packets: Packet[] = [];
    const push = (chunk: Uint8Array) => decoder.push(chunk, (p) => packets.push(p));
    assert.equal(decoder.buffered, 0);
    push(new Uint8Array(0));
    assert.equal(decoder.buffered, 0, "an empty chunk changes nothing");
    push(bytes.subarray(0, 1));
    assert.equal(decoder.buffered, 1, "type byte only");
    push(bytes.subarray(1, 2));
    assert.equal(decoder.buffered, 2, "Remaining Length not finished");
    push(bytes.subarray(2, 3));
    assert.equal(decoder.buffered, 3, "fixed header complete");
    push(bytes.subarray(3, 100));
    assert.equal(decoder.buffered, 100);
    assert.equal(packets.length, 0);
    push(bytes.subarray(100));
    assert.equal(decoder.buffered, 0);
    assert.equal(packets.length, 1);
  });

  it("counts the tail of a chunk that ends inside a packet", () => {
    const decoder = new Decoder({ version: 4 });
    const packets = decoder.decodeAll(concat([hex("c0 00 d0 00"), bytes.subarray(0, 50)]));
    assert.deepEqual(
      packets.map((p) => p.type),
      ["pingreq", "pingresp"],
    );
    assert.equal(decoder.buffered, 50);
  });
});

describe("a server decoder switches to the CONNECT's protocol level", () => {
  const connect5 = fixture(5, "CONNECT with properties, will properties, user name and password");
  const publish5 = fixture(
    5,
    "PUBLISH QoS 1 with properties; repeated user property names keep their order",
  );
  const disconnect5 = fixture(5, "DISCONNECT 0x9c with server reference and reason string");
  const chunk = concat([connect5, publish5, disconnect5].map(fixtureBytes));
  const expected = plain([connect5.packet, publish5.packet, disconnect5.packet]);

  it("starts at 3.1.1 and reads a v5 PUBLISH after a v5 CONNECT in the same chunk", () => {
    const decoder = new Decoder();
    assert.equal(decoder.version, 4);
    assert.deepEqual(plain(decoder.decodeAll(chunk)), expected);
    assert.equal(decoder.version, 5);
  });

  it("switches the same when the CONNECT and PUBLISH arrive byte by byte", () => {
    const decoder = new Decoder();
    const chunks = Array.from(chunk, (_, i) => chunk.subarray(i, i + 1));
    assert.deepEqual(plain(pushAll(decoder, chunks)), expected);
    assert.equal(decoder.version, 5);
  });

  it("the switch matters: read as 3.1.1, the v5 PUBLISH's properties would be payload", () => {
    const [asV4] = new Decoder({ version: 4 }).decodeAll(fixtureBytes(publish5));
    assert.notDeepEqual(plain(asV4), plain(publish5.packet));
  });

  it("switches to level 3 on an MQIsdp CONNECT", () => {
    const connect3 = fixture(3, "CONNECT MQIsdp, clean session");
    const decoder = new Decoder();
    const packets = decoder.decodeAll(
      concat([fixtureBytes(connect3), fixtureBytes(fixture(3, "PUBLISH QoS 0"))]),
    );
    assert.equal(decoder.version, 3);
    assert.deepEqual(plain(packets), plain([connect3.packet, fixture(3, "PUBLISH QoS 0").packet]));
  });
});

describe("maxPacketSize", () => {
  // PUBLISH, Remaining Length 203: 206 bytes in all.
  const bytes = fixtureBytes(fixture(4, "PUBLISH 200-byte payload: 2-byte Remaining Length"));
  const header = bytes.subarray(0, 3); // 30 cb 01

  it("[§3.2.2.3.6] refuses a too-large PUBLISH from its fixed header, before the body", () => {
    const decoder = new Decoder({ version: 5, maxPacketSize: 100 });
    const error = assertProtocolError(
      () => decoder.push(header, () => assert.fail("no packet expected")),
      ErrorCode.PacketTooLarge,
      ReasonCode.PacketTooLarge,
    );
    assert.equal(error.reasonCode, 0x95);
    assert.ok(decoder.buffered <= 5, `buffered ${decoder.buffered}`);
  });

  it("refuses it when the fixed header itself arrives a byte at a time", () => {
    const decoder = new Decoder({ version: 5, maxPacketSize: 100 });
    decoder.push(header.subarray(0, 1), () => assert.fail("no packet expected"));
    decoder.push(header.subarray(1, 2), () => assert.fail("no packet expected"));
    assert.equal(decoder.buffered, 2);
    assertProtocolError(
      () => decoder.push(header.subarray(2, 3), () => assert.fail("no packet expected")),
      ErrorCode.PacketTooLarge,
      0x95,
    );
    assert.ok(decoder.buffered <= 5, `buffered ${decoder.buffered}`);
  });

  it("refuses it when the header ends a chunk that began with good packets", () => {
    const decoder = new Decoder({ version: 4, maxPacketSize: 205 });
    const got: Packet[] = [];
    assertProtocolError(
      () => decoder.push(concat([hex("c0 00"), header]), (p) => got.push(p)),
      ErrorCode.PacketTooLarge,
      0x95,
    );
    assert.deepEqual(plain(got), [{ type: "pingreq" }]);
  });

  it("counts the whole packet: exactly the limit passes, one byte over fails", () => {
    const exact = new Decoder({ version: 4, maxPacketSize: bytes.length });
    assert.equal(exact.decodeAll(bytes).length, 1);
    const over = new Decoder({ version: 4, maxPacketSize: bytes.length - 1 });
    assertProtocolError(() => over.decodeAll(bytes), ErrorCode.PacketTooLarge, 0x95);
  });
});

describe("after an error", () => {
  it("packets before the bad one in the same chunk are delivered first", () => {
    const publish = fixture(4, "PUBLISH QoS 1");
    // Packet type 0 is reserved: a Malformed Packet.
    const chunk = concat([hex("c0 00"), fixtureBytes(publish), hex("00 00"), hex("d0 00")]);
    const got: Packet[] = [];
    const decoder = new Decoder({ version: 4 });
    assertProtocolError(
      () => decoder.push(chunk, (p) => got.push(p)),
      ErrorCode.MalformedPacket,
      ReasonCode.MalformedPacket,
    );
    assert.deepEqual(plain(got), plain([{ type: "pingreq" }, publish.packet]));
  });

  it("every further push throws the same error, and delivers nothing", () => {
    const decoder = new Decoder({ version: 5, maxPacketSize: 100 });
    const first = assertProtocolError(
      () => decoder.push(hex("30 cb 01"), () => assert.fail("no packet expected")),
      ErrorCode.PacketTooLarge,
      0x95,
    );
    assert.equal(decoder.error, first);
    for (const chunk of [hex("c0 00"), new Uint8Array(0), hex("d0")]) {
      assert.throws(
        () => decoder.push(chunk, () => assert.fail("no packet expected")),
        (error: unknown) => error === first,
      );
    }
    assert.throws(
      () => decoder.decodeAll(hex("c0 00")),
      (error: unknown) => error === first,
    );
  });
});

describe("encodePublishHeader", () => {
  const publishes = fixtures.filter(
    (f): f is Fixture & { packet: PublishPacket } => f.packet.type === "publish",
  );

  /** Remaining Length read by hand from a fixed header; returns [value, header bytes]. */
  function remainingLength(bytes: Uint8Array): [number, number] {
    let value = 0;
    let mult = 1;
    let i = 1;
    for (;;) {
      const b = bytes[i++];
      value += (b & 0x7f) * mult;
      mult *= 128;
      if ((b & 0x80) === 0) return [value, i];
    }
  }

  for (const f of publishes) {
    it(`level ${f.version}, ${f.name}: header + payload = encode()`, () => {
      const bytes = fixtureBytes(f);
      const payload = f.packet.payload;
      const headerBytes = encodePublishHeader(f.packet, f.version);
      assert.equal(headerBytes.length, bytes.length - payload.length);
      assert.equal(toHex(concat([headerBytes, payload])), toHex(encode(f.packet, f.version)));
      assert.equal(toHex(concat([headerBytes, payload])), toHex(bytes));
      const [remaining, fixedHeaderLength] = remainingLength(headerBytes);
      assert.equal(remaining, headerBytes.length - fixedHeaderLength + payload.length);
    });
  }

  it("uses the allocator it is given, for the header's size only", () => {
    const f = fixture(5, "PUBLISH QoS 1, 20000-byte payload: 3-byte Remaining Length");
    const sizes: number[] = [];
    const headerBytes = encodePublishHeader(f.packet as PublishPacket, 5, (n) => {
      sizes.push(n);
      return Buffer.alloc(n, 0xa5);
    });
    assert.ok(Buffer.isBuffer(headerBytes));
    assert.deepEqual(sizes, [headerBytes.length]);
    assert.equal(toHex(headerBytes), "32a69c01000174000100");
  });
});
