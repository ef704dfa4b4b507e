/**
 * Broker black-box tests, MQTT chapter 4.3 (QoS 0/1/2 in both directions),
 * §3.3.4 (PUBLISH actions), §4.6 (ordering) and §2.2.1 (packet identifiers).
 * Raw packets over the in-memory pipe; ids are MQTT 5.0's unless a test is
 * 3.1.1-specific.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import type { Broker } from "../../src/broker/index.js";
import type {
  ConnectPacket,
  ProtocolVersion,
  PublishPacket,
  QoS,
  Subscription,
} from "../../src/protocol/index.js";
import { startBroker } from "../helpers/broker.js";
import { RawClient, str, text } from "../helpers/raw-client.js";

let broker: Broker;
const open: RawClient[] = [];
const clientIds = new WeakMap<RawClient, string>();
let seq = 0;
const uid = (prefix: string) => `${prefix}-${++seq}`;

async function client(
  version: ProtocolVersion,
  options: Partial<ConnectPacket> = {},
): Promise<RawClient> {
  const c = RawClient.memory(broker, version);
  open.push(c);
  const clientId = options.clientId ?? uid(`c${version}`);
  clientIds.set(c, clientId);
  const connack = await c.connect({ ...options, clientId });
  assert.equal(connack.reasonCode, 0);
  return c;
}

async function subscribe(c: RawClient, subs: Subscription[]): Promise<number[]> {
  c.send({ type: "subscribe", packetId: 1, subscriptions: subs });
  return (await c.next("suback")).reasonCodes;
}

function publish(
  c: RawClient,
  topic: string,
  payload: string,
  qos: QoS,
  packetId?: number,
  extra: Partial<PublishPacket> = {},
): void {
  const p: PublishPacket = {
    type: "publish",
    topic,
    payload: text(payload),
    qos,
    retain: false,
    dup: false,
    ...extra,
  };
  if (qos > 0) p.packetId = packetId ?? 1;
  c.send(p);
}

/** The session the broker keeps for test client `c`. */
function session(c: RawClient) {
  const s = broker.core.sessions.get(clientIds.get(c) ?? "");
  assert.ok(s, "no session");
  return s;
}

before(async () => {
  broker = await startBroker();
});
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});
after(() => broker.close());

