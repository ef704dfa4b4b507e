/**
 * The client's session across connections, as a user relies on it:
 *
 * - SUBSCRIBE and UNSUBSCRIBE still waiting for their ack when the connection
 *   drops are sent again on the next connection (and resolve from that ack);
 *   they reject with ClosedError when the client gives up reconnecting, and
 *   their own timeout still runs while they wait for a connection.
 * - `status()`: a fresh iterator starts with the current state (`connect`
 *   right after `await connect()`, `closed` after `end()`, then it ends).
 * - MQTT 5 enhanced authentication (§4.12) against the Starling broker: the
 *   `auth` option's challenge/response, refusals (0x87, 0x8C), an `onChallenge`
 *   that is async or throws, and authenticating again on a reconnect.
 * - A custom ClientStore: the writes it sees for QoS 0/1/2 publishes, entries
 *   restored from it on start and re-sent as §4.4 says (PUBREL, PUBLISH with
 *   DUP and the same Packet Identifier, then the queued ones, in order), and
 *   what happens when an asynchronous store fails (`storeError`, or closing
 *   with STORE_FAILED).
 *
 * Wire-level cases use the scripted FakeBroker (test/helpers/fake-broker.ts);
 * authentication and the store's write sequence use the real broker.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import type {
  AuthStep,
  Broker,
  BrokerOptions,
  EnhancedAuthenticator,
} from "../../src/broker/index.js";
import {
  Client,
  type ClientStore,
  ClosedError,
  type ConnectOptions,
  connect,
  type EnhancedAuth,
  MemoryClientStore,
  MqttError,
  RefusedError,
  retryableRefusal,
  type StatusEvent,
  type StoredPublish,
  TimeoutError,
} from "../../src/client/index.js";
import { nodeTransport } from "../../src/client/transport/node-any.js";
import type { TransportFactory } from "../../src/client/transport/types.js";
import type { PublishPacket, QoS } from "../../src/protocol/index.js";
import { sleep, startBroker } from "../helpers/broker.js";
import { FakeBroker, type FakeOptions } from "../helpers/fake-broker.js";
import { waitFor } from "../helpers/programs.js";

// ---- Fixtures ------------------------------------------------------------------

const fakes: FakeBroker[] = [];
const brokers: Broker[] = [];
const clients: Client[] = [];
const cleanups: (() => void)[] = [];

afterEach(async () => {
  for (const f of cleanups.splice(0)) f();
  await Promise.all(clients.splice(0).map((c) => c.end({ force: true })));
  await Promise.all(fakes.splice(0).map((f) => f.close()));
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

async function fakeBroker(opts: FakeOptions = {}): Promise<FakeBroker> {
  const f = await FakeBroker.start(opts);
  fakes.push(f);
  return f;
}

async function realBroker(opts: BrokerOptions = {}): Promise<Broker> {
  const b = await startBroker(opts);
  brokers.push(b);
  return b;
}

/** Reconnects at once (random 0 makes every delay 0). */
const immediately = { initialDelay: 10, random: () => 0 };

const base: ConnectOptions = { connectTimeout: 2000, keepalive: 0, reconnect: immediately };

async function client(url: string, options: ConnectOptions = {}): Promise<Client> {
  const c = await connect(url, { ...base, ...options });
  clients.push(c);
  return c;
}

/** A Client whose first connection the test starts (and may see fail) itself. */
function unstarted(url: string, options: ConnectOptions = {}): Client {
  const c = new Client(new URL(url), { ...base, ...options }, nodeTransport);
  clients.push(c);
  return c;
}

/** Counts the connections the client opens. */
function counting(): { factory: TransportFactory; readonly opened: number } {
  let opened = 0;
  return {
    factory: (url, options) => {
      opened++;
      return nodeTransport(url, options);
    },
    get opened() {
      return opened;
    },
  };
}

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

/** Rejects when `p` has not settled within `ms` (so a hang fails the test instead of stalling it). */
function within<T>(p: Promise<T>, ms = 2000, what = "operation"): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still pending after ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array | undefined) => (b === undefined ? "" : new TextDecoder().decode(b));

const validPacketId = (id: number | undefined) =>
  typeof id === "number" && Number.isInteger(id) && id >= 1 && id <= 65_535;

// ---- SUBSCRIBE / UNSUBSCRIBE across a reconnect ---------------------------------

