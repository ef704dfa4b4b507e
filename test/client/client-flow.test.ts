/**
 * Client flow control, checked on the wire against a scripted broker: the
 * broker's Receive Maximum (§3.3.4, §4.9), Maximum Packet Size (§3.2.2.3.6),
 * Topic Alias Maximum (§3.3.2.3.4), the bounded offline queue and its
 * overflow policies, Message Expiry while queued (§3.3.2.3.3), operation
 * timeouts and AbortSignal, subscription backpressure, and SUBACK refusals.
 *
 * The scripted broker is test/helpers/fake-broker.ts: it
 * answers CONNECT as each test says and, unless told otherwise, acknowledges
 * like a broker would, so each test controls exactly what the client sees.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { type Client, type ConnectOptions, connect } from "../../src/client/index.js";
import { nodeTransport } from "../../src/client/transport/node-any.js";
import type { Transport, TransportFactory } from "../../src/client/transport/types.js";
import {
  AbortError,
  MqttError,
  type Packet,
  type Properties,
  type PublishPacket,
  RefusedError,
  TimeoutError,
} from "../../src/protocol/index.js";
import { FakeBroker, type FakeConnection, type FakeOptions } from "../helpers/fake-broker.js";
import { waitFor } from "../helpers/programs.js";

// ---- Transport helpers ---------------------------------------------------------

/** Holds new connections while closed, so a test can keep a client offline between reconnects. */
class Gate {
  #open: Promise<void> = Promise.resolve();
  #release: () => void = () => {};

  readonly factory: TransportFactory = async (url, options) => {
    await this.#open;
    return nodeTransport(url, options);
  };

  hold(): void {
    this.#open = new Promise((r) => {
      this.#release = r;
    });
  }

  open(): void {
    this.#release();
  }
}

/** Counts what the client asks of its transport (pause/resume). */
function counting(counts: { pauses: number; resumes: number }): TransportFactory {
  return async (url, options) => {
    const inner = await nodeTransport(url, options);
    const outer: Transport = {
      write: (b) => inner.write(b),
      get bufferedAmount() {
        return inner.bufferedAmount;
      },
      pause: () => {
        counts.pauses++;
        inner.pause();
      },
      resume: () => {
        counts.resumes++;
        inner.resume();
      },
      close: () => inner.close(),
      onData: () => {},
      onClose: () => {},
      onDrain: () => {},
    };
    inner.onData = (c) => outer.onData(c);
    inner.onClose = (e) => outer.onClose(e);
    inner.onDrain = () => outer.onDrain();
    return outer;
  };
}

// ---- Fixtures ------------------------------------------------------------------

const fakes: FakeBroker[] = [];
const clients: Client[] = [];
const gates: Gate[] = [];