for (const version of [4, 5] as const) {
  const v = version === 5 ? "5.0" : "3.1.1";

  describe(`§4.3 QoS delivery, MQTT ${v}`, () => {
    it(`[MQTT-3.3.4-1] QoS 0 is forwarded without a packet id and needs no answer (${v})`, async () => {
      const topic = uid("q0");
      const sub = await client(version);
      assert.deepEqual(await subscribe(sub, [{ topicFilter: topic, qos: 2 }]), [2]);
      const pub = await client(version);
      publish(pub, topic, "zero", 0);
      const msg = await sub.next("publish");
      assert.equal(msg.qos, 0);
      assert.equal(msg.packetId, undefined);
      assert.equal(msg.dup, false);
      assert.equal(str(msg.payload), "zero");
      assert.ok(await pub.nothing(100), "no acknowledgement for QoS 0");
    });

    it(`[${version === 5 ? "MQTT-4.3.2-4" : "MQTT-4.3.2-2"}] QoS 1 PUBLISH is answered by PUBACK with the same packet id (${v})`, async () => {
      const topic = uid("q1");
      const sub = await client(version);
      await subscribe(sub, [{ topicFilter: topic, qos: 1 }]);
      const pub = await client(version);
      publish(pub, topic, "one", 1, 0x1234);
      const puback = await pub.next("puback");
      assert.deepEqual(
        puback,
        version === 5
          ? { type: "puback", packetId: 0x1234, reasonCode: 0 }
          : { type: "puback", packetId: 0x1234 },
      );
      const msg = await sub.next("publish");
      assert.equal(msg.qos, 1);
      assert.equal(msg.dup, false, "[MQTT-4.3.2-2] first delivery has DUP 0");
      assert.ok(msg.packetId !== undefined && msg.packetId > 0);
      const s = session(sub);
      assert.equal(s.inflight.size, 1, "[MQTT-4.3.2-3] unacknowledged until PUBACK");
      sub.send({ type: "puback", packetId: msg.packetId });
      await sub.nothing(30);
      assert.equal(s.inflight.size, 0, "PUBACK frees the packet id");
    });

    it(`[${version === 5 ? "MQTT-4.3.2-5" : "MQTT-4.3.2-2"}] after PUBACK the same packet id (even with DUP) is a new message (${v})`, async () => {
      const topic = uid("q1again");
      const sub = await client(version);
      await subscribe(sub, [{ topicFilter: topic, qos: 0 }]);
      const pub = await client(version);
      publish(pub, topic, "a", 1, 5);
      await pub.next("puback");
      publish(pub, topic, "b", 1, 5, { dup: true });
      await pub.next("puback");
      assert.equal(str((await sub.next("publish")).payload), "a");
      assert.equal(str((await sub.next("publish")).payload), "b");
    });

    it(`[${version === 5 ? "MQTT-4.3.3-10" : "MQTT-4.3.3-2"}] QoS 2: a re-sent PUBLISH before PUBREL gets PUBREC again and is not delivered twice (${v})`, async () => {
      const topic = uid("q2");
      const sub = await client(version);
      await subscribe(sub, [{ topicFilter: topic, qos: 2 }]);
      const pub = await client(version);
      publish(pub, topic, "exactly once", 2, 7);
      const pubrec = await pub.next("pubrec");
      assert.equal(pubrec.packetId, 7, "[MQTT-4.3.3-8] PUBREC carries the packet id");
      if (version === 5) assert.equal(pubrec.reasonCode, 0);
      publish(pub, topic, "exactly once", 2, 7, { dup: true });
      assert.equal((await pub.next("pubrec")).packetId, 7);
      publish(pub, topic, "exactly once", 2, 7, { dup: true });
      assert.equal((await pub.next("pubrec")).packetId, 7);

      const first = await sub.next("publish");
      assert.equal(str(first.payload), "exactly once");
      assert.equal(first.qos, 2);
      sub.send({ type: "pubrec", packetId: first.packetId as number });
      await sub.next("pubrel");
      sub.send({ type: "pubcomp", packetId: first.packetId as number });
      assert.ok(await sub.nothing(100, "publish"), "the duplicate PUBLISH is not delivered");

      pub.send({ type: "pubrel", packetId: 7 });
      const pubcomp = await pub.next("pubcomp");
      assert.equal(pubcomp.packetId, 7, "[MQTT-4.3.3-11] PUBREL is answered by PUBCOMP");
      if (version === 5) assert.equal(pubcomp.reasonCode, 0);
      assert.ok(await sub.nothing(50, "publish"));
    });

    it(`[${version === 5 ? "MQTT-4.3.3-12" : "MQTT-4.3.3-2"}] QoS 2: after PUBCOMP the same packet id is a new message (${v})`, async () => {
      const topic = uid("q2new");
      const sub = await client(version);
      await subscribe(sub, [{ topicFilter: topic, qos: 0 }]);
      const pub = await client(version);
      for (const payload of ["first", "second"]) {
        publish(pub, topic, payload, 2, 9);
        await pub.next("pubrec");
        pub.send({ type: "pubrel", packetId: 9 });
        await pub.next("pubcomp");
        assert.equal(str((await sub.next("publish")).payload), payload);
      }
    });

    it(`[${version === 5 ? "MQTT-4.3.3-11" : "MQTT-4.3.3-2"}] PUBREL for an unknown packet id is answered by PUBCOMP${version === 5 ? " 0x92" : ""} (${v})`, async () => {
      const c = await client(version);
      c.send({ type: "pubrel", packetId: 4321 });
      const pubcomp = await c.next("pubcomp");
      assert.equal(pubcomp.packetId, 4321);
      if (version === 5)
        assert.equal(pubcomp.reasonCode, 0x92, "§3.7.2.1 Packet Identifier not found");
      assert.equal(c.isClosed, false);
    });

    it(`[${version === 5 ? "MQTT-4.3.3-4" : "MQTT-4.3.3-1"}] outbound QoS 2: PUBLISH, PUBREC, PUBREL, PUBCOMP (${v})`, async () => {
      const topic = uid("q2out");
      const sub = await client(version);
      await subscribe(sub, [{ topicFilter: topic, qos: 2 }]);
      const pub = await client(version);
      publish(pub, topic, "out", 2, 1);
      await pub.next("pubrec");
      const msg = await sub.next("publish");
      assert.equal(msg.qos, 2);
      assert.equal(msg.dup, false, "[MQTT-4.3.3-2] DUP 0 on first delivery");
      const id = msg.packetId as number;
      assert.ok(await sub.nothing(50, "pubrel"), "no PUBREL before PUBREC");
      const s = session(sub);
      sub.send({ type: "pubrec", packetId: id });
      const pubrel = await sub.next("pubrel");
      assert.equal(pubrel.packetId, id);
      if (version === 5) assert.equal(pubrel.reasonCode, 0);
      assert.equal(
        s.inflight.get(id)?.state,
        "pubrel",
        "[MQTT-4.3.3-5] PUBREL unacknowledged until PUBCOMP",
      );
      sub.send({ type: "pubcomp", packetId: id });
      await sub.nothing(30);
      assert.equal(s.inflight.size, 0, "PUBCOMP ends the exchange");
      assert.ok(
        await sub.nothing(50, "publish"),
        "[MQTT-4.3.3-6] PUBLISH not re-sent after PUBREL",
      );
      pub.send({ type: "pubrel", packetId: 1 });
      await pub.next("pubcomp");
    });

    it(`[${version === 5 ? "MQTT-3.8.4-8" : "MQTT-3.8.4-6"}] delivery QoS is the minimum of the published QoS and the granted QoS (${v})`, async () => {
      const base = uid("down");
      const sub = await client(version);
      assert.deepEqual(
        await subscribe(sub, [
          { topicFilter: `${base}/0`, qos: 0 },
          { topicFilter: `${base}/1`, qos: 1 },
          { topicFilter: `${base}/2`, qos: 2 },
        ]),
        [0, 1, 2],
      );
      const pub = await client(version);
      const cases: [string, QoS, QoS][] = [
        ["0", 2, 0],
        ["1", 2, 1],
        ["2", 2, 2],
        ["0", 1, 0],
        ["2", 1, 1],
        ["2", 0, 0],
      ];
      let pid = 1;
      for (const [level, published, expected] of cases) {
        publish(pub, `${base}/${level}`, `${level}:${published}`, published, pid++);
        const msg = await sub.next("publish");
        assert.equal(str(msg.payload), `${level}:${published}`);
        assert.equal(msg.qos, expected, `sub QoS ${level}, published QoS ${published}`);
        if (msg.qos === 1) sub.send({ type: "puback", packetId: msg.packetId as number });
        if (msg.qos === 2) {
          sub.send({ type: "pubrec", packetId: msg.packetId as number });
          await sub.next("pubrel");
          sub.send({ type: "pubcomp", packetId: msg.packetId as number });
        }
        if (published === 2) {
          await pub.next("pubrec");
          pub.send({ type: "pubrel", packetId: pid - 1 });
          await pub.next("pubcomp");
        }
      }
    });
  });
}