describe("SUBSCRIBE/UNSUBSCRIBE without their ack survive a reconnect", () => {
  it("a SUBSCRIBE lost with the connection is sent again and resolves from the SUBACK on the new one", async () => {
    const fake = await fakeBroker({ autoAck: false });
    const c = await client(fake.url);
    const c0 = await fake.connection(0);
    let settled = false;
    const p = c.subscribe("a/b", { qos: 1 });
    p.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    const first = await c0.take("subscribe");
    c0.drop();

    const c1 = await fake.connection(1);
    const again = await c1.take("subscribe");
    assert.deepEqual(
      again.subscriptions.map((s) => [s.topicFilter, s.qos]),
      [["a/b", 1]],
    );
    assert.ok(validPacketId(again.packetId), `packet id ${again.packetId}`);
    assert.equal(
      again.properties?.subscriptionIdentifier,
      first.properties?.subscriptionIdentifier,
      "the same subscription identifier, so deliveries still route to the same Subscription",
    );
    assert.equal(settled, false, "subscribe() must wait for the SUBACK of the new connection");
    c1.send({ type: "suback", packetId: again.packetId, reasonCodes: [1] });

    const sub = await within(p, 2000, "subscribe()");
    assert.deepEqual(sub.reasonCodes, [1]);
    // Sent once on the new connection: not also as a "restore" of a granted subscription.
    assert.equal(await c1.quiet("subscribe", 100), true);

    c1.send({
      type: "publish",
      topic: "a/b",
      payload: text("after the reconnect"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 42,
    });
    const next = await within(sub[Symbol.asyncIterator]().next(), 2000, "a message");
    assert.equal(next.done, false);
    assert.equal(next.value?.topic, "a/b");
    assert.equal(next.value?.text(), "after the reconnect");
    assert.equal((await c1.take("puback")).packetId, 42);
  });

  it("an UNSUBSCRIBE lost with the connection is sent again and resolves from the UNSUBACK on the new one", async () => {
    const fake = await fakeBroker({ autoAck: false });
    const c = await client(fake.url);
    const c0 = await fake.connection(0);
    const subscribing = c.subscribe("a/b", { qos: 1 });
    const s = await c0.take("subscribe");
    c0.send({ type: "suback", packetId: s.packetId, reasonCodes: [1] });
    const sub = await within(subscribing, 2000, "subscribe()");

    let settled = false;
    const u = c.unsubscribe("a/b");
    u.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    await c0.take("unsubscribe");
    c0.drop();

    const c1 = await fake.connection(1);
    // A new session (Session Present 0): the client first restores the granted subscription …
    const resub = await c1.take("subscribe");
    assert.deepEqual(
      resub.subscriptions.map((x) => x.topicFilter),
      ["a/b"],
    );
    c1.send({ type: "suback", packetId: resub.packetId, reasonCodes: [1] });
    // … then sends the UNSUBSCRIBE that was waiting, so the filter ends up unsubscribed.
    const again = await c1.take("unsubscribe");
    assert.deepEqual(again.topicFilters, ["a/b"]);
    assert.ok(validPacketId(again.packetId), `packet id ${again.packetId}`);
    assert.ok(
      c1.log.indexOf(resub) < c1.log.indexOf(again),
      "the UNSUBSCRIBE must follow the re-SUBSCRIBE",
    );
    assert.equal(settled, false, "unsubscribe() must wait for the UNSUBACK of the new connection");
    assert.equal(sub.ended, false);

    c1.send({ type: "unsuback", packetId: again.packetId, reasonCodes: [0x11] });
    assert.deepEqual(await within(u, 2000, "unsubscribe()"), [0x11], "the new UNSUBACK's codes");
    assert.equal(sub.ended, true);
    assert.equal(await c1.quiet("unsubscribe", 100), true);
  });

  it("when the client gives up reconnecting, a waiting SUBSCRIBE and UNSUBSCRIBE reject with ClosedError", async () => {
    const fake = await fakeBroker({ autoAck: false });
    const c = await client(fake.url, { reconnect: { ...immediately, maxAttempts: 1 } });
    const c0 = await fake.connection(0);
    const s = c.subscribe("a/b", { qos: 1 });
    const u = c.unsubscribe("x/y");
    await c0.take("subscribe");
    await c0.take("unsubscribe");
    c0.drop();
    const closing = fake.close(); // stops listening now: the one reconnect attempt is refused
    await assert.rejects(within(s, 2000, "subscribe()"), ClosedError);
    await assert.rejects(within(u, 2000, "unsubscribe()"), ClosedError);
    const err = await within(c.closed(), 2000, "closed()");
    assert.ok(err instanceof ClosedError, `closed with ${String(err)}`);
    assert.match(err.message, /gave up reconnecting/);
    await closing;
  });

  it("the operation timeout still runs while a SUBSCRIBE waits for the reconnect (TimeoutError), and it is not sent after", async () => {
    const g = gated();
    const fake = await fakeBroker({ autoAck: false });
    const c = await client(fake.url, { transport: g.factory });
    const c0 = await fake.connection(0);
    const started = Date.now();
    const p = c.subscribe("a/b", { qos: 1, timeout: 300 });
    await c0.take("subscribe");
    g.hold();
    c0.drop();
    await assert.rejects(within(p, 2000, "subscribe()"), TimeoutError);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 250 && elapsed < 1500, `timed out after ${elapsed} ms`);
    assert.equal(c.connected, false, "still waiting for the connection");

    g.open();
    const c1 = await fake.connection(1);
    assert.equal(
      await c1.quiet("subscribe", 150),
      true,
      "a SUBSCRIBE that timed out must not be sent (or restored) on the new connection",
    );
  });
});

