/**
 * Reconnecting: the backoff schedule (exponential, capped, full jitter), the
 * attempt limit and what it settles, which CONNACK refusals are retried,
 * `status()`, re-sending in-flight QoS 1/2 after a reconnect (§4.4), and
 * `end()` settling everything.
 *
 * The broker is scripted (node:net plus the project's Decoder/encode) so each
 * test decides when connections drop and how CONNECT is answered; delays are
 * made deterministic with the policy's injectable `random` and, where the
 * wait itself is the subject, node:test's mock timers.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import {
  backoff,
  Client,
  ClosedError,
  type ConnectOptions,
  connect,
  MqttError,
  RefusedError,
  type StatusEvent,
  TransportError,
} from "../../src/client/index.js";
import { nodeTransport } from "../../src/client/transport/node-any.js";
import type { TransportFactory } from "../../src/client/transport/types.js";
import type { ConnectPacket, PublishPacket } from "../../src/protocol/index.js";
import { FakeBroker, type FakeOptions } from "../helpers/fake-broker.js";
import { waitFor } from "../helpers/programs.js";

// ---- Fixtures ------------------------------------------------------------------

const fakes: FakeBroker[] = [];
const clients: Client[] = [];
const cleanups: (() => void)[] = [];

afterEach(async () => {
  for (const f of cleanups.splice(0)) f();
  await Promise.all(clients.splice(0).map((c) => c.end({ force: true })));
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function fakeBroker(opts: FakeOptions = {}): Promise<FakeBroker> {
  const f = await FakeBroker.start(opts);
  fakes.push(f);
  return f;
}

/** Reconnects at once (random 0 makes every delay 0). */
const immediately = { initialDelay: 10, random: () => 0 };

async function client(url: string, options: ConnectOptions = {}): Promise<Client> {
  const c = await connect(url, {
    connectTimeout: 2000,
    keepalive: 0,
    reconnect: immediately,
    ...options,
  });
  clients.push(c);
  return c;
}

/** Collects `status()` events as they come. */
function record(c: Client): StatusEvent[] {
  const events: StatusEvent[] = [];
  void (async () => {
    for await (const e of c.status()) events.push(e);
  })();
  return events;
}

/** The status events in short form: "connect", "disconnect", "reconnecting 2 40", "closed". */
const brief = (events: StatusEvent[]) =>
  events.map((e) => (e.type === "reconnecting" ? `reconnecting ${e.attempt} ${e.delay}` : e.type));

/** Holds new connections while closed. */
function gated(): { factory: TransportFactory; hold(): void; open(): void } {
  let gate: Promise<void> = Promise.resolve();
  let release = () => {};
  const g = {
    factory: (async (url, options) => {
      await gate;
      return nodeTransport(url, options);
    }) as TransportFactory,
    hold() {
      gate = new Promise((r) => {
        release = r;
      });
    },
    open: () => release(),
  };
  cleanups.push(() => g.open());
  return g;
}

const texts = (ps: PublishPacket[]) => ps.map((p) => new TextDecoder().decode(p.payload));

// ---- backoff() -----------------------------------------------------------------

describe("backoff(): exponential growth, a cap, full jitter, an attempt limit", () => {
  const policy = { initialDelay: 100, factor: 2, maxDelay: 1000 };

  it("random 0 → no wait; 0.5 → half the bound; 0.999 → just under the bound", () => {
    const bounds = [100, 200, 400, 800, 1000, 1000, 1000];
    const delays = (random: () => number) => {
      const b = backoff({ ...policy, random });
      return bounds.map((_, i) => b.delay(i + 1));
    };
    assert.deepEqual(
      delays(() => 0),
      [0, 0, 0, 0, 0, 0, 0],
    );
    assert.deepEqual(
      delays(() => 0.5),
      [50, 100, 200, 400, 500, 500, 500],
    );
    assert.deepEqual(
      delays(() => 0.999),
      [99, 199, 399, 799, 999, 999, 999],
    );
  });

  it("the bound grows by `factor` per attempt up to maxDelay, and stays there for any attempt", () => {
    const b = backoff({ initialDelay: 10, factor: 3, maxDelay: 500, random: () => 0.999 });
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((n) => b.delay(n)),
      [9, 29, 89, 269, 499],
    );
    assert.equal(b.delay(5000), 499, "a huge exponent is capped, not Infinity or NaN");
  });

  it("full jitter: every delay lies in [0, bound) and they spread over it", () => {
    const b = backoff({ ...policy });
    const samples = Array.from({ length: 2000 }, () => b.delay(3) as number);
    assert.ok(samples.every((d) => Number.isInteger(d) && d >= 0 && d < 400));
    assert.ok(
      Math.min(...samples) < 40 && Math.max(...samples) > 360,
      "delays should cover the range",
    );
  });

  it("defaults: 500 ms first bound, doubling, capped at 30 s, unlimited attempts", () => {
    const b = backoff({ random: () => 0.999 });
    assert.equal(b.delay(1), 499);
    assert.equal(b.delay(2), 999);
    assert.equal(b.delay(100), 29_970);
    assert.notEqual(b.delay(1_000_000), undefined);
  });

  it("maxAttempts 3: attempts 1–3 have a delay, the 4th is undefined (give up)", () => {
    const b = backoff({ ...policy, maxAttempts: 3, random: () => 0.5 });
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => b.delay(n)),
      [50, 100, 200, undefined],
    );
    assert.equal(backoff({ maxAttempts: 0 }).delay(1), undefined);
  });
});

