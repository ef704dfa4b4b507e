/**
 * Broker black-box tests for the Will Message (§3.1.2.5–3.1.2.7, §3.1.3.2,
 * §3.14.4): when it is published and when not, its flags and properties,
 * the Will Delay Interval against Session Expiry, and what the CONNACK says
 * about a will the broker cannot honour. Ids are MQTT 5.0 statements unless
 * the name says (3.1.1) or (3.1).
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import type { Broker, BrokerOptions } from "../../src/broker/index.js";
import type {
  ConnectPacket,
  Properties,
  ProtocolVersion,
  QoS,
  Will,
} from "../../src/protocol/index.js";
import { sleep, startBroker, tcpPort } from "../helpers/broker.js";
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

const v = (version: ProtocolVersion) => (version === 3 ? "3.1" : version === 4 ? "3.1.1" : "5.0");

function will(topic: string, payload: string, extra: Partial<Will> = {}): Will {
  return { topic, payload: text(payload), qos: 0, retain: false, ...extra };
}

/** A client subscribed to `filter` (5.0 unless `version` says otherwise). */
async function watcher(
  t: TestContext,
  broker: Broker,
  filter: string,
  qos: QoS = 2,
  version: ProtocolVersion = 5,
): Promise<RawClient> {
  const c = memClient(t, broker, version);
  await c.connect({ clientId: `watch-${filter}-${Math.random()}` });
  c.send({ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: filter, qos }] });
  await c.next("suback");
  return c;
}

/** Connects a client that carries `w` as its will. */
async function willClient(
  t: TestContext,
  broker: Broker,
  version: ProtocolVersion,
  clientId: string,
  w: Will,
  options: Partial<ConnectPacket> = {},
): Promise<RawClient> {
  const c = memClient(t, broker, version);
  const connack = await c.connect({ clientId, will: w, ...options });
  assert.equal(connack.reasonCode, 0);
  return c;
}

/** Drops the connection without DISCONNECT (like a lost network). */
async function drop(client: RawClient): Promise<void> {
  client.close();
  await client.closed;
}

// ---- published or not -----------------------------------------------------

