/**
 * Broker black-box tests, MQTT §3.3.1.3 (RETAIN): storing, replacing and
 * deleting retained messages, Retain Handling, wildcard matches, QoS and
 * message expiry of retained messages, and Retain Available. Raw packets over
 * the in-memory pipe; ids are MQTT 5.0's unless a test is 3.1.1-specific.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import type { Broker, BrokerOptions } from "../../src/broker/index.js";
import type {
  ConnectPacket,
  Properties,
  ProtocolVersion,
  PublishPacket,
  QoS,
  Subscription,
} from "../../src/protocol/index.js";
import { sleep, startBroker } from "../helpers/broker.js";
import { RawClient, str, text } from "../helpers/raw-client.js";

let broker: Broker;
const open: RawClient[] = [];
const extraBrokers: Broker[] = [];
let seq = 0;
const uid = (prefix: string) => `${prefix}-${++seq}`;

async function client(
  version: ProtocolVersion,
  options: Partial<ConnectPacket> = {},
  on: Broker = broker,
): Promise<RawClient> {
  const c = RawClient.memory(on, version);
  open.push(c);
  const connack = await c.connect({ clientId: uid(`c${version}`), ...options });
  assert.equal(connack.reasonCode, 0);
  return c;
}

async function subscribe(
  c: RawClient,
  subs: Subscription[],
  properties?: Properties,
): Promise<number[]> {
  c.send({ type: "subscribe", packetId: 1, subscriptions: subs, properties });
  return (await c.next("suback")).reasonCodes;
}

/** Publishes with RETAIN set (QoS 0 unless told), waiting for the acknowledgement of QoS 1. */
async function retain(
  c: RawClient,
  topic: string,
  payload: string,
  qos: QoS = 0,
  extra: Partial<PublishPacket> = {},
): Promise<void> {
  const p: PublishPacket = {
    type: "publish",
    topic,
    payload: text(payload),
    qos,
    retain: true,
    dup: false,
    ...extra,
  };
  if (qos > 0) p.packetId = 1;
  c.send(p);
  if (qos === 1) await c.next("puback");
  if (qos === 2) {
    await c.next("pubrec");
    c.send({ type: "pubrel", packetId: 1 });
    await c.next("pubcomp");
  }
  if (qos === 0) {
    // A QoS 0 PUBLISH has no answer; a PINGREQ round trip orders it before what follows.
    c.send({ type: "pingreq" });
    await c.next("pingresp");
  }
}

/** Every PUBLISH that arrives within `ms`, oldest first. */
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

before(async () => {
  broker = await startBroker();
});
afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  await Promise.all(extraBrokers.splice(0).map((b) => b.close()));
});
after(() => broker.close());

async function otherBroker(options: BrokerOptions): Promise<Broker> {
  const b = await startBroker(options);
  extraBrokers.push(b);
  return b;
}