// ---- The client's schedule --------------------------------------------------------

describe("client reconnect schedule", () => {
  it("waits exactly the backoff delay (mock timers): no attempt at 4999 ms, one at 5000 ms", async (t) => {
    const fake = await fakeBroker();
    const c = await client(fake.url, { reconnect: { initialDelay: 10_000, random: () => 0.5 } });
    const events = c.status()[Symbol.asyncIterator]();
    // A stream starts with the current state: connected.
    assert.equal((await events.next()).value?.type, "connect");
    t.mock.timers.enable({ apis: ["setTimeout"] });
    fake.connections[0].drop();
    assert.equal((await events.next()).value?.type, "disconnect");
    const reconnecting = (await events.next()).value;
    assert.deepEqual(
      reconnecting?.type === "reconnecting" && [reconnecting.attempt, reconnecting.delay],
      [1, 5000],
    );
    t.mock.timers.tick(4999);
    await realPause(100);
    assert.equal(fake.connections.length, 1, "reconnected before the delay");
    t.mock.timers.tick(1);
    assert.equal((await events.next()).value?.type, "connect");
    assert.equal(fake.connections.length, 2);
    t.mock.timers.reset();
    await events.return?.();
  });

  it("maxAttempts: the delays follow the policy, then the client closes with ClosedError and every pending operation rejects", async () => {
    const fake = await fakeBroker({ autoAck: false });
    const c = await client(fake.url, {
      reconnect: { initialDelay: 40, factor: 2, maxDelay: 100, maxAttempts: 4, random: () => 0.5 },
    });
    const events = record(c);
    const conn = await fake.connection(0);
    // In flight when the broker goes away …
    const pending: Promise<unknown>[] = [];
    // Every promise gets a handler now: they settle before Promise.allSettled looks at them.
    const track = (...ps: Promise<unknown>[]) => {
      for (const p of ps) p.catch(() => {});
      pending.push(...ps);
    };
    track(
      c.publish("gone/1", "1", { qos: 1 }),
      c.publish("gone/2", "2", { qos: 2 }),
      c.subscribe("gone/sub", { qos: 1 }),
    );
    await conn.take("subscribe");
    const started = Date.now();
    await fake.close();
    await waitFor(() => !c.connected, "the client to notice", 2000);
    // … and made while it is away.
    track(
      c.publish("gone/3", "3", { qos: 0 }),
      c.publish("gone/4", "4", { qos: 1 }),
      c.publish("gone/5", "5", { qos: 2 }),
      c.subscribe("gone/sub2"),
      c.unsubscribe("gone/sub"),
    );
    const closedWith = await c.closed();
    assert.ok(closedWith instanceof ClosedError, `closed with ${String(closedWith)}`);
    assert.match(closedWith.message, /after 4 attempts/);
    assert.ok(Date.now() - started >= 20 + 40 + 50 + 50, "the delays were not waited");

    const settled = await Promise.allSettled(pending);
    assert.deepEqual(
      settled.map((s) => s.status),
      Array(8).fill("rejected"),
    );
    const reasons = settled.map((s) => (s as PromiseRejectedResult).reason);
    assert.ok(
      reasons.every((r) => r instanceof MqttError),
      String(reasons),
    );
    // The SUBSCRIBE in flight waited to be sent again on the next connection; when the
    // client gave up, it failed with the close like everything else.
    for (const i of [0, 1, 2, 3, 4, 5, 6, 7])
      assert.ok(reasons[i] instanceof ClosedError, `#${i}: ${reasons[i]}`);

    assert.deepEqual(brief(events), [
      "connect",
      "disconnect",
      "reconnecting 1 20",
      "reconnecting 2 40",
      "reconnecting 3 50",
      "reconnecting 4 50",
      "closed",
    ]);
    await assert.rejects(c.publish("after/close", "x"), ClosedError);
    await assert.rejects(c.subscribe("after/close"), ClosedError);
  });
});

