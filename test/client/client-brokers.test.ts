/**
 * The client against real brokers — ours and Eclipse Mosquitto (software
 * nobody here wrote) — over TCP, MQTT 3.1.1 and 5.0: QoS 0/1/2, retained
 * messages, wills, persistent sessions, a broker restart with messages
 * published during the outage, topic aliases (checked on the wire), user
 * properties and request/response.
 *
 * Mosquitto is skipped loudly when it is not installed, and fails under CI=true.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { Broker } from "../../src/broker/index.js";
import {
  Client,
  type ConnectOptions,
  connect,
  type Message,
  type Subscription,
} from "../../src/client/index.js";
import { nodeTransport } from "../../src/client/transport/node-any.js";
import type { Transport, TransportFactory } from "../../src/client/transport/types.js";
import { Decoder, type Packet, type PublishPacket } from "../../src/protocol/index.js";
import { tcpPort } from "../helpers/broker.js";
import { type Mosquitto, requireMosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { waitFor } from "../helpers/programs.js";

/** A broker under test: where to connect, and how to take it down and bring it back on the same port. */
interface Target {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Our broker on a loopback port; `start()` after `stop()` binds the same port again. */
async function starlingTarget(): Promise<Target> {
  const listen = (port: number) =>
    Broker.start({ listeners: [{ type: "tcp", host: "127.0.0.1", port }], sysInterval: 0 });
  let broker: Broker | undefined = await listen(0);
  const port = tcpPort(broker);
  return {
    url: broker.url("tcp"),
    async stop() {
      await broker?.close();
      broker = undefined;
    },
    async start() {
      broker = await listen(port);
    },
    close: async () => {
      await broker?.close();
    },
  };
}

async function mosquittoTarget(): Promise<Target> {
  const m: Mosquitto = await startMosquitto();
  return { url: m.url, stop: () => m.stop(), start: () => m.restart(), close: () => m.stop() };
}

// ---- Helpers -------------------------------------------------------------------

const clients: Client[] = [];
let seq = 0;
const uid = (prefix: string) => `${prefix}-${process.pid}-${++seq}`;

async function client(url: string, options: ConnectOptions = {}): Promise<Client> {
  const c = await connect(url, { connectTimeout: 3000, reconnect: false, ...options });
  clients.push(c);
  return c;
}

/** The next `n` messages of `sub`; rejects after `timeoutMs`. */
async function take(sub: Subscription, n: number, timeoutMs = 3000): Promise<Message[]> {
  const it = sub[Symbol.asyncIterator]();
  const out: Message[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`${out.length} of ${n} messages on ${sub.filters} within ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
  });
  try {
    while (out.length < n) {
      const r = await Promise.race([it.next(), timeout]);
      if (r.done) throw new Error(`subscription ended after ${out.length} of ${n} messages`);
      out.push(r.value);
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}

/** Records every PUBLISH the client writes (decoded) and keeps each transport it opens. */
function tapped(): {
  factory: TransportFactory;
  published: PublishPacket[];
  transports: Transport[];
} {
  const published: PublishPacket[] = [];
  const transports: Transport[] = [];
  const factory: TransportFactory = async (url, options) => {
    const inner = await nodeTransport(url, options);
    const decoder = new Decoder();
    const outer: Transport = {
      write: (bytes) => {
        decoder.push(bytes, (p: Packet) => {
          if (p.type === "publish") published.push(p);
        });
        inner.write(bytes);
      },
      get bufferedAmount() {
        return inner.bufferedAmount;
      },
      pause: () => inner.pause(),
      resume: () => inner.resume(),
      close: () => inner.close(),
      onData: () => {},
      onClose: () => {},
      onDrain: () => {},
    };
    inner.onData = (c) => outer.onData(c);
    inner.onClose = (e) => outer.onClose(e);
    inner.onDrain = () => outer.onDrain();
    transports.push(outer);
    return outer;
  };
  return { factory, published, transports };
}

/** Holds new connections while closed (keeps a client offline across a broker restart). */
function gated(): { factory: TransportFactory; hold(): void; open(): void } {
  let gate: Promise<void> = Promise.resolve();
  let release = () => {};
  return {
    factory: async (url, options) => {
      await gate;
      return nodeTransport(url, options);
    },
    hold() {
      gate = new Promise((r) => {
        release = r;
      });
    },
    open: () => release(),
  };
}

const summary = (ms: Message[]) => ms.map((m) => `${m.text()}@${m.qos}${m.retain ? "r" : ""}`);

// ---- The suite, once per broker and protocol ----------------------------------------

function brokerSuite(name: string, skip: string | false, makeTarget: () => Promise<Target>): void {
  describe(`client against ${name}`, { skip }, () => {
    let target: Target;
    before(async () => {
      target = await makeTarget();
    });
    after(() => target?.close());
    afterEach(async () => {
      await Promise.all(clients.splice(0).map((c) => c.end({ force: true })));
    });

    for (const protocolVersion of [4, 5] as const) {
      const v = protocolVersion;
      const t = (s: string) => `${name.split(" ")[0].toLowerCase()}/v${v}/${s}`;

      it(`${v}: QoS 0/1/2 round trip; delivery at the lower of publish and subscription QoS`, async () => {
        const sub = await client(target.url, { protocolVersion: v, clientId: uid("qos-sub") });
        const pub = await client(target.url, { protocolVersion: v, clientId: uid("qos-pub") });
        const at2 = await sub.subscribe(t("qos/+"), { qos: 2 });
        const at1 = await sub.subscribe(t("qos1/+"), { qos: 1 });
        assert.deepEqual([at2.reasonCodes, at1.reasonCodes], [[2], [1]]);
        for (const qos of [0, 1, 2] as const) {
          const r = await pub.publish(t("qos/x"), `m${qos}`, { qos });
          assert.ok(r.reasonCode < 0x80);
          await pub.publish(t("qos1/x"), `m${qos}`, { qos });
        }
        assert.deepEqual(summary(await take(at2, 3)), ["m0@0", "m1@1", "m2@2"]);
        assert.deepEqual(summary(await take(at1, 3)), ["m0@0", "m1@1", "m2@1"]);
      });

      it(`${v}: retained messages reach later subscribers with RETAIN set, and an empty payload clears them`, async () => {
        const pub = await client(target.url, { protocolVersion: v, clientId: uid("ret-pub") });
        await pub.publish(t("ret/a"), "kept", { qos: 1, retain: true });
        const sub = await client(target.url, { protocolVersion: v, clientId: uid("ret-sub") });
        const s = await sub.subscribe(t("ret/#"), { qos: 1 });
        const [retained] = await take(s, 1);
        assert.deepEqual(
          [retained.topic, retained.text(), retained.retain],
          [t("ret/a"), "kept", true],
        );
        // A live message to an existing subscription goes without RETAIN [MQTT-3.3.1-9].
        await pub.publish(t("ret/a"), "live", { qos: 1, retain: true });
        assert.deepEqual(summary(await take(s, 1)), ["live@1"]);
        await pub.publish(t("ret/a"), "", { qos: 1, retain: true });
        await take(s, 1);
        const late = await client(target.url, { protocolVersion: v, clientId: uid("ret-late") });
        const s2 = await late.subscribe(t("ret/#"), { qos: 1 });
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(s2.buffered, 0, "a cleared retained message was delivered");
      });

      it(`${v}: [MQTT-3.1.2-8] the will is published when the connection drops without DISCONNECT`, async () => {
        const watcher = await client(target.url, {
          protocolVersion: v,
          clientId: uid("will-watch"),
        });
        const s = await watcher.subscribe(t("will/+"), { qos: 1 });
        const tap = tapped();
        const dying = await client(target.url, {
          protocolVersion: v,
          clientId: uid("will-dying"),
          transport: tap.factory,
          will: { topic: t("will/dying"), payload: "gone", qos: 1 },
        });
        // Close the socket under the client: no DISCONNECT reaches the broker.
        tap.transports[0].close();
        const [will] = await take(s, 1);
        assert.deepEqual([will.topic, will.text(), will.qos], [t("will/dying"), "gone", 1]);
        assert.ok(
          (await dying.closed()) !== undefined,
          "the client closes with the error that ended it",
        );
        // A normal end() sends DISCONNECT: no will.
        const polite = await client(target.url, {
          protocolVersion: v,
          clientId: uid("will-polite"),
          will: { topic: t("will/polite"), payload: "gone", qos: 1 },
        });
        await polite.end();
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(s.buffered, 0, "end() published the will");
      });

      it(`${v}: a persistent session keeps subscriptions, and QoS 1/2 messages queued while away arrive on return`, async () => {
        const clientId = uid("sess");
        const session: ConnectOptions =
          v === 5 ? { sessionExpiryInterval: 60, clean: false } : { clean: false };
        const first = await client(target.url, { protocolVersion: v, clientId, ...session });
        await first.subscribe(t("sess/#"), { qos: 2 });
        await first.end();
        const pub = await client(target.url, { protocolVersion: v, clientId: uid("sess-pub") });
        await pub.publish(t("sess/a"), "a", { qos: 1 });
        await pub.publish(t("sess/b"), "b", { qos: 2 });
        await pub.publish(t("sess/c"), "c", { qos: 1 });

        // Built by hand so the listener is in place before CONNACK: the broker sends the
        // queued messages right behind it, with no subscribe() call to route them to.
        const back = new Client(
          new URL(target.url),
          { protocolVersion: v, clientId, ...session, reconnect: false },
          nodeTransport,
        );
        clients.push(back);
        const got: Message[] = [];
        back.on("message", (m) => got.push(m));
        let sessionPresent: boolean | undefined;
        back.on("connect", (connack) => {
          sessionPresent = connack.sessionPresent;
        });
        await back.start();
        assert.equal(sessionPresent, true);
        await waitFor(() => got.length >= 3, "the queued messages", 3000);
        assert.deepEqual(
          got.map((m) => `${m.topic}=${m.text()}@${m.qos}`),
          [`${t("sess/a")}=a@1`, `${t("sess/b")}=b@2`, `${t("sess/c")}=c@1`],
        );
        // Leave no session behind.
        await back.end();
        const clean = await client(target.url, { protocolVersion: v, clientId, clean: true });
        await clean.end();
      });

      it(`${v}: the broker restarts; QoS 1/2 published during the outage are queued and delivered after, none lost or doubled`, async () => {
        const outage = await makeTarget();
        try {
          const quick = { initialDelay: 20, maxDelay: 50, random: () => 0.5 };
          const sub = await client(outage.url, {
            protocolVersion: v,
            clientId: uid("rs-sub"),
            reconnect: quick,
          });
          const s = await sub.subscribe(t("restart/#"), { qos: 2 });
          const gate = gated();
          const pub = await client(outage.url, {
            protocolVersion: v,
            clientId: uid("rs-pub"),
            reconnect: quick,
            transport: gate.factory,
          });
          await pub.publish(t("restart/data"), "before", { qos: 1 });
          assert.deepEqual(summary(await take(s, 1)), ["before@1"]);

          gate.hold();
          await outage.stop();
          await waitFor(
            () => !pub.connected && !sub.connected,
            "both clients to notice the outage",
            3000,
          );
          const sent = Array.from({ length: 6 }, (_, i) =>
            pub.publish(t("restart/data"), `during-${i}`, { qos: ((i % 2) + 1) as 1 | 2 }),
          );
          for (const p of sent) p.catch(() => {});
          await outage.start();

          // The publisher stays away until the subscriber is back and subscribed again
          // (the restarted broker lost every session): a probe shows when it is.
          await waitFor(() => sub.connected, "the subscriber to reconnect", 3000);
          const probe = await client(outage.url, { protocolVersion: v, clientId: uid("rs-probe") });
          for (let i = 0; s.buffered === 0; i++) {
            if (i === 30) throw new Error("the subscription did not come back within 3 s");
            await probe.publish(t("restart/probe"), "probe", { qos: 1 });
            await new Promise((r) => setTimeout(r, 100));
          }
          gate.open();
          const results = await Promise.all(sent);
          assert.ok(results.every((r) => r.reasonCode < 0x80));
          const got: string[] = [];
          while (got.length < 6) {
            const [m] = await take(s, 1);
            if (m.topic === t("restart/data")) got.push(`${m.text()}@${m.qos}`);
          }
          // Order is promised per QoS only [MQTT-4.6.0-6]: Mosquitto forwards QoS 2 on PUBREL, after QoS 1 sent later.
          const byQos = (q: string) => got.filter((g) => g.endsWith(q));
          assert.deepEqual(byQos("@1"), ["during-0@1", "during-2@1", "during-4@1"]);
          assert.deepEqual(byQos("@2"), ["during-1@2", "during-3@2", "during-5@2"]);
          await new Promise((r) => setTimeout(r, 150));
          const extra =
            s.buffered > 0
              ? (await take(s, s.buffered)).filter((m) => m.topic === t("restart/data"))
              : [];
          assert.deepEqual(summary(extra), [], "messages delivered twice");
        } finally {
          await Promise.all(clients.splice(0).map((c) => c.end({ force: true })));
          await outage.close();
        }
      });

      if (v === 5) {
        it("5: [MQTT-3.2.2-17] automatic topic aliases on the wire, resolved by the broker", async () => {
          const sub = await client(target.url, { protocolVersion: 5, clientId: uid("alias-sub") });
          const s = await sub.subscribe(t("alias/#"), { qos: 1 });
          const tap = tapped();
          const pub = await client(target.url, {
            protocolVersion: 5,
            clientId: uid("alias-pub"),
            transport: tap.factory,
          });
          for (let i = 0; i < 3; i++)
            await pub.publish(t("alias/long/topic/name"), `a${i}`, { qos: 1 });
          await pub.publish(t("alias/other"), "b", { qos: 1 });
          assert.deepEqual(
            tap.published.map((p) => [p.topic, p.properties?.topicAlias]),
            [
              [t("alias/long/topic/name"), 1],
              ["", 1],
              ["", 1],
              [t("alias/other"), 2],
            ],
          );
          assert.deepEqual(
            (await take(s, 4)).map((m) => `${m.topic}=${m.text()}`),
            [
              `${t("alias/long/topic/name")}=a0`,
              `${t("alias/long/topic/name")}=a1`,
              `${t("alias/long/topic/name")}=a2`,
              `${t("alias/other")}=b`,
            ],
          );
        });

        it("5: [MQTT-3.3.2-17] [MQTT-3.3.2-18] user properties arrive unchanged and in order, with the other properties", async () => {
          const sub = await client(target.url, { protocolVersion: 5, clientId: uid("up-sub") });
          const s = await sub.subscribe(t("props"), { qos: 1 });
          const pub = await client(target.url, { protocolVersion: 5, clientId: uid("up-pub") });
          const userProperties: Array<[string, string]> = [
            ["region", "eu"],
            ["hop", "1"],
            ["hop", "2"],
            ["ünïcode", "✓"],
          ];
          await pub.publish(t("props"), '{"on":true}', {
            qos: 1,
            properties: {
              userProperties,
              contentType: "application/json",
              payloadFormatIndicator: 1,
            },
          });
          const [m] = await take(s, 1);
          assert.deepEqual(m.properties?.userProperties, userProperties);
          assert.equal(m.properties?.contentType, "application/json");
          assert.equal(m.properties?.payloadFormatIndicator, 1);
          assert.deepEqual(m.json(), { on: true });
        });

        it("5: [MQTT-3.3.2-15] [MQTT-3.3.2-16] request/response with Response Topic and Correlation Data", async () => {
          const responder = await client(target.url, {
            protocolVersion: 5,
            clientId: uid("rr-responder"),
          });
          const requests = await responder.subscribe(t("rr/requests"), { qos: 1 });
          void (async () => {
            for await (const req of requests) {
              const responseTopic = req.properties?.responseTopic;
              if (responseTopic === undefined) continue;
              await responder.publish(responseTopic, `pong:${req.text()}`, {
                qos: 1,
                properties: { correlationData: req.properties?.correlationData },
              });
            }
          })().catch(() => {});
          const requester = await client(target.url, {
            protocolVersion: 5,
            clientId: uid("rr-requester"),
          });
          const responseTopic = t(`rr/responses/${uid("r")}`);
          const responses = await requester.subscribe(responseTopic, { qos: 1 });
          const ids = ["id-1", "id-2"];
          for (const id of ids) {
            await requester.publish(t("rr/requests"), `ping-${id}`, {
              qos: 1,
              properties: { responseTopic, correlationData: new TextEncoder().encode(id) },
            });
          }
          const got = await take(responses, 2);
          assert.deepEqual(
            got.map((m) => [new TextDecoder().decode(m.properties?.correlationData), m.text()]),
            [
              ["id-1", "pong:ping-id-1"],
              ["id-2", "pong:ping-id-2"],
            ],
          );
        });
      }
    }
  });
}

brokerSuite("Starling broker", false, starlingTarget);
brokerSuite("Mosquitto broker", requireMosquitto(), mosquittoTarget);