describe("§3.3.1.3 retained messages", () => {
  for (const version of [4, 5] as const) {
    const v = version === 5 ? "5.0" : "3.1.1";
    const ids =
      version === 5 ? "[MQTT-3.3.1-5] §3.3.1.3" : "[MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-8]";
    it(`${ids} a retained message is stored and sent after SUBACK to a new subscriber with RETAIN 1 (${v})`, async () => {
      const topic = uid("stored");
      const pub = await client(version);
      await retain(pub, topic, "kept", 1);
      pub.close();
      const sub = await client(version);
      sub.send({ type: "subscribe", packetId: 3, subscriptions: [{ topicFilter: topic, qos: 1 }] });
      // The SUBACK comes first.
      const first = await sub.next();
      assert.equal(first.type, "suback");
      const msg = await sub.next("publish");
      assert.equal(msg.topic, topic);
      assert.equal(str(msg.payload), "kept");
      assert.equal(msg.retain, true);
      assert.equal(msg.qos, 1);
      sub.send({ type: "puback", packetId: msg.packetId as number });
    });
  }

  it("[MQTT-3.3.1-5] a newer retained message replaces the old one", async () => {
    const topic = uid("replace");
    const pub = await client(5);
    await retain(pub, topic, "v1");
    await retain(pub, topic, "v2");
    await retain(pub, topic, "v3", 1);
    const sub = await client(5);
    await subscribe(sub, [{ topicFilter: topic, qos: 0 }]);
    const got = await drain(sub);
    assert.deepEqual(
      got.map((p) => str(p.payload)),
      ["v3"],
    );
  });

  it("[MQTT-3.3.1-8] a PUBLISH with RETAIN 0 neither stores nor replaces nor removes the retained message", async () => {
    const topic = uid("noretain");
    const other = uid("never");
    const pub = await client(5);
    await retain(pub, topic, "retained");
    pub.send({ type: "publish", topic, payload: text("live"), qos: 0, retain: false, dup: false });
    pub.send({
      type: "publish",
      topic,
      payload: new Uint8Array(0),
      qos: 0,
      retain: false,
      dup: false,
    });
    pub.send({
      type: "publish",
      topic: other,
      payload: text("x"),
      qos: 0,
      retain: false,
      dup: false,
    });
    pub.send({ type: "pingreq" });
    await pub.next("pingresp");
    const sub = await client(5);
    await subscribe(sub, [
      { topicFilter: topic, qos: 0 },
      { topicFilter: other, qos: 0 },
    ]);
    assert.deepEqual(
      (await drain(sub)).map((p) => str(p.payload)),
      ["retained"],
    );
  });

  for (const version of [4, 5] as const) {
    const v = version === 5 ? "5.0" : "3.1.1";
    const ids = version === 5 ? "[MQTT-3.3.1-6] [MQTT-3.3.1-7]" : "[MQTT-3.3.1-10] [MQTT-3.3.1-11]";
    it(`${ids} a retained message with an empty payload is forwarded, deletes the retained message and is not stored (${v})`, async () => {
      const topic = uid("empty");
      const pub = await client(version);
      await retain(pub, topic, "old");
      const before = broker.core.retained.size;
      const live = await client(version);
      await subscribe(live, [{ topicFilter: topic, qos: 0 }]);
      assert.equal((await drain(live)).length, 1, "the old retained message");
      await retain(pub, topic, "");
      const forwarded = await live.next("publish");
      assert.equal(forwarded.payload.length, 0, "processed normally: forwarded to subscribers");
      assert.equal(broker.core.retained.size, before - 1);
      assert.equal(broker.core.retained.get(topic), undefined);
      const late = await client(version);
      await subscribe(late, [{ topicFilter: topic, qos: 0 }]);
      assert.deepEqual(await drain(late), [], "no retained message for new subscribers");
      // Deleting a topic that holds nothing stores nothing either.
      await retain(pub, uid("nothing"), "");
      assert.equal(broker.core.retained.size, before - 1);
    });
  }

  it("[MQTT-3.3.1-9] [MQTT-3.8.4-4] Retain Handling 0: retained messages are sent on every subscribe, re-subscribing included", async () => {
    const topic = uid("rh0");
    const pub = await client(5);
    await retain(pub, topic, "r");
    const sub = await client(5);
    await subscribe(sub, [{ topicFilter: topic, qos: 0, retainHandling: 0 }]);
    assert.equal((await drain(sub)).length, 1);
    await subscribe(sub, [{ topicFilter: topic, qos: 0, retainHandling: 0 }]);
    const again = await drain(sub);
    assert.equal(again.length, 1);
    assert.equal(again[0].retain, true);
  });

  it("[MQTT-3.3.1-10] Retain Handling 1: retained messages only when the subscription is new", async () => {
    const topic = uid("rh1");
    const pub = await client(5);
    await retain(pub, topic, "r");
    const sub = await client(5);
    await subscribe(sub, [{ topicFilter: topic, qos: 0, retainHandling: 1 }]);
    assert.equal((await drain(sub)).length, 1);
    await subscribe(sub, [{ topicFilter: topic, qos: 1, retainHandling: 1 }]);
    assert.deepEqual(await drain(sub), [], "existing subscription: nothing");
    sub.send({ type: "unsubscribe", packetId: 2, topicFilters: [topic] });
    await sub.next("unsuback");
    await subscribe(sub, [{ topicFilter: topic, qos: 0, retainHandling: 1 }]);
    assert.equal((await drain(sub)).length, 1, "new again after UNSUBSCRIBE");
  });

  it("[MQTT-3.3.1-11] Retain Handling 2: retained messages are never sent on subscribe; live ones are", async () => {
    const topic = uid("rh2");
    const pub = await client(5);
    await retain(pub, topic, "r");
    const sub = await client(5);
    await subscribe(sub, [{ topicFilter: topic, qos: 0, retainHandling: 2 }]);
    assert.deepEqual(await drain(sub), []);
    await retain(pub, topic, "live");
    const msg = await sub.next("publish");
    assert.equal(str(msg.payload), "live");
    assert.equal(msg.retain, false, "[MQTT-3.3.1-12] live forward clears RETAIN");
  });

  it("[MQTT-3.3.1-9] a wildcard subscription receives every matching retained message, '$' topics excluded for a leading wildcard", async () => {
    const base = uid("wild");
    const pub = await client(5);
    const topics = [base, `${base}/a`, `${base}/a/b`, `${base}/c`, `${base}/c/d/e`];
    for (const t of topics) await retain(pub, t, t);
    await retain(pub, `${base}x/a`, "other");
    await retain(pub, `$${base}/a`, "dollar");
    const hash = await client(5);
    await subscribe(hash, [{ topicFilter: `${base}/#`, qos: 0 }]);
    assert.deepEqual((await drain(hash)).map((p) => p.topic).sort(), [...topics].sort());
    const plus = await client(5);
    await subscribe(plus, [{ topicFilter: `${base}/+`, qos: 0 }]);
    assert.deepEqual((await drain(plus)).map((p) => p.topic).sort(), [`${base}/a`, `${base}/c`]);
    const root = await client(5);
    await subscribe(root, [{ topicFilter: "+/a", qos: 0 }]);
    const rootTopics = (await drain(root)).map((p) => p.topic);
    assert.ok(rootTopics.includes(`${base}x/a`));
    assert.ok(!rootTopics.some((t) => t.startsWith("$")), "[MQTT-4.7.2-1]");
    const dollar = await client(5);
    await subscribe(dollar, [{ topicFilter: `$${base}/#`, qos: 0 }]);
    assert.deepEqual(
      (await drain(dollar)).map((p) => str(p.payload)),
      ["dollar"],
    );
  });

  it("[MQTT-3.8.4-8] a retained message is sent at the minimum of its QoS and the granted QoS", async () => {
    const base = uid("rqos");
    const pub = await client(5);
    await retain(pub, `${base}/q2`, "q2", 2);
    await retain(pub, `${base}/q0`, "q0", 0);
    const sub = await client(5);
    await subscribe(sub, [{ topicFilter: `${base}/q2`, qos: 1 }]);
    const a = await sub.next("publish");
    assert.equal(a.qos, 1);
    sub.send({ type: "puback", packetId: a.packetId as number });
    await subscribe(sub, [{ topicFilter: `${base}/q0`, qos: 2 }]);
    assert.equal((await sub.next("publish")).qos, 0);
    const sub0 = await client(4);
    await subscribe(sub0, [{ topicFilter: `${base}/#`, qos: 0 }]);
    assert.deepEqual(
      (await drain(sub0)).map((p) => p.qos),
      [0, 0],
    );
  });

  it("[MQTT-3.3.2-5] [MQTT-3.3.2-6] a retained message is not sent after its expiry; before, with the remaining interval", async () => {
    const base = uid("rexp");
    const pub = await client(5);
    await retain(pub, `${base}/short`, "short", 0, { properties: { messageExpiryInterval: 1 } });
    await retain(pub, `${base}/long`, "long", 0, { properties: { messageExpiryInterval: 10 } });
    const early = await client(5);
    await subscribe(early, [{ topicFilter: `${base}/#`, qos: 0 }]);
    assert.equal((await drain(early, 50)).length, 2);
    await sleep(1100);
    const late = await client(5);
    await subscribe(late, [{ topicFilter: `${base}/#`, qos: 0 }]);
    const got = await drain(late, 50);
    assert.deepEqual(
      got.map((p) => str(p.payload)),
      ["long"],
    );
    const left = got[0].properties?.messageExpiryInterval;
    assert.ok(left === 9 || left === 8, `remaining interval ${left}`);
    // A 3.1.1 subscriber gets the message without properties.
    const old = await client(4);
    await subscribe(old, [{ topicFilter: `${base}/#`, qos: 0 }]);
    assert.deepEqual(
      (await drain(old, 50)).map((p) => str(p.payload)),
      ["long"],
    );
  });

  it("retained messages cross protocol versions (3.1.1 publisher, 5.0 subscriber and back)", async () => {
    const base = uid("cross");
    const p4 = await client(4);
    await retain(p4, `${base}/from4`, "four");
    const p5 = await client(5);
    await retain(p5, `${base}/from5`, "five", 0, {
      properties: { userProperties: [["k", "v"]], contentType: "text/plain" },
    });
    const s5 = await client(5);
    await subscribe(s5, [{ topicFilter: `${base}/#`, qos: 0 }]);
    const five = (await drain(s5)).sort((a, b) => a.topic.localeCompare(b.topic));
    assert.deepEqual(
      five.map((p) => str(p.payload)),
      ["four", "five"],
    );
    assert.equal(five[0].properties, undefined);
    assert.deepEqual(five[1].properties, {
      userProperties: [["k", "v"]],
      contentType: "text/plain",
    });
    const s4 = await client(4);
    await subscribe(s4, [{ topicFilter: `${base}/#`, qos: 0 }]);
    assert.equal((await drain(s4)).length, 2);
  });
});

