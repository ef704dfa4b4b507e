import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Broker } from "../../src/broker/index.js";
import { startBroker, tcpPort } from "../helpers/broker.js";
import { RawClient, str, text } from "../helpers/raw-client.js";

describe("broker smoke: publish and subscribe over TCP and memory", () => {
  let broker: Broker;
  before(async () => {
    broker = await startBroker();
  });
  after(() => broker.close());

  for (const version of [3, 4, 5] as const) {
    it(`QoS 1 round trip, protocol level ${version}`, async () => {
      const sub = await RawClient.tcp(tcpPort(broker), version);
      const connack = await sub.connect({ clientId: `sub${version}` });
      assert.equal(connack.reasonCode, 0);
      sub.send({
        type: "subscribe",
        packetId: 1,
        subscriptions: [{ topicFilter: "smoke/+", qos: 1 }],
      });
      const suback = await sub.next("suback");
      assert.deepEqual(suback.reasonCodes, [1]);
      const pub = RawClient.memory(broker, version);
      await pub.connect({ clientId: `pub${version}` });
      pub.send({
        type: "publish",
        topic: "smoke/a",
        payload: text("hi"),
        qos: 1,
        retain: false,
        dup: false,
        packetId: 9,
      });
      const puback = await pub.next("puback");
      assert.equal(puback.packetId, 9);
      const msg = await sub.next("publish");
      assert.equal(msg.topic, "smoke/a");
      assert.equal(str(msg.payload), "hi");
      assert.equal(msg.qos, 1);
      sub.send({ type: "puback", packetId: msg.packetId as number });
      sub.close();
      pub.close();
    });
  }
});
