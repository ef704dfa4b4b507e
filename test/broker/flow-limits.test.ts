/**
 * Broker black-box tests of flow control (§4.9, §3.3.4 Receive Maximum, the
 * 3.1.x inflight window), the broker's limits (queued messages, topic
 * length and levels) and slow consumers (ARCHITECTURE.md "Errors and
 * limits"), and the rule that clients cannot publish into `$SYS`.
 */
import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";
import { afterEach, describe, it } from "node:test";
import type { Broker, BrokerOptions } from "../../src/broker/index.js";
import {
  type ConnectPacket,
  Decoder,
  encode,
  type Packet,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
  type Subscription,
} from "../../src/protocol/index.js";
import { startBroker, tcpPort } from "../helpers/broker.js";
import { RawClient, str, text } from "../helpers/raw-client.js";

const open: RawClient[] = [];
const brokers: Broker[] = [];
const sockets: Socket[] = [];
let seq = 0;
const uid = (prefix: string) => `${prefix}-${++seq}`;

async function brokerWith(options: BrokerOptions = {}): Promise<Broker> {
  const b = await startBroker(options);
  brokers.push(b);
  return b;
}

async function client(
  b: Broker,
  version: ProtocolVersion,
  options: Partial<ConnectPacket> = {},
): Promise<RawClient> {
  const c = RawClient.memory(b, version);
  open.push(c);
  const connack = await c.connect({ clientId: uid(`c${version}`), ...options });
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
  payload: string | Uint8Array,
  qos: QoS = 0,
  packetId = 1,
  extra: Partial<PublishPacket> = {},
): void {
  const p: PublishPacket = {
    type: "publish",
    topic,
    payload: typeof payload === "string" ? text(payload) : payload,
    qos,
    retain: false,
    dup: false,
    ...extra,
  };
  if (qos > 0) p.packetId = packetId;
  c.send(p);
}

/** A PINGREQ round trip: everything `c` sent before has been handled by the broker. */
async function sync(c: RawClient): Promise<void> {
  c.send({ type: "pingreq" });
  await c.next("pingresp");
}

/** Payloads of every PUBLISH that arrived within `ms`. */
async function drain(c: RawClient, ms = 100): Promise<PublishPacket[]> {
  await c.nothing(ms);
  const out: PublishPacket[] = [];
  for (let i = 0; i < c.received.length; ) {
    const p = c.received[i];
    if (p.type === "publish") {
      out.push(p);
      c.received.splice(i, 1);
    } else i++;
  }
  return out;
}

async function expectDisconnect(c: RawClient, reasonCode: number): Promise<void> {
  if (c.version === 5) assert.equal((await c.next("disconnect")).reasonCode, reasonCode);
  await c.waitClosed();
}

afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

