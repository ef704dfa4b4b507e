/**
 * Broker black-box tests of the `$SYS/broker/...` topics (as Mosquitto
 * publishes them): retained, refreshed every `sysInterval` seconds, matched
 * only by filters that name `$SYS` [MQTT-4.7.2-1], and off with interval 0.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { type Broker, VERSION } from "../../src/broker/index.js";
import type { ProtocolVersion, PublishPacket, Subscription } from "../../src/protocol/index.js";
import { startBroker } from "../helpers/broker.js";
import { RawClient, str } from "../helpers/raw-client.js";

const open: RawClient[] = [];
const brokers: Broker[] = [];
let seq = 0;
const uid = (prefix: string) => `${prefix}-${++seq}`;

async function brokerWith(sysInterval: number): Promise<Broker> {
  const b = await startBroker({ sysInterval });
  brokers.push(b);
  return b;
}

async function client(b: Broker, version: ProtocolVersion): Promise<RawClient> {
  const c = RawClient.memory(b, version);
  open.push(c);
  assert.equal((await c.connect({ clientId: uid(`c${version}`) })).reasonCode, 0);
  return c;
}

async function subscribe(c: RawClient, subs: Subscription[]): Promise<number[]> {
  c.send({ type: "subscribe", packetId: 1, subscriptions: subs });
  return (await c.next("suback")).reasonCodes;
}

/** Every PUBLISH that arrived within `ms`, by topic (the last one wins). */
async function collect(c: RawClient, ms = 100): Promise<Map<string, PublishPacket>> {
  await c.nothing(ms);
  const out = new Map<string, PublishPacket>();
  for (let i = 0; i < c.received.length; ) {
    const p = c.received[i];
    if (p.type === "publish") {
      out.set(p.topic, p);
      c.received.splice(i, 1);
    } else i++;
  }
  return out;
}

afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

describe("$SYS topics", () => {
  for (const version of [5, 4] as const) {
    it(`subscribing '$SYS/#' returns the broker's $SYS topics as retained messages (${version === 5 ? "5.0" : "3.1.1"})`, async () => {
      const b = await brokerWith(1);
      const c = await client(b, version);
      assert.deepEqual(await subscribe(c, [{ topicFilter: "$SYS/#", qos: 0 }]), [0]);
      const got = await collect(c);
      for (const topic of [
        "$SYS/broker/version",
        "$SYS/broker/uptime",
        "$SYS/broker/clients/connected",
        "$SYS/broker/clients/total",
        "$SYS/broker/messages/received",
        "$SYS/broker/messages/sent",
        "$SYS/broker/publish/messages/received",
        "$SYS/broker/publish/messages/dropped",
        "$SYS/broker/subscriptions/count",
        "$SYS/broker/retained messages/count",
        "$SYS/broker/bytes/received",
      ]) {
        const p = got.get(topic);
        assert.ok(p, `${topic} missing`);
        assert.equal(p.retain, true, `${topic} retained`);
        assert.equal(p.qos, 0);
      }
      assert.equal(
        str(got.get("$SYS/broker/version")?.payload ?? new Uint8Array()),
        `starling ${VERSION}`,
      );
      assert.match(
        str(got.get("$SYS/broker/uptime")?.payload ?? new Uint8Array()),
        /^\d+ seconds$/,
      );
      assert.match(
        str(got.get("$SYS/broker/messages/received")?.payload ?? new Uint8Array()),
        /^\d+$/,
      );
    });
  }

  it("changed values are published again every sysInterval: clients/connected follows connections", async () => {
    const b = await brokerWith(1);
    const watcher = await client(b, 5);
    await subscribe(watcher, [{ topicFilter: "$SYS/broker/clients/connected", qos: 0 }]);
    await collect(watcher, 20);
    await client(b, 4);
    await client(b, 5);
    let value = "";
    for (let i = 0; i < 30 && value !== "3"; i++) {
      const p = (await collect(watcher, 50)).get("$SYS/broker/clients/connected");
      if (p !== undefined) {
        value = str(p.payload);
        assert.equal(p.retain, false, "a live update to an existing subscription has RETAIN 0");
      }
    }
    assert.equal(value, "3");
    // A new subscriber gets the latest value, retained.
    const late = await client(b, 5);
    await subscribe(late, [{ topicFilter: "$SYS/broker/clients/connected", qos: 0 }]);
    const p = (await collect(late)).get("$SYS/broker/clients/connected");
    assert.equal(p?.retain, true);
    assert.equal(str(p?.payload ?? new Uint8Array()), "3");
  });

  it("[MQTT-4.7.2-1] '#' and '+/broker/#' do not match $SYS topics", async () => {
    const b = await brokerWith(1);
    const c = await client(b, 5);
    await subscribe(c, [
      { topicFilter: "#", qos: 0 },
      { topicFilter: "+/broker/#", qos: 0 },
    ]);
    assert.equal((await collect(c)).size, 0);
    assert.ok(b.core.retained.get("$SYS/broker/version"), "they exist");
  });

  it("sysInterval 0 turns $SYS off: nothing published, nothing retained", async () => {
    const b = await brokerWith(0);
    const c = await client(b, 5);
    await subscribe(c, [{ topicFilter: "$SYS/#", qos: 0 }]);
    assert.equal((await collect(c)).size, 0);
    assert.equal(b.core.retained.size, 0);
  });
});
