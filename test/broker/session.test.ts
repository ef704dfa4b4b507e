/**
 * Broker black-box tests for sessions (§3.1.2.4 Clean Start / Clean Session,
 * §3.1.2.11.2 and §3.14.2.2.2 Session Expiry, §4.1 session state, §4.4
 * re-delivery, §4.6 ordering) and the broker's queue limits. Ids are MQTT 5.0
 * statements unless the name says (3.1.1).
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import type { Broker, BrokerOptions } from "../../src/broker/index.js";
import type {
  ConnectPacket,
  ProtocolVersion,
  PublishPacket,
  QoS,
} from "../../src/protocol/index.js";
import { sleep, startBroker } from "../helpers/broker.js";
import { RawClient, str, text } from "../helpers/raw-client.js";

// ---- harness -----------------------------------------------------------------

async function brokerFor(t: TestContext, options: BrokerOptions = {}): Promise<Broker> {
  const broker = await startBroker(options);
  t.after(() => broker.close());
  return broker;
}

function memClient(t: TestContext, broker: Broker, version: ProtocolVersion = 5): RawClient {
  const client = RawClient.memory(broker, version);
  t.after(() => client.close());
  return client;
}

const v = (version: ProtocolVersion) => (version === 5 ? "5.0" : "3.1.1");

/** CONNECT options of a persistent session: clean session 0 (3.1.1) or clean start 0 + expiry (5.0). */
function persistent(version: ProtocolVersion, expiry = 300): Partial<ConnectPacket> {
  return version === 5
    ? { clean: false, properties: { sessionExpiryInterval: expiry } }
    : { clean: false };
}

/** Connects `clientId` with `options` and returns the client and its CONNACK. */
async function open(
  t: TestContext,
  broker: Broker,
  version: ProtocolVersion,
  clientId: string,
  options: Partial<ConnectPacket> = {},
) {
  const client = memClient(t, broker, version);
  const connack = await client.connect({ clientId, ...options });
  assert.equal(connack.reasonCode, 0);
  return { client, connack };
}

async function subscribe(client: RawClient, filter: string, qos: QoS = 2): Promise<void> {
  client.send({ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: filter, qos }] });
  const suback = await client.next("suback");
  assert.deepEqual(suback.reasonCodes, [qos]);
}

/** Ends the connection with DISCONNECT and waits for the broker to close it. */
async function disconnect(
  client: RawClient,
  properties?: { sessionExpiryInterval?: number },
): Promise<void> {
  client.send(
    properties ? { type: "disconnect", reasonCode: 0, properties } : { type: "disconnect" },
  );
  await client.waitClosed();
  await sleep(10);
}

let nextId = 1;
/** Publishes and completes the QoS flow from a publisher client. */
async function publish(pub: RawClient, topic: string, payload: string, qos: QoS): Promise<void> {
  const packetId = qos > 0 ? nextId++ : undefined;
  const packet: PublishPacket = {
    type: "publish",
    topic,
    payload: text(payload),
    qos,
    retain: false,
    dup: false,
  };
  if (packetId !== undefined) packet.packetId = packetId;
  pub.send(packet);
  if (qos === 1) await pub.next("puback");
  if (qos === 2) {
    await pub.next("pubrec");
    pub.send({ type: "pubrel", packetId: packetId as number });
    await pub.next("pubcomp");
  }
}

/** Receives `n` PUBLISH packets, acknowledging each (QoS 1: PUBACK; QoS 2: PUBREC/PUBREL/PUBCOMP). */
async function receive(client: RawClient, n: number): Promise<PublishPacket[]> {
  const out: PublishPacket[] = [];
  for (let i = 0; i < n; i++) {
    const p = await client.next("publish");
    out.push(p);
    if (p.qos === 1) client.send({ type: "puback", packetId: p.packetId as number });
    if (p.qos === 2) {
      client.send({ type: "pubrec", packetId: p.packetId as number });
      await client.next("pubrel");
      client.send({ type: "pubcomp", packetId: p.packetId as number });
    }
  }
  return out;
}

// ---- §3.1.2.4 clean start / clean session -----------------------------------

