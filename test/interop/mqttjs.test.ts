/**
 * Interop with MQTT.js (the npm package `mqtt`), against a broker started
 * here, over TCP (`mqtt://`) and WebSocket (`ws://…/mqtt`), for MQTT 3.1.1
 * (protocolVersion 4) and 5.0, plus one 3.1 round trip.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import mqtt, {
  type IClientOptions,
  type IConnackPacket,
  type IPublishPacket,
  type MqttClient,
} from "mqtt";
import type { Broker } from "../../src/broker/index.js";
import { startBroker } from "../helpers/broker.js";
import { waitFor } from "../helpers/programs.js";

/** Deadline for every wait in this file. */
const TIMEOUT_MS = 10_000;

interface Received {
  topic: string;
  payload: string;
  packet: IPublishPacket;
}

/** An MQTT.js client that records every message from the moment it is created. */
interface Conn {
  client: MqttClient;
  received: Received[];
  /**
   * PUBLISH packets as they arrived, in wire order. MQTT.js emits "message"
   * for QoS 2 only once PUBREL arrives, so `received` can be in another order.
   */
  wire: IPublishPacket[];
  /** Resolves with the first `n` messages received; rejects after the deadline. */
  messages(n: number): Promise<Received[]>;
  /** The CONNACK of the connection. */
  connack: IConnackPacket;
}