describe("Retain Available = false", () => {
  it("[MQTT-3.2.2-14] §3.2.2.3.5 CONNACK says Retain Available 0; a PUBLISH with RETAIN 1 gets DISCONNECT 0x9A (5.0)", async () => {
    const b = await otherBroker({ limits: { retainAvailable: false } });
    const c = RawClient.memory(b, 5);
    open.push(c);
    const connack = await c.connect({ clientId: uid("noretain") });
    assert.equal(connack.properties?.retainAvailable, false);
    // Subscribing still works.
    assert.deepEqual(await subscribe(c, [{ topicFilter: "t", qos: 0 }]), [0]);
    c.send({ type: "publish", topic: "t", payload: text("r"), qos: 0, retain: true, dup: false });
    const d = await c.next("disconnect");
    assert.equal(d.reasonCode, 0x9a);
    await c.waitClosed();
    assert.equal(b.core.retained.size, 0);
  });

  it("§3.2.2.3.5 3.1.1: a PUBLISH with RETAIN 1 closes the connection when retain is not available", async () => {
    const b = await otherBroker({ limits: { retainAvailable: false } });
    const c = await client(4, {}, b);
    c.send({
      type: "publish",
      topic: "t",
      payload: text("r"),
      qos: 1,
      packetId: 1,
      retain: true,
      dup: false,
    });
    await c.waitClosed();
    assert.equal(
      c.received.some((p) => p.type === "puback"),
      false,
    );
    assert.equal(b.core.retained.size, 0);
  });
});

