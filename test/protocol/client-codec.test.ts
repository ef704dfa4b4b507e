/**
 * The client's half of the codec (client-codec.ts) against the fixture table:
 * `ClientDecoder` decodes every packet a server sends exactly as the full
 * `Decoder` does and refuses the four packets only a client sends;
 * `encodeClientPacket` gives the fixture bytes for every packet a client
 * sends and refuses the rest.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClientDecoder, encodeClientPacket } from "../../src/protocol/client-codec.js";
import { InvalidArgumentError, ProtocolError } from "../../src/protocol/errors.js";
import type { Packet } from "../../src/protocol/packet.js";
import { ReasonCode } from "../../src/protocol/reason-codes.js";
import { fixtureBytes, fixtures, plain } from "./fixtures.js";

/** Table 2-1 of §2.1.2: the direction each packet flows in. */
const CLIENT_ONLY = new Set(["connect", "subscribe", "unsubscribe", "pingreq"]);
const SERVER_ONLY = new Set(["connack", "suback", "unsuback", "pingresp"]);

describe("ClientDecoder", () => {
  for (const f of fixtures) {
    const tag = `${f.packet.type} v${f.version}: ${f.name}`;
    if (CLIENT_ONLY.has(f.packet.type)) {
      it(`refuses ${tag} — sent only by clients (§2.1.2), Protocol Error 0x82`, () => {
        const d = new ClientDecoder({ version: f.version });
        assert.throws(
          () => d.push(fixtureBytes(f), () => assert.fail("no packet may be delivered")),
          (err: unknown) =>
            err instanceof ProtocolError &&
            err.reasonCode === ReasonCode.ProtocolError &&
            err.statement === "§2.1.2",
        );
        // The error is sticky, like the full decoder's.
        assert.throws(() => d.push(new Uint8Array([0xd0, 0x00]), () => {}), ProtocolError);
      });
    } else {
      it(`decodes ${tag} as the fixture says, whole and byte by byte`, () => {
        const whole: Packet[] = new ClientDecoder({ version: f.version }).decodeAll(
          fixtureBytes(f),
        );
        assert.deepEqual(plain(whole), [plain(f.packet)]);
        const d = new ClientDecoder({ version: f.version });
        const split: Packet[] = [];
        for (const b of fixtureBytes(f)) d.push(Uint8Array.of(b), (p) => split.push(p));
        assert.deepEqual(plain(split), [plain(f.packet)]);
      });
    }
  }
});

describe("encodeClientPacket", () => {
  for (const f of fixtures) {
    const tag = `${f.packet.type} v${f.version}: ${f.name}`;
    if (SERVER_ONLY.has(f.packet.type)) {
      it(`refuses ${tag} — a client does not send it`, () => {
        assert.throws(
          () => encodeClientPacket(f.packet as never, f.version),
          (err: unknown) =>
            err instanceof InvalidArgumentError && /client does not send/.test(err.message),
        );
      });
    } else {
      it(`encodes ${tag} to the fixture bytes`, () => {
        const bytes = encodeClientPacket(f.packet as never, f.version);
        assert.equal(
          Buffer.from(bytes).toString("hex"),
          Buffer.from(fixtureBytes(f)).toString("hex"),
        );
      });
    }
  }
});
