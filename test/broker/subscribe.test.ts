/**
 * Broker black-box tests, MQTT §3.8–§3.11 (SUBSCRIBE, SUBACK, UNSUBSCRIBE,
 * UNSUBACK), §4.7 (topic matching) and the subscription parts of §3.3.4
 * (overlapping subscriptions, subscription identifiers, No Local, Retain As
 * Published). Raw packets over the in-memory pipe; ids are MQTT 5.0's unless
 * a test is 3.1.1-specific.
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
import { startBroker } from "../helpers/broker.js";
import { RawClient, str, text } from "../helpers/raw-client.js";

let broker: Broker;
const open: RawClient[] = [];
const extraBrokers: Broker[] = [];
const clientIds = new WeakMap<RawClient, string>();
let seq = 0;
const uid = (prefix: string) => `${prefix}-${++seq}`;

async function client(
  version: ProtocolVersion,
  options: Partial<ConnectPacket> = {},
  on: Broker = broker,
): Promise<RawClient> {
  const c = RawClient.memory(on, version);
  open.push(c);
  const clientId = options.clientId ?? uid(`c${version}`);
  clientIds.set(c, clientId);
  const connack = await c.connect({ ...options, clientId });
  assert.equal(connack.reasonCode, 0);
  return c;
}

async function subscribe(
  c: RawClient,
  subs: Subscription[],
  properties?: Properties,
  packetId = 1,
): Promise<number[]> {
  c.send({ type: "subscribe", packetId, subscriptions: subs, properties });
  const suback = await c.next("suback");
  assert.equal(suback.packetId, packetId, "[MQTT-3.8.4-2] SUBACK has the SUBSCRIBE's packet id");
  return suback.reasonCodes;
}

function publish(
  c: RawClient,
  topic: string,
  payload: string,
  qos: QoS = 0,
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
  if (qos > 0) p.packetId ??= 1;
  c.send(p);
}

/** Payloads of every PUBLISH that arrives within `ms`. */
async function drain(c: RawClient, ms = 100): Promise<string[]> {
  await c.nothing(ms);
  const out: string[] = [];
  for (let i = c.received.length - 1; i >= 0; i--) {
    const p = c.received[i];
    if (p.type === "publish") {
      out.unshift(str(p.payload));
      c.received.splice(i, 1);
    }
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

describe("§4.7 topic filters and wildcards", () => {
  it("§4.7.1.2 '#' matches the parent level and every level below: 'sport/#' matches 'sport'", async () => {
    const base = uid("sport");
    const sub = await client(5);
    await subscribe(sub, [{ topicFilter: `${base}/#`, qos: 0 }]);
    const pub = await client(5);
    for (const t of [base, `${base}/`, `${base}/tennis`, `${base}/tennis/player1`, `${base}x/a`])
      publish(pub, t, t);
    assert.deepEqual(await drain(sub), [
      base,
      `${base}/`,
      `${base}/tennis`,
      `${base}/tennis/player1`,
    ]);
  });

  it("§4.7.1.3 '+' matches exactly one level, including an empty one", async () => {
    const base = uid("plus");
    const sub = await client(5);
    await subscribe(sub, [{ topicFilter: `${base}/+/c`, qos: 0 }]);
    const pub = await client(5);
    for (const t of [`${base}/b/c`, `${base}//c`, `${base}/b/d`, `${base}/b/c/d`, `${base}/c`])
      publish(pub, t, t);
    assert.deepEqual(await drain(sub), [`${base}/b/c`, `${base}//c`]);
  });

  it("§4.7.1.3 a lone '+' matches one-level topics only; '+/+' matches '/x'", async () => {
    const one = uid("lone");
    const sub = await client(4);
    await subscribe(sub, [{ topicFilter: "+", qos: 0 }]);
    const sub2 = await client(4);
    await subscribe(sub2, [{ topicFilter: "+/+", qos: 0 }]);
    const pub = await client(4);
    const slash = `/${uid("slash")}`;
    publish(pub, one, one);
    publish(pub, `${one}/deeper`, "deeper");
    publish(pub, slash, slash);
    assert.deepEqual(await drain(sub), [one]);
    assert.deepEqual(await drain(sub2), ["deeper", slash]);
  });

  it("[MQTT-4.7.2-1] '#' and '+' at the first level do not match topics starting with '$'; '$x/#' does", async () => {
    const dollar = `$${uid("app")}`;
    const all = await client(5);
    await subscribe(all, [
      { topicFilter: "#", qos: 0 },
      { topicFilter: "+/status", qos: 0 },
    ]);
    const explicit = await client(5);
    await subscribe(explicit, [
      { topicFilter: `${dollar}/#`, qos: 0 },
      { topicFilter: `${dollar}/+`, qos: 0 },
    ]);
    const pub = await client(5);
    publish(pub, `${dollar}/status`, "dollar");
    const plain = uid("plain");
    publish(pub, `${plain}/status`, "plain");
    // The '#' subscriber sees only the plain topic (once: overlapping subscriptions give one copy).
    assert.deepEqual(await drain(all), ["plain"]);
    assert.deepEqual(await drain(explicit), ["dollar"]);
  });

  it("§4.7.3 a topic differing only by case or trailing slash is another topic", async () => {
    const base = uid("Case");
    const sub = await client(4);
    await subscribe(sub, [{ topicFilter: base, qos: 0 }]);
    const pub = await client(4);
    publish(pub, base.toLowerCase(), "lower");
    publish(pub, `${base}/`, "slash");
    publish(pub, base, "exact");
    assert.deepEqual(await drain(sub), ["exact"]);
  });
});

describe("§3.8.4 / §3.9.3 SUBACK", () => {
  it("[MQTT-3.8.4-5] [MQTT-3.8.4-6] [MQTT-3.9.3-1] [MQTT-4.7.1-1] [MQTT-4.7.1-2] one reason code per filter, in request order; invalid filters get 0x8F while valid ones succeed (5.0)", async () => {
    const base = uid("mix");
    const sub = await client(5);
    const codes = await subscribe(
      sub,
      [
        { topicFilter: `${base}/ok1`, qos: 1 },
        { topicFilter: "a/#/b", qos: 0 },
        { topicFilter: "a+", qos: 1 },
        { topicFilter: `${base}/ok2`, qos: 2 },
        { topicFilter: "#/x", qos: 0 },
        { topicFilter: "$share/g", qos: 0 },
        { topicFilter: "$share/g+h/x", qos: 0 },
        { topicFilter: `${base}/ok0`, qos: 0 },
      ],
      undefined,
      0x4242,
    );
    assert.deepEqual(codes, [1, 0x8f, 0x8f, 2, 0x8f, 0x8f, 0x8f, 0]);
    const pub = await client(5);
    publish(pub, `${base}/ok1`, "1");
    publish(pub, `${base}/ok2`, "2");
    publish(pub, `${base}/ok0`, "0");
    assert.deepEqual(await drain(sub), ["1", "2", "0"]);
    assert.equal(sub.isClosed, false);
  });

  it("[MQTT-3.8.4-4] [MQTT-3.8.4-5] [MQTT-3.9.3-1] 3.1.1: invalid filters get 0x80 per filter, valid ones in the same SUBSCRIBE succeed", async () => {
    const base = uid("mix4");
    const sub = await client(4);
    const codes = await subscribe(sub, [
      { topicFilter: "a/#/b", qos: 0 },
      { topicFilter: `${base}/+`, qos: 2 },
      { topicFilter: "a+", qos: 1 },
      { topicFilter: `${base}/x/#`, qos: 1 },
    ]);
    assert.deepEqual(codes, [0x80, 2, 0x80, 1]);
    const pub = await client(4);
    publish(pub, `${base}/y`, "y");
    assert.deepEqual(await drain(sub), ["y"]);
  });

  it("[MQTT-3.8.4-3] subscribing an identical filter replaces the subscription: one delivery, the new QoS and identifier", async () => {
    const topic = uid("replace");
    const sub = await client(5);
    assert.deepEqual(
      await subscribe(sub, [{ topicFilter: topic, qos: 0 }], { subscriptionIdentifier: 1 }),
      [0],
    );
    assert.deepEqual(
      await subscribe(sub, [{ topicFilter: topic, qos: 1 }], { subscriptionIdentifier: 2 }),
      [1],
    );
    const pub = await client(5);
    publish(pub, topic, "once", 1);
    const msg = await sub.next("publish");
    assert.equal(msg.qos, 1);
    assert.deepEqual(msg.properties?.subscriptionIdentifiers, [2]);
    sub.send({ type: "puback", packetId: msg.packetId as number });
    assert.ok(await sub.nothing(100, "publish"), "no second copy");
  });

  it("[MQTT-3.8.4-3] 3.1.1: re-subscribing replaces, no duplicate delivery", async () => {
    const topic = uid("replace4");
    const sub = await client(4);
    await subscribe(sub, [{ topicFilter: topic, qos: 1 }]);
    await subscribe(sub, [{ topicFilter: topic, qos: 0 }]);
    const pub = await client(4);
    publish(pub, topic, "once", 1);
    const msg = await sub.next("publish");
    assert.equal(msg.qos, 0, "the replacing subscription's QoS");
    assert.ok(await sub.nothing(100, "publish"));
  });

  it("[MQTT-3.3.4-2] [MQTT-3.3.4-4] overlapping subscriptions: one copy at the highest QoS with every subscription identifier (the broker's choice)", async () => {
    const base = uid("overlap");
    const sub = await client(5);
    await subscribe(sub, [{ topicFilter: `${base}/#`, qos: 0 }], { subscriptionIdentifier: 11 });
    await subscribe(sub, [{ topicFilter: `${base}/+`, qos: 2 }], { subscriptionIdentifier: 22 });
    await subscribe(sub, [{ topicFilter: `${base}/a`, qos: 1 }]);
    const pub = await client(5);
    publish(pub, `${base}/a`, "x", 2, { packetId: 5 });
    const msg = await sub.next("publish");
    assert.equal(msg.qos, 2);
    assert.deepEqual([...(msg.properties?.subscriptionIdentifiers ?? [])].sort(), [11, 22]);
    sub.send({ type: "pubrec", packetId: msg.packetId as number });
    assert.ok(await sub.nothing(100, "publish"), "one copy per session");
  });

  it("[MQTT-3.3.5-1] 3.1.1: overlapping subscriptions give one copy at the highest QoS", async () => {
    const base = uid("overlap4");
    const sub = await client(4);
    await subscribe(sub, [
      { topicFilter: `${base}/#`, qos: 1 },
      { topicFilter: `${base}/+`, qos: 0 },
    ]);
    const pub = await client(4);
    publish(pub, `${base}/a`, "x", 2, { packetId: 5 });
    const msg = await sub.next("publish");
    assert.equal(msg.qos, 1);
    assert.ok(await sub.nothing(100, "publish"));
  });

  it("[MQTT-3.3.4-3] the subscription identifier is sent with matching messages; none without one", async () => {
    const base = uid("subid");
    const sub = await client(5);
    await subscribe(
      sub,
      [
        { topicFilter: `${base}/with/+`, qos: 0 },
        { topicFilter: `${base}/also`, qos: 0 },
      ],
      { subscriptionIdentifier: 268_435_455 },
    );
    await subscribe(sub, [{ topicFilter: `${base}/without`, qos: 0 }]);
    const pub = await client(5);
    publish(pub, `${base}/with/x`, "a");
    publish(pub, `${base}/also`, "b");
    publish(pub, `${base}/without`, "c");
    const a = await sub.next("publish");
    const b = await sub.next("publish");
    const c = await sub.next("publish");
    assert.deepEqual(a.properties?.subscriptionIdentifiers, [268_435_455]);
    assert.deepEqual(b.properties?.subscriptionIdentifiers, [268_435_455]);
    assert.equal(c.properties?.subscriptionIdentifiers, undefined);
  });

  it("[MQTT-3.8.3-3] No Local: own messages are not sent back; other clients' are", async () => {
    const topic = uid("nolocal");
    const me = await client(5);
    await subscribe(me, [{ topicFilter: topic, qos: 1, noLocal: true }]);
    const other = await client(5);
    publish(me, topic, "mine", 1, { packetId: 1 });
    // Nobody else subscribes: 0x10 No matching subscribers.
    assert.equal((await me.next("puback")).reasonCode, 0x10);
    publish(other, topic, "theirs");
    const msg = await me.next("publish");
    assert.equal(str(msg.payload), "theirs");
    assert.ok(await me.nothing(100, "publish"));
  });

  it("[MQTT-3.8.3-3] without No Local a client receives its own messages", async () => {
    const topic = uid("local");
    const me = await client(5);
    await subscribe(me, [{ topicFilter: topic, qos: 0 }]);
    publish(me, topic, "mine");
    assert.equal(str((await me.next("publish")).payload), "mine");
  });

  it("[MQTT-3.3.1-12] [MQTT-3.3.1-13] Retain As Published keeps RETAIN on forward; otherwise it is cleared", async () => {
    const topic = uid("rap");
    const keep = await client(5);
    await subscribe(keep, [{ topicFilter: topic, qos: 0, retainAsPublished: true }]);
    const clear = await client(5);
    await subscribe(clear, [{ topicFilter: topic, qos: 0 }]);
    const pub = await client(5);
    publish(pub, topic, "r", 0, { retain: true });
    publish(pub, topic, "n", 0, { retain: false });
    const k1 = await keep.next("publish");
    const k2 = await keep.next("publish");
    const c1 = await clear.next("publish");
    const c2 = await clear.next("publish");
    assert.deepEqual([k1.retain, k2.retain], [true, false]);
    assert.deepEqual([c1.retain, c2.retain], [false, false]);
    publish(pub, topic, "", 0, { retain: true }); // clean up the retained message
  });

  it("[MQTT-3.3.1-9] 3.1.1: a message forwarded to an established subscription has RETAIN 0", async () => {
    const topic = uid("ret4");
    const sub = await client(4);
    await subscribe(sub, [{ topicFilter: topic, qos: 0 }]);
    const pub = await client(4);
    publish(pub, topic, "r", 0, { retain: true });
    assert.equal((await sub.next("publish")).retain, false);
    publish(pub, topic, "", 0, { retain: true });
  });
});

describe("§3.10 / §3.11 UNSUBSCRIBE and UNSUBACK", () => {
  it("[MQTT-3.10.4-2] [MQTT-3.10.4-5] [MQTT-3.11.3-1] UNSUBSCRIBE stops delivery; UNSUBACK has the packet id and 0x00 / 0x11 per filter in order (5.0)", async () => {
    const base = uid("unsub");
    const sub = await client(5);
    await subscribe(sub, [
      { topicFilter: `${base}/a`, qos: 0 },
      { topicFilter: `${base}/b`, qos: 0 },
    ]);
    sub.send({
      type: "unsubscribe",
      packetId: 77,
      topicFilters: [`${base}/none`, `${base}/a`, `${base}/+`],
    });
    const unsuback = await sub.next("unsuback");
    assert.equal(unsuback.packetId, 77);
    assert.deepEqual(unsuback.reasonCodes, [0x11, 0x00, 0x11]);
    const pub = await client(5);
    publish(pub, `${base}/a`, "a");
    publish(pub, `${base}/b`, "b");
    assert.deepEqual(await drain(sub), ["b"]);
  });

  it("[MQTT-3.10.4-1] filters are compared character by character: 'x/+' does not remove 'x/#'", async () => {
    const base = uid("chars");
    const sub = await client(5);
    await subscribe(sub, [{ topicFilter: `${base}/#`, qos: 0 }]);
    sub.send({ type: "unsubscribe", packetId: 2, topicFilters: [`${base}/+`, `${base}/x`] });
    assert.deepEqual((await sub.next("unsuback")).reasonCodes, [0x11, 0x11]);
    const pub = await client(5);
    publish(pub, `${base}/x`, "still");
    assert.deepEqual(await drain(sub), ["still"]);
  });

  it("[MQTT-3.10.4-4] [MQTT-3.10.4-5] 3.1.1: UNSUBACK with the packet id and no payload, even when nothing was removed", async () => {
    const base = uid("unsub4");
    const sub = await client(4);
    await subscribe(sub, [{ topicFilter: `${base}/#`, qos: 1 }]);
    sub.send({ type: "unsubscribe", packetId: 9, topicFilters: [`${base}/nothing`] });
    assert.deepEqual(await sub.next("unsuback"), { type: "unsuback", packetId: 9 });
    sub.send({ type: "unsubscribe", packetId: 10, topicFilters: [`${base}/#`] });
    assert.deepEqual(await sub.next("unsuback"), { type: "unsuback", packetId: 10 });
    const pub = await client(4);
    publish(pub, `${base}/x`, "gone");
    assert.deepEqual(await drain(sub), []);
  });

  it("[MQTT-3.10.4-3] an unsubscribed QoS 1 message already sent is still completed", async () => {
    const topic = uid("complete");
    const sub = await client(5, { properties: { receiveMaximum: 1 } });
    await subscribe(sub, [{ topicFilter: topic, qos: 1 }]);
    const pub = await client(5);
    publish(pub, topic, "inflight", 1);
    const msg = await sub.next("publish");
    sub.send({ type: "unsubscribe", packetId: 3, topicFilters: [topic] });
    await sub.next("unsuback");
    sub.send({ type: "puback", packetId: msg.packetId as number });
    const s = broker.core.sessions.get(clientIds.get(sub) ?? "");
    await sub.nothing(30);
    assert.equal(s?.inflight.size, 0);
  });
});

describe("limits on subscriptions", () => {
  it("maxSubscriptionsPerClient: further filters get 0x97 Quota exceeded (5.0), 0x80 (3.1.1); replacing one still works", async () => {
    const b = await otherBroker({ limits: { maxSubscriptionsPerClient: 2 } });
    for (const version of [5, 4] as const) {
      const sub = await client(version, {}, b);
      const codes = await subscribe(sub, [
        { topicFilter: "q/1", qos: 1 },
        { topicFilter: "q/2", qos: 1 },
        { topicFilter: "q/3", qos: 1 },
      ]);
      assert.deepEqual(codes, [1, 1, version === 5 ? 0x97 : 0x80]);
      assert.deepEqual(await subscribe(sub, [{ topicFilter: "q/1", qos: 0 }]), [0]);
      sub.send({ type: "unsubscribe", packetId: 5, topicFilters: ["q/2"] });
      await sub.next("unsuback");
      assert.deepEqual(await subscribe(sub, [{ topicFilter: "q/3", qos: 2 }]), [2]);
    }
  });

  it("[MQTT-3.2.2-9] [MQTT-3.2.2-10] with Maximum QoS 1, CONNACK says so and a QoS 2 subscription is accepted at QoS 1", async () => {
    const b = await otherBroker({ limits: { maximumQoS: 1 } });
    const probe = RawClient.memory(b, 5);
    open.push(probe);
    assert.equal((await probe.connect({ clientId: uid("probe") })).properties?.maximumQoS, 1);
    for (const version of [5, 4] as const) {
      const sub = await client(version, {}, b);
      assert.deepEqual(
        await subscribe(sub, [
          { topicFilter: "m/2", qos: 2 },
          { topicFilter: "m/0", qos: 0 },
        ]),
        [1, 0],
      );
    }
  });
});