describe("§3.1.2.5 the will is published when the connection ends abnormally", () => {
  for (const version of [3, 4, 5] as const) {
    it(`[MQTT-3.1.2-8] the will is published when the connection drops without DISCONNECT (${v(version)})`, async (t) => {
      const broker = await brokerFor(t);
      const w = await watcher(t, broker, "will/#");
      const c = await willClient(
        t,
        broker,
        version,
        `dropper${version}`,
        will("will/drop", "gone"),
      );
      await drop(c);
      const msg = await w.next("publish");
      assert.equal(msg.topic, "will/drop");
      assert.equal(str(msg.payload), "gone");
      assert.equal(msg.retain, false);
    });
  }

  it("[MQTT-3.1.2-8] over TCP: the will is published when the socket is destroyed", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#");
    const c = await RawClient.tcp(tcpPort(broker), 4);
    t.after(() => c.close());
    await c.connect({ clientId: "tcpdrop", will: will("will/tcp", "bye") });
    c.close();
    const msg = await w.next("publish");
    assert.equal(msg.topic, "will/tcp");
  });

  it("[MQTT-3.14.4-3] (3.1.1) DISCONNECT discards the will", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#");
    const c = await willClient(t, broker, 4, "polite4", will("will/polite", "no"));
    c.send({ type: "disconnect" });
    await c.waitClosed();
    assert.equal(await w.nothing(200, "publish"), true);
  });

  it("[MQTT-3.14.4-3] [MQTT-3.1.2-10] DISCONNECT 0x00 discards the will", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#");
    const c = await willClient(t, broker, 5, "polite5", will("will/polite", "no"));
    c.send({ type: "disconnect", reasonCode: 0 });
    await c.waitClosed();
    assert.equal(await w.nothing(200, "publish"), true);
  });

  it("§3.14.2.1 DISCONNECT 0x04 (Disconnect with Will Message) publishes the will", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#");
    const c = await willClient(t, broker, 5, "withwill", will("will/asked", "please"));
    c.send({ type: "disconnect", reasonCode: 0x04 });
    await c.waitClosed();
    const msg = await w.next("publish");
    assert.equal(msg.topic, "will/asked");
    assert.equal(str(msg.payload), "please");
  });

  it("[MQTT-3.1.2-10] the will is published once: a resumed session without a will publishes nothing", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#");
    const opts = { clean: false, properties: { sessionExpiryInterval: 60 } };
    const c = await willClient(t, broker, 5, "once", will("will/once", "1"), opts);
    await drop(c);
    await w.next("publish");
    const again = memClient(t, broker, 5);
    assert.equal((await again.connect({ clientId: "once", ...opts })).sessionPresent, true);
    await drop(again);
    assert.equal(await w.nothing(200, "publish"), true);
  });

  for (const version of [4, 5] as const) {
    it(`§3.1.2.5 the will is published when the server closes the connection for a protocol error (second CONNECT, ${v(version)})`, async (t) => {
      const broker = await brokerFor(t);
      const w = await watcher(t, broker, "will/#");
      const c = await willClient(t, broker, version, `bad${version}`, will("will/error", "oops"));
      c.send({
        type: "connect",
        protocolVersion: version,
        clean: true,
        keepalive: 60,
        clientId: "x",
      });
      await c.waitClosed();
      const msg = await w.next("publish");
      assert.equal(msg.topic, "will/error");
    });
  }

  it("§3.14.2.2.2 an invalid DISCONNECT (expiry 0 → non-zero) is not a normal disconnection: the will is published", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#");
    const c = await willClient(t, broker, 5, "baddis", will("will/baddis", "x"));
    c.send({ type: "disconnect", reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
    assert.equal((await c.next("disconnect")).reasonCode, 0x82);
    const msg = await w.next("publish");
    assert.equal(msg.topic, "will/baddis");
  });

  for (const version of [4, 5] as const) {
    it(`[MQTT-3.1.4-3] takeover: the old connection's will (no delay) is published (${v(version)})`, async (t) => {
      const broker = await brokerFor(t);
      const w = await watcher(t, broker, "will/#");
      await willClient(t, broker, version, `taken${version}`, will("will/taken", "old"));
      const fresh = memClient(t, broker, version);
      assert.equal((await fresh.connect({ clientId: `taken${version}` })).reasonCode, 0);
      const msg = await w.next("publish");
      assert.equal(str(msg.payload), "old");
    });
  }

  it("[MQTT-3.1.3-9] takeover with clean start 0 before the Will Delay Interval: the delayed will is not published", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#");
    const opts = { clean: false, properties: { sessionExpiryInterval: 60 } };
    await willClient(
      t,
      broker,
      5,
      "takendelay",
      will("will/td", "x", { properties: { willDelayInterval: 1 } }),
      opts,
    );
    const fresh = memClient(t, broker, 5);
    assert.equal((await fresh.connect({ clientId: "takendelay", ...opts })).sessionPresent, true);
    assert.equal(await w.nothing(1300, "publish"), true);
  });

  it("§3.1.2.5 takeover with clean start 1 ends the session: the delayed will is published at once", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#");
    await willClient(
      t,
      broker,
      5,
      "takenclean",
      will("will/tc", "x", { properties: { willDelayInterval: 30 } }),
      { clean: false, properties: { sessionExpiryInterval: 60 } },
    );
    const fresh = memClient(t, broker, 5);
    assert.equal(
      (await fresh.connect({ clientId: "takenclean", clean: true })).sessionPresent,
      false,
    );
    assert.equal((await w.next("publish", 500)).topic, "will/tc");
  });
});

// ---- flags: retain and QoS -------------------------------------------------

describe("§3.1.2.6–3.1.2.7 Will QoS and Will Retain", () => {
  for (const version of [4, 5] as const) {
    const id = version === 5 ? "[MQTT-3.1.2-15]" : "[MQTT-3.1.2-17] (3.1.1)";
    it(`${id} Will Retain 1: the will is published as a retained message`, async (t) => {
      const broker = await brokerFor(t);
      const live = await watcher(t, broker, "will/#", 1, version);
      const c = await willClient(
        t,
        broker,
        version,
        `ret${version}`,
        will("will/retained", "kept", { retain: true, qos: 1 }),
      );
      await drop(c);
      await live.next("publish");
      const later = await watcher(t, broker, "will/retained", 1, version);
      const msg = await later.next("publish");
      assert.equal(msg.retain, true);
      assert.equal(str(msg.payload), "kept");
    });
  }

  it("[MQTT-3.1.2-14] Will Retain 0: the will is not retained", async (t) => {
    const broker = await brokerFor(t);
    const live = await watcher(t, broker, "will/#");
    const c = await willClient(t, broker, 5, "noret", will("will/plain", "x"));
    await drop(c);
    assert.equal((await live.next("publish")).retain, false);
    const later = await watcher(t, broker, "will/plain");
    assert.equal(await later.nothing(150, "publish"), true);
  });

  for (const [willQos, subQos, expected] of [
    [1, 2, 1],
    [2, 2, 2],
    [2, 1, 1],
    [0, 2, 0],
  ] as const) {
    it(`[MQTT-3.1.2-12] Will QoS ${willQos} to a QoS ${subQos} subscription arrives at QoS ${expected}`, async (t) => {
      const broker = await brokerFor(t);
      const w = await watcher(t, broker, "will/#", subQos);
      const c = await willClient(
        t,
        broker,
        5,
        `q${willQos}${subQos}`,
        will("will/q", "x", { qos: willQos }),
      );
      await drop(c);
      const msg = await w.next("publish");
      assert.equal(msg.qos, expected);
    });
  }

  it("a QoS 1 will is queued for an offline persistent subscriber", async (t) => {
    const broker = await brokerFor(t);
    const opts = { clean: false, properties: { sessionExpiryInterval: 60 } };
    const sub = memClient(t, broker, 5);
    await sub.connect({ clientId: "offsub", ...opts });
    sub.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{ topicFilter: "will/#", qos: 1 }],
    });
    await sub.next("suback");
    sub.send({ type: "disconnect" });
    await sub.waitClosed();
    const c = await willClient(t, broker, 5, "q1off", will("will/q1", "queued", { qos: 1 }));
    await drop(c);
    const again = memClient(t, broker, 5);
    await again.connect({ clientId: "offsub", ...opts });
    const msg = await again.next("publish");
    assert.equal(str(msg.payload), "queued");
    assert.equal(msg.qos, 1);
  });
});

