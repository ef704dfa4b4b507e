import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Broker } from "../../src/broker/index.js";
import { connect } from "../../src/client/index.js";
import { startBroker } from "../helpers/broker.js";

describe("client against the Starling broker", () => {
  let broker: Broker;
  before(async () => {
    broker = await startBroker();
  });
  after(() => broker.close());

  for (const protocolVersion of [4, 5] as const) {
    for (const transport of ["tcp", "ws"] as const) {
      it(`QoS 0/1/2 round trip over ${transport}, protocol ${protocolVersion}`, async () => {
        const sub = await connect(broker.url(transport), {
          protocolVersion,
          clientId: `s-${transport}-${protocolVersion}`,
        });
        const pub = await connect(broker.url(transport), { protocolVersion });
        const subscription = await sub.subscribe(
          `switches/${transport}${protocolVersion}/+/status`,
          { qos: 2 },
        );
        assert.deepEqual(subscription.reasonCodes, [2]);
        for (const qos of [0, 1, 2] as const) {
          const r = await pub.publish(
            `switches/${transport}${protocolVersion}/kitchen/status`,
            `on-${qos}`,
            { qos },
          );
          assert.equal(r.reasonCode, 0);
        }
        const got: string[] = [];
        for await (const msg of subscription) {
          got.push(`${msg.topic.split("/")[2]}=${msg.text()}@${msg.qos}`);
          if (got.length === 3) break;
        }
        assert.deepEqual(got, ["kitchen=on-0@0", "kitchen=on-1@1", "kitchen=on-2@2"]);
        await subscription.unsubscribe();
        await pub.end();
        await sub.end();
      });
    }
  }
});