describe("§3.1.2.4 Clean Start / Clean Session and Session Present", () => {
  it("[MQTT-3.2.2-3] (3.1.1) clean session 0 without a stored session → session present 0", async (t) => {
    const broker = await brokerFor(t);
    const { connack } = await open(t, broker, 4, "fresh4", { clean: false });
    assert.equal(connack.sessionPresent, false);
  });

  it("[MQTT-3.1.2-4] [MQTT-3.2.2-2] (3.1.1) clean session 0 with a stored session → session present 1, subscriptions kept", async (t) => {
    const broker = await brokerFor(t);
    const first = await open(t, broker, 4, "keep4", { clean: false });
    await subscribe(first.client, "keep4/t", 1);
    await disconnect(first.client);
    const again = await open(t, broker, 4, "keep4", { clean: false });
    assert.equal(again.connack.sessionPresent, true);
    const pub = await open(t, broker, 4, "pub-keep4");
    await publish(pub.client, "keep4/t", "still here", 1);
    const [msg] = await receive(again.client, 1);
    assert.equal(str(msg.payload), "still here");
  });

  it("[MQTT-3.1.2-6] [MQTT-3.2.2-1] (3.1.1) clean session 1 discards the stored session: session present 0, no subscriptions", async (t) => {
    const broker = await brokerFor(t);
    const first = await open(t, broker, 4, "clean4", { clean: false });
    await subscribe(first.client, "clean4/t", 1);
    await disconnect(first.client);
    const again = await open(t, broker, 4, "clean4", { clean: true });
    assert.equal(again.connack.sessionPresent, false);
    const pub = await open(t, broker, 4, "pub-clean4");
    await publish(pub.client, "clean4/t", "gone", 1);
    assert.equal(await again.client.nothing(150), true);
  });

  it("[MQTT-3.1.2-6] (3.1.1) a clean session 1 session is not kept after the connection", async (t) => {
    const broker = await brokerFor(t);
    const first = await open(t, broker, 4, "tmp4", { clean: true });
    await subscribe(first.client, "tmp4/t", 1);
    first.client.close();
    await sleep(20);
    assert.equal(broker.core.sessions.has("tmp4"), false);
    const again = await open(t, broker, 4, "tmp4", { clean: false });
    assert.equal(again.connack.sessionPresent, false);
  });

  it("[MQTT-3.1.2-6] clean start 0 without a stored session → new session, session present 0", async (t) => {
    const broker = await brokerFor(t);
    const { connack } = await open(t, broker, 5, "fresh5", persistent(5));
    assert.equal(connack.sessionPresent, false);
  });

  it("[MQTT-3.1.2-5] [MQTT-3.2.2-3] clean start 0 with a stored session → session present 1, subscriptions kept", async (t) => {
    const broker = await brokerFor(t);
    const first = await open(t, broker, 5, "keep5", persistent(5));
    await subscribe(first.client, "keep5/t", 1);
    await disconnect(first.client);
    const again = await open(t, broker, 5, "keep5", persistent(5));
    assert.equal(again.connack.sessionPresent, true);
    const pub = await open(t, broker, 5, "pub-keep5");
    await publish(pub.client, "keep5/t", "still here", 1);
    const [msg] = await receive(again.client, 1);
    assert.equal(str(msg.payload), "still here");
  });

  it("[MQTT-3.1.2-4] [MQTT-3.2.2-2] clean start 1 discards the stored session: session present 0, no subscriptions", async (t) => {
    const broker = await brokerFor(t);
    const first = await open(t, broker, 5, "clean5", persistent(5));
    await subscribe(first.client, "clean5/t", 1);
    await disconnect(first.client);
    const again = await open(t, broker, 5, "clean5", {
      clean: true,
      properties: { sessionExpiryInterval: 300 },
    });
    assert.equal(again.connack.sessionPresent, false);
    const pub = await open(t, broker, 5, "pub-clean5");
    await publish(pub.client, "clean5/t", "gone", 1);
    assert.equal(await again.client.nothing(150), true);
  });
});

// ---- §4.1 state kept while offline -------------------------------------------