// ---- will properties ---------------------------------------------------------

describe("§3.1.3.2 Will Properties", () => {
  it("[MQTT-3.1.3-10] content type, user properties (in order), payload format, response topic, correlation data are forwarded", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#");
    const properties: Properties = {
      contentType: "text/plain",
      payloadFormatIndicator: 1,
      responseTopic: "reply/here",
      correlationData: Uint8Array.from([1, 2, 3]),
      userProperties: [
        ["b", "2"],
        ["a", "1"],
        ["b", "3"],
      ],
      willDelayInterval: 0,
    };
    const c = await willClient(t, broker, 5, "props", will("will/props", "p", { properties }));
    await drop(c);
    const msg = await w.next("publish");
    const p = msg.properties ?? {};
    assert.equal(p.contentType, "text/plain");
    assert.equal(p.payloadFormatIndicator, 1);
    assert.equal(p.responseTopic, "reply/here");
    assert.deepEqual([...(p.correlationData ?? [])], [1, 2, 3]);
    assert.deepEqual(p.userProperties, [
      ["b", "2"],
      ["a", "1"],
      ["b", "3"],
    ]);
    assert.equal(p.willDelayInterval, undefined);
  });

  it("[MQTT-3.3.2-6] the will's Message Expiry Interval is forwarded (minus the time waited)", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#");
    const c = await willClient(
      t,
      broker,
      5,
      "mexp",
      will("will/exp", "e", { properties: { messageExpiryInterval: 30 } }),
    );
    await drop(c);
    const msg = await w.next("publish");
    const left = msg.properties?.messageExpiryInterval ?? 0;
    assert.ok(left > 0 && left <= 30, `got ${left}`);
  });

  it("(3.1.1) a 5.0 will is delivered to a 3.1.1 subscriber without properties", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#", 1, 4);
    const c = await willClient(
      t,
      broker,
      5,
      "to4",
      will("will/to4", "x", { properties: { contentType: "a/b", userProperties: [["k", "v"]] } }),
    );
    await drop(c);
    const msg = await w.next("publish");
    assert.equal(msg.properties, undefined);
  });
});

// ---- Will Delay Interval (slow: concurrent) ----------------------------------

