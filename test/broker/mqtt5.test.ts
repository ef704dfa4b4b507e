/**
 * Broker black-box tests of MQTT 5 additions to PUBLISH (§3.3.2.3): topic
 * aliases, message expiry, forwarded properties, request/response, the
 * client's Maximum Packet Size, and the server limits a 5.0 client learns in
 * CONNACK (Maximum QoS, Maximum Packet Size). Raw packets over the in-memory
 * pipe; 3.1.1 counterparts where behaviour differs.
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

async function subscribe(c: RawClient, subs: Subscription[]): Promise<number[]> {
  c.send({ type: "subscribe", packetId: 1, subscriptions: subs });
  return (await c.next("suback")).reasonCodes;
}

function publish(
  c: RawClient,
  topic: string,
  payload: string | Uint8Array,
  qos: QoS = 0,
  properties?: Properties,
  packetId = 1,
): void {
  const p: PublishPacket = {
    type: "publish",
    topic,
    payload: typeof payload === "string" ? text(payload) : payload,
    qos,
    retain: false,
    dup: false,
  };
  if (qos > 0) p.packetId = packetId;
  if (properties !== undefined) p.properties = properties;
  c.send(p);
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

/** Expects the broker to end the connection: DISCONNECT `reasonCode` for 5.0, a plain close for 3.1.1. */
async function expectDisconnect(c: RawClient, reasonCode: number): Promise<void> {
  if (c.version === 5) {
    const d = await c.next("disconnect");
    assert.equal(d.reasonCode, reasonCode, `DISCONNECT 0x${d.reasonCode?.toString(16)}`);
  }
  await c.waitClosed();
  if (c.version !== 5) assert.equal(c.received.filter((p) => p.type === "disconnect").length, 0);
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

describe("§3.3.2.3.4 topic aliases from the client", () => {
  it("[MQTT-3.3.2-12] an alias set with a topic is then used with an empty topic; it can be re-mapped", async () => {
    const base = uid("alias");
    const sub = await client(5);
    await subscribe(sub, [{ topicFilter: `${base}/#`, qos: 0 }]);
    const pub = await client(5);
    const connack = await (async () => {
      const c = RawClient.memory(broker, 5);
      open.push(c);
      return c.connect({ clientId: uid("probe") });
    })();
    assert.equal(connack.properties?.topicAliasMaximum, 64, "announced in CONNACK");
    publish(pub, `${base}/one`, "set", 0, { topicAlias: 64 });
    publish(pub, "", "use", 0, { topicAlias: 64 });
    publish(pub, `${base}/two`, "remap", 0, { topicAlias: 64 });
    publish(pub, "", "use2", 1, { topicAlias: 64 });
    assert.equal((await pub.next("puback")).reasonCode, 0);
    const got = await drain(sub);
    assert.deepEqual(
      got.map((p) => [p.topic, str(p.payload)]),
      [
        [`${base}/one`, "set"],
        [`${base}/one`, "use"],
        [`${base}/two`, "remap"],
        [`${base}/two`, "use2"],
      ],
    );
    for (const p of got) assert.equal(p.properties?.topicAlias, undefined, "not forwarded");
  });

  it("§3.3.2.3.4 an alias greater than the Topic Alias Maximum: DISCONNECT 0x94", async () => {
    const pub = await client(5);
    publish(pub, uid("t"), "x", 0, { topicAlias: 65 });
    await expectDisconnect(pub, 0x94);
  });

  it("[MQTT-3.3.2-8] Topic Alias 0: DISCONNECT 0x94", async () => {
    const pub = await client(5);
    // PUBLISH QoS 0, topic "a", properties: Topic Alias (0x23) = 0.
    pub.sendBytes("30 07 0001 61 03 23 0000");
    await expectDisconnect(pub, 0x94);
  });

  it("§3.3.2.3.4 with topicAliasMaximum 0 no alias is announced and any alias gets DISCONNECT 0x94", async () => {
    const b = await otherBroker({ limits: { topicAliasMaximum: 0 } });
    const c = RawClient.memory(b, 5);
    open.push(c);
    const connack = await c.connect({ clientId: uid("noalias") });
    assert.equal(connack.properties?.topicAliasMaximum, undefined);
    publish(c, "t", "x", 0, { topicAlias: 1 });
    await expectDisconnect(c, 0x94);
  });

  it("§3.3.4 an empty topic with an alias never set is a Protocol Error: DISCONNECT 0x82", async () => {
    const pub = await client(5);
    publish(pub, "", "x", 0, { topicAlias: 3 });
    await expectDisconnect(pub, 0x82);
  });

  it("[MQTT-3.3.2-7] alias mappings do not carry over to a new connection", async () => {
    const id = uid("aliaspersist");
    const first = await client(5, { clientId: id, properties: { sessionExpiryInterval: 30 } });
    publish(first, uid("t"), "x", 1, { topicAlias: 2 });
    await first.next("puback");
    first.send({ type: "disconnect", reasonCode: 0 });
    await first.waitClosed();
    const second = await client(5, { clientId: id, clean: true });
    publish(second, "", "x", 0, { topicAlias: 2 });
    await expectDisconnect(second, 0x82);
  });
});

describe("§3.3.2.3.3 message expiry", () => {
  it("[MQTT-3.3.2-5] [MQTT-3.3.2-6] messages queued for an offline session expire; the rest carry the remaining interval", async () => {
    const topic = uid("expiry");
    const id = uid("offline");
    const sub = await client(5, { clientId: id, properties: { sessionExpiryInterval: 60 } });
    await subscribe(sub, [{ topicFilter: topic, qos: 1 }]);
    sub.send({ type: "disconnect", reasonCode: 0 });
    await sub.waitClosed();
    const pub = await client(5);
    publish(pub, topic, "short", 1, { messageExpiryInterval: 1 }, 1);
    publish(pub, topic, "long", 1, { messageExpiryInterval: 20 }, 2);
    publish(pub, topic, "forever", 1, undefined, 3);
    for (let i = 0; i < 3; i++) await pub.next("puback");
    await sleep(1100);
    const back = await client(5, { clientId: id, clean: false });
    const got = await drain(back);
    assert.deepEqual(
      got.map((p) => str(p.payload)),
      ["long", "forever"],
    );
    const left = got[0].properties?.messageExpiryInterval;
    assert.ok(left === 19 || left === 18, `remaining interval ${left}`);
    assert.equal(got[1].properties?.messageExpiryInterval, undefined);
    for (const p of got) back.send({ type: "puback", packetId: p.packetId as number });
  });

  it("[MQTT-3.3.2-5] a message waiting behind the client's Receive Maximum expires there", async () => {
    const topic = uid("expwin");
    const sub = await client(5, { properties: { receiveMaximum: 1 } });
    await subscribe(sub, [{ topicFilter: topic, qos: 1 }]);
    const pub = await client(5);
    publish(pub, topic, "first", 1, undefined, 1);
    publish(pub, topic, "expires", 1, { messageExpiryInterval: 1 }, 2);
    publish(pub, topic, "last", 1, { messageExpiryInterval: 100 }, 3);
    const first = await sub.next("publish");
    assert.equal(str(first.payload), "first");
    assert.ok(await sub.nothing(50, "publish"), "the window is full");
    await sleep(1100);
    sub.send({ type: "puback", packetId: first.packetId as number });
    const next = await sub.next("publish");
    assert.equal(str(next.payload), "last");
    assert.ok((next.properties?.messageExpiryInterval ?? 0) <= 99);
  });

  it("[MQTT-3.3.2-5] [MQTT-4.3.3-7] a message whose delivery started is re-sent on reconnect even after it expired, and its PUBACK frees the window", async () => {
    const topic = uid("expinflight");
    const id = uid("expin");
    const connect = {
      clientId: id,
      properties: { sessionExpiryInterval: 60, receiveMaximum: 1 },
    };
    const sub = await client(5, connect);
    await subscribe(sub, [{ topicFilter: topic, qos: 1 }]);
    const pub = await client(5);
    publish(pub, topic, "started", 1, { messageExpiryInterval: 1 }, 1);
    const first = await sub.next("publish");
    sub.close();
    await sub.closed;
    await sleep(1100);
    publish(pub, topic, "next", 1, undefined, 2);
    await pub.next("puback");
    await pub.next("puback");
    const back = await client(5, { ...connect, clean: false });
    const again = await back.next("publish");
    assert.equal(str(again.payload), "started");
    assert.equal(again.dup, true);
    assert.equal(again.packetId, first.packetId);
    back.send({ type: "puback", packetId: again.packetId as number });
    const next = await back.next("publish");
    assert.equal(str(next.payload), "next");
    back.send({ type: "puback", packetId: next.packetId as number });
  });

  it("[MQTT-3.3.2-6] a live delivery carries the interval as received (no time spent waiting)", async () => {
    const topic = uid("explive");
    const sub = await client(5);
    await subscribe(sub, [{ topicFilter: topic, qos: 0 }]);
    const pub = await client(5);
    publish(pub, topic, "x", 0, { messageExpiryInterval: 30 });
    assert.equal((await sub.next("publish")).properties?.messageExpiryInterval, 30);
  });
});

describe("§3.3.2.3 properties forwarded to subscribers", () => {
  it("[MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] payload format, content type, response topic, correlation data and user properties are forwarded unchanged and in order", async () => {
    const topic = uid("props");
    const sub = await client(5);
    await subscribe(sub, [{ topicFilter: topic, qos: 1 }]);
    const old = await client(4);
    await subscribe(old, [{ topicFilter: topic, qos: 1 }]);
    const pub = await client(5);
    const properties: Properties = {
      payloadFormatIndicator: 1,
      contentType: "application/json; charset=utf-8",
      responseTopic: "reply/here",
      correlationData: Uint8Array.from([0, 1, 2, 255]),
      userProperties: [
        ["b", "2"],
        ["a", "1"],
        ["b", "3"],
        ["", ""],
        ["ключ", "значение"],
      ],
    };
    publish(pub, topic, '{"x":1}', 1, { ...properties, topicAlias: 9 });
    await pub.next("puback");
    const msg = await sub.next("publish");
    assert.deepEqual(msg.properties, properties);
    assert.equal(str(msg.payload), '{"x":1}');
    const m4 = await old.next("publish");
    assert.equal(m4.properties, undefined, "3.1.1 has no properties");
    assert.equal(str(m4.payload), '{"x":1}');
  });

  it("§3.3.2.3.2 Payload Format Indicator 1 with a payload that is not UTF-8: DISCONNECT 0x99", async () => {
    const pub = await client(5);
    publish(pub, uid("pfi"), Uint8Array.from([0xff, 0xfe]), 1, { payloadFormatIndicator: 1 });
    await expectDisconnect(pub, 0x99);
  });

  it("[MQTT-3.3.4-6] a PUBLISH from a client carrying a Subscription Identifier: DISCONNECT 0x82", async () => {
    const pub = await client(5);
    publish(pub, uid("subid"), "x", 0, { subscriptionIdentifiers: [1] });
    await expectDisconnect(pub, 0x82);
  });
});

describe("§4.10 request / response", () => {
  it("[MQTT-3.3.2-15] [MQTT-3.3.2-16] Response Topic and Correlation Data make a request/response round trip", async () => {
    const service = uid("svc");
    const replyTo = uid("reply");
    const responder = await client(5);
    await subscribe(responder, [{ topicFilter: `${service}/+`, qos: 1 }]);
    const requester = await client(5);
    await subscribe(requester, [{ topicFilter: replyTo, qos: 1 }]);
    const correlation = text(uid("corr"));
    publish(requester, `${service}/get`, "question", 1, {
      responseTopic: replyTo,
      correlationData: correlation,
    });
    await requester.next("puback");
    const request = await responder.next("publish");
    responder.send({ type: "puback", packetId: request.packetId as number });
    assert.equal(request.properties?.responseTopic, replyTo);
    publish(
      responder,
      request.properties?.responseTopic as string,
      `answer to ${str(request.payload)}`,
      1,
      { correlationData: request.properties?.correlationData },
      5,
    );
    await responder.next("puback");
    const response = await requester.next("publish");
    assert.equal(response.topic, replyTo);
    assert.equal(str(response.payload), "answer to question");
    assert.deepEqual(response.properties?.correlationData, correlation);
  });

  it("[MQTT-3.1.2-28] Response Information is returned only when requested and configured", async () => {
    const b = await otherBroker({ responseInformation: "responses/" });
    const cases: [Broker, boolean | undefined, string | undefined][] = [
      [b, true, "responses/"],
      [b, false, undefined],
      [b, undefined, undefined],
      [broker, true, undefined],
    ];
    for (const [on, requested, expected] of cases) {
      const c = RawClient.memory(on, 5);
      open.push(c);
      const properties: Properties = {};
      if (requested !== undefined) properties.requestResponseInformation = requested;
      const connack = await c.connect({ clientId: uid("ri"), properties });
      assert.equal(connack.reasonCode, 0);
      assert.equal(connack.properties?.responseInformation, expected, `requested ${requested}`);
    }
  });
});

describe("Maximum Packet Size and Maximum QoS", () => {
  it("[MQTT-3.1.2-24] [MQTT-3.1.2-25] a message larger than the client's Maximum Packet Size is dropped as if delivered; smaller ones arrive", async () => {
    const topic = uid("mps");
    const sub = await client(5, { properties: { maximumPacketSize: 128, receiveMaximum: 1 } });
    await subscribe(sub, [{ topicFilter: topic, qos: 1 }]);
    const pub = await client(5);
    const dropped = broker.core.stats.publishDropped;
    publish(pub, topic, "small", 1, undefined, 1);
    const small = await sub.next("publish");
    sub.send({ type: "puback", packetId: small.packetId as number });
    publish(pub, topic, "x".repeat(200), 1, undefined, 2);
    publish(pub, topic, "y".repeat(200), 0);
    // Fits by payload but not with its properties.
    publish(pub, topic, "z".repeat(60), 1, { userProperties: [["k", "v".repeat(80)]] }, 3);
    publish(pub, topic, "after", 1, undefined, 4);
    const next = await sub.next("publish");
    assert.equal(str(next.payload), "after", "the oversized ones never took the only window slot");
    sub.send({ type: "puback", packetId: next.packetId as number });
    assert.ok(await sub.nothing(50, "publish"));
    assert.equal(broker.core.stats.publishDropped - dropped, 3);
    assert.equal(sub.decodeError, undefined);
  });

  it("[MQTT-3.1.2-25] an in-flight message too large for the Maximum Packet Size of the reconnecting client is dropped as delivered", async () => {
    const topic = uid("mpsre");
    const id = uid("mpsre");
    const sub = await client(5, {
      clientId: id,
      properties: { sessionExpiryInterval: 60, receiveMaximum: 1 },
    });
    await subscribe(sub, [{ topicFilter: topic, qos: 1 }]);
    const pub = await client(5);
    publish(pub, topic, "x".repeat(300), 1, undefined, 1);
    await sub.next("publish");
    sub.close();
    await sub.closed;
    publish(pub, topic, "small", 1, undefined, 2);
    await pub.next("puback");
    await pub.next("puback");
    const back = await client(5, {
      clientId: id,
      clean: false,
      properties: { sessionExpiryInterval: 60, receiveMaximum: 1, maximumPacketSize: 128 },
    });
    const next = await back.next("publish");
    assert.equal(str(next.payload), "small");
    assert.equal(next.dup, false);
  });

  it("§3.2.2.3.6 [MQTT-3.2.2-15] a packet larger than the broker's Maximum Packet Size: DISCONNECT 0x95 (5.0), close (3.1.1)", async () => {
    const b = await otherBroker({ limits: { maxPacketSize: 256 } });
    const c = RawClient.memory(b, 5);
    open.push(c);
    const connack = await c.connect({ clientId: uid("big") });
    assert.equal(connack.properties?.maximumPacketSize, 256);
    publish(c, "t", "x".repeat(100));
    publish(c, "t", "x".repeat(300));
    await expectDisconnect(c, 0x95);
    const c4 = await client(4, {}, b);
    publish(c4, "t", "x".repeat(300));
    await expectDisconnect(c4, 0x95);
  });

  it("§3.2.2.3.4 [MQTT-3.2.2-11] a PUBLISH above Maximum QoS: DISCONNECT 0x9B (5.0), close (3.1.1)", async () => {
    const b = await otherBroker({ limits: { maximumQoS: 1 } });
    const sub = await client(5, {}, b);
    await subscribe(sub, [{ topicFilter: "mq/#", qos: 2 }]);
    const ok = await client(5, {}, b);
    publish(ok, "mq/1", "fine", 1);
    assert.equal((await ok.next("puback")).reasonCode, 0);
    const m = await sub.next("publish");
    assert.equal(m.qos, 1);
    publish(ok, "mq/2", "too much", 2);
    await expectDisconnect(ok, 0x9b);
    const c4 = await client(4, {}, b);
    publish(c4, "mq/3", "too much", 2);
    await expectDisconnect(c4, 0x9b);
    assert.ok(await sub.nothing(50, "publish"), "nothing above QoS 1 was routed");
  });
});