afterEach(async () => {
  for (const g of gates.splice(0)) g.open();
  await Promise.all(clients.splice(0).map((c) => c.end({ force: true })));
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function fakeBroker(opts: FakeOptions = {}): Promise<FakeBroker> {
  const f = await FakeBroker.start(opts);
  fakes.push(f);
  return f;
}

/** A v5 CONNACK script: accepted, with these properties. */
const accept =
  (properties: Properties, sessionPresent = false) =>
  () => ({ sessionPresent, reasonCode: 0, properties });

async function client(url: string, options: ConnectOptions = {}): Promise<Client> {
  const c = await connect(url, {
    connectTimeout: 2000,
    keepalive: 0,
    reconnect: false,
    ...options,
  });
  clients.push(c);
  return c;
}

/**
 * A client connected to `fake` whose reconnects wait for the returned gate:
 * `offline()` drops the connection and holds the gate, so publishes queue.
 */
async function reconnectingClient(fake: FakeBroker, options: ConnectOptions = {}) {
  const gate = new Gate();
  gates.push(gate);
  const c = await client(fake.url, {
    transport: gate.factory,
    reconnect: { initialDelay: 1, random: () => 0 },
    ...options,
  });
  let n = fake.connections.length - 1;
  return {
    client: c,
    gate,
    async offline() {
      gate.hold();
      (await fake.connection(n)).drop();
      await waitFor(() => !c.connected, "the client to notice the lost connection", 2000);
    },
    async online(): Promise<FakeConnection> {
      gate.open();
      const conn = await fake.connection(++n);
      await waitFor(() => c.connected, "the client to reconnect", 2000);
      return conn;
    },
  };
}

const isCode = (code: string) => (err: unknown) => err instanceof MqttError && err.code === code;
const refused = (reasonCode: number) => (err: unknown) =>
  err instanceof RefusedError && err.reasonCode === reasonCode;
const texts = (ps: PublishPacket[]) => ps.map((p) => new TextDecoder().decode(p.payload));

// ---- Receive Maximum -----------------------------------------------------------

describe("client flow: the broker's Receive Maximum", () => {
  it("[MQTT-3.3.4-7] never more unacknowledged QoS 1/2 PUBLISH than Receive Maximum 2; the rest flow as acks come", async () => {
    const fake = await fakeBroker({ connack: accept({ receiveMaximum: 2 }), autoAck: false });
    const c = await client(fake.url);
    const conn = await fake.connection(0);
    // Unacknowledged = sent, and not yet PUBACK'd / PUBCOMP'd by the broker (PUBREC does not free a slot).
    let unacked = 0;
    let peak = 0;
    const sent = () => {
      unacked++;
      peak = Math.max(peak, unacked);
    };
    const ack = (p: Packet) => {
      unacked--;
      conn.send(p);
    };
    const results = [
      c.publish("rm/a", "a", { qos: 1 }),
      c.publish("rm/b", "b", { qos: 2 }),
      c.publish("rm/c", "c", { qos: 1 }),
      c.publish("rm/d", "d", { qos: 1 }),
      c.publish("rm/e", "e", { qos: 2 }),
    ];
    const a = await conn.take("publish");
    sent();
    const b = await conn.take("publish");
    sent();
    assert.ok(await conn.quiet("publish"), "a third PUBLISH was sent with two unacknowledged");

    // [MQTT-3.3.4-8] other packets are not held back by a full window.
    const subscribing = c.subscribe("rm/replies", { qos: 1 });
    const subscribe = await conn.take("subscribe");
    conn.send({ type: "suback", packetId: subscribe.packetId, reasonCodes: [1] });
    await subscribing;

    ack({ type: "puback", packetId: a.packetId as number });
    const cc = await conn.take("publish");
    sent();
    conn.send({ type: "pubrec", packetId: b.packetId as number });
    assert.equal((await conn.take("pubrel")).packetId, b.packetId);
    assert.ok(await conn.quiet("publish"), "PUBREC freed a slot: QoS 2 counts until PUBCOMP");
    ack({ type: "pubcomp", packetId: b.packetId as number });
    const d = await conn.take("publish");
    sent();
    ack({ type: "puback", packetId: cc.packetId as number });
    const e = await conn.take("publish");
    sent();
    ack({ type: "puback", packetId: d.packetId as number });
    conn.send({ type: "pubrec", packetId: e.packetId as number });
    await conn.take("pubrel");
    ack({ type: "pubcomp", packetId: e.packetId as number });

    const settled = await Promise.all(results);
    assert.deepEqual(
      settled.map((r) => r.reasonCode),
      [0, 0, 0, 0, 0],
    );
    assert.deepEqual(texts(conn.publishes), ["a", "b", "c", "d", "e"], "publication order kept");
    assert.ok(peak <= 2, `peak of ${peak} unacknowledged PUBLISH packets`);
    assert.equal(peak, 2);
  });

  it("QoS 0 is not held back by a full Receive Maximum window", async () => {
    const fake = await fakeBroker({ connack: accept({ receiveMaximum: 1 }), autoAck: false });
    const c = await client(fake.url);
    const conn = await fake.connection(0);
    const first = c.publish("rm0/a", "a", { qos: 1 });
    await conn.take("publish");
    await c.publish("rm0/b", "b", { qos: 0 });
    const second = await conn.take("publish");
    assert.equal(second.qos, 0);
    conn.send({ type: "puback", packetId: conn.publishes[0].packetId as number });
    await first;
  });
});

// ---- Maximum Packet Size ---------------------------------------------------------

describe("client flow: the broker's Maximum Packet Size", () => {
  it("[MQTT-3.2.2-15] a PUBLISH larger than 100 bytes rejects with RefusedError 0x95 and nothing is written", async () => {
    // Receive Maximum 1 also checks that a refused QoS 1 publish does not keep its slot.
    const fake = await fakeBroker({
      connack: accept({ maximumPacketSize: 100, receiveMaximum: 1 }),
    });
    const c = await client(fake.url);
    const conn = await fake.connection(0);
    const big = "x".repeat(200);
    await assert.rejects(c.publish("mps/big", big, { qos: 1 }), refused(0x95));
    await assert.rejects(c.publish("mps/big", big, { qos: 0 }), refused(0x95));
    await assert.rejects(c.publish("mps/big", big, { qos: 2 }), refused(0x95));
    assert.ok(await conn.quiet("publish"), "an oversize PUBLISH reached the wire");
    const r = await c.publish("mps/small", "fits", { qos: 1 });
    assert.equal(r.reasonCode, 0);
    assert.deepEqual(texts(conn.publishes), ["fits"]);
    await c.publish("mps/small2", "fits too", { qos: 1 });
    assert.equal(conn.publishes.length, 2);
  });

  it("§3.3.2.3.4 a refused oversize PUBLISH does not leave behind a Topic Alias the broker never saw", async () => {
    const fake = await fakeBroker({
      connack: accept({ maximumPacketSize: 100, topicAliasMaximum: 2 }),
    });
    const c = await client(fake.url);
    const conn = await fake.connection(0);
    await assert.rejects(c.publish("mps/alias", "x".repeat(200), { qos: 1 }), refused(0x95));
    await c.publish("mps/alias", "small", { qos: 1 });
    await c.publish("mps/alias", "again", { qos: 1 });
    assert.deepEqual(conn.violations, []);
    assert.deepEqual(conn.topics, ["mps/alias", "mps/alias"]);
    assert.equal(
      conn.publishes[0].topic,
      "mps/alias",
      "the first PUBLISH on the wire must carry the topic",
    );
  });
});

// ---- Topic aliases -----------------------------------------------------------

describe("client flow: automatic topic aliases", () => {
  it("[MQTT-3.2.2-17] with Topic Alias Maximum 2: aliases 1 and 2 set, then reused with an empty topic; a third topic goes in full", async () => {
    const fake = await fakeBroker({ connack: accept({ topicAliasMaximum: 2 }) });
    const { client: c, offline, online } = await reconnectingClient(fake);
    const conn = await fake.connection(0);
    const topics = ["ta/1", "ta/1", "ta/2", "ta/2", "ta/3", "ta/1", "ta/3"];
    for (const [i, t] of topics.entries())
      await c.publish(t, `m${i}`, { qos: (i % 3) as 0 | 1 | 2 });
    // QoS 0 resolves once written: wait for the last one to arrive.
    await waitFor(() => conn.publishes.length === topics.length, "every PUBLISH", 2000);
    const wire = conn.publishes.map((p) => [p.topic, p.properties?.topicAlias]);
    assert.deepEqual(wire, [
      ["ta/1", 1],
      ["", 1],
      ["ta/2", 2],
      ["", 2],
      ["ta/3", undefined],
      ["", 1],
      ["ta/3", undefined],
    ]);
    assert.deepEqual(conn.topics, topics, "the broker resolves every alias to the published topic");
    assert.deepEqual(conn.violations, []);

    // Aliases belong to one network connection [MQTT-3.3.2-7]: a new one starts over.
    await offline();
    const conn2 = await online();
    await c.publish("ta/2", "after", { qos: 1 });
    assert.deepEqual(
      conn2.publishes.map((p) => [p.topic, p.properties?.topicAlias]),
      [["ta/2", 1]],
    );
  });

  it("no Topic Alias without a Topic Alias Maximum in CONNACK, with autoTopicAlias false, or in 3.1.1", async () => {
    const none = await fakeBroker();
    const c1 = await client(none.url);
    const optOut = await fakeBroker({ connack: accept({ topicAliasMaximum: 5 }) });
    const c2 = await client(optOut.url, { autoTopicAlias: false });
    const v4 = await fakeBroker({ connack: () => ({ sessionPresent: false, reasonCode: 0 }) });
    const c3 = await client(v4.url, { protocolVersion: 4 });
    for (const c of [c1, c2, c3]) {
      await c.publish("na/t", "1", { qos: 1 });
      await c.publish("na/t", "2", { qos: 1 });
    }
    for (const f of [none, optOut, v4]) {
      const conn = await f.connection(0);
      assert.deepEqual(
        conn.publishes.map((p) => [p.topic, p.properties?.topicAlias]),
        [
          ["na/t", undefined],
          ["na/t", undefined],
        ],
      );
    }
  });
});

// ---- Offline queue -------------------------------------------------------------

describe("client flow: the offline queue", () => {
  it("overflow reject: beyond maxMessages a publish rejects with QUEUE_FULL; the queued ones go out in order on reconnect", async () => {
    const fake = await fakeBroker();
    const {
      client: c,
      offline,
      online,
    } = await reconnectingClient(fake, {
      offlineQueue: { maxMessages: 3 },
    });
    await offline();
    const queued = [
      c.publish("oq/a", "a", { qos: 1 }),
      c.publish("oq/b", "b", { qos: 0 }),
      c.publish("oq/c", "c", { qos: 2 }),
    ];
    await assert.rejects(c.publish("oq/d", "d", { qos: 1 }), isCode("QUEUE_FULL"));
    await assert.rejects(c.publish("oq/e", "e", { qos: 0 }), isCode("QUEUE_FULL"));
    const conn = await online();
    await Promise.all(queued);
    assert.deepEqual(texts(conn.publishes), ["a", "b", "c"]);
  });

  it("overflow reject: maxBytes bounds the queued payload bytes", async () => {
    const fake = await fakeBroker();
    const {
      client: c,
      offline,
      online,
    } = await reconnectingClient(fake, {
      offlineQueue: { maxBytes: 10 },
    });
    await offline();
    const first = c.publish("oq/bytes", "123456", { qos: 1 });
    await assert.rejects(c.publish("oq/bytes", "1234567", { qos: 1 }), isCode("QUEUE_FULL"));
    const second = c.publish("oq/bytes", "1234", { qos: 0 });
    await assert.rejects(c.publish("oq/bytes", "1", { qos: 2 }), isCode("QUEUE_FULL"));
    const conn = await online();
    await Promise.all([first, second]);
    assert.deepEqual(texts(conn.publishes), ["123456", "1234"]);
  });

  it("overflow drop-oldest: the oldest queued publish rejects with QUEUE_FULL to make room", async () => {
    const fake = await fakeBroker();
    const {
      client: c,
      offline,
      online,
    } = await reconnectingClient(fake, {
      offlineQueue: { maxMessages: 2, overflow: "drop-oldest" },
    });
    await offline();
    const a = c.publish("oq/a", "a", { qos: 1 });
    const b = c.publish("oq/b", "b", { qos: 0 });
    const cc = c.publish("oq/c", "c", { qos: 1 });
    await assert.rejects(a, isCode("QUEUE_FULL"));
    const d = c.publish("oq/d", "d", { qos: 2 });
    await assert.rejects(b, isCode("QUEUE_FULL"));
    const conn = await online();
    await Promise.all([cc, d]);
    assert.deepEqual(texts(conn.publishes), ["c", "d"]);
  });
});

// ---- Message expiry while queued ---------------------------------------------------

describe("client flow: Message Expiry while queued (§3.3.2.3.3)", () => {
  it("an expired queued message rejects with EXPIRED and is not sent; the others carry the remaining interval", async (t) => {
    const fake = await fakeBroker();
    const { client: c, offline, online } = await reconnectingClient(fake);
    await offline();
    t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
    const short = assert.rejects(
      c.publish("exp/short", "short", { qos: 1, properties: { messageExpiryInterval: 1 } }),
      isCode("EXPIRED"),
    );
    const long = c.publish("exp/long", "long", {
      qos: 1,
      properties: { messageExpiryInterval: 30 },
    });
    const q0 = c.publish("exp/q0", "q0", { qos: 0, properties: { messageExpiryInterval: 2 } });
    const none = c.publish("exp/none", "none", { qos: 2 });
    t.mock.timers.tick(1500);
    const conn = await online();
    await short;
    await Promise.all([long, q0, none]);
    assert.deepEqual(
      conn.publishes.map((p) => [p.topic, p.properties?.messageExpiryInterval]),
      [
        ["exp/long", 29],
        ["exp/q0", 1],
        ["exp/none", undefined],
      ],
    );
  });

  it("a message re-sent on a new connection carries the time waited since publication, counted once", async (t) => {
    const fake = await fakeBroker({ autoAck: false });
    const { client: c, offline, online } = await reconnectingClient(fake);
    await offline();
    t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
    const result = c.publish("exp/resend", "m", {
      qos: 1,
      properties: { messageExpiryInterval: 10 },
    });
    t.mock.timers.tick(2000);
    const first = await online();
    assert.equal((await first.take("publish")).properties?.messageExpiryInterval, 8);
    t.mock.timers.tick(3000);
    // The broker loses the connection before PUBACK; no session: the message goes again, without DUP.
    await offline();
    const second = await online();
    const again = await second.take("publish");
    assert.equal(again.dup, false);
    assert.equal(
      again.properties?.messageExpiryInterval,
      5,
      "10 s minus the 5 s since publication",
    );
    second.send({ type: "puback", packetId: again.packetId as number });
    await result;
  });
});

// ---- Timeouts and AbortSignal --------------------------------------------------------

describe("client flow: operation timeout and AbortSignal", () => {
  it("an unacknowledged publish rejects with TimeoutError; a late PUBACK is ignored", async () => {
    const fake = await fakeBroker({ autoAck: false });
    const c = await client(fake.url);
    const conn = await fake.connection(0);
    await assert.rejects(c.publish("to/a", "a", { qos: 1, timeout: 100 }), TimeoutError);
    const p = await conn.take("publish");
    conn.send({ type: "puback", packetId: p.packetId as number });
    conn.autoAck = true;
    await c.publish("to/b", "b", { qos: 1 });
  });

  it("a queued publish that times out or is aborted rejects and is removed from the offline queue", async () => {
    const fake = await fakeBroker();
    const { client: c, offline, online } = await reconnectingClient(fake);
    await offline();
    const timedOut = c.publish("to/timeout", "t", { qos: 1, timeout: 50 });
    const ac = new AbortController();
    const aborted = c.publish("to/abort", "a", { qos: 2, signal: ac.signal });
    const kept = c.publish("to/kept", "k", { qos: 1 });
    await assert.rejects(
      c.publish("to/pre", "p", { qos: 1, signal: AbortSignal.abort() }),
      AbortError,
    );
    ac.abort();
    await assert.rejects(aborted, AbortError);
    await assert.rejects(timedOut, TimeoutError);
    const conn = await online();
    await kept;
    assert.deepEqual(texts(conn.publishes), ["k"]);
  });

  it("an aborted publish leaves no timer behind (the default 60 s operation timeout would hold the process)", async () => {
    const fake = await fakeBroker({ autoAck: false });
    const c = await client(fake.url);
    await fake.connection(0);
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timers();
    const ac = new AbortController();
    const p = c.publish("to/leak", "x", { qos: 1, signal: ac.signal });
    const s = c.subscribe("to/leak", { signal: ac.signal });
    ac.abort();
    await assert.rejects(p, AbortError);
    await assert.rejects(s, AbortError);
    assert.equal(timers(), before);
  });

  it("SUBSCRIBE and UNSUBSCRIBE without an answer reject with TimeoutError / AbortError", async () => {
    const fake = await fakeBroker({ autoAck: false });
    const c = await client(fake.url);
    const conn = await fake.connection(0);
    await assert.rejects(c.subscribe("to/sub", { timeout: 100 }), TimeoutError);
    await conn.take("subscribe");
    const ac = new AbortController();
    const unsubscribing = c.unsubscribe("to/sub", { signal: ac.signal });
    await conn.take("unsubscribe");
    ac.abort();
    await assert.rejects(unsubscribing, AbortError);
  });
});

// ---- Subscription backpressure ------------------------------------------------------

describe("client flow: subscription buffers", () => {
  const publish = (conn: FakeConnection, topic: string, from: number, to: number) => {
    for (let i = from; i < to; i++) {
      conn.send({
        type: "publish",
        topic,
        payload: new TextEncoder().encode(String(i)),
        qos: 0,
        retain: false,
        dup: false,
      });
    }
  };

  it("a slow for-await consumer pauses the transport; reading on resumes it; nothing is lost", async () => {
    const fake = await fakeBroker();
    const counts = { pauses: 0, resumes: 0 };
    const c = await client(fake.url, { transport: counting(counts) });
    const conn = await fake.connection(0);
    const sub = await c.subscribe("bp/#", { buffer: 4 });
    let events = 0;
    c.on("message", () => events++);

    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const got: string[] = [];
    const consumer = (async () => {
      for await (const msg of sub) {
        got.push(msg.text());
        if (got.length === 1) await released;
        if (got.length === 15) break;
      }
    })();

    publish(conn, "bp/x", 0, 10);
    // The 6th message overfills the buffer (1 handed to the consumer + 4 buffered).
    await waitFor(() => counts.pauses === 1, "a pause", 2000);
    assert.ok(events >= 6, `${events} messages before the pause`);
    assert.equal(counts.resumes, 0);
    // Paused: what the broker sends now stays in the socket.
    await new Promise((r) => setTimeout(r, 50));
    const seen = events;
    publish(conn, "bp/x", 10, 15);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(events, seen, "messages were read from a paused transport");

    release();
    await consumer;
    assert.ok(counts.resumes >= 1, "the transport was never resumed");
    assert.deepEqual(
      got,
      Array.from({ length: 15 }, (_, i) => String(i)),
    );
    assert.equal(sub.dropped, 0);
  });

  it("before anyone iterates, a full buffer keeps the newest messages (drop-oldest) and never pauses", async () => {
    const fake = await fakeBroker();
    const counts = { pauses: 0, resumes: 0 };
    const c = await client(fake.url, { transport: counting(counts) });
    const conn = await fake.connection(0);
    const sub = await c.subscribe("bp2/#", { buffer: 3 });
    let events = 0;
    c.on("message", () => events++);
    publish(conn, "bp2/x", 0, 10);
    await waitFor(() => events === 10, "10 messages", 2000);
    assert.equal(sub.dropped, 7);
    assert.equal(counts.pauses, 0);
    const got: string[] = [];
    for await (const msg of sub) {
      got.push(msg.text());
      if (got.length === 3) break;
    }
    assert.deepEqual(got, ["7", "8", "9"]);
  });
});

// ---- SUBACK refusals ----------------------------------------------------------------

describe("client flow: SUBACK refusals (§3.9.3)", () => {
  it("5.0: a refused filter rejects with RefusedError carrying its reason code; granted ones are unsubscribed again", async () => {
    const fake = await fakeBroker({ autoAck: false });
    const c = await client(fake.url);
    const conn = await fake.connection(0);
    const one = c.subscribe("deny/one", { qos: 1 });
    const s1 = await conn.take("subscribe");
    conn.send({ type: "suback", packetId: s1.packetId, reasonCodes: [0x87] });
    await assert.rejects(one, refused(0x87));

    const two = c.subscribe(["ok/a", "deny/b"], { qos: 1 });
    const s2 = await conn.take("subscribe");
    conn.send({ type: "suback", packetId: s2.packetId, reasonCodes: [1, 0x97] });
    await assert.rejects(two, refused(0x97));
    const unsub = await conn.take("unsubscribe");
    assert.deepEqual(unsub.topicFilters, ["ok/a"]);
  });

  it("3.1.1: SUBACK 0x80 rejects with RefusedError 0x80", async () => {
    const fake = await fakeBroker({
      autoAck: false,
      connack: () => ({ sessionPresent: false, reasonCode: 0 }),
    });
    const c = await client(fake.url, { protocolVersion: 4 });
    const conn = await fake.connection(0);
    const sub = c.subscribe("deny/v4");
    const s = await conn.take("subscribe");
    conn.send({ type: "suback", packetId: s.packetId, reasonCodes: [0x80] });
    await assert.rejects(sub, refused(0x80));
  });
});