describe("§4.9 flow control towards the client", () => {
  it("[MQTT-3.3.4-9] [MQTT-4.9.0-2] at most Receive Maximum QoS 1 messages unacknowledged; the rest are queued, not dropped, and sent as PUBACKs come", async () => {
    const b = await brokerWith();
    const sub = await client(b, 5, { clientId: "rm3", properties: { receiveMaximum: 3 } });
    await subscribe(sub, [{ topicFilter: "rm/#", qos: 1 }]);
    const pub = await client(b, 5);
    for (let i = 0; i < 10; i++) publish(pub, "rm/t", String(i), 1, i + 1);
    await sync(pub);
    const first = await drain(sub);
    assert.deepEqual(
      first.map((p) => str(p.payload)),
      ["0", "1", "2"],
    );
    const session = b.core.sessions.get("rm3");
    assert.equal(session?.inflight.size, 3);
    assert.equal(session?.queue.length, 7);
    const got = first.map((p) => str(p.payload));
    let window = first;
    while (got.length < 10) {
      // Acknowledge one: exactly one more arrives.
      sub.send({ type: "puback", packetId: window[0].packetId as number });
      const more = await drain(sub, 30);
      assert.equal(more.length, 1, `after ${got.length}`);
      got.push(str(more[0].payload));
      window = [...window.slice(1), more[0]];
      assert.ok((session?.inflight.size ?? 0) <= 3);
    }
    assert.deepEqual(got, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    assert.equal(b.core.stats.publishDropped, 0);
  });

  it("[MQTT-4.9.0-2] a QoS 2 message holds its slot until PUBCOMP, not PUBREC", async () => {
    const b = await brokerWith();
    const sub = await client(b, 5, { properties: { receiveMaximum: 1 } });
    await subscribe(sub, [{ topicFilter: "q2/#", qos: 2 }]);
    const pub = await client(b, 5);
    publish(pub, "q2/t", "a", 2, 1);
    publish(pub, "q2/t", "b", 2, 2);
    const a = await sub.next("publish");
    assert.equal(a.qos, 2);
    sub.send({ type: "pubrec", packetId: a.packetId as number });
    assert.equal((await sub.next("pubrel")).reasonCode, 0);
    assert.ok(await sub.nothing(80, "publish"), "still in flight after PUBREC");
    sub.send({ type: "pubcomp", packetId: a.packetId as number });
    assert.equal(str((await sub.next("publish")).payload), "b");
  });

  it("[MQTT-3.3.4-10] [MQTT-4.9.0-3] with the quota at zero, QoS 0 messages and other packets still flow", async () => {
    const b = await brokerWith();
    const sub = await client(b, 5, { properties: { receiveMaximum: 1 } });
    await subscribe(sub, [{ topicFilter: "z/#", qos: 1 }]);
    const pub = await client(b, 5);
    publish(pub, "z/1", "held", 1, 1);
    publish(pub, "z/1", "queued", 1, 2);
    await sub.next("publish");
    publish(pub, "z/1", "qos0", 0);
    assert.equal(str((await sub.next("publish")).payload), "qos0");
    await sync(sub);
    assert.deepEqual(await subscribe(sub, [{ topicFilter: "z2", qos: 0 }]), [0]);
    sub.send({ type: "unsubscribe", packetId: 4, topicFilters: ["z2"] });
    await sub.next("unsuback");
  });

  it("3.1.1: limits.maxInflight bounds the unacknowledged messages; the rest wait in order", async () => {
    const b = await brokerWith({ limits: { maxInflight: 2 } });
    const sub = await client(b, 4, { clientId: "mi2" });
    await subscribe(sub, [{ topicFilter: "mi/#", qos: 2 }]);
    const pub = await client(b, 4);
    for (let i = 0; i < 6; i++) publish(pub, "mi/t", String(i), i % 2 === 0 ? 1 : 2, i + 1);
    await sync(pub);
    const got: string[] = [];
    let batch = await drain(sub);
    while (batch.length > 0) {
      assert.ok(batch.length <= 2, `window of 2, got ${batch.length}`);
      for (const p of batch) {
        got.push(str(p.payload));
        if (p.qos === 1) sub.send({ type: "puback", packetId: p.packetId as number });
        else {
          sub.send({ type: "pubrec", packetId: p.packetId as number });
          await sub.next("pubrel");
          sub.send({ type: "pubcomp", packetId: p.packetId as number });
        }
      }
      batch = await drain(sub, 50);
    }
    assert.deepEqual(got, ["0", "1", "2", "3", "4", "5"]);
  });
});

describe("§3.3.4 flow control from the client", () => {
  it("§3.3.4 more unreleased QoS 2 messages than the broker's Receive Maximum: DISCONNECT 0x93", async () => {
    const b = await brokerWith({ limits: { receiveMaximum: 2 } });
    const c = RawClient.memory(b, 5);
    open.push(c);
    const connack = await c.connect({ clientId: uid("rx") });
    assert.equal(connack.properties?.receiveMaximum, 2, "announced in CONNACK");
    publish(c, "t", "1", 2, 1);
    publish(c, "t", "2", 2, 2);
    await c.next("pubrec");
    await c.next("pubrec");
    // QoS 1 is acknowledged at once and does not count; a re-sent id is not a new message.
    publish(c, "t", "q1", 1, 7);
    assert.equal((await c.next("puback")).packetId, 7);
    publish(c, "t", "1", 2, 1, { dup: true });
    assert.equal((await c.next("pubrec")).packetId, 1);
    // Releasing one makes room for one.
    c.send({ type: "pubrel", packetId: 1 });
    await c.next("pubcomp");
    publish(c, "t", "3", 2, 3);
    await c.next("pubrec");
    publish(c, "t", "4", 2, 4);
    await expectDisconnect(c, 0x93);
  });

  it("3.1.1: more unreleased QoS 2 messages than limits.receiveMaximum closes the connection", async () => {
    const b = await brokerWith({ limits: { receiveMaximum: 1 } });
    const c = await client(b, 4);
    publish(c, "t", "1", 2, 1);
    await c.next("pubrec");
    publish(c, "t", "2", 2, 2);
    await c.waitClosed();
  });
});

describe("queue limits", () => {
  for (const policy of ["drop-new", "drop-oldest"] as const) {
    it(`maxQueuedMessages for an offline session: ${policy} keeps ${policy === "drop-new" ? "the first" : "the last"} messages and counts the rest`, async () => {
      const b = await brokerWith({ limits: { maxQueuedMessages: 5, queueOverflow: policy } });
      const sub = await client(b, 5, {
        clientId: "off",
        properties: { sessionExpiryInterval: 60 },
      });
      await subscribe(sub, [{ topicFilter: "ql/#", qos: 1 }]);
      sub.send({ type: "disconnect" });
      await sub.waitClosed();
      const pub = await client(b, 5);
      for (let i = 0; i < 12; i++) publish(pub, "ql/t", String(i), 1, i + 1);
      await sync(pub);
      assert.equal(b.core.sessions.get("off")?.queue.length, 5);
      assert.equal(b.core.stats.publishDropped, 7);
      const back = await client(b, 5, { clientId: "off", clean: false });
      const got = (await drain(back)).map((p) => str(p.payload));
      assert.deepEqual(
        got,
        policy === "drop-new" ? ["0", "1", "2", "3", "4"] : ["7", "8", "9", "10", "11"],
      );
    });
  }

  it("maxQueuedBytes bounds the payload bytes queued for a session", async () => {
    const b = await brokerWith({ limits: { maxQueuedBytes: 1000 } });
    const sub = await client(b, 5, {
      clientId: "bytes",
      properties: { sessionExpiryInterval: 60 },
    });
    await subscribe(sub, [{ topicFilter: "qb/#", qos: 1 }]);
    sub.send({ type: "disconnect" });
    await sub.waitClosed();
    const pub = await client(b, 5);
    for (let i = 0; i < 10; i++) publish(pub, "qb/t", "x".repeat(300), 1, i + 1);
    await sync(pub);
    const session = b.core.sessions.get("bytes");
    assert.equal(session?.queue.length, 3);
    assert.ok((session?.queue.bytes ?? 0) <= 1000);
    assert.equal(b.core.stats.publishDropped, 7);
  });
});

describe("slow consumer", () => {
  it("a subscriber that stops reading: buffered bytes stay bounded, QoS 0 is dropped and counted, QoS 1 is queued up to maxQueuedMessages, others get everything", async () => {
    const hwm = 256 * 1024;
    const b = await brokerWith({
      limits: { writeHighWaterMark: hwm, maxQueuedMessages: 50, slowConsumerGraceMs: 0 },
    });
    // The slow subscriber: a raw socket that subscribes, then stops reading.
    const socket = netConnect(tcpPort(b), "127.0.0.1");
    sockets.push(socket);
    await new Promise((r) => socket.once("connect", r));
    const decoder = new Decoder({ version: 4 });
    const slowGot: Packet[] = [];
    socket.on("data", (chunk) => decoder.push(chunk, (p) => slowGot.push(p)));
    socket.write(
      encode(
        { type: "connect", protocolVersion: 4, clean: true, keepalive: 0, clientId: "slow" },
        4,
      ),
    );
    socket.write(
      encode(
        { type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "s/#", qos: 1 }] },
        4,
      ),
    );
    for (let i = 0; i < 100 && slowGot.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(
      slowGot.map((p) => p.type),
      ["connack", "suback"],
    );
    socket.pause();
    const slow = [...b.core.clients].find((c) => c.clientId === "slow");
    assert.ok(slow);

    const fast = await client(b, 5);
    await subscribe(fast, [{ topicFilter: "s/#", qos: 0 }]);
    let fastCount = 0;
    const pub = await RawClient.tcp(tcpPort(b), 4);
    open.push(pub);
    await pub.connect({ clientId: "pub" });

    // QoS 0 in paced batches until the broker starts dropping for the slow subscriber.
    const payload = text("x".repeat(4096));
    let sent = 0;
    let maxBuffered = 0;
    while (b.core.stats.publishDropped < 100 && sent < 10_000) {
      for (let i = 0; i < 20; i++) publish(pub, "s/zero", payload);
      sent += 20;
      await sync(pub);
      maxBuffered = Math.max(maxBuffered, slow.conn.bufferedAmount);
      fastCount += (await drain(fast, 0)).length;
    }
    assert.ok(b.core.stats.publishDropped >= 100, `dropped ${b.core.stats.publishDropped}`);
    assert.ok(maxBuffered <= hwm + 4096 + 64, `buffered ${maxBuffered} bytes`);

    // QoS 1 now: queued up to the limit, the rest dropped and counted.
    const droppedBefore = b.core.stats.publishDropped;
    for (let i = 0; i < 100; i++) {
      publish(pub, "s/one", `q${i}`, 1, i + 1);
      if (i % 20 === 19) await sync(pub);
    }
    for (let i = 0; i < 100; i++) await pub.next("puback");
    const session = b.core.sessions.get("slow");
    assert.equal(session?.queue.length, 50);
    assert.equal(
      b.core.stats.publishDropped - droppedBefore,
      100 - 50 - (session?.inflight.size ?? 0),
    );
    assert.ok(slow.conn.bufferedAmount <= hwm + 4096 + 64);

    // The fast subscriber got every message.
    const rest = await drain(fast, 100);
    fastCount += rest.length;
    assert.equal(fastCount, sent + 100);

    // Reading again: the queued QoS 1 messages follow, in order, as the slow client acknowledges.
    const qos1: string[] = [];
    socket.removeAllListeners("data");
    socket.on("data", (chunk) =>
      decoder.push(chunk, (p) => {
        if (p.type === "publish" && p.qos === 1) {
          qos1.push(str(p.payload));
          socket.write(encode({ type: "puback", packetId: p.packetId as number }, 4));
        }
      }),
    );
    socket.resume();
    for (let i = 0; i < 300 && qos1.length < 50; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(
      qos1,
      Array.from({ length: 50 }, (_, i) => `q${i}`),
    );
  });

  it("slowConsumerGraceMs: a subscriber that stopped reading loses QoS 0 only after its buffer stayed above the mark for the grace period; one that keeps reading loses nothing", async () => {
    // 64 × the mark (16 MiB) is dropped at once: the paced batches below stay far under it.
    const hwm = 256 * 1024;
    const grace = 1000;
    const b = await brokerWith({
      limits: { writeHighWaterMark: hwm, slowConsumerGraceMs: grace },
    });
    // A TCP subscriber that keeps reading, and one that stops after its SUBACK.
    const reader = await RawClient.tcp(tcpPort(b), 4);
    open.push(reader);
    await reader.connect({ clientId: "reader" });
    reader.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{ topicFilter: "g/#", qos: 0 }],
    });
    await reader.next("suback");
    const socket = netConnect(tcpPort(b), "127.0.0.1");
    sockets.push(socket);
    await new Promise((r) => socket.once("connect", r));
    socket.write(
      encode(
        { type: "connect", protocolVersion: 4, clean: true, keepalive: 0, clientId: "stalled" },
        4,
      ),
    );
    socket.write(
      encode(
        { type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "g/#", qos: 0 }] },
        4,
      ),
    );
    await new Promise((r) => setTimeout(r, 100));
    socket.pause();
    const stalled = [...b.core.clients].find((c) => c.clientId === "stalled");
    assert.ok(stalled);

    const pub = await RawClient.tcp(tcpPort(b), 4);
    open.push(pub);
    await pub.connect({ clientId: "gpub" });
    const payload = text("x".repeat(4096));
    let sent = 0;
    let above = 0;
    let read = 0;
    const started = Date.now();
    while (b.core.stats.dropped.slow_consumer === 0 && Date.now() - started < 20_000) {
      for (let i = 0; i < 50; i++) publish(pub, "g/t", payload);
      sent += 50;
      await sync(pub);
      read += (await drain(reader, 20)).length;
      if (above === 0 && stalled.conn.bufferedAmount > hwm) above = Date.now();
      // Within the grace period nothing is dropped, however full the stalled one's buffer.
      if (above !== 0 && Date.now() - above < grace / 2) {
        assert.equal(b.core.stats.dropped.slow_consumer, 0, "dropped within the grace period");
      }
    }
    assert.ok(b.core.stats.dropped.slow_consumer > 0, "the stalled subscriber is dropped from");
    assert.ok(above !== 0 && Date.now() - above >= grace / 2);
    // Every drop was the stalled one's: the reader got everything.
    read += (await drain(reader, 300)).length;
    assert.equal(read, sent);
  });

  it("a congested in-memory connection sends the QoS 1 messages it held back once its bytes are handed over", async () => {
    const b = await brokerWith({ limits: { writeHighWaterMark: 1024 } });
    const sub = await client(b, 5);
    await subscribe(sub, [{ topicFilter: "mem/#", qos: 1 }]);
    const pub = await client(b, 5);
    // QoS 0 bytes fill the write buffer; the QoS 1 message behind them waits, with nothing in flight.
    publish(pub, "mem/t", "x".repeat(2000));
    publish(pub, "mem/t", "held", 1);
    assert.equal((await sub.next("publish")).qos, 0);
    const held = await sub.next("publish");
    assert.equal(str(held.payload), "held");
  });
});