describe("§2.2.1 packet identifiers and §4.6 ordering", () => {
  it("[MQTT-2.2.1-4] packet ids of outbound messages in flight are non-zero and never reused", async () => {
    const topic = uid("ids");
    const sub = await client(5);
    await subscribe(sub, [{ topicFilter: topic, qos: 1 }]);
    const pub = await client(5);
    for (let i = 1; i <= 60; i++) publish(pub, topic, `n${i}`, 1, i);
    const ids: number[] = [];
    for (let i = 0; i < 60; i++) ids.push((await sub.next("publish")).packetId as number);
    assert.ok(ids.every((id) => Number.isInteger(id) && id > 0 && id <= 65_535));
    assert.equal(new Set(ids).size, ids.length, "all in-flight ids distinct");

    // Acknowledge every other one; the next messages must not reuse an id still in flight.
    const stillInFlight = new Set<number>();
    ids.forEach((id, i) => {
      if (i % 2 === 0) sub.send({ type: "puback", packetId: id });
      else stillInFlight.add(id);
    });
    for (let i = 61; i <= 120; i++) publish(pub, topic, `n${i}`, 1, i);
    const more: number[] = [];
    for (let i = 0; i < 60; i++) more.push((await sub.next("publish")).packetId as number);
    assert.equal(new Set(more).size, more.length);
    for (const id of more) {
      assert.ok(id > 0);
      assert.ok(!stillInFlight.has(id), `id ${id} reused while in flight`);
    }
  });

  for (const version of [4, 5] as const) {
    const v = version === 5 ? "5.0" : "3.1.1";
    it(`[MQTT-4.6.0-6] 100 QoS 1 messages on one topic arrive in the order published (${v})`, async () => {
      const topic = uid("order");
      const sub = await client(version);
      await subscribe(sub, [{ topicFilter: topic, qos: 1 }]);
      const pub = await client(version);
      for (let i = 0; i < 100; i++) publish(pub, topic, String(i), 1, i + 1);
      const got: number[] = [];
      for (let i = 0; i < 100; i++) {
        const msg = await sub.next("publish");
        got.push(Number(str(msg.payload)));
        // Acknowledge as we go: 3.1.1 has a window of 20 (limits.maxInflight), so most are queued first.
        sub.send({ type: "puback", packetId: msg.packetId as number });
      }
      assert.deepEqual(
        got,
        Array.from({ length: 100 }, (_, i) => i),
      );
      for (let i = 0; i < 100; i++) assert.equal((await pub.next("puback")).packetId, i + 1);
    });
  }

  it("[MQTT-4.6.0-6] QoS 0 and QoS 2 streams on one topic each keep their order", async () => {
    const topic = uid("order2");
    const sub = await client(5);
    await subscribe(sub, [{ topicFilter: topic, qos: 2 }]);
    const pub = await client(5);
    for (let i = 0; i < 30; i++)
      publish(pub, topic, `q${i % 2 === 0 ? 0 : 2}-${i}`, i % 2 === 0 ? 0 : 2, i + 1);
    const q0: number[] = [];
    const q2: number[] = [];
    for (let i = 0; i < 30; i++) {
      const msg = await sub.next("publish");
      const [kind, n] = str(msg.payload).split("-");
      (kind === "q0" ? q0 : q2).push(Number(n));
      if (msg.qos === 2) sub.send({ type: "pubrec", packetId: msg.packetId as number });
    }
    assert.deepEqual(q0, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28]);
    assert.deepEqual(q2, [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29]);
  });
});