// ---- status() --------------------------------------------------------------------

describe("status(): starts with the current state", () => {
  it("after `await connect()` a fresh iterator yields `connect` with the CONNACK; after end() one yields `closed`, then ends", async () => {
    const fake = await fakeBroker({
      connack: () => ({ sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: 7 } }),
    });
    const c = await client(fake.url);

    const fresh = c.status()[Symbol.asyncIterator]();
    const first = await within(fresh.next(), 1000, "status()");
    assert.equal(first.done, false);
    const e = first.value as StatusEvent;
    assert.equal(e.type, "connect");
    assert.ok(e.type === "connect");
    assert.equal(e.sessionPresent, false);
    assert.equal(e.connack.type, "connack");
    assert.equal(e.connack.reasonCode, 0);
    assert.equal(e.connack.properties?.receiveMaximum, 7);
    await fresh.return?.();

    // An iterator opened while connected follows along: connect, then closed, then done.
    const seen: string[] = [];
    const following = (async () => {
      for await (const ev of c.status()) seen.push(ev.type);
    })();

    await c.end();
    await within(following, 1000, "the live status() iterator to end");
    assert.deepEqual(seen, ["connect", "closed"]);

    const after = c.status()[Symbol.asyncIterator]();
    const last = await within(after.next(), 1000, "status() after end()");
    assert.deepEqual(last, { value: { type: "closed", error: undefined }, done: false });
    assert.deepEqual(await within(after.next(), 1000, "status() to end"), {
      value: undefined,
      done: true,
    });
  });
});

// ---- §4.12 enhanced authentication -------------------------------------------------

/**
 * A challenge/response method: CONNECT data "hello" → AUTH 0x18 "challenge";
 * the client must answer "response" (→ CONNACK 0x00 with "welcome"); anything
 * else fails with 0x87 (Not authorized). Calls are recorded.
 */
function challengeResponse(method = "TEST-CR"): EnhancedAuthenticator & { calls: string[] } {
  const calls: string[] = [];
  return {
    method,
    calls,
    start(_info, data): AuthStep {
      calls.push(`start:${str(data)}`);
      return str(data) === "hello"
        ? { done: false, data: text("challenge") }
        : { done: true, ok: false, reasonCode: 0x87, reason: "bad start" };
    },
    continue(_info, data): AuthStep {
      calls.push(`continue:${str(data)}`);
      return str(data) === "response"
        ? { done: true, ok: true, data: text("welcome") }
        : { done: true, ok: false, reasonCode: 0x87, reason: "wrong response" };
    },
  };
}

/** The `auth` option, recording each challenge it is given. */
function answering(
  answer: (challenge: string) => Uint8Array | undefined | Promise<Uint8Array | undefined>,
  method = "TEST-CR",
): EnhancedAuth & { challenges: string[] } {
  const challenges: string[] = [];
  return {
    method,
    data: text("hello"),
    challenges,
    onChallenge(data) {
      challenges.push(str(data));
      return answer(str(data));
    },
  };
}

async function connackOf(c: Client) {
  const it = c.status()[Symbol.asyncIterator]();
  const first = await within(it.next(), 1000, "status()");
  await it.return?.();
  const e = first.value as StatusEvent;
  assert.equal(e.type, "connect");
  return e.type === "connect" ? e.connack : undefined;
}