describe("topic limits and reserved topics", () => {
  it("limits.maxTopicLevels: a PUBLISH with more levels ends the connection (5.0: DISCONNECT 0x90); a filter with more levels gets 0x8F / 0x80", async () => {
    const b = await brokerWith({ limits: { maxTopicLevels: 3 } });
    const sub5 = await client(b, 5);
    assert.deepEqual(
      await subscribe(sub5, [
        { topicFilter: "a/b/c", qos: 0 },
        { topicFilter: "a/b/c/d", qos: 0 },
        { topicFilter: "a/+/#", qos: 0 },
      ]),
      [0, 0x8f, 0],
    );
    const sub4 = await client(b, 4);
    assert.deepEqual(await subscribe(sub4, [{ topicFilter: "a/b/c/#", qos: 0 }]), [0x80]);
    const pub5 = await client(b, 5);
    publish(pub5, "a/b/c", "ok");
    assert.equal(str((await sub5.next("publish")).payload), "ok");
    publish(pub5, "a/b/c/d", "too deep");
    await expectDisconnect(pub5, 0x90);
    const pub4 = await client(b, 4);
    publish(pub4, "a/b/c/d", "too deep", 1);
    await expectDisconnect(pub4, 0x90);
    assert.ok(await sub5.nothing(50, "publish"));
  });

  it("limits.maxTopicLength: a longer topic name ends the connection (5.0: DISCONNECT 0x90)", async () => {
    const b = await brokerWith({ limits: { maxTopicLength: 16 } });
    const c = await client(b, 5);
    publish(c, "x".repeat(16), "ok", 1);
    assert.equal((await c.next("puback")).reasonCode, 0x10);
    publish(c, "x".repeat(17), "long", 1, 2);
    await expectDisconnect(c, 0x90);
  });

  it("clients cannot publish to $SYS: not delivered, not retained; 5.0 QoS 1 gets PUBACK 0x87, QoS 2 PUBREC 0x87; 3.1.1 a plain PUBACK ([MQTT-3.3.5-2] of 3.1.1)", async () => {
    const b = await brokerWith();
    const watcher = await client(b, 5);
    await subscribe(watcher, [{ topicFilter: "$SYS/#", qos: 1 }]);
    const c5 = await client(b, 5);
    publish(c5, "$SYS/broker/fake", "x", 1, 3, { retain: true });
    assert.deepEqual(await c5.next("puback"), { type: "puback", packetId: 3, reasonCode: 0x87 });
    publish(c5, "$SYS/broker/fake", "x", 2, 4);
    assert.deepEqual(await c5.next("pubrec"), { type: "pubrec", packetId: 4, reasonCode: 0x87 });
    publish(c5, "$SYS/x", "x", 0);
    const c4 = await client(b, 4);
    publish(c4, "$SYS/broker/fake", "x", 1, 5);
    assert.deepEqual(await c4.next("puback"), { type: "puback", packetId: 5 });
    assert.deepEqual(await drain(watcher), []);
    assert.equal(b.core.retained.get("$SYS/broker/fake"), undefined);
    assert.equal(c5.isClosed || c4.isClosed, false);
  });
});