/** Rejects with `what` after the deadline unless `p` settles first. */
function deadline<T>(p: Promise<T>, what: string | (() => string), ms = TIMEOUT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${ms} ms: ${typeof what === "string" ? what : what()}`));
    }, ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("interop: MQTT.js", () => {
  let broker: Broker;
  const open = new Set<MqttClient>();

  before(async () => {
    broker = await startBroker({ responseInformation: "responses/" });
  });
  after(async () => {
    for (const c of open) c.end(true);
    await broker?.close();
  });

  /**
   * Connects with `reconnectPeriod: 0` (a dropped connection stays dropped)
   * and the message listener attached before CONNECT is sent, so messages
   * that arrive right behind the CONNACK are not missed.
   */
  async function connect(url: string, options: IClientOptions): Promise<Conn> {
    const client = mqtt.connect(url, {
      reconnectPeriod: 0,
      connectTimeout: TIMEOUT_MS,
      ...options,
    });
    open.add(client);
    client.on("close", () => open.delete(client));
    const received: Received[] = [];
    const wire: IPublishPacket[] = [];
    client.on("packetreceive", (p) => {
      if (p.cmd === "publish") wire.push(p);
    });
    const waiters: (() => void)[] = [];
    client.on("message", (topic, payload, packet) => {
      received.push({ topic, payload: payload.toString(), packet });
      for (const w of waiters.splice(0)) w();
    });
    const connack = await deadline(
      new Promise<IConnackPacket>((resolve, reject) => {
        client.once("connect", resolve);
        client.once("error", reject);
      }),
      `${options.clientId ?? "client"} to connect to ${url}`,
    );
    const conn: Conn = {
      client,
      received,
      wire,
      connack,
      messages: (n) =>
        deadline(
          (async () => {
            while (received.length < n) await new Promise<void>((r) => waiters.push(r));
            return received.slice(0, n);
          })(),
          () =>
            `${options.clientId ?? "client"} to receive ${n} messages (got ${JSON.stringify(received.map((m) => [m.topic, m.payload]))})`,
        ),
    };
    return conn;
  }

  const end = (c: Conn) => deadline(c.client.endAsync(), "client.end");

  /** Ends the connection abruptly: the broker sees the socket close without DISCONNECT. */
  async function drop(c: Conn): Promise<void> {
    const closed = new Promise<void>((r) => c.client.once("close", () => r()));
    c.client.stream.destroy();
    await deadline(closed, "dropped connection to close");
    c.client.end(true);
  }

  const transports = [
    ["tcp", () => broker.url("tcp")],
    ["ws", () => broker.url("ws")],
  ] as const;

  for (const [transport, url] of transports) {
    for (const protocolVersion of [4, 5] as const) {
      const label = `${transport} v${protocolVersion === 4 ? "3.1.1" : "5.0"}`;
      const t = `js/${transport}/${protocolVersion}`;
      const id = (name: string) => `${name}-${transport}-${protocolVersion}`;

      it(`${label}: QoS 0, 1 and 2 round trips`, async () => {
        const sub = await connect(url(), { protocolVersion, clientId: id("sub") });
        const granted = await sub.client.subscribeAsync(`${t}/qos/#`, { qos: 2 });
        assert.deepEqual(
          granted.map((g) => [g.topic, g.qos]),
          [[`${t}/qos/#`, 2]],
        );
        const pub = await connect(url(), { protocolVersion, clientId: id("pub") });
        for (const qos of [0, 1, 2] as const)
          await pub.client.publishAsync(`${t}/qos/${qos}`, `m${qos}`, { qos });
        const got = await sub.messages(3);
        assert.deepEqual(
          got.map((m) => [m.topic, m.payload, m.packet.qos, m.packet.retain]),
          [
            [`${t}/qos/0`, "m0", 0, false],
            [`${t}/qos/1`, "m1", 1, false],
            [`${t}/qos/2`, "m2", 2, false],
          ],
        );
        await Promise.all([end(sub), end(pub)]);
      });

      it(`${label}: a 500 kB payload round trip at QoS 1`, async () => {
        const sub = await connect(url(), { protocolVersion, clientId: id("bigsub") });
        await sub.client.subscribeAsync(`${t}/big`, { qos: 1 });
        const pub = await connect(url(), { protocolVersion, clientId: id("bigpub") });
        const body = Buffer.alloc(500_000);
        for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
        await pub.client.publishAsync(`${t}/big`, body, { qos: 1 });
        const [m] = await sub.messages(1);
        assert.ok(
          m.packet.payload.length === body.length && body.equals(m.packet.payload as Buffer),
        );
        await Promise.all([end(sub), end(pub)]);
      });

      it(`${label}: a retained message reaches a later subscriber, flagged retained`, async () => {
        const pub = await connect(url(), { protocolVersion, clientId: id("rpub") });
        await pub.client.publishAsync(`${t}/ret`, "kept", { qos: 1, retain: true });
        const sub = await connect(url(), { protocolVersion, clientId: id("rsub") });
        await sub.client.subscribeAsync(`${t}/ret`, { qos: 1 });
        const [m] = await sub.messages(1);
        assert.deepEqual(
          [m.topic, m.payload, m.packet.qos, m.packet.retain],
          [`${t}/ret`, "kept", 1, true],
        );
        // Clear it: an empty retained message deletes the retained one [MQTT-3.3.1-6].
        await pub.client.publishAsync(`${t}/ret`, "", { qos: 1, retain: true });
        const sub2 = await connect(url(), { protocolVersion, clientId: id("rsub2") });
        await sub2.client.subscribeAsync(`${t}/ret`, { qos: 1 });
        await pub.client.publishAsync(`${t}/ret`, "live", { qos: 1 });
        const [live] = await sub2.messages(1);
        assert.deepEqual([live.payload, live.packet.retain], ["live", false]);
        await Promise.all([end(pub), end(sub), end(sub2)]);
      });

      it(`${label}: a connection dropped without DISCONNECT has its will published`, async () => {
        const watcher = await connect(url(), { protocolVersion, clientId: id("wwatch") });
        await watcher.client.subscribeAsync(`${t}/will`, { qos: 1 });
        const doomed = await connect(url(), {
          protocolVersion,
          clientId: id("wdoomed"),
          will: {
            topic: `${t}/will`,
            payload: Buffer.from("gone"),
            qos: 1,
            retain: false,
            ...(protocolVersion === 5 ? { properties: { userProperties: { why: "test" } } } : {}),
          },
        });
        await drop(doomed);
        const [m] = await watcher.messages(1);
        assert.deepEqual([m.topic, m.payload, m.packet.qos], [`${t}/will`, "gone", 1]);
        if (protocolVersion === 5)
          assert.deepEqual({ ...m.packet.properties?.userProperties }, { why: "test" });
        // A normal DISCONNECT discards the will [MQTT-3.1.2-10].
        const polite = await connect(url(), {
          protocolVersion,
          clientId: id("wpolite"),
          will: { topic: `${t}/will`, payload: Buffer.from("should not"), qos: 1, retain: false },
        });
        await end(polite);
        await watcher.client.publishAsync(`${t}/will`, "marker", { qos: 1 });
        const got = await watcher.messages(2);
        assert.deepEqual(
          got.map((x) => x.payload),
          ["gone", "marker"],
        );
        await end(watcher);
      });

      it(`${label}: a persistent session resumes with the messages queued while away`, async () => {
        const session =
          protocolVersion === 5
            ? { clean: false, properties: { sessionExpiryInterval: 300 } }
            : { clean: false };
        const first = await connect(url(), {
          protocolVersion,
          clientId: id("persist"),
          ...session,
        });
        assert.equal(first.connack.sessionPresent, false);
        await first.client.subscribeAsync(`${t}/persist`, { qos: 2 });
        await end(first);
        const pub = await connect(url(), { protocolVersion, clientId: id("ppub") });
        await pub.client.publishAsync(`${t}/persist`, "q1", { qos: 1 });
        await pub.client.publishAsync(`${t}/persist`, "q2", { qos: 2 });
        await pub.client.publishAsync(`${t}/persist`, "q0 dropped", { qos: 0 });
        await pub.client.publishAsync(`${t}/persist`, "q1 again", { qos: 1 });
        const back = await connect(url(), { protocolVersion, clientId: id("persist"), ...session });
        assert.equal(back.connack.sessionPresent, true);
        await back.messages(3);
        // Sent in the order published [MQTT-4.6.0-6].
        assert.deepEqual(
          back.wire.slice(0, 3).map((p) => [p.payload.toString(), p.qos]),
          [
            ["q1", 1],
            ["q2", 2],
            ["q1 again", 1],
          ],
        );
        // Live messages keep flowing on the resumed subscription (no re-SUBSCRIBE).
        await pub.client.publishAsync(`${t}/persist`, "live", { qos: 1 });
        assert.equal((await back.messages(4))[3].payload, "live");
        // QoS 0 messages are not queued for an offline session (queueQos0 off by default).
        assert.ok(!back.received.some((m) => m.payload === "q0 dropped"));
        await Promise.all([end(back), end(pub)]);
        // A clean start ends the session.
        const clean = await connect(url(), {
          protocolVersion,
          clientId: id("persist"),
          clean: true,
        });
        assert.equal(clean.connack.sessionPresent, false);
        await end(clean);
      });

      it(`${label}: on session resume, unacknowledged PUBREL and PUBLISH are re-sent in order`, async () => {
        const session =
          protocolVersion === 5
            ? { clean: false, properties: { sessionExpiryInterval: 300 } }
            : { clean: false };
        const mute = await connect(url(), {
          protocolVersion,
          clientId: id("redeliver"),
          ...session,
        });
        // MQTT.js holds the PUBACK / PUBCOMP until handleMessage calls back: never do.
        mute.client.handleMessage = () => {};
        const controls: string[] = [];
        mute.client.on("packetreceive", (p) => controls.push(`in ${p.cmd}`));
        mute.client.on("packetsend", (p) => controls.push(`out ${p.cmd}`));
        await mute.client.subscribeAsync(`${t}/redeliver`, { qos: 2 });
        const pub = await connect(url(), { protocolVersion, clientId: id("redeliver-pub") });
        // r2 gets as far as PUBREL (the client sent PUBREC), r1 is never acknowledged.
        await pub.client.publishAsync(`${t}/redeliver`, "r2", { qos: 2 });
        await waitFor(
          () => controls.includes("in pubrel"),
          "PUBREL to the first connection",
          TIMEOUT_MS,
        );
        await pub.client.publishAsync(`${t}/redeliver`, "r1", { qos: 1 });
        await sleep(20); // let r1 reach the wire
        assert.ok(
          !controls.includes("out pubcomp") && !controls.includes("out puback"),
          controls.join(),
        );
        await drop(mute);
        const back = mqtt.connect(url(), {
          protocolVersion,
          clientId: id("redeliver"),
          reconnectPeriod: 0,
          ...session,
        });
        open.add(back);
        const seen: string[] = [];
        back.on("packetreceive", (p) => {
          if (p.cmd === "publish") seen.push(`publish ${p.payload.toString()} dup=${p.dup}`);
          else if (p.cmd === "pubrel") seen.push("pubrel");
          else if (p.cmd === "connack") seen.push(`connack sp=${p.sessionPresent}`);
        });
        await waitFor(() => seen.length >= 3, "the resumed session's re-sends", TIMEOUT_MS);
        await sleep(50);
        // [MQTT-4.4.0-1]: PUBREL re-sent for r2, r1 re-sent with DUP=1 [MQTT-3.3.1-1], in order
        // [MQTT-4.6.0-1], [MQTT-4.6.0-2]; r2 is not sent again as a PUBLISH.
        assert.deepEqual(seen, ["connack sp=true", "pubrel", "publish r1 dup=true"]);
        await Promise.all([deadline(back.endAsync(), "client.end"), end(pub)]);
      });

      if (protocolVersion === 4) continue;

      it(`${label}: user properties and request/response (Response Topic, Correlation Data)`, async () => {
        const responder = await connect(url(), { protocolVersion, clientId: id("responder") });
        responder.client.on("message", (topic, payload, packet) => {
          const p = packet.properties;
          if (topic !== `${t}/rr/request` || p?.responseTopic === undefined) return;
          responder.client.publish(p.responseTopic, `re: ${payload.toString()}`, {
            qos: 1,
            properties: {
              correlationData: p.correlationData,
              userProperties: { handledBy: "responder", ...p.userProperties },
            },
          });
        });
        await responder.client.subscribeAsync(`${t}/rr/request`, { qos: 1 });
        const requester = await connect(url(), {
          protocolVersion,
          clientId: id("requester"),
          properties: { requestResponseInformation: true },
        });
        // The broker answers Request Response Information with its Response Information.
        assert.equal(requester.connack.properties?.responseInformation, "responses/");
        await requester.client.subscribeAsync(`${t}/rr/reply`, { qos: 1 });
        await requester.client.publishAsync(`${t}/rr/request`, "ping", {
          qos: 1,
          properties: {
            responseTopic: `${t}/rr/reply`,
            correlationData: Buffer.from([0, 1, 2, 255]),
            userProperties: { a: "1", multi: ["x", "y"] },
            contentType: "text/plain",
          },
        });
        const [reply] = await requester.messages(1);
        assert.equal(reply.topic, `${t}/rr/reply`);
        assert.equal(reply.payload, "re: ping");
        assert.deepEqual([...(reply.packet.properties?.correlationData ?? [])], [0, 1, 2, 255]);
        // Repeated keys survive the broker in order [MQTT-3.3.2-18].
        assert.deepEqual(
          { ...reply.packet.properties?.userProperties },
          {
            handledBy: "responder",
            a: "1",
            multi: ["x", "y"],
          },
        );
        const [request] = responder.received;
        assert.equal(request.packet.properties?.contentType, "text/plain");
        await Promise.all([end(responder), end(requester)]);
      });

      it(`${label}: subscription identifiers come back with each matching message`, async () => {
        const sub = await connect(url(), { protocolVersion, clientId: id("subid") });
        await sub.client.subscribeAsync(`${t}/sid/+`, {
          qos: 1,
          properties: { subscriptionIdentifier: 7 },
        });
        await sub.client.subscribeAsync(`${t}/sid/b`, {
          qos: 1,
          properties: { subscriptionIdentifier: 300 },
        });
        await sub.client.subscribeAsync(`${t}/sid/#`, { qos: 0 });
        const pub = await connect(url(), { protocolVersion, clientId: id("subidpub") });
        await pub.client.publishAsync(`${t}/sid/a`, "a", { qos: 1 });
        await pub.client.publishAsync(`${t}/sid/b`, "b", { qos: 1 });
        const [a, b] = await sub.messages(2);
        // One message per session whatever the number of matching subscriptions [MQTT-3.3.4-2].
        assert.deepEqual(
          [a.topic, a.packet.qos, a.packet.properties?.subscriptionIdentifier],
          [`${t}/sid/a`, 1, 7],
        );
        const ids = b.packet.properties?.subscriptionIdentifier;
        assert.deepEqual([b.topic, b.packet.qos], [`${t}/sid/b`, 1]);
        assert.deepEqual(
          (Array.isArray(ids) ? ids : [ids]).sort((x, y) => (x ?? 0) - (y ?? 0)),
          [7, 300],
        );
        await sleep(50);
        assert.equal(sub.received.length, 2);
        await Promise.all([end(sub), end(pub)]);
      });

      it(`${label}: client-to-broker topic aliases (autoAssignTopicAlias), LRU reuse past the maximum`, async () => {
        // A broker with room for 2 aliases, so 3 topics force MQTT.js to re-map one.
        const small = await startBroker({ limits: { topicAliasMaximum: 2 } });
        try {
          const smallUrl = small.url(transport);
          const sub = await connect(smallUrl, {
            protocolVersion,
            clientId: id("alias-sub"),
            properties: { topicAliasMaximum: 10 },
          });
          await sub.client.subscribeAsync(`${t}/alias/#`, { qos: 1 });
          const pub = await connect(smallUrl, {
            protocolVersion,
            clientId: id("alias-pub"),
            autoAssignTopicAlias: true,
          });
          assert.equal(pub.connack.properties?.topicAliasMaximum, 2);
          const sent: { topic: string; alias: unknown }[] = [];
          pub.client.on("packetsend", (p) => {
            if (p.cmd === "publish")
              sent.push({ topic: p.topic.toString(), alias: p.properties?.topicAlias });
          });
          const topics = ["x", "y", "x", "z", "x", "y", "y"].map((s) => `${t}/alias/${s}`);
          for (const [i, topic] of topics.entries())
            await pub.client.publishAsync(topic, `n${i}`, { qos: 1 });
          const got = await sub.messages(topics.length);
          assert.deepEqual(
            got.map((m) => [m.topic, m.payload]),
            topics.map((topic, i) => [topic, `n${i}`]),
          );
          // MQTT.js did send alias-only publishes, so the broker resolved them.
          assert.ok(
            sent.some((s) => s.topic === "" && typeof s.alias === "number"),
            JSON.stringify(sent),
          );
          assert.ok(sent.every((s) => typeof s.alias === "number" && s.alias >= 1 && s.alias <= 2));
          // ...and re-bound an alias to another topic, which the broker honoured.
          const bound = new Map<unknown, Set<string>>();
          for (const s of sent.filter((x) => x.topic !== ""))
            bound.set(s.alias, (bound.get(s.alias) ?? new Set()).add(s.topic));
          assert.ok(
            [...bound.values()].some((topicsOfAlias) => topicsOfAlias.size > 1),
            JSON.stringify(sent),
          );
          await Promise.all([end(sub), end(pub)]);
        } finally {
          for (const c of open) c.end(true);
          await small.close();
        }
      });

      it(`${label}: explicit topic alias set once then used with an empty topic`, async () => {
        const sub = await connect(url(), { protocolVersion, clientId: id("ealias-sub") });
        await sub.client.subscribeAsync(`${t}/ealias`, { qos: 1 });
        const pub = await connect(url(), { protocolVersion, clientId: id("ealias-pub") });
        await pub.client.publishAsync(`${t}/ealias`, "set", {
          qos: 1,
          properties: { topicAlias: 5 },
        });
        await pub.client.publishAsync("", "use", { qos: 1, properties: { topicAlias: 5 } });
        const got = await sub.messages(2);
        assert.deepEqual(
          got.map((m) => [m.topic, m.payload]),
          [
            [`${t}/ealias`, "set"],
            [`${t}/ealias`, "use"],
          ],
        );
        // The alias property is not forwarded to subscribers [MQTT-3.3.2-?]: it is per connection.
        assert.equal(got[0].packet.properties?.topicAlias, undefined);
        await Promise.all([end(sub), end(pub)]);
      });
    }
  }

  it("tcp v5.0: Receive Maximum 2: 60 QoS 1/2 messages arrive in order", async () => {
    const sub = await connect(broker.url("tcp"), {
      protocolVersion: 5,
      clientId: "recvmax",
      properties: { receiveMaximum: 2 },
    });
    await sub.client.subscribeAsync("js/recvmax", { qos: 2 });
    const pub = await connect(broker.url("tcp"), { protocolVersion: 5, clientId: "recvmax-pub" });
    const sent = Array.from({ length: 60 }, (_, i) => `n${i}`);
    await Promise.all(
      sent.map((p, i) => pub.client.publishAsync("js/recvmax", p, { qos: i % 2 === 0 ? 1 : 2 })),
    );
    await sub.messages(60);
    assert.deepEqual(
      sub.wire.map((p) => [p.payload.toString(), p.qos]),
      sent.map((p, i) => [p, i % 2 === 0 ? 1 : 2]),
    );
    await Promise.all([end(sub), end(pub)]);
  });

  it("tcp v5.0: subscription options No Local, Retain As Published, Retain Handling", async () => {
    const url = broker.url("tcp");
    const c = await connect(url, { protocolVersion: 5, clientId: "subopts" });
    // No Local: the client's own message is not sent back to it [MQTT-3.8.3-3].
    await c.client.subscribeAsync("js/opts/nl", { qos: 1, nl: true });
    await c.client.subscribeAsync("js/opts/marker", { qos: 1 });
    await c.client.publishAsync("js/opts/nl", "own", { qos: 1 });
    await c.client.publishAsync("js/opts/marker", "marker", { qos: 1 });
    assert.deepEqual(
      (await c.messages(1)).map((m) => m.payload),
      ["marker"],
    );
    // Retain As Published: a live retained message keeps its flag only for rap subscriptions.
    const rap = await connect(url, { protocolVersion: 5, clientId: "subopts-rap" });
    await rap.client.subscribeAsync("js/opts/rap", { qos: 1, rap: true });
    const plain = await connect(url, { protocolVersion: 5, clientId: "subopts-plain" });
    await plain.client.subscribeAsync("js/opts/rap", { qos: 1 });
    await c.client.publishAsync("js/opts/rap", "r", { qos: 1, retain: true });
    assert.equal((await rap.messages(1))[0].packet.retain, true);
    assert.equal((await plain.messages(1))[0].packet.retain, false);
    // Retain Handling: 0 sends retained messages on every SUBSCRIBE, 1 only on a new
    // subscription, 2 never [MQTT-3.3.1-9], [MQTT-3.3.1-10], [MQTT-3.3.1-11].
    const rh = await connect(url, { protocolVersion: 5, clientId: "subopts-rh" });
    await rh.client.subscribeAsync("js/opts/rap", { qos: 1, rh: 2 });
    await rh.client.subscribeAsync("js/opts/+", { qos: 1, rh: 1 });
    await rh.client.subscribeAsync("js/opts/+", { qos: 1, rh: 1 });
    await rh.client.subscribeAsync("js/opts/#", { qos: 1, rh: 0 });
    await rh.client.subscribeAsync("js/opts/#", { qos: 1, rh: 0 });
    await rh.client.publishAsync("js/opts/marker", "end", { qos: 1 });
    const got = await rh.messages(4);
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload, m.packet.retain]),
      [
        ["js/opts/rap", "r", true],
        ["js/opts/rap", "r", true],
        ["js/opts/rap", "r", true],
        ["js/opts/marker", "end", false],
      ],
    );
    await c.client.publishAsync("js/opts/rap", "", { qos: 1, retain: true });
    await Promise.all([end(c), end(rap), end(plain), end(rh)]);
  });

  it("tcp and ws v5.0: a shared subscription spreads messages over its members, once each", async () => {
    const a = await connect(broker.url("tcp"), { protocolVersion: 5, clientId: "share-a" });
    const b = await connect(broker.url("ws"), { protocolVersion: 5, clientId: "share-b" });
    await a.client.subscribeAsync("$share/g/js/share/#", { qos: 1 });
    await b.client.subscribeAsync("$share/g/js/share/#", { qos: 1 });
    const pub = await connect(broker.url("tcp"), { protocolVersion: 5, clientId: "share-pub" });
    for (let i = 0; i < 20; i++)
      await pub.client.publishAsync(`js/share/${i}`, `s${i}`, { qos: 1 });
    await waitFor(
      () => a.received.length + b.received.length >= 20,
      "20 shared messages",
      TIMEOUT_MS,
    );
    await sleep(50);
    const all = [...a.received, ...b.received].map((m) => m.payload).sort();
    assert.deepEqual(all, Array.from({ length: 20 }, (_, i) => `s${i}`).sort());
    assert.ok(a.received.length > 0 && b.received.length > 0, "both members got messages");
    await Promise.all([end(a), end(b), end(pub)]);
  });

  it("tcp v5.0: a second connection with the same client id takes over (DISCONNECT 0x8E)", async () => {
    const first = await connect(broker.url("tcp"), { protocolVersion: 5, clientId: "takeover" });
    const disconnected = new Promise<number | undefined>((r) =>
      first.client.once("disconnect", (p) => r(p.reasonCode)),
    );
    const second = await connect(broker.url("ws"), { protocolVersion: 5, clientId: "takeover" });
    assert.equal(await deadline(disconnected, "DISCONNECT to the first connection"), 0x8e);
    await end(second);
  });

  it("tcp and ws v5.0: closing the broker sends DISCONNECT 0x8B Server shutting down", async () => {
    const doomed = await startBroker();
    try {
      const clients = await Promise.all(
        (["tcp", "ws"] as const).map((tr) =>
          connect(doomed.url(tr), { protocolVersion: 5, clientId: `shutdown-${tr}` }),
        ),
      );
      const codes = Promise.all(
        clients.map(
          (c) =>
            new Promise<number | undefined>((r) =>
              c.client.once("disconnect", (p) => r(p.reasonCode)),
            ),
        ),
      );
      await doomed.close();
      assert.deepEqual(await deadline(codes, "DISCONNECT from a closing broker"), [0x8b, 0x8b]);
    } finally {
      await doomed.close();
    }
  });

  it("tcp v5.0: a session with a short Session Expiry Interval is gone after it expires", async () => {
    const opts = {
      protocolVersion: 5 as const,
      clientId: "expiring",
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    };
    const first = await connect(broker.url("tcp"), opts);
    await first.client.subscribeAsync("js/expiring", { qos: 1 });
    await end(first);
    assert.ok(broker.core.sessions.has("expiring"), "session kept after DISCONNECT");
    await waitFor(() => !broker.core.sessions.has("expiring"), "session to expire", TIMEOUT_MS);
    const back = await connect(broker.url("tcp"), opts);
    assert.equal(back.connack.sessionPresent, false);
    await end(back);
  });

  for (const [transport] of transports) {
    // Over WebSocket MQTT.js asks for the "mqttv3.1" subprotocol for 3.1.
    it(`${transport} v3.1 (MQIsdp): QoS 1 and 2 round trip`, async () => {
      const opts = { protocolVersion: 3 as const, protocolId: "MQIsdp" as const };
      const url = broker.url(transport);
      const sub = await connect(url, { ...opts, clientId: `v31-sub-${transport}` });
      await sub.client.subscribeAsync(`js/31/${transport}/#`, { qos: 2 });
      const pub = await connect(url, { ...opts, clientId: `v31-pub-${transport}` });
      await pub.client.publishAsync(`js/31/${transport}/a`, "one", { qos: 1 });
      await pub.client.publishAsync(`js/31/${transport}/b`, "two", { qos: 2 });
      const got = await sub.messages(2);
      assert.deepEqual(
        got.map((m) => [m.topic, m.payload, m.packet.qos]),
        [
          [`js/31/${transport}/a`, "one", 1],
          [`js/31/${transport}/b`, "two", 2],
        ],
      );
      await Promise.all([end(sub), end(pub)]);
    });
  }

  it("tcp v3.1.1 and ws v5.0: PINGREQ is answered (keepalive 1 s)", async () => {
    const clients = await Promise.all(
      (["tcp", "ws"] as const).map((tr, i) =>
        connect(broker.url(tr), {
          protocolVersion: i === 0 ? 4 : 5,
          clientId: `ping-${tr}`,
          keepalive: 1,
        }),
      ),
    );
    const pongs = clients.map((c) => {
      let n = 0;
      c.client.on("packetreceive", (p) => {
        if (p.cmd === "pingresp") n++;
      });
      return () => n;
    });
    await waitFor(() => pongs.every((n) => n() >= 1), "a PINGRESP on each connection", TIMEOUT_MS);
    assert.ok(clients.every((c) => c.client.connected));
    await Promise.all(clients.map(end));
  });
});