describe("§3.4.2.1 / §3.5.2.1 MQTT 5 acknowledgement reason codes", () => {
  it("[MQTT-3.3.4-1] PUBACK 0x10 No matching subscribers when nobody subscribes (5.0)", async () => {
    const pub = await client(5);
    publish(pub, uid("nobody"), "x", 1, 3);
    assert.deepEqual(await pub.next("puback"), { type: "puback", packetId: 3, reasonCode: 0x10 });
  });

  it("[MQTT-3.3.4-1] PUBREC 0x10 No matching subscribers for QoS 2, then PUBREL → PUBCOMP 0x00 (5.0)", async () => {
    const pub = await client(5);
    publish(pub, uid("nobody"), "x", 2, 4);
    assert.deepEqual(await pub.next("pubrec"), { type: "pubrec", packetId: 4, reasonCode: 0x10 });
    pub.send({ type: "pubrel", packetId: 4 });
    assert.deepEqual(await pub.next("pubcomp"), { type: "pubcomp", packetId: 4, reasonCode: 0 });
  });

  it("[MQTT-4.3.2-2] 3.1.1 has no reason codes: a plain PUBACK without subscribers", async () => {
    const pub = await client(4);
    publish(pub, uid("nobody"), "x", 1, 3);
    assert.deepEqual(await pub.next("puback"), { type: "puback", packetId: 3 });
  });

  it("PUBREC for an unknown packet id is answered by PUBREL 0x92 (5.0, §3.6.2.1)", async () => {
    const c = await client(5);
    c.send({ type: "pubrec", packetId: 999 });
    assert.deepEqual(await c.next("pubrel"), { type: "pubrel", packetId: 999, reasonCode: 0x92 });
  });

  it("[MQTT-4.3.3-4] PUBREC with a failure code ends the exchange without PUBREL (5.0)", async () => {
    const topic = uid("recfail");
    const sub = await client(5);
    await subscribe(sub, [{ topicFilter: topic, qos: 2 }]);
    const pub = await client(5);
    publish(pub, topic, "x", 1, 1);
    const msg = await sub.next("publish");
    assert.equal(msg.qos, 1);
    publish(pub, topic, "y", 2, 2);
    const q2 = await sub.next("publish");
    assert.equal(q2.qos, 2);
    sub.send({ type: "pubrec", packetId: q2.packetId as number, reasonCode: 0x80 });
    assert.ok(await sub.nothing(100, "pubrel"));
    const s = session(sub);
    assert.equal(s.inflight.has(q2.packetId as number), false, "packet id freed");
  });
});

