/**
 * A new subscription matching many retained messages (issue 7's
 * retained-heavy workload): every one is sent, however many there are,
 * as the subscriber's socket takes them — none is dropped because the
 * socket filled up — and what is published meanwhile comes after the
 * retained message of its topic. Clients are MQTT.js over TCP.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import mqtt from "mqtt";
import type { Broker } from "../../src/broker/index.js";
import { startBroker } from "../helpers/broker.js";

/** 20,000 × ~80 bytes: well past the 256 KiB this broker lets a connection buffer before a QoS 0 message is dropped. */
const N = 20_000;
const payload = Buffer.alloc(64, 0x61);

describe("retained messages for a new subscription, in bulk", () => {
  let broker: Broker;
  let url: string;
  before(async () => {
    broker = await startBroker({
      limits: {
        maxRetainedMessages: 100_000,
        writeHighWaterMark: 256 * 1024,
        slowConsumerGraceMs: 0,
      },
    });
    url = broker.url("tcp");
    const pub = await mqtt.connectAsync(url, { clientId: "seed" });
    for (let i = 0; i < N; i++) pub.publish(`r/${i}`, payload, { retain: true, qos: 0 });
    await pub.publishAsync("r/done", "1", { retain: true, qos: 1 });
    await pub.endAsync();
    assert.equal(broker.core.retained.size, N + 1);
  });
  after(() => broker.close());

  for (const qos of [0, 1] as const) {
    it(`[MQTT-3.8.4-4] [MQTT-3.3.1-9] a subscriber to r/# at QoS ${qos} receives all ${N + 1} retained messages; none is dropped for a full socket`, async () => {
      const sub = await mqtt.connectAsync(url, { clientId: `bulk-${qos}` });
      const seen = new Set<string>();
      let retainFlag = 0;
      const done = new Promise<void>((resolve) => {
        sub.on("message", (topic, _p, packet) => {
          seen.add(topic);
          if (packet.retain) retainFlag++;
          if (seen.size === N + 1) resolve();
        });
      });
      const dropped = broker.core.stats.dropped.slow_consumer;
      await sub.subscribeAsync("r/#", { qos });
      await Promise.race([
        done,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`only ${seen.size} of ${N + 1} arrived`)), 30_000),
        ),
      ]);
      assert.equal(seen.size, N + 1);
      assert.equal(retainFlag, N + 1, "every one with RETAIN set");
      assert.equal(broker.core.stats.dropped.slow_consumer, dropped, "nothing dropped");
      await sub.endAsync();
    });
  }

  it("[MQTT-4.6.0-6] a message published while the retained ones are going out arrives after the retained message of its topic", async () => {
    const sub = await mqtt.connectAsync(url, { clientId: "order" });
    const pub = await mqtt.connectAsync(url, { clientId: "live" });
    const last = `r/${N - 1}`;
    const values: string[] = [];
    const got = new Promise<void>((resolve) => {
      sub.on("message", (topic, p) => {
        if (topic !== last) return;
        values.push(p.toString());
        if (values.length === 2) resolve();
      });
    });
    await sub.subscribeAsync("r/#", { qos: 0 });
    // The last retained topic is still queued behind ~20k others when this arrives.
    pub.publish(last, "live", { qos: 0 });
    await Promise.race([
      got,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`got ${values}`)), 30_000)),
    ]);
    assert.deepEqual(values, [payload.toString(), "live"]);
    await sub.endAsync();
    await pub.endAsync();
  });
});