describe("retained store limits (memory stays bounded)", () => {
  it("beyond maxRetainedMessages a new topic is delivered but not retained; replacing a kept topic still works", async (t) => {
    const broker = await startBroker({ limits: { maxRetainedMessages: 2 } });
    t.after(() => broker.close());
    const pub = RawClient.memory(broker, 5);
    await pub.connect({ clientId: "rl-pub" });
    const live = RawClient.memory(broker, 5);
    await live.connect({ clientId: "rl-live" });
    live.send({ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "rl/#", qos: 0 }] });
    await live.next("suback");
    for (const [topic, body] of [
      ["rl/a", "1"],
      ["rl/b", "2"],
      ["rl/c", "3"],
      ["rl/a", "4"],
    ]) {
      pub.send({
        type: "publish",
        topic,
        payload: text(body),
        qos: 1,
        retain: true,
        dup: false,
        packetId: 1,
      });
      await pub.next("puback");
      const got = await live.next("publish");
      assert.equal(got.topic, topic, "delivered to the current subscriber whether stored or not");
    }
    assert.equal(broker.core.retained.size, 2);
    assert.equal(broker.core.stats.retainedRefused, 1);
    const late = RawClient.memory(broker, 5);
    await late.connect({ clientId: "rl-late" });
    late.send({ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "rl/#", qos: 0 }] });
    await late.next("suback");
    const seen = new Map<string, string>();
    for (let i = 0; i < 2; i++) {
      const m = await late.next("publish");
      seen.set(m.topic, str(m.payload));
    }
    assert.deepEqual(Object.fromEntries(seen), { "rl/a": "4", "rl/b": "2" });
    assert.ok(await late.nothing(100, "publish"));
    for (const c of [pub, live, late]) c.close();
  });

  it("maxRetainedBytes bounds the payload bytes kept", async (t) => {
    const broker = await startBroker({ limits: { maxRetainedBytes: 10 } });
    t.after(() => broker.close());
    const pub = RawClient.memory(broker, 4);
    await pub.connect({ clientId: "rb-pub" });
    for (const [topic, body] of [
      ["rb/a", "12345678"],
      ["rb/b", "123"],
      ["rb/c", "12"],
    ]) {
      pub.send({
        type: "publish",
        topic,
        payload: text(body),
        qos: 1,
        retain: true,
        dup: false,
        packetId: 2,
      });
      await pub.next("puback");
    }
    assert.equal(broker.core.retained.size, 2);
    assert.equal(broker.core.retained.bytes, 10);
    pub.close();
  });
});