/** A raw byte pipe into the broker: send hex, read whole packets back as hex (what the wire carries). */
function wire() {
  const peer = broker.connectMemory();
  let buf = Buffer.alloc(0);
  peer.onData((chunk) => {
    buf = Buffer.concat([buf, chunk]);
  });
  const have = async (n: number) => {
    for (let i = 0; i < 300 && buf.length < n; i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(buf.length >= n, `wanted ${n} bytes, have ${buf.toString("hex")}`);
  };
  return {
    send(hex: string): void {
      peer.write(Buffer.from(hex.replace(/\s+/g, ""), "hex"));
    },
    /** The next whole packet, as hex. */
    async packet(): Promise<string> {
      await have(2);
      let length = 0;
      let i = 1;
      for (let mul = 1; ; mul *= 128) {
        await have(i + 1);
        const b = buf[i++];
        length += (b & 0x7f) * mul;
        if ((b & 0x80) === 0) break;
      }
      await have(i + length);
      const out = buf.subarray(0, i + length).toString("hex");
      buf = buf.subarray(i + length);
      return out;
    },
    close: () => peer.close(),
  };
}

describe("exact bytes on the wire", () => {
  it("[MQTT-4.3.2-2] [MQTT-4.3.3-2] 3.1.1: PUBACK, PUBREC, PUBCOMP are two-byte acks carrying the packet id", async () => {
    const w = wire();
    w.send("10 0c 0004 4d515454 04 02 003c 0000");
    assert.equal(await w.packet(), "20020000");
    w.send("32 06 0001 61 1234 78"); // PUBLISH QoS 1 "a" id 0x1234 "x"
    assert.equal(await w.packet(), "40021234");
    w.send("34 06 0001 61 0002 78"); // PUBLISH QoS 2 "a" id 2
    assert.equal(await w.packet(), "50020002");
    w.send("62 02 0002"); // PUBREL
    assert.equal(await w.packet(), "70020002");
    w.send("62 02 0009"); // PUBREL, unknown id
    assert.equal(await w.packet(), "70020009");
    w.close();
  });

  it("[MQTT-3.3.4-1] 5.0: PUBACK/PUBREC 0x10 without subscribers, PUBCOMP 0x00 in the short form, PUBCOMP 0x92 for an unknown id", async () => {
    const w = wire();
    w.send("10 0d 0004 4d515454 05 02 003c 00 0000");
    assert.match(await w.packet(), /^20..0000/);
    w.send("32 07 0001 61 0001 00 78"); // PUBLISH QoS 1 "a" id 1, no properties
    assert.equal(await w.packet(), "4003000110");
    w.send("34 07 0001 61 0002 00 78"); // QoS 2, id 2
    assert.equal(await w.packet(), "5003000210");
    w.send("62 02 0002");
    assert.equal(await w.packet(), "70020002");
    w.send("62 02 0009");
    assert.equal(await w.packet(), "7003000992");
    w.close();
  });

  for (const version of [4, 5] as const) {
    it(`[MQTT-4.3.2-2] outbound QoS 1 PUBLISH bytes: DUP 0, packet id 1 for a new session (${version === 5 ? "5.0" : "3.1.1"})`, async () => {
      const w = wire();
      const topic = version === 5 ? "wire/5" : "wire/4";
      const topicHex = Buffer.from(topic).toString("hex");
      w.send(
        version === 5
          ? "10 0d 0004 4d515454 05 02 003c 00 0000"
          : "10 0c 0004 4d515454 04 02 003c 0000",
      );
      await w.packet();
      // SUBSCRIBE id 1, one filter, QoS 1 (5.0: empty properties).
      w.send(
        version === 5 ? `82 0c 0001 00 0006 ${topicHex} 01` : `82 0b 0001 0006 ${topicHex} 01`,
      );
      assert.equal(await w.packet(), version === 5 ? "900400010001" : "9003000101");
      const pub = await client(version);
      publish(pub, topic, "hi", 1, 5);
      await pub.next("puback");
      assert.equal(
        await w.packet(),
        version === 5 ? `320d0006${topicHex}0001006869` : `320c0006${topicHex}00016869`,
      );
      w.send("40 02 0001");
      w.close();
    });
  }
});