describe("§3.1.3.2.2 Will Delay Interval", { concurrency: true }, () => {
  const persistent = { clean: false, properties: { sessionExpiryInterval: 60 } };

  it("[MQTT-3.1.2-8] the will is published after the Will Delay Interval, not before", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#");
    const c = await willClient(
      t,
      broker,
      5,
      "delayed",
      will("will/delayed", "late", { properties: { willDelayInterval: 1 } }),
      persistent,
    );
    const dropped = Date.now();
    await drop(c);
    assert.equal(await w.nothing(600, "publish"), true);
    const msg = await w.next("publish", 2000);
    assert.equal(str(msg.payload), "late");
    assert.ok(Date.now() - dropped >= 950);
  });

  it("[MQTT-3.1.3-9] a reconnect before the Will Delay Interval passes: the will is not published", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#");
    const c = await willClient(
      t,
      broker,
      5,
      "back",
      will("will/back", "x", { properties: { willDelayInterval: 1 } }),
      persistent,
    );
    await drop(c);
    await sleep(200);
    const again = memClient(t, broker, 5);
    assert.equal((await again.connect({ clientId: "back", ...persistent })).sessionPresent, true);
    assert.equal(await w.nothing(1300, "publish"), true);
  });

  it("§3.1.3.2.2 Will Delay longer than Session Expiry: the will is published when the session ends", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#");
    const c = await willClient(
      t,
      broker,
      5,
      "ends",
      will("will/ends", "session over", { properties: { willDelayInterval: 30 } }),
      { clean: false, properties: { sessionExpiryInterval: 1 } },
    );
    const dropped = Date.now();
    await drop(c);
    assert.equal(await w.nothing(500, "publish"), true);
    const msg = await w.next("publish", 2000);
    assert.equal(str(msg.payload), "session over");
    assert.ok(Date.now() - dropped >= 950);
    assert.equal(broker.core.sessions.has("ends"), false);
  });

  it("[MQTT-3.1.2-8] a Will Delay beyond one timer's ~24.8 days is not published early", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#");
    const c = await willClient(
      t,
      broker,
      5,
      "longdelay",
      will("will/long", "x", { properties: { willDelayInterval: 3_000_000 } }),
      { clean: false, properties: { sessionExpiryInterval: 0xffff_ffff } },
    );
    await drop(c);
    assert.equal(await w.nothing(300, "publish"), true);
  });

  it("§3.1.3.2.2 Will Delay with Session Expiry 0: the session ends at once, so does the delay", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#");
    const c = await willClient(
      t,
      broker,
      5,
      "nodelay",
      will("will/now", "x", { properties: { willDelayInterval: 30 } }),
    );
    await drop(c);
    assert.equal((await w.next("publish", 500)).topic, "will/now");
  });

  it("[MQTT-3.1.2-8] (3.1.1) keep alive timeout: the server closes the connection and publishes the will", async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker, "will/#");
    const c = memClient(t, broker, 4);
    await c.connect({ clientId: "silent", keepalive: 1, will: will("will/silent", "timeout") });
    const msg = await w.next("publish", 3000);
    assert.equal(str(msg.payload), "timeout");
    await c.waitClosed();
  });
});

// ---- wills the broker cannot honour ------------------------------------------

describe("§3.2.2.3 a will beyond the broker's capabilities", () => {
  it("[MQTT-3.2.2-12] Will QoS above the Maximum QoS → CONNACK 0x9B (QoS not supported), then close", async (t) => {
    const broker = await brokerFor(t, { limits: { maximumQoS: 1 } });
    const c = memClient(t, broker, 5);
    const connack = await c.connect({ clientId: "wq2", will: will("will/q", "x", { qos: 2 }) });
    assert.equal(connack.reasonCode, 0x9b);
    await c.waitClosed();
  });

  it("[MQTT-3.2.2-12] Will QoS within the Maximum QoS is accepted", async (t) => {
    const broker = await brokerFor(t, { limits: { maximumQoS: 1 } });
    const c = memClient(t, broker, 5);
    const connack = await c.connect({ clientId: "wq1", will: will("will/q", "x", { qos: 1 }) });
    assert.equal(connack.reasonCode, 0);
  });

  it("[MQTT-3.2.2-13] Will Retain 1 when retained messages are not supported → CONNACK 0x9A (Retain not supported), then close", async (t) => {
    const broker = await brokerFor(t, { limits: { retainAvailable: false } });
    const c = memClient(t, broker, 5);
    const connack = await c.connect({
      clientId: "wr",
      will: will("will/r", "x", { retain: true }),
    });
    assert.equal(connack.reasonCode, 0x9a);
    await c.waitClosed();
  });

  it("(3.1.1) a will the broker cannot honour (Will Retain with retain disabled) → connection closed without CONNACK 0x00", async (t) => {
    const broker = await brokerFor(t, { limits: { retainAvailable: false } });
    const c = memClient(t, broker, 4);
    c.send({
      type: "connect",
      protocolVersion: 4,
      clean: true,
      keepalive: 60,
      clientId: "wr4",
      will: will("will/r", "x", { retain: true }),
    });
    await c.waitClosed();
    assert.ok(c.received.every((p) => p.type !== "connack" || p.reasonCode !== 0));
  });

  it("the authorizer decides whether the will is published, seeing the client's username", async (t) => {
    const seen: { clientId: string; username: string | undefined; topic: string }[] = [];
    const broker = await brokerFor(t, {
      authorizer: {
        canPublish: (client, topic) => {
          seen.push({ ...client, topic });
          return !(client.username === "mallory" && topic.startsWith("will/secret"));
        },
        canSubscribe: () => true,
      },
    });
    const w = await watcher(t, broker, "will/#");
    const denied = await willClient(t, broker, 5, "mallory-c", will("will/secret", "no"), {
      username: "mallory",
    });
    await drop(denied);
    const allowed = await willClient(t, broker, 5, "alice-c", will("will/secret", "yes"), {
      username: "alice",
    });
    await drop(allowed);
    const msg = await w.next("publish");
    assert.equal(str(msg.payload), "yes");
    assert.equal(await w.nothing(150, "publish"), true);
    assert.deepEqual(
      seen.filter((s) => s.topic === "will/secret").map((s) => s.username),
      ["mallory", "alice"],
    );
  });
});