describe("§4.12 enhanced authentication (the `auth` option) against the Starling broker", () => {
  it("[MQTT-4.12.0-2] [MQTT-4.12.0-3] [MQTT-4.12.0-5] challenge/response: onChallenge gets the broker's challenge once, connect resolves, then publish/subscribe work", async () => {
    const method = challengeResponse();
    const broker = await realBroker({ enhancedAuth: [method] });
    const auth = answering(() => text("response"));
    const c = await client(broker.url(), { auth, clientId: "cr-ok" });

    assert.deepEqual(auth.challenges, ["challenge"]);
    // The broker saw CONNECT's data, then our AUTH (which it accepts only with the same method).
    assert.deepEqual(method.calls, ["start:hello", "continue:response"]);
    const connack = await connackOf(c);
    assert.equal(connack?.properties?.authenticationMethod, "TEST-CR");
    assert.equal(str(connack?.properties?.authenticationData), "welcome");

    const sub = await c.subscribe("cr/t", { qos: 1 });
    assert.deepEqual(sub.reasonCodes, [1]);
    await c.publish("cr/t", "hi", { qos: 1 });
    const next = await within(sub[Symbol.asyncIterator]().next(), 2000, "a message");
    assert.equal(next.value?.text(), "hi");
    assert.deepEqual(auth.challenges, ["challenge"], "no further challenges once connected");
  });

  it("an async onChallenge (returns a Promise) works", async () => {
    const method = challengeResponse();
    const broker = await realBroker({ enhancedAuth: [method] });
    const auth = answering(async () => {
      await sleep(30);
      return text("response");
    });
    const c = await client(broker.url(), { auth, clientId: "cr-async" });
    assert.equal(c.connected, true);
    assert.deepEqual(auth.challenges, ["challenge"]);
    assert.deepEqual(method.calls, ["start:hello", "continue:response"]);
    assert.equal((await c.publish("cr/async", "x", { qos: 1 })).reasonCode < 0x80, true);
  });

  it("[MQTT-4.12.0-4] a wrong response → connect rejects with RefusedError 0x87 (Not authorized), and the client is closed", async () => {
    const broker = await realBroker({ enhancedAuth: [challengeResponse()] });
    const opens = counting();
    const c = unstarted(broker.url(), {
      auth: answering(() => text("guess")),
      clientId: "cr-wrong",
      transport: opens.factory,
    });
    const err = await within(c.start(), 2000, "connect").then(
      () => assert.fail("connect should be refused"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof RefusedError, `got ${String(err)}`);
    assert.equal(err.code, "CONNECTION_REFUSED");
    assert.equal(err.reasonCode, 0x87);
    assert.equal(await within(c.closed(), 1000, "closed()"), err);
    await sleep(100);
    assert.equal(opens.opened, 1, "an authentication refusal is not retried");
  });

  it("an onChallenge that throws → connect rejects with that error and the client closes (no hang, no retry)", async () => {
    const broker = await realBroker({ enhancedAuth: [challengeResponse()] });
    const boom = new Error("no key for this challenge");
    const opens = counting();
    const c = unstarted(broker.url(), {
      auth: answering(() => {
        throw boom;
      }),
      clientId: "cr-throws",
      transport: opens.factory,
    });
    await assert.rejects(within(c.start(), 2000, "connect"), (e) => e === boom);
    assert.equal(await within(c.closed(), 1000, "closed()"), boom);
    assert.equal(c.connected, false);
    await sleep(100);
    assert.equal(opens.opened, 1);
    // The broker never accepted it.
    await waitFor(() => broker.core.clients.size === 0, "the broker to drop the connection", 2000);
  });

  it("[MQTT-4.12.0-1] a method the broker does not know → RefusedError 0x8C (Bad authentication method), not retried", async () => {
    const broker = await realBroker({ enhancedAuth: [challengeResponse()] });
    const opens = counting();
    const auth = answering(() => text("response"), "SCRAM-SHA-999");
    const c = unstarted(broker.url(), {
      auth,
      clientId: "cr-unknown",
      transport: opens.factory,
    });
    const err = await within(c.start(), 2000, "connect").then(
      () => assert.fail("connect should be refused"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof RefusedError, `got ${String(err)}`);
    assert.equal(err.reasonCode, 0x8c);
    assert.deepEqual(auth.challenges, []);
    assert.equal(retryableRefusal(0x8c), false);
    await sleep(150);
    assert.equal(opens.opened, 1, "0x8C is final: no second CONNECT");
  });

  it("a reconnect authenticates again (onChallenge once per connection); 0x8C on a reconnect closes the client instead of retrying", async () => {
    const method = challengeResponse();
    const broker = await realBroker({ enhancedAuth: [method] });
    const opens = counting();
    const auth = answering(() => text("response"));
    const c = await client(broker.url(), { auth, clientId: "cr-again", transport: opens.factory });
    const dropAll = () => {
      for (const bc of [...broker.core.clients]) bc.close("test drops the connection");
    };

    dropAll();
    await waitFor(
      () => auth.challenges.length === 2 && c.connected,
      "a re-authenticated reconnect",
      2000,
    );
    assert.deepEqual(method.calls, [
      "start:hello",
      "continue:response",
      "start:hello",
      "continue:response",
    ]);

    // The operator withdraws the method: the next CONNECT is refused with 0x8C, which is final.
    broker.core.enhancedAuth.delete("TEST-CR");
    dropAll();
    const err = await within(c.closed(), 2000, "closed()");
    assert.ok(err instanceof RefusedError, `closed with ${String(err)}`);
    assert.equal(err.reasonCode, 0x8c);
    await sleep(100);
    assert.equal(opens.opened, 3);
  });
});

// ---- Custom ClientStore ------------------------------------------------------------

/** A ClientStore that logs every write ("put <state>" / "delete"), per seq. */
class RecordingStore implements ClientStore {
  readonly log: Array<{ seq: number; op: string; topic?: string; packetId?: number }> = [];
  readonly #inner = new MemoryClientStore();

  constructor(entries: StoredPublish[] = []) {
    for (const e of entries) this.#inner.put(e);
  }

  put(entry: StoredPublish): void {
    const rec: { seq: number; op: string; topic?: string; packetId?: number } = {
      seq: entry.seq,
      op: `put ${entry.state}`,
      topic: entry.packet.topic,
    };
    if (entry.packet.packetId !== undefined) rec.packetId = entry.packet.packetId;
    this.log.push(rec);
    this.#inner.put(entry);
  }

  delete(seq: number): void {
    this.log.push({ seq, op: "delete" });
    this.#inner.delete(seq);
  }

  list(): StoredPublish[] {
    return this.#inner.list();
  }

  /** The operations per seq, in order. */
  bySeq(): Map<number, string[]> {
    const m = new Map<number, string[]>();
    for (const r of this.log) m.set(r.seq, [...(m.get(r.seq) ?? []), r.op]);
    return m;
  }
}

function stored(topic: string, qos: QoS, packetId?: number): PublishPacket {
  const p: PublishPacket = {
    type: "publish",
    topic,
    payload: text(topic),
    qos,
    retain: false,
    dup: false,
  };
  if (packetId !== undefined) p.packetId = packetId;
  return p;
}

describe("a custom ClientStore", () => {
  it("QoS 1: put(queued) → put(publish) → delete; QoS 2: put(queued) → put(publish) → put(pubrel) → delete; QoS 0 never; empty after", async () => {
    const broker = await realBroker();
    const store = new RecordingStore();
    const c = await client(broker.url(), { store });
    await Promise.all([
      c.publish("st/zero", "a", { qos: 0 }),
      c.publish("st/one", "b", { qos: 1 }),
      c.publish("st/two", "c", { qos: 2 }),
      c.publish("st/zero", "d", { qos: 0 }),
    ]);

    const bySeq = [...store.bySeq().entries()].sort((a, b) => a[0] - b[0]);
    assert.equal(bySeq.length, 2, `only the QoS 1 and 2 publishes: ${JSON.stringify(store.log)}`);
    const [[seq1, ops1], [seq2, ops2]] = bySeq;
    assert.ok(seq1 < seq2, "seq follows the order of publication");
    assert.deepEqual(ops1, ["put queued", "put publish", "delete"]);
    assert.deepEqual(ops2, ["put queued", "put publish", "put pubrel", "delete"]);
    const topics = new Set(store.log.filter((r) => r.topic !== undefined).map((r) => r.topic));
    assert.deepEqual([...topics].sort(), ["st/one", "st/two"]);
    for (const r of store.log.filter((x) => x.op !== "put queued" && x.op !== "delete"))
      assert.ok(validPacketId(r.packetId), `${r.op} carries the packet id it was sent with`);
    assert.deepEqual(store.list(), []);

    // QoS 0 alone never touches the store.
    const before = store.log.length;
    await c.publish("st/zero", "e", { qos: 0 });
    assert.equal(store.log.length, before);
  });

  it("[MQTT-4.4.0-1] [MQTT-3.3.1-1] [MQTT-4.6.0-1] restored entries: PUBREL for `pubrel`, PUBLISH DUP with the same id for `publish`, then the `queued` one, in seq order; the store empties as they are acked", async () => {
    const fake = await fakeBroker({
      connack: () => ({ sessionPresent: true, reasonCode: 0 }),
    });
    const store = new RecordingStore([
      { seq: 11, state: "pubrel", packet: stored("r/released", 2, 8) },
      { seq: 12, state: "publish", packet: stored("r/inflight", 1, 7) },
      { seq: 13, state: "queued", packet: stored("r/queued", 1) },
    ]);
    const c = await client(fake.url, {
      store,
      clean: false,
      clientId: "x",
      protocolVersion: 5,
      sessionExpiryInterval: 60,
    });
    const c0 = await fake.connection(0);
    assert.equal(c0.connect.clean, false);
    await waitFor(() => c0.log.length >= 3, "the restored packets", 2000);

    const wire = c0.log.map((p) =>
      p.type === "publish"
        ? { type: p.type, topic: p.topic, dup: p.dup, qos: p.qos }
        : { type: p.type, packetId: "packetId" in p ? p.packetId : undefined },
    );
    assert.deepEqual(wire, [
      { type: "pubrel", packetId: 8 },
      { type: "publish", topic: "r/inflight", dup: true, qos: 1 },
      { type: "publish", topic: "r/queued", dup: false, qos: 1 },
    ]);
    const [inflight, queued] = c0.publishes;
    assert.equal(inflight.packetId, 7, "a re-sent PUBLISH keeps its Packet Identifier");
    assert.ok(validPacketId(queued.packetId));
    assert.ok(queued.packetId !== 7 && queued.packetId !== 8, "a new id, not one still in use");

    // The fake acked them (PUBCOMP 8, PUBACK 7, PUBACK for the queued one).
    await waitFor(() => store.list().length === 0, "the store to empty", 2000);
    const deletes = store.log.filter((r) => r.op === "delete").map((r) => r.seq);
    assert.deepEqual(deletes.sort(), [11, 12, 13]);

    // New publishes number after the restored ones.
    await c.publish("r/new", "n", { qos: 1 });
    const fresh = store.log.filter((r) => r.topic === "r/new");
    assert.ok(fresh.length > 0 && fresh.every((r) => r.seq > 13), JSON.stringify(fresh));
    assert.deepEqual(store.list(), []);
  });

  describe("an asynchronous store whose put() rejects", () => {
    class FailingStore implements ClientStore {
      readonly error = new Error("disk full");
      async put(_entry: StoredPublish): Promise<void> {
        throw this.error;
      }
      async delete(_seq: number): Promise<void> {}
      async list(): Promise<StoredPublish[]> {
        return [];
      }
    }

    it("with a storeError listener: the error is delivered and the client stays connected", async () => {
      const broker = await realBroker();
      const store = new FailingStore();
      const c = await client(broker.url(), { store });
      const errors: unknown[] = [];
      c.on("storeError", (e) => errors.push(e));
      const r = await within(c.publish("fs/one", "x", { qos: 1 }), 2000, "publish");
      assert.ok(r.reasonCode < 0x80);
      await waitFor(() => errors.length > 0, "storeError", 1000);
      assert.ok(errors.every((e) => e === store.error));
      await sleep(20);
      assert.equal(c.connected, true);
      // And it goes on working.
      await within(c.publish("fs/two", "y", { qos: 1 }), 2000, "publish");
      assert.equal(c.connected, true);
    });

    it("without a listener: the client closes, closed() resolves to MqttError STORE_FAILED", async () => {
      const broker = await realBroker();
      const store = new FailingStore();
      const c = await client(broker.url(), { store });
      const p = c.publish("fs/one", "x", { qos: 1 });
      await assert.rejects(within(p, 2000, "publish"), ClosedError);
      const err = await within(c.closed(), 2000, "closed()");
      assert.ok(err instanceof MqttError, `closed with ${String(err)}`);
      assert.equal(err.code, "STORE_FAILED");
      assert.equal((err as MqttError & { cause?: unknown }).cause, store.error);
      assert.equal(c.connected, false);
    });
  });
});