describe("§4.1 session state while the client is offline", () => {
  for (const version of [4, 5] as const) {
    it(`[MQTT-3.1.2-5] QoS 1 and 2 messages are queued while offline and delivered on resume in order; QoS 0 is not queued (${v(version)})`, async (t) => {
      const broker = await brokerFor(t);
      const id = `offline${version}`;
      const first = await open(t, broker, version, id, persistent(version));
      await subscribe(first.client, "off/#", 2);
      await disconnect(first.client);
      const pub = await open(t, broker, version, `pub-${id}`);
      await publish(pub.client, "off/a", "q0", 0);
      await publish(pub.client, "off/b", "q1", 1);
      await publish(pub.client, "off/c", "q2", 2);
      await publish(pub.client, "off/d", "q1-again", 1);
      const again = await open(t, broker, version, id, persistent(version));
      assert.equal(again.connack.sessionPresent, true);
      const msgs = await receive(again.client, 3);
      assert.deepEqual(
        msgs.map((m) => [m.topic, str(m.payload), m.qos, m.dup]),
        [
          ["off/b", "q1", 1, false],
          ["off/c", "q2", 2, false],
          ["off/d", "q1-again", 1, false],
        ],
      );
      assert.equal(await again.client.nothing(100, "publish"), true);
    });
  }

  it("[MQTT-4.6.0-6] many queued messages on one topic are delivered in the order they were published", async (t) => {
    const broker = await brokerFor(t);
    const first = await open(t, broker, 5, "order", persistent(5));
    await subscribe(first.client, "order/t", 1);
    await disconnect(first.client);
    const pub = await open(t, broker, 5, "pub-order");
    for (let i = 0; i < 30; i++) await publish(pub.client, "order/t", `m${i}`, 1);
    const again = await open(t, broker, 5, "order", persistent(5));
    const msgs = await receive(again.client, 30);
    assert.deepEqual(
      msgs.map((m) => str(m.payload)),
      Array.from({ length: 30 }, (_, i) => `m${i}`),
    );
  });

  it("messages are queued at the subscription's QoS (QoS 2 published, QoS 1 granted → QoS 1)", async (t) => {
    const broker = await brokerFor(t);
    const first = await open(t, broker, 5, "downgrade", persistent(5));
    await subscribe(first.client, "dg/t", 1);
    await disconnect(first.client);
    const pub = await open(t, broker, 5, "pub-dg");
    await publish(pub.client, "dg/t", "x", 2);
    const again = await open(t, broker, 5, "downgrade", persistent(5));
    const [msg] = await receive(again.client, 1);
    assert.equal(msg.qos, 1);
  });

  it("limits.queueQos0: QoS 0 messages are queued too (Mosquitto's queue_qos0_messages)", async (t) => {
    const broker = await brokerFor(t, { limits: { queueQos0: true } });
    const first = await open(t, broker, 4, "q0", { clean: false });
    await subscribe(first.client, "q0/t", 1);
    await disconnect(first.client);
    const pub = await open(t, broker, 4, "pub-q0");
    await publish(pub.client, "q0/t", "zero", 0);
    await sleep(20);
    const again = await open(t, broker, 4, "q0", { clean: false });
    const msg = await again.client.next("publish");
    assert.equal(str(msg.payload), "zero");
    assert.equal(msg.qos, 0);
  });

  it("limits.maxQueuedMessages: messages beyond the bound are dropped (drop-new keeps the oldest)", async (t) => {
    const broker = await brokerFor(t, { limits: { maxQueuedMessages: 3 } });
    const first = await open(t, broker, 5, "bounded", persistent(5));
    await subscribe(first.client, "b/t", 1);
    await disconnect(first.client);
    const pub = await open(t, broker, 5, "pub-bounded");
    for (let i = 0; i < 6; i++) await publish(pub.client, "b/t", `m${i}`, 1);
    assert.equal(broker.core.sessions.get("bounded")?.queue.length, 3);
    const again = await open(t, broker, 5, "bounded", persistent(5));
    const msgs = await receive(again.client, 3);
    assert.deepEqual(
      msgs.map((m) => str(m.payload)),
      ["m0", "m1", "m2"],
    );
    assert.equal(await again.client.nothing(100, "publish"), true);
  });

  it("limits.queueOverflow drop-oldest: the newest messages are kept", async (t) => {
    const broker = await brokerFor(t, {
      limits: { maxQueuedMessages: 3, queueOverflow: "drop-oldest" },
    });
    const first = await open(t, broker, 4, "newest", { clean: false });
    await subscribe(first.client, "n/t", 1);
    await disconnect(first.client);
    const pub = await open(t, broker, 4, "pub-newest");
    for (let i = 0; i < 6; i++) await publish(pub.client, "n/t", `m${i}`, 1);
    const again = await open(t, broker, 4, "newest", { clean: false });
    const msgs = await receive(again.client, 3);
    assert.deepEqual(
      msgs.map((m) => str(m.payload)),
      ["m3", "m4", "m5"],
    );
    assert.equal(await again.client.nothing(100, "publish"), true);
  });

  it("limits.maxQueuedBytes: the queue is bounded by payload bytes", async (t) => {
    const broker = await brokerFor(t, { limits: { maxQueuedBytes: 10 } });
    const first = await open(t, broker, 5, "bytes", persistent(5));
    await subscribe(first.client, "by/t", 1);
    await disconnect(first.client);
    const pub = await open(t, broker, 5, "pub-bytes");
    for (let i = 0; i < 4; i++) await publish(pub.client, "by/t", `abcd${i}`, 1); // 5 bytes each
    const again = await open(t, broker, 5, "bytes", persistent(5));
    const msgs = await receive(again.client, 2);
    assert.deepEqual(
      msgs.map((m) => str(m.payload)),
      ["abcd0", "abcd1"],
    );
    assert.equal(await again.client.nothing(100, "publish"), true);
  });
});