/** Waits real time even while setTimeout is mocked. */
async function realPause(ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) await new Promise((r) => setImmediate(r));
}

// ---- CONNACK refusals --------------------------------------------------------------

describe("client reconnect: CONNACK refusals are retried only when retrying can help", () => {
  /** Accepts the first CONNECT, refuses the second with `code`, accepts the rest. */
  const refuseSecond = (code: number) => (_: ConnectPacket, n: number) => ({
    sessionPresent: false,
    reasonCode: n === 1 ? code : 0,
  });

  for (const [version, code, name] of [
    [5, 0x88, "Server unavailable"],
    [5, 0x89, "Server busy"],
    [4, 3, "server unavailable (3.1.1)"],
  ] as const) {
    it(`${version === 5 ? `0x${code.toString(16)}` : `return code ${code}`} ${name}: retried, then connected`, async () => {
      const fake = await fakeBroker({ connack: refuseSecond(code) });
      const c = await client(fake.url, { protocolVersion: version });
      const events = record(c);
      fake.connections[0].drop();
      await fake.connection(2);
      await waitFor(() => c.connected, "the client to reconnect after the refusal", 2000);
      assert.deepEqual(brief(events), [
        "connect",
        "disconnect",
        "reconnecting 1 0",
        "reconnecting 2 0",
        "connect",
      ]);
    });
  }

  for (const [version, code, reasonCode, name] of [
    [5, 0x86, 0x86, "Bad user name or password"],
    [5, 0x87, 0x87, "Not authorized"],
    [4, 4, 0x86, "bad user name or password (3.1.1)"],
    [4, 5, 0x87, "not authorized (3.1.1)"],
  ] as const) {
    it(`${version === 5 ? `0x${code.toString(16)}` : `return code ${code}`} ${name}: not retried; the client closes with the refusal`, async () => {
      const fake = await fakeBroker({ connack: refuseSecond(code) });
      const c = await client(fake.url, { protocolVersion: version });
      fake.connections[0].drop();
      await waitFor(() => !c.connected, "the client to notice", 2000);
      const pending = c.subscribe("refused/sub").catch((e: unknown) => e);
      const err = await c.closed();
      assert.ok(err instanceof RefusedError, String(err));
      assert.equal(err.reasonCode, reasonCode);
      if (version === 4) assert.equal(err.returnCode, code);
      assert.ok((await pending) instanceof ClosedError);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(fake.connections.length, 2, "a refusal that cannot change was retried");
    });
  }

  it("the first connection is not retried: connect() rejects with the refusal, even 0x88", async () => {
    const fake = await fakeBroker({ connack: () => ({ sessionPresent: false, reasonCode: 0x88 }) });
    await assert.rejects(
      connect(fake.url, { connectTimeout: 2000, reconnect: immediately }),
      (e: unknown) => e instanceof RefusedError && e.reasonCode === 0x88,
    );
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(fake.connections.length, 1);
  });
});

// ---- status() ----------------------------------------------------------------------

describe("client status()", () => {
  it("yields connect → disconnect → reconnecting → connect → closed, then ends", async () => {
    const fake = await fakeBroker({
      connack: (_, n) => ({ sessionPresent: n > 0, reasonCode: 0 }),
    });
    // Constructed by hand so the stream exists before the first CONNACK.
    const c = new Client(
      new URL(fake.url),
      { keepalive: 0, reconnect: immediately, sessionExpiryInterval: 60 },
      nodeTransport,
    );
    clients.push(c);
    const events: StatusEvent[] = [];
    const done = (async () => {
      for await (const e of c.status()) events.push(e);
    })();
    await c.start();
    fake.connections[0].drop();
    await fake.connection(1);
    await waitFor(() => c.connected, "the reconnect", 2000);
    await c.end();
    await done;
    assert.deepEqual(brief(events), [
      "connect",
      "disconnect",
      "reconnecting 1 0",
      "connect",
      "closed",
    ]);
    const [first, lost, , second, closed] = events;
    assert.ok(first.type === "connect" && !first.sessionPresent);
    assert.ok(lost.type === "disconnect" && lost.error instanceof TransportError);
    assert.ok(second.type === "connect" && second.sessionPresent);
    assert.ok(closed.type === "closed" && closed.error === undefined);
    // A stream opened after the close yields the current state, closed, then ends.
    const late = c.status()[Symbol.asyncIterator]();
    assert.equal((await late.next()).value?.type, "closed");
    assert.deepEqual(await late.next(), { value: undefined, done: true });
  });

  it("a broker DISCONNECT shows its reason code in the disconnect event", async () => {
    const fake = await fakeBroker();
    const c = await client(fake.url);
    const events = record(c);
    fake.connections[0].send({ type: "disconnect", reasonCode: 0x8b });
    await fake.connection(1);
    await waitFor(() => c.connected, "the reconnect", 2000);
    assert.equal(events[0].type, "connect", "the stream starts with the current state");
    const lost = events[1];
    assert.ok(lost.type === "disconnect" && lost.reasonCode === 0x8b, JSON.stringify(lost));
    assert.ok(lost.error instanceof RefusedError && lost.error.reasonCode === 0x8b);
  });

  it("DISCONNECT 0x8E Session taken over is not fought over: the client closes", async () => {
    const fake = await fakeBroker();
    const c = await client(fake.url);
    fake.connections[0].send({ type: "disconnect", reasonCode: 0x8e });
    const err = await c.closed();
    assert.ok(err instanceof RefusedError && err.reasonCode === 0x8e);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(fake.connections.length, 1);
  });
});

