/**
 * The behaviour switches Mosquitto users set in mosquitto.conf and that
 * the broker core now honours: message_size_limit (maxPayloadSize),
 * allow_zero_length_clientid (allowZeroLengthClientId) and
 * use_username_as_clientid (useUsernameAsClientId).
 */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { describe, it } from "node:test";
import type { Broker, BrokerOptions } from "../../src/broker/index.js";
import type { ProtocolVersion } from "../../src/protocol/index.js";
import { startBroker } from "../helpers/broker.js";
import { RawClient, str, text } from "../helpers/raw-client.js";

async function brokerFor(t: TestContext, options: BrokerOptions): Promise<Broker> {
  const broker = await startBroker(options);
  t.after(() => broker.close());
  return broker;
}

function client(t: TestContext, broker: Broker, version: ProtocolVersion): RawClient {
  const c = RawClient.memory(broker, version);
  t.after(() => c.close());
  return c;
}

describe("maxPayloadSize (Mosquitto's message_size_limit)", () => {
  for (const version of [4, 5] as const) {
    it(`MQTT ${version === 5 ? "5.0" : "3.1.1"}: a payload over the limit is not delivered; one at the limit is`, async (t) => {
      const broker = await brokerFor(t, { limits: { maxPayloadSize: 10 } });
      const sub = client(t, broker, version);
      await sub.connect({ clientId: "sub" });
      sub.send({
        type: "subscribe",
        packetId: 1,
        subscriptions: [{ topicFilter: "size/#", qos: 1 }],
      });
      await sub.next("suback");
      const pub = client(t, broker, version);
      await pub.connect({ clientId: "pub" });

      pub.send({
        type: "publish",
        topic: "size/big",
        payload: text("12345678901"),
        qos: 1,
        retain: false,
        dup: false,
        packetId: 1,
      });
      const ack = await pub.next("puback");
      // 5.0 says why (0x97 Quota exceeded); 3.1.1 can only acknowledge [MQTT-3.3.5-2 of 3.1.1].
      assert.equal(ack.reasonCode ?? 0, version === 5 ? 0x97 : 0);
      assert.equal(await sub.nothing(150, "publish"), true, "the oversized message was dropped");

      pub.send({
        type: "publish",
        topic: "size/ok",
        payload: text("1234567890"),
        qos: 1,
        retain: false,
        dup: false,
        packetId: 2,
      });
      const got = await sub.next("publish");
      assert.equal(got.topic, "size/ok");
      assert.equal(str(got.payload), "1234567890");
      assert.equal(broker.core.stats.dropped.too_large, 1);
    });
  }
});

describe("allowZeroLengthClientId false", () => {
  it("[MQTT-3.1.3-9] (3.1.1) an empty client id is refused with return code 2", async (t) => {
    const broker = await brokerFor(t, { limits: { allowZeroLengthClientId: false } });
    const c = client(t, broker, 4);
    const connack = await c.connect({ clientId: "", clean: true });
    assert.equal(connack.reasonCode, 2);
    await c.waitClosed();
  });

  it("[MQTT-3.1.3-8] (5.0) an empty client id is refused with 0x85 Client Identifier not valid", async (t) => {
    const broker = await brokerFor(t, { limits: { allowZeroLengthClientId: false } });
    const c = client(t, broker, 5);
    const connack = await c.connect({ clientId: "", clean: true });
    assert.equal(connack.reasonCode, 0x85);
  });

  it("with the default (true) the broker assigns one [MQTT-3.1.3-6]", async (t) => {
    const broker = await brokerFor(t, {});
    const c = client(t, broker, 5);
    const connack = await c.connect({ clientId: "", clean: true });
    assert.equal(connack.reasonCode, 0);
    assert.match(connack.properties?.assignedClientIdentifier ?? "", /^auto-/);
  });
});

describe("useUsernameAsClientId", () => {
  it("the username replaces the client id: a second login as the same user takes the session over", async (t) => {
    const broker = await brokerFor(t, { limits: { useUsernameAsClientId: true } });
    const a = client(t, broker, 5);
    assert.equal((await a.connect({ clientId: "device-1", username: "alice" })).reasonCode, 0);
    assert.deepEqual([...broker.core.sessions.keys()], ["alice"]);
    const b = client(t, broker, 5);
    assert.equal((await b.connect({ clientId: "device-2", username: "alice" })).reasonCode, 0);
    const d = await a.next("disconnect");
    assert.equal(d.reasonCode, 0x8e, "session taken over [MQTT-3.1.4-3]");
  });

  it("a client without a username is refused with 0x87 Not authorized", async (t) => {
    const broker = await brokerFor(t, { limits: { useUsernameAsClientId: true } });
    const c = client(t, broker, 5);
    assert.equal((await c.connect({ clientId: "anon" })).reasonCode, 0x87);
  });
});