// ---- §4.4 re-delivery on resume -----------------------------------------------

describe("§4.4 message delivery retry on session resume", () => {
  for (const version of [4, 5] as const) {
    it(`[MQTT-4.4.0-1] [MQTT-3.3.1-1] an unacknowledged QoS 1 PUBLISH is re-sent with DUP 1 and its packet id (${v(version)})`, async (t) => {
      const broker = await brokerFor(t);
      const id = `dup1-${version}`;
      const first = await open(t, broker, version, id, persistent(version));
      await subscribe(first.client, "r/t", 1);
      const pub = await open(t, broker, version, `pub-${id}`);
      await publish(pub.client, "r/t", "unacked", 1);
      const original = await first.client.next("publish");
      assert.equal(original.dup, false);
      first.client.close(); // no PUBACK
      await sleep(20);
      const again = await open(t, broker, version, id, persistent(version));
      assert.equal(again.connack.sessionPresent, true);
      const resent = await again.client.next("publish");
      assert.equal(resent.dup, true);
      assert.equal(resent.qos, 1);
      assert.equal(resent.packetId, original.packetId);
      assert.equal(str(resent.payload), "unacked");
      again.client.send({ type: "puback", packetId: resent.packetId as number });
      await sleep(20);
      assert.equal(broker.core.sessions.get(id)?.inflight.size, 0);
    });

    it(`[MQTT-4.4.0-1] an unacknowledged QoS 2 PUBLISH (no PUBREC) is re-sent with DUP 1 (${v(version)})`, async (t) => {
      const broker = await brokerFor(t);
      const id = `dup2-${version}`;
      const first = await open(t, broker, version, id, persistent(version));
      await subscribe(first.client, "r2/t", 2);
      const pub = await open(t, broker, version, `pub-${id}`);
      await publish(pub.client, "r2/t", "qos2", 2);
      const original = await first.client.next("publish");
      first.client.close();
      await sleep(20);
      const again = await open(t, broker, version, id, persistent(version));
      const resent = await again.client.next("publish");
      assert.equal(resent.dup, true);
      assert.equal(resent.qos, 2);
      assert.equal(resent.packetId, original.packetId);
    });

    it(`[MQTT-4.4.0-1] QoS 2 after PUBREC without PUBCOMP: PUBREL is re-sent on resume, not the PUBLISH (${v(version)})`, async (t) => {
      const broker = await brokerFor(t);
      const id = `rel-${version}`;
      const first = await open(t, broker, version, id, persistent(version));
      await subscribe(first.client, "rel/t", 2);
      const pub = await open(t, broker, version, `pub-${id}`);
      await publish(pub.client, "rel/t", "qos2", 2);
      const msg = await first.client.next("publish");
      first.client.send({ type: "pubrec", packetId: msg.packetId as number });
      const pubrel = await first.client.next("pubrel");
      assert.equal(pubrel.packetId, msg.packetId);
      first.client.close(); // no PUBCOMP
      await sleep(20);
      const again = await open(t, broker, version, id, persistent(version));
      const resentRel = await again.client.next("pubrel");
      assert.equal(resentRel.packetId, msg.packetId);
      assert.equal(await again.client.nothing(100, "publish"), true); // [MQTT-4.3.3-6]
      again.client.send({ type: "pubcomp", packetId: msg.packetId as number });
      await sleep(20);
      assert.equal(broker.core.sessions.get(id)?.inflight.size, 0);
    });
  }

  it("[MQTT-4.6.0-6] on resume the in-flight message comes first (DUP 1), then the queued ones in order", async (t) => {
    const broker = await brokerFor(t);
    const first = await open(t, broker, 5, "mix", persistent(5));
    await subscribe(first.client, "mix/t", 1);
    const pub = await open(t, broker, 5, "pub-mix");
    await publish(pub.client, "mix/t", "m0", 1);
    await first.client.next("publish");
    first.client.close();
    await sleep(20);
    await publish(pub.client, "mix/t", "m1", 1);
    await publish(pub.client, "mix/t", "m2", 1);
    const again = await open(t, broker, 5, "mix", persistent(5));
    const msgs = await receive(again.client, 3);
    assert.deepEqual(
      msgs.map((m) => [str(m.payload), m.dup]),
      [
        ["m0", true],
        ["m1", false],
        ["m2", false],
      ],
    );
  });

  it("[MQTT-3.1.2-4] clean start 1 discards in-flight messages: nothing is re-sent", async (t) => {
    const broker = await brokerFor(t);
    const first = await open(t, broker, 5, "forget", persistent(5));
    await subscribe(first.client, "f/t", 1);
    const pub = await open(t, broker, 5, "pub-forget");
    await publish(pub.client, "f/t", "unacked", 1);
    await first.client.next("publish");
    first.client.close();
    await sleep(20);
    const again = await open(t, broker, 5, "forget", { clean: true });
    assert.equal(again.connack.sessionPresent, false);
    assert.equal(await again.client.nothing(150), true);
  });

  it("[MQTT-4.3.3-10] inbound QoS 2 survives a reconnect: a re-sent PUBLISH gets PUBREC and is not delivered twice, PUBREL gets PUBCOMP 0x00", async (t) => {
    const broker = await brokerFor(t);
    const sub = await open(t, broker, 5, "in2-sub");
    await subscribe(sub.client, "in2/t", 2);
    const first = await open(t, broker, 5, "in2", persistent(5));
    const packet: PublishPacket = {
      type: "publish",
      topic: "in2/t",
      payload: text("once"),
      qos: 2,
      retain: false,
      dup: false,
      packetId: 42,
    };
    first.client.send(packet);
    await first.client.next("pubrec");
    first.client.close(); // no PUBREL
    await sleep(20);
    const again = await open(t, broker, 5, "in2", persistent(5));
    assert.equal(again.connack.sessionPresent, true);
    again.client.send({ ...packet, dup: true });
    assert.equal((await again.client.next("pubrec")).packetId, 42);
    again.client.send({ type: "pubrel", packetId: 42 });
    const pubcomp = await again.client.next("pubcomp");
    assert.equal(pubcomp.packetId, 42);
    assert.equal(pubcomp.reasonCode ?? 0, 0);
    const msgs = await receive(sub.client, 1);
    assert.equal(str(msgs[0].payload), "once");
    assert.equal(await sub.client.nothing(100, "publish"), true);
  });

  it("clean start 1 forgets inbound QoS 2 state: PUBREL → PUBCOMP 0x92 (Packet Identifier not found)", async (t) => {
    const broker = await brokerFor(t);
    const first = await open(t, broker, 5, "in2c", persistent(5));
    first.client.send({
      type: "publish",
      topic: "in2c/t",
      payload: text("x"),
      qos: 2,
      retain: false,
      dup: false,
      packetId: 5,
    });
    await first.client.next("pubrec");
    first.client.close();
    await sleep(20);
    const again = await open(t, broker, 5, "in2c", { clean: true });
    again.client.send({ type: "pubrel", packetId: 5 });
    assert.equal((await again.client.next("pubcomp")).reasonCode, 0x92);
  });
});