// ---- In-flight messages across a reconnect ----------------------------------------

describe("client reconnect: in-flight QoS 1/2 (§4.4)", () => {
  it("[MQTT-4.4.0-1] [MQTT-3.3.1-1] session present: PUBLISH again with DUP and the same packet ids, PUBREL for PUBREC'd QoS 2", async () => {
    const fake = await fakeBroker({
      autoAck: false,
      connack: (_, n) => ({ sessionPresent: n > 0, reasonCode: 0 }),
    });
    const c = await client(fake.url, {
      protocolVersion: 4,
      clean: false,
      clientId: "resend-session",
    });
    const conn = await fake.connection(0);
    const sub = await (async () => {
      const s = c.subscribe("resend/in", { qos: 1 });
      const p = await conn.take("subscribe");
      conn.send({ type: "suback", packetId: p.packetId, reasonCodes: [1] });
      return s;
    })();
    const results = [
      c.publish("resend/a", "a", { qos: 1 }),
      c.publish("resend/b", "b", { qos: 2 }),
      c.publish("resend/c", "c", { qos: 2 }),
    ];
    const [a, b, cc] = [
      await conn.take("publish"),
      await conn.take("publish"),
      await conn.take("publish"),
    ];
    conn.send({ type: "pubrec", packetId: cc.packetId as number });
    await conn.take("pubrel");
    conn.drop();

    const conn2 = await fake.connection(1);
    assert.equal(conn2.connect.clean, false);
    const rel = await conn2.take("pubrel");
    assert.equal(rel.packetId, cc.packetId);
    const again = [await conn2.take("publish"), await conn2.take("publish")];
    assert.deepEqual(
      again.map((p) => [new TextDecoder().decode(p.payload), p.packetId, p.dup, p.qos]),
      [
        ["a", a.packetId, true, 1],
        ["b", b.packetId, true, 2],
      ],
    );
    conn2.autoAck = true;
    conn2.send({ type: "puback", packetId: a.packetId as number });
    conn2.send({ type: "pubcomp", packetId: cc.packetId as number });
    conn2.send({ type: "pubrec", packetId: b.packetId as number });
    await Promise.all(results);
    assert.ok(
      !conn2.log.some((p) => p.type === "subscribe"),
      "the session kept the subscription: no re-SUBSCRIBE",
    );
    assert.ok(!sub.ended);
  });

  it("no session: the subscriptions are made again and in-flight messages go again as new PUBLISH packets", async () => {
    const fake = await fakeBroker();
    const c = await client(fake.url, { protocolVersion: 5 });
    const conn = await fake.connection(0);
    const sub = await c.subscribe(["resub/+", "resub2/#"], { qos: 2 });
    conn.autoAck = false;
    const result = c.publish("resub/out", "m", { qos: 1 });
    await conn.take("publish");
    conn.drop();

    const conn2 = await fake.connection(1);
    const again = await conn2.take("subscribe");
    assert.deepEqual(
      again.subscriptions.map((s) => [s.topicFilter, s.qos]),
      [
        ["resub/+", 2],
        ["resub2/#", 2],
      ],
    );
    assert.equal(again.properties?.subscriptionIdentifier, 1, "the same subscription identifier");
    const resent = await conn2.take("publish");
    assert.equal(resent.dup, false);
    assert.deepEqual(texts([resent]), ["m"]);
    conn2.send({ type: "puback", packetId: resent.packetId as number });
    await result;
    // The re-made subscription feeds the same Subscription object.
    conn2.send({
      type: "publish",
      topic: "resub/x",
      payload: new TextEncoder().encode("back"),
      qos: 0,
      retain: false,
      dup: false,
      properties: { subscriptionIdentifiers: [1] },
    });
    for await (const msg of sub) {
      assert.equal(msg.text(), "back");
      break;
    }
  });
});

