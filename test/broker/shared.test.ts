/**
 * Broker black-box tests, MQTT §4.8.2 (shared subscriptions `$share/{group}/{filter}`),
 * for 5.0 clients and, as Mosquitto and others offer them, 3.1.1 clients.
 * Raw packets over the in-memory pipe.
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
let seq = 0;
const uid = (prefix: string) => `${prefix}-${++seq}`;

async function client(
  version: ProtocolVersion,
  options: Partial<ConnectPacket> = {},
): Promise<RawClient> {
  const c = RawClient.memory(broker, version);
  open.push(c);
  const connack = await c.connect({ clientId: uid(`c${version}`), ...options });
  assert.equal(connack.reasonCode, 0);
  return c;
}

async function subscribe(c: RawClient, subs: Subscription[]): Promise<number[]> {
  c.send({ type: "subscribe", packetId: 1, subscriptions: subs });
  return (await c.next("suback")).reasonCodes;
}

let pid = 0;
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
  if (qos > 0) p.packetId = (pid++ % 65_000) + 1;
  c.send(p);
}

/** Payloads of every PUBLISH that arrives within `ms`. */
async function drain(c: RawClient, ms = 100): Promise<string[]> {
  await c.nothing(ms);
  const out: string[] = [];
  for (let i = 0; i < c.received.length; ) {
    const p = c.received[i];
    if (p.type === "publish") {
      out.push(str(p.payload));
      c.received.splice(i, 1);
    } else i++;
  }
  return out;
}