// ---- §3.1.2.11.2 session expiry (5.0) -----------------------------------------

describe("§3.1.2.11.2 Session Expiry Interval", { concurrency: true }, () => {
  it("[MQTT-3.1.2-23] Session Expiry Interval absent (0): the session ends with the connection", async (t) => {
    const broker = await brokerFor(t);
    const first = await open(t, broker, 5, "exp0", { clean: false });
    await subscribe(first.client, "exp0/t", 1);
    first.client.close();
    await sleep(20);
    assert.equal(broker.core.sessions.has("exp0"), false);
    const pub = await open(t, broker, 5, "pub-exp0");
    await publish(pub.client, "exp0/t", "lost", 1);
    const again = await open(t, broker, 5, "exp0", { clean: false });
    assert.equal(again.connack.sessionPresent, false);
    assert.equal(await again.client.nothing(100), true);
  });

  it("[MQTT-4.1.0-2] Session Expiry Interval 1 s: still present before it passes, gone after", async (t) => {
    const broker = await brokerFor(t);
    const opts = persistent(5, 1);
    const first = await open(t, broker, 5, "exp1", opts);
    await subscribe(first.client, "exp1/t", 1);
    first.client.close();
    await sleep(300);
    const second = await open(t, broker, 5, "exp1", opts);
    assert.equal(second.connack.sessionPresent, true);
    second.client.close();
    await sleep(1300);
    assert.equal(broker.core.sessions.has("exp1"), false);
    const third = await open(t, broker, 5, "exp1", opts);
    assert.equal(third.connack.sessionPresent, false);
  });

  it("[MQTT-4.1.0-2] queued messages go with the expired session", async (t) => {
    const broker = await brokerFor(t);
    const opts = persistent(5, 1);
    const first = await open(t, broker, 5, "expq", opts);
    await subscribe(first.client, "expq/t", 1);
    await disconnect(first.client);
    const pub = await open(t, broker, 5, "pub-expq");
    await publish(pub.client, "expq/t", "too late", 1);
    await sleep(1300);
    const again = await open(t, broker, 5, "expq", opts);
    assert.equal(again.connack.sessionPresent, false);
    assert.equal(await again.client.nothing(100), true);
  });

  it("§3.14.2.2.2 DISCONNECT may change a non-zero Session Expiry Interval: to 0 ends the session now", async (t) => {
    const broker = await brokerFor(t);
    const first = await open(t, broker, 5, "dis0", persistent(5, 300));
    await subscribe(first.client, "dis0/t", 1);
    await disconnect(first.client, { sessionExpiryInterval: 0 });
    assert.equal(broker.core.sessions.has("dis0"), false);
    const again = await open(t, broker, 5, "dis0", persistent(5));
    assert.equal(again.connack.sessionPresent, false);
  });

  it("§3.14.2.2.2 DISCONNECT may lengthen a non-zero Session Expiry Interval", async (t) => {
    const broker = await brokerFor(t);
    const first = await open(t, broker, 5, "dislong", persistent(5, 1));
    await disconnect(first.client, { sessionExpiryInterval: 300 });
    await sleep(1300);
    const again = await open(t, broker, 5, "dislong", persistent(5, 1));
    assert.equal(again.connack.sessionPresent, true);
  });

  it("§3.14.2.2.2 CONNECT expiry 0 then DISCONNECT expiry > 0 → DISCONNECT 0x82 (Protocol Error); the session still ends", async (t) => {
    const broker = await brokerFor(t);
    const first = await open(t, broker, 5, "dis-bad", { clean: false });
    first.client.send({
      type: "disconnect",
      reasonCode: 0,
      properties: { sessionExpiryInterval: 60 },
    });
    assert.equal((await first.client.next("disconnect")).reasonCode, 0x82);
    await first.client.waitClosed();
    await sleep(20);
    assert.equal(broker.core.sessions.has("dis-bad"), false);
    const again = await open(t, broker, 5, "dis-bad", { clean: false });
    assert.equal(again.connack.sessionPresent, false);
  });

  for (const expiry of [3_000_000, 0xffff_fffe, 0xffff_ffff]) {
    it(`[MQTT-3.1.2-23] a Session Expiry Interval of ${expiry} s (beyond one timer's ~24.8 days) keeps the session`, async (t) => {
      const broker = await brokerFor(t);
      const id = `long${expiry}`;
      const first = await open(t, broker, 5, id, persistent(5, expiry));
      await subscribe(first.client, "long/t", 1);
      first.client.close();
      await sleep(100);
      assert.equal(broker.core.sessions.has(id), true);
      const again = await open(t, broker, 5, id, persistent(5, expiry));
      assert.equal(again.connack.sessionPresent, true);
    });
  }

  it("(3.1.1) limits.persistentSessionExpiry bounds clean session 0 sessions", async (t) => {
    const broker = await brokerFor(t, { limits: { persistentSessionExpiry: 1 } });
    const first = await open(t, broker, 4, "p4", { clean: false });
    await disconnect(first.client);
    await sleep(300);
    assert.equal(broker.core.sessions.has("p4"), true);
    await sleep(1000);
    assert.equal(broker.core.sessions.has("p4"), false);
    const again = await open(t, broker, 4, "p4", { clean: false });
    assert.equal(again.connack.sessionPresent, false);
  });

  it("a resumed connection may set a new Session Expiry Interval (the last CONNECT wins)", async (t) => {
    const broker = await brokerFor(t);
    const first = await open(t, broker, 5, "renew", persistent(5, 300));
    await disconnect(first.client);
    const second = await open(t, broker, 5, "renew", { clean: false });
    assert.equal(second.connack.sessionPresent, true);
    await disconnect(second.client);
    assert.equal(broker.core.sessions.has("renew"), false);
  });
});