describe("client reconnect: subscribing while offline", () => {
  it("a subscribe made while reconnecting is sent once, not also by the re-subscription of the new session", async () => {
    const fake = await fakeBroker();
    const gate = gated();
    const c = await client(fake.url, { transport: gate.factory });
    const old = await c.subscribe("once/old");
    gate.hold();
    fake.connections[0].drop();
    await waitFor(() => !c.connected, "the client to notice", 2000);
    const fresh = c.subscribe("once/new", { qos: 1 });
    gate.open();
    const conn = await fake.connection(1);
    await fresh;
    await new Promise((r) => setTimeout(r, 100));
    const filters = conn.log.flatMap((p) =>
      p.type === "subscribe" ? p.subscriptions.map((s) => s.topicFilter) : [],
    );
    assert.deepEqual(filters.sort(), ["once/new", "once/old"]);
    assert.ok(!old.ended);
  });
});

// ---- end() ---------------------------------------------------------------------

describe("client end()", () => {
  it("while reconnecting: every pending publish/subscribe/unsubscribe rejects with ClosedError; closed() gives undefined", async () => {
    const fake = await fakeBroker();
    const gate = gated();
    const c = await client(fake.url, { transport: gate.factory });
    const events = record(c);
    gate.hold();
    fake.connections[0].drop();
    await waitFor(() => !c.connected, "the client to notice", 2000);
    const pending = [
      c.publish("end/0", "0", { qos: 0 }),
      c.publish("end/1", "1", { qos: 1 }),
      c.publish("end/2", "2", { qos: 2 }),
      c.subscribe("end/sub"),
      c.unsubscribe("end/other"),
    ];
    await c.end();
    const settled = await Promise.allSettled(pending);
    assert.deepEqual(
      settled.map((s) => s.status),
      Array(5).fill("rejected"),
    );
    for (const s of settled) assert.ok((s as PromiseRejectedResult).reason instanceof ClosedError);
    assert.equal(await c.closed(), undefined);
    assert.deepEqual(brief(events).at(-1), "closed");
    gate.open();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(fake.connections.length, 1, "a closed client connected again");
  });

  it("while connected: waits for in-flight QoS 1/2 to complete, then sends DISCONNECT", async () => {
    const fake = await fakeBroker({ autoAck: false });
    const c = await client(fake.url);
    const conn = await fake.connection(0);
    const q1 = c.publish("end/q1", "1", { qos: 1 });
    const q2 = c.publish("end/q2", "2", { qos: 2 });
    const [p1, p2] = [await conn.take("publish"), await conn.take("publish")];
    const ending = c.end();
    setTimeout(() => {
      conn.send({ type: "puback", packetId: p1.packetId as number });
      conn.send({ type: "pubrec", packetId: p2.packetId as number });
    }, 50);
    const rel = await conn.take("pubrel");
    conn.send({ type: "pubcomp", packetId: rel.packetId });
    await ending;
    assert.deepEqual(await Promise.all([q1, q2]).then((rs) => rs.map((r) => r.reasonCode)), [0, 0]);
    await conn.take("disconnect");
    assert.equal(conn.log.at(-1)?.type, "disconnect");
  });

  it("after end(): publish, subscribe and unsubscribe reject at once with ClosedError", async () => {
    const fake = await fakeBroker();
    const c = await client(fake.url, { operationTimeout: 0 });
    await c.end();
    const soon = <T>(p: Promise<T>) =>
      Promise.race([
        p,
        new Promise((_, reject) => setTimeout(() => reject(new Error("still pending")), 500)),
      ]);
    await assert.rejects(soon(c.publish("closed/p", "x", { qos: 1 })), ClosedError);
    await assert.rejects(soon(c.subscribe("closed/s")), ClosedError);
    await assert.rejects(soon(c.unsubscribe("closed/s")), ClosedError);
  });

  it("force: in-flight publishes reject with ClosedError at once", async () => {
    const fake = await fakeBroker({ autoAck: false });
    const c = await client(fake.url);
    const conn = await fake.connection(0);
    const q1 = c.publish("end/force", "1", { qos: 1 });
    await conn.take("publish");
    await c.end({ force: true });
    await assert.rejects(q1, ClosedError);
    await conn.take("disconnect");
  });
});