/** Which of `members` received a PUBLISH (taking it out of `received`), polling for up to 1 s. */
async function whoGot(
  members: RawClient[],
): Promise<{ chosen: RawClient; msg: PublishPacket; others: RawClient[] }> {
  for (let t = 0; t < 100; t++) {
    for (const m of members) {
      const i = m.received.findIndex((p) => p.type === "publish");
      if (i >= 0) {
        const msg = m.received.splice(i, 1)[0] as PublishPacket;
        return { chosen: m, msg, others: members.filter((o) => o !== m) };
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("no member received the message");
}

/** Waits until the broker has seen `c`'s connection close. */
async function closeAndSettle(c: RawClient): Promise<void> {
  c.close();
  await c.closed;
  await new Promise((r) => setTimeout(r, 20));
}

before(async () => {
  broker = await startBroker();
});
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});
after(() => broker.close());

describe("§4.8.2 shared subscriptions", () => {
  for (const version of [5, 4] as const) {
    const v = version === 5 ? "5.0" : "3.1.1";
    it(`§4.8.2 each message goes to one member, round robin over three members (${v})`, async () => {
      const topic = uid("rr");
      const members = [await client(version), await client(version), await client(version)];
      for (const m of members)
        assert.deepEqual(await subscribe(m, [{ topicFilter: `$share/g/${topic}`, qos: 0 }]), [0]);
      const pub = await client(version);
      for (let i = 0; i < 9; i++) publish(pub, topic, String(i));
      const got = await Promise.all(members.map((m) => drain(m)));
      assert.deepEqual(
        got.map((g) => g.length),
        [3, 3, 3],
      );
      assert.deepEqual(
        got
          .flat()
          .map(Number)
          .sort((a, b) => a - b),
        [0, 1, 2, 3, 4, 5, 6, 7, 8],
        "every message exactly once",
      );
    });
  }

  it("§4.8.2 3.1.1 and 5.0 members share one group; a wildcard shared filter works", async () => {
    const base = uid("mixed");
    const a = await client(4);
    const b = await client(5);
    await subscribe(a, [{ topicFilter: `$share/mix/${base}/#`, qos: 1 }]);
    await subscribe(b, [{ topicFilter: `$share/mix/${base}/#`, qos: 1 }]);
    const pub = await client(5);
    for (let i = 0; i < 4; i++) publish(pub, `${base}/${i}`, String(i));
    const [ga, gb] = await Promise.all([drain(a), drain(b)]);
    assert.equal(ga.length, 2);
    assert.equal(gb.length, 2);
  });

  it("§4.8.2 two groups on one filter each receive every message, as does a non-shared subscriber", async () => {
    const topic = uid("groups");
    const g1 = [await client(5), await client(5)];
    const g2 = [await client(5)];
    for (const m of g1) await subscribe(m, [{ topicFilter: `$share/one/${topic}`, qos: 0 }]);
    for (const m of g2) await subscribe(m, [{ topicFilter: `$share/two/${topic}`, qos: 0 }]);
    const plain = await client(5);
    await subscribe(plain, [{ topicFilter: topic, qos: 0 }]);
    const pub = await client(5);
    for (let i = 0; i < 4; i++) publish(pub, topic, String(i));
    const one = (await Promise.all(g1.map((m) => drain(m)))).flat();
    assert.equal(one.length, 4);
    assert.deepEqual(await drain(g2[0]), ["0", "1", "2", "3"]);
    assert.deepEqual(await drain(plain), ["0", "1", "2", "3"]);
  });

  it("[MQTT-4.8.2-3] each member gets the message at its own granted QoS", async () => {
    const topic = uid("qos");
    const q0 = await client(5);
    const q1 = await client(5);
    await subscribe(q0, [{ topicFilter: `$share/q/${topic}`, qos: 0 }]);
    await subscribe(q1, [{ topicFilter: `$share/q/${topic}`, qos: 1 }]);
    const pub = await client(5);
    publish(pub, topic, "a", 1);
    publish(pub, topic, "b", 1);
    const m0 = await q0.next("publish");
    const m1 = await q1.next("publish");
    assert.equal(m0.qos, 0);
    assert.equal(m1.qos, 1);
  });

  it("§3.3.1.3 §4.8.2 retained messages are not sent on a shared subscribe", async () => {
    const topic = uid("ret");
    const pub = await client(5);
    publish(pub, topic, "retained", 1, { retain: true });
    await pub.next("puback");
    const member = await client(5);
    await subscribe(member, [{ topicFilter: `$share/r/${topic}`, qos: 1 }]);
    assert.deepEqual(await drain(member), []);
    const m4 = await client(4);
    await subscribe(m4, [{ topicFilter: `$share/r4/${topic}`, qos: 1 }]);
    assert.deepEqual(await drain(m4), []);
    publish(pub, topic, "", 0, { retain: true });
  });

  it("[MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error: DISCONNECT 0x82", async () => {
    const c = await client(5);
    c.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{ topicFilter: `$share/g/${uid("nl")}`, qos: 0, noLocal: true }],
    });
    const d = await c.next("disconnect");
    assert.equal(d.reasonCode, 0x82);
    await c.waitClosed();
    assert.equal(
      c.received.some((p) => p.type === "suback"),
      false,
    );
  });

  it("§4.8.2 a member that disconnects with an unacknowledged QoS 1 message has it sent to another member", async () => {
    const topic = uid("redeliver");
    const a = await client(5);
    const b = await client(5);
    await subscribe(a, [{ topicFilter: `$share/rd/${topic}`, qos: 1 }]);
    await subscribe(b, [{ topicFilter: `$share/rd/${topic}`, qos: 1 }]);
    const pub = await client(5);
    publish(pub, topic, "precious", 1);
    const {
      chosen,
      others: [other],
    } = await whoGot([a, b]);
    assert.ok(await other.nothing(50, "publish"));
    await closeAndSettle(chosen);
    const again = await other.next("publish");
    assert.equal(str(again.payload), "precious");
    assert.equal(again.qos, 1);
    other.send({ type: "puback", packetId: again.packetId as number });
  });

  it("[MQTT-4.8.2-6] a member's PUBACK with a failure code discards the message: no other member gets it", async () => {
    const topic = uid("nack");
    const a = await client(5);
    const b = await client(5);
    await subscribe(a, [{ topicFilter: `$share/nk/${topic}`, qos: 1 }]);
    await subscribe(b, [{ topicFilter: `$share/nk/${topic}`, qos: 1 }]);
    const pub = await client(5);
    publish(pub, topic, "refused", 1);
    const {
      chosen,
      msg,
      others: [other],
    } = await whoGot([a, b]);
    chosen.send({ type: "puback", packetId: msg.packetId as number, reasonCode: 0x80 });
    await chosen.nothing(30);
    await closeAndSettle(chosen);
    assert.deepEqual(await drain(other), []);
  });

  it("[MQTT-4.8.2-4] [MQTT-4.8.2-5] an unfinished QoS 2 delivery stays with its member: completed on reconnect, never sent to another", async () => {
    const topic = uid("q2");
    const aId = uid("q2a");
    const a = await client(5, { clientId: aId, properties: { sessionExpiryInterval: 60 } });
    const b = await client(5);
    await subscribe(a, [{ topicFilter: `$share/q2/${topic}`, qos: 2 }]);
    await subscribe(b, [{ topicFilter: `$share/q2/${topic}`, qos: 2 }]);
    const pub = await client(5);
    // Round robin: send until member A holds one.
    let held: PublishPacket | undefined;
    for (let i = 0; i < 2 && held === undefined; i++) {
      publish(pub, topic, `m${i}`, 2);
      await pub.next("pubrec");
      await a.nothing(50);
      const i2 = a.received.findIndex((p) => p.type === "publish");
      if (i2 >= 0) held = a.received.splice(i2, 1)[0] as PublishPacket;
    }
    assert.ok(held, "member A received one message");
    await drain(b);
    await closeAndSettle(a);
    assert.deepEqual(await drain(b), [], "not sent to another member while A's session lasts");
    const back = RawClient.memory(broker, 5);
    open.push(back);
    const connack = await back.connect({
      clientId: aId,
      clean: false,
      properties: { sessionExpiryInterval: 0 },
    });
    assert.equal(connack.sessionPresent, true);
    const resent = await back.next("publish");
    assert.equal(resent.packetId, held.packetId, "[MQTT-4.8.2-4] completed with the same member");
    assert.equal(resent.dup, true);
    assert.equal(str(resent.payload), str(held.payload));
    back.send({ type: "pubrec", packetId: held.packetId as number });
    await back.next("pubrel");
    back.send({ type: "pubcomp", packetId: held.packetId as number });
  });

  it("[MQTT-4.8.2-5] a QoS 2 message whose member's session ends before it is complete goes to no other member", async () => {
    const topic = uid("q2end");
    const a = await client(5);
    const b = await client(5);
    await subscribe(a, [{ topicFilter: `$share/q2e/${topic}`, qos: 2 }]);
    await subscribe(b, [{ topicFilter: `$share/q2e/${topic}`, qos: 2 }]);
    const pub = await client(5);
    publish(pub, topic, "once", 2);
    await pub.next("pubrec");
    const { chosen, others } = await whoGot([a, b]);
    // Session Expiry 0: the session ends with the connection.
    await closeAndSettle(chosen);
    assert.deepEqual(await drain(others[0]), []);
  });

  it("§4.8.2 UNSUBSCRIBE from a shared subscription: the remaining member gets everything", async () => {
    const topic = uid("leave");
    const a = await client(5);
    const b = await client(5);
    await subscribe(a, [{ topicFilter: `$share/lv/${topic}`, qos: 0 }]);
    await subscribe(b, [{ topicFilter: `$share/lv/${topic}`, qos: 0 }]);
    a.send({ type: "unsubscribe", packetId: 2, topicFilters: [`$share/lv/${topic}`] });
    assert.deepEqual((await a.next("unsuback")).reasonCodes, [0]);
    const pub = await client(5);
    for (let i = 0; i < 4; i++) publish(pub, topic, String(i));
    assert.deepEqual(await drain(b), ["0", "1", "2", "3"]);
    assert.deepEqual(await drain(a), []);
  });

  it("§4.8.2 connected members are preferred over a member whose client is offline (the broker's choice)", async () => {
    const topic = uid("offline");
    const awayId = uid("away");
    const away = await client(5, { clientId: awayId, properties: { sessionExpiryInterval: 60 } });
    const here = await client(5);
    await subscribe(away, [{ topicFilter: `$share/off/${topic}`, qos: 1 }]);
    await subscribe(here, [{ topicFilter: `$share/off/${topic}`, qos: 1 }]);
    await closeAndSettle(away);
    const pub = await client(5);
    for (let i = 0; i < 4; i++) publish(pub, topic, String(i), 1);
    const got: string[] = [];
    for (let i = 0; i < 4; i++) {
      const m = await here.next("publish");
      got.push(str(m.payload));
      here.send({ type: "puback", packetId: m.packetId as number });
    }
    assert.deepEqual(got, ["0", "1", "2", "3"]);
    assert.equal(broker.core.sessions.get(awayId)?.queue.length, 0);
    // End the offline session.
    const back = RawClient.memory(broker, 5);
    open.push(back);
    await back.connect({ clientId: awayId, clean: true });
  });
});
