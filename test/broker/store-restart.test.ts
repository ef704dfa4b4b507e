/**
 * Broker restart on a durable store (issue 6): persistent sessions, their
 * queued and in-flight messages, inbound QoS 2 state and retained messages
 * survive closing the broker and starting a new one on the same data
 * directory, with expiry applied for the time it was down; PUBACK/PUBREC are
 * sent only once the store committed. Ids are MQTT 5.0 statements unless the
 * name says (3.1.1).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it, type TestContext } from "node:test";
import { defaultConfig } from "../../src/broker/config/model.js";
import { silentLogger } from "../../src/broker/core/logger.js";
import { startFromConfig } from "../../src/broker/from-config.js";
import { Broker, type BrokerOptions } from "../../src/broker/index.js";
import type { Store } from "../../src/broker/store/index.js";
import { LmdbStore } from "../../src/broker/store/lmdb.js";
import type {
  ConnectPacket,
  ProtocolVersion,
  PublishPacket,
  QoS,
} from "../../src/protocol/index.js";
import { sleep } from "../helpers/broker.js";
import { RawClient, str, text } from "../helpers/raw-client.js";

const root = mkdtempSync(join(tmpdir(), "starling-restart-"));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const newDir = () => join(root, `d${dirs++}`);

// ---- harness -----------------------------------------------------------------

/** A broker on `dir`'s store; closed (with its store) when the test ends unless closed before. */
async function startOn(
  t: TestContext,
  dir: string,
  options: BrokerOptions & { wrap?: (s: Store) => Store } = {},
): Promise<Broker> {
  const lmdb = await LmdbStore.open(dir, { sync: "relaxed" });
  const store = options.wrap === undefined ? lmdb : options.wrap(lmdb);
  const broker = await Broker.start({
    listeners: [{ type: "tcp", host: "127.0.0.1", port: 0 }],
    sysInterval: 0,
    ...options,
    store,
  });
  t.after(() => broker.close());
  return broker;
}

function client(t: TestContext, broker: Broker, version: ProtocolVersion): RawClient {
  const c = RawClient.memory(broker, version);
  t.after(() => c.close());
  return c;
}

const v = (version: ProtocolVersion) => (version === 5 ? "5.0" : "3.1.1");

function persistent(version: ProtocolVersion, expiry = 300): Partial<ConnectPacket> {
  return version === 5
    ? { clean: false, properties: { sessionExpiryInterval: expiry } }
    : { clean: false };
}

async function open(
  t: TestContext,
  broker: Broker,
  version: ProtocolVersion,
  clientId: string,
  options: Partial<ConnectPacket> = {},
) {
  const c = client(t, broker, version);
  const connack = await c.connect({ clientId, ...options });
  assert.equal(connack.reasonCode, 0);
  return { c, connack };
}

async function subscribe(c: RawClient, filter: string, qos: QoS = 2): Promise<void> {
  c.send({ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: filter, qos }] });
  const suback = await c.next("suback");
  assert.deepEqual(suback.reasonCodes, [qos]);
}

/** Publishes and completes the QoS 1/2 exchange as a publisher. */
async function publish(
  c: RawClient,
  packetId: number,
  topic: string,
  payload: string,
  qos: QoS,
  extra: Partial<PublishPacket> = {},
): Promise<void> {
  c.send({
    type: "publish",
    topic,
    payload: text(payload),
    qos,
    retain: false,
    dup: false,
    ...(qos > 0 ? { packetId } : {}),
    ...extra,
  });
  if (qos === 1) assert.equal((await c.next("puback")).packetId, packetId);
  if (qos === 2) {
    assert.equal((await c.next("pubrec")).packetId, packetId);
    c.send({ type: "pubrel", packetId });
    assert.equal((await c.next("pubcomp")).packetId, packetId);
  }
}

/** Disconnects normally and waits for the broker to see it. */
async function leave(c: RawClient): Promise<void> {
  c.send({ type: "disconnect" });
  await c.waitClosed();
}

/** Receives `n` PUBLISH packets, acknowledging each. */
async function receive(c: RawClient, n: number): Promise<PublishPacket[]> {
  const out: PublishPacket[] = [];
  for (let i = 0; i < n; i++) {
    const p = await c.next("publish");
    out.push(p);
    if (p.qos === 1) c.send({ type: "puback", packetId: p.packetId as number });
    if (p.qos === 2) {
      c.send({ type: "pubrec", packetId: p.packetId as number });
      await c.next("pubrel");
      c.send({ type: "pubcomp", packetId: p.packetId as number });
    }
  }
  return out;
}

/** A store whose commits can be held (resolved when released) or made to fail. */
function gated(store: Store) {
  let holding = false;
  let failing = false;
  const gates: (() => void)[] = [];
  const wrapped = new Proxy(store, {
    get(target, key) {
      if (key === "commit") {
        return async () => {
          await target.commit();
          if (failing) throw new Error("disk on fire");
          if (holding) await new Promise<void>((r) => gates.push(r));
        };
      }
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return {
    wrapped,
    hold() {
      holding = true;
    },
    fail() {
      failing = true;
    },
    release() {
      holding = false;
      for (const g of gates.splice(0)) g();
    },
    get waiting() {
      return gates.length;
    },
  };
}

// ---- tests ---------------------------------------------------------------------

for (const version of [4, 5] as const) {
  describe(`restart on a durable store (${v(version)})`, () => {
    it(`[MQTT-3.1.2-5] [MQTT-4.6.0-6] (${v(version)}) a persistent session's subscriptions and queued QoS 1/2 messages survive a restart and arrive in order`, async (t) => {
      const dir = newDir();
      const first = await startOn(t, dir);
      const sub = await open(t, first, version, "sub", persistent(version));
      await subscribe(sub.c, "t/#", 2);
      await leave(sub.c);
      const pub = await open(t, first, version, "pub");
      const sent: string[] = [];
      for (let i = 1; i <= 6; i++) {
        const payload = `m${i}`;
        await publish(pub.c, i, `t/${i % 2}`, payload, (i % 2 === 0 ? 2 : 1) as QoS);
        sent.push(payload);
      }
      await first.close();

      const second = await startOn(t, dir);
      const back = await open(t, second, version, "sub", persistent(version));
      assert.equal(back.connack.sessionPresent, true);
      const got = await receive(back.c, 6);
      assert.deepEqual(
        got.map((p) => str(p.payload)),
        sent,
      );
      assert.deepEqual(
        got.map((p) => p.qos),
        [1, 2, 1, 2, 1, 2],
      );
      assert.equal(await back.c.nothing(100, "publish"), true);
      // The restored subscription routes new messages too.
      const pub2 = await open(t, second, version, "pub2");
      await publish(pub2.c, 1, "t/x", "after", 1);
      assert.equal(str((await receive(back.c, 1))[0].payload), "after");
    });

    it(`[MQTT-3.1.2-4] (${v(version)}) a clean start discards the stored session: after a restart there is none`, async (t) => {
      const dir = newDir();
      const first = await startOn(t, dir);
      const sub = await open(t, first, version, "sub", persistent(version));
      await subscribe(sub.c, "t", 1);
      await leave(sub.c);
      const clean = await open(t, first, version, "sub", { clean: true });
      assert.equal(clean.connack.sessionPresent, false);
      await leave(clean.c);
      await first.close();
      const second = await startOn(t, dir);
      assert.equal(second.core.sessions.size, 0);
      const back = await open(t, second, version, "sub", persistent(version));
      assert.equal(back.connack.sessionPresent, false);
    });

    it(`[MQTT-3.3.1-5] (${v(version)}) retained messages survive a restart; an empty retained message's clearing does too`, async (t) => {
      const dir = newDir();
      const first = await startOn(t, dir);
      const pub = await open(t, first, version, "pub");
      await publish(pub.c, 1, "r/a", "A", 1, { retain: true });
      await publish(pub.c, 2, "r/b", "B", 2, { retain: true });
      await publish(pub.c, 3, "r/c", "C", 1, { retain: true });
      await publish(pub.c, 4, "r/c", "", 1, { retain: true });
      await first.close();

      const second = await startOn(t, dir);
      const sub = await open(t, second, version, "sub");
      await subscribe(sub.c, "r/#", 2);
      const got = await receive(sub.c, 2);
      assert.deepEqual(got.map((p) => `${p.topic}=${str(p.payload)}`).sort(), ["r/a=A", "r/b=B"]);
      assert.ok(got.every((p) => p.retain));
      assert.equal(await sub.c.nothing(100, "publish"), true);
    });

    it(`[MQTT-4.4.0-1] (${v(version)}) an unacknowledged QoS 1 message and a QoS 2 awaiting PUBCOMP are re-sent after a restart (PUBLISH with DUP, PUBREL)`, async (t) => {
      const dir = newDir();
      const first = await startOn(t, dir);
      const sub = await open(t, first, version, "sub", persistent(version));
      await subscribe(sub.c, "t", 2);
      const pub = await open(t, first, version, "pub");
      await publish(pub.c, 1, "t", "one", 1);
      await publish(pub.c, 2, "t", "two", 2);
      const p1 = await sub.c.next("publish");
      const p2 = await sub.c.next("publish");
      // QoS 1 left unacknowledged; QoS 2 acknowledged with PUBREC only.
      sub.c.send({ type: "pubrec", packetId: p2.packetId as number });
      assert.equal((await sub.c.next("pubrel")).packetId, p2.packetId);
      await sleep(20);
      sub.c.close();
      await sub.c.waitClosed();
      await first.close();

      const second = await startOn(t, dir);
      const back = await open(t, second, version, "sub", persistent(version));
      assert.equal(back.connack.sessionPresent, true);
      const again = await back.c.next("publish");
      assert.equal(again.dup, true);
      assert.equal(again.packetId, p1.packetId);
      assert.equal(str(again.payload), "one");
      assert.equal((await back.c.next("pubrel")).packetId, p2.packetId);
      back.c.send({ type: "puback", packetId: p1.packetId as number });
      back.c.send({ type: "pubcomp", packetId: p2.packetId as number });
      assert.equal(await back.c.nothing(100, "publish"), true);
    });

    it(`[MQTT-4.3.3-10] (${v(version)}) inbound QoS 2 PUBREC'd before a restart is completed by PUBREL after it, delivered once`, async (t) => {
      const dir = newDir();
      const first = await startOn(t, dir);
      const sub = await open(t, first, version, "sub", persistent(version));
      await subscribe(sub.c, "t", 2);
      await leave(sub.c);
      const pub = await open(t, first, version, "pub", persistent(version));
      const packet: PublishPacket = {
        type: "publish",
        topic: "t",
        payload: text("once"),
        qos: 2,
        retain: false,
        dup: false,
        packetId: 7,
      };
      pub.c.send(packet);
      assert.equal((await pub.c.next("pubrec")).packetId, 7);
      await first.close();

      const second = await startOn(t, dir);
      const back = await open(t, second, version, "pub", persistent(version));
      assert.equal(back.connack.sessionPresent, true);
      back.c.send({ ...packet, dup: true });
      assert.equal((await back.c.next("pubrec")).packetId, 7);
      back.c.send({ type: "pubrel", packetId: 7 });
      const pubcomp = await back.c.next("pubcomp");
      assert.equal(pubcomp.packetId, 7);
      assert.equal(pubcomp.reasonCode ?? 0, 0);

      const s = await open(t, second, version, "sub", persistent(version));
      const got = await receive(s.c, 1);
      assert.equal(str(got[0].payload), "once");
      assert.equal(await s.c.nothing(150, "publish"), true);
    });
  });
}

describe("one stored copy per message", () => {
  it("a message queued for several persistent sessions is stored once; entries refer to it", async (t) => {
    const broker = await startOn(t, newDir());
    for (const id of ["a", "b", "c"]) {
      const s = await open(t, broker, 5, id, persistent(5));
      await subscribe(s.c, "t", 1);
      await leave(s.c);
    }
    const pub = await open(t, broker, 5, "pub");
    await publish(pub.c, 1, "t", "shared", 1);
    const store = broker.core.persistence?.store;
    assert.ok(store !== undefined);
    const summary = await store.summary();
    assert.equal(summary.storedMessages, 1);
    assert.equal(summary.queuedMessages, 3);
    assert.equal(summary.sessions, 3);
  });
});

describe("identity across a restart", () => {
  it("a restored offline session keeps its user name: an authorizer's read check lets its queued messages through", async (t) => {
    const authorizer = {
      canPublish: () => true,
      canSubscribe: () => true,
      canRead: (c: { username: string | undefined }) => c.username === "alice",
    };
    const dir = newDir();
    const first = await startOn(t, dir, { authorizer });
    const sub = await open(t, first, 5, "sub", { ...persistent(5), username: "alice" });
    await subscribe(sub.c, "s/#", 1);
    await leave(sub.c);
    await first.close();
    const second = await startOn(t, dir, { authorizer });
    const pub = await open(t, second, 5, "pub");
    await publish(pub.c, 1, "s/1", "for alice", 1);
    const back = await open(t, second, 5, "sub", { ...persistent(5), username: "alice" });
    assert.equal(str((await receive(back.c, 1))[0].payload), "for alice");
  });
});

describe("expiry across a restart (5.0)", () => {
  it("[MQTT-3.1.2-23] a session with Session Expiry 1 s is gone after the broker was down 2 s", async (t) => {
    const dir = newDir();
    const first = await startOn(t, dir);
    const sub = await open(t, first, 5, "sub", persistent(5, 1));
    await subscribe(sub.c, "t", 1);
    await leave(sub.c);
    await first.close();
    await sleep(2000);
    const second = await startOn(t, dir);
    const back = await open(t, second, 5, "sub", persistent(5, 1));
    assert.equal(back.connack.sessionPresent, false);
    const pub = await open(t, second, 5, "pub");
    await publish(pub.c, 1, "t", "x", 1);
    assert.equal(await back.c.nothing(100, "publish"), true);
  });

  it("a session whose expiry has not passed keeps running its clock from the time of the disconnect", async (t) => {
    const dir = newDir();
    const first = await startOn(t, dir);
    const sub = await open(t, first, 5, "sub", persistent(5, 3));
    await subscribe(sub.c, "t", 1);
    await leave(sub.c);
    await first.close();
    await sleep(500);
    const second = await startOn(t, dir);
    assert.ok(second.core.sessions.has("sub"));
    const back = await open(t, second, 5, "sub", persistent(5, 3));
    assert.equal(back.connack.sessionPresent, true);
  });

  it("[MQTT-3.3.2-5] a queued message whose expiry passed while the broker was down is not delivered; the remaining interval is sent [MQTT-3.3.2-6]", async (t) => {
    const dir = newDir();
    const first = await startOn(t, dir);
    const sub = await open(t, first, 5, "sub", persistent(5));
    await subscribe(sub.c, "t", 1);
    await leave(sub.c);
    const pub = await open(t, first, 5, "pub");
    await publish(pub.c, 1, "t", "short", 1, { properties: { messageExpiryInterval: 1 } });
    await publish(pub.c, 2, "t", "long", 1, { properties: { messageExpiryInterval: 100 } });
    await publish(pub.c, 3, "r", "gone", 1, {
      retain: true,
      properties: { messageExpiryInterval: 1 },
    });
    await first.close();
    await sleep(1500);
    const second = await startOn(t, dir);
    const back = await open(t, second, 5, "sub", persistent(5));
    const got = await receive(back.c, 1);
    assert.equal(str(got[0].payload), "long");
    const left = got[0].properties?.messageExpiryInterval ?? 0;
    assert.ok(left > 0 && left < 100, `remaining ${left}`);
    assert.equal(await back.c.nothing(100, "publish"), true);
    await subscribe(back.c, "r", 1);
    assert.equal(await back.c.nothing(100, "publish"), true);
  });

  it("a will with a delay longer than the downtime is published after the rest of its delay", async (t) => {
    const dir = newDir();
    const first = await startOn(t, dir);
    const watcher = await open(t, first, 5, "watcher", persistent(5));
    await subscribe(watcher.c, "will", 1);
    const dying = await open(t, first, 5, "dying", {
      ...persistent(5, 60),
      will: {
        topic: "will",
        payload: text("bye"),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 2 },
      },
    });
    dying.c.close(); // no DISCONNECT: the will stands
    await dying.c.waitClosed();
    await sleep(20);
    await first.close();
    await sleep(500);
    const second = await startOn(t, dir);
    const back = await open(t, second, 5, "watcher", persistent(5));
    assert.equal(await back.c.nothing(300, "publish"), true);
    const got = await receive(back.c, 1);
    assert.equal(str(got[0].payload), "bye");
  });
});

describe("acknowledgement after durability", () => {
  async function setup(t: TestContext) {
    let gate: ReturnType<typeof gated> | undefined;
    const broker = await startOn(t, newDir(), {
      wrap: (s) => {
        gate = gated(s);
        return gate.wrapped;
      },
    });
    const sub = await open(t, broker, 5, "sub", persistent(5));
    await subscribe(sub.c, "t", 2);
    await leave(sub.c);
    const pub = await open(t, broker, 5, "pub");
    return { broker, gate: gate as ReturnType<typeof gated>, pub: pub.c };
  }

  for (const qos of [1, 2] as const) {
    const ack = qos === 1 ? "puback" : "pubrec";
    it(`${qos === 1 ? "PUBACK" : "PUBREC"} (QoS ${qos}) is sent only after the commit of the message queued for a persistent session resolves`, async (t) => {
      const { gate, pub } = await setup(t);
      gate.hold();
      pub.send({
        type: "publish",
        topic: "t",
        payload: text("x"),
        qos,
        retain: false,
        dup: false,
        packetId: 1,
      });
      assert.equal(await pub.nothing(200, ack), true);
      assert.ok(gate.waiting > 0, "a commit is waiting");
      gate.release();
      assert.equal((await pub.next(ack)).packetId, 1);
    });
  }

  it("acknowledgements keep their order when a later message staged nothing [MQTT-4.6.0-2]", async (t) => {
    const { gate, pub } = await setup(t);
    gate.hold();
    const publish = (packetId: number, topic: string) =>
      pub.send({
        type: "publish",
        topic,
        payload: text("x"),
        qos: 1,
        retain: false,
        dup: false,
        packetId,
      });
    publish(1, "t");
    await sleep(20);
    publish(2, "nobody"); // no persistent recipient: nothing to commit, but must not overtake 1
    assert.equal(await pub.nothing(200, "puback"), true);
    gate.release();
    assert.equal((await pub.next("puback")).packetId, 1);
    assert.equal((await pub.next("puback")).packetId, 2);
  });

  it("a failed commit closes the publisher's connection with DISCONNECT 0x80 and no PUBACK", async (t) => {
    const { gate, pub } = await setup(t);
    gate.fail();
    pub.send({
      type: "publish",
      topic: "t",
      payload: text("x"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 1,
    });
    const disconnect = await pub.next("disconnect");
    assert.equal(disconnect.reasonCode, 0x80);
    await pub.waitClosed();
    assert.ok(!pub.received.some((p) => p.type === "puback"));
  });

  it("[MQTT-3.3.4-7] QoS 1 messages awaiting their commit count towards the Receive Maximum", async (t) => {
    let gate: ReturnType<typeof gated> | undefined;
    const broker = await startOn(t, newDir(), {
      limits: { receiveMaximum: 2 },
      wrap: (s) => {
        gate = gated(s);
        return gate.wrapped;
      },
    });
    const g = gate as ReturnType<typeof gated>;
    const sub = await open(t, broker, 5, "sub", persistent(5));
    await subscribe(sub.c, "t", 2);
    await leave(sub.c);
    const { c: pub } = await open(t, broker, 5, "pub");
    g.hold();
    for (let id = 1; id <= 3; id++) {
      pub.send({
        type: "publish",
        topic: "t",
        payload: text("x"),
        qos: 1,
        retain: false,
        dup: false,
        packetId: id,
      });
    }
    const disconnect = await pub.next("disconnect");
    assert.equal(disconnect.reasonCode, 0x93);
    g.release();
  });
});

describe("composition: [persistence] in the configuration", () => {
  it("startFromConfig opens the LMDB store in the configured location; retained messages survive a restart", async (t) => {
    const location = newDir();
    const config = {
      ...defaultConfig(),
      listeners: [
        { type: "mqtt" as const, host: "127.0.0.1", port: 0, path: "/mqtt", origin: "test" },
      ],
      sysInterval: 0,
      persistence: { enabled: true, location, sync: "full" as const },
    };
    const first = await startFromConfig(config, { logger: silentLogger });
    t.after(() => first.broker.close());
    const pub = await open(t, first.broker, 5, "pub");
    await publish(pub.c, 1, "cfg/r", "kept", 1, { retain: true });
    await first.broker.close();
    const second = await startFromConfig(config, { logger: silentLogger });
    t.after(() => second.broker.close());
    const sub = await open(t, second.broker, 5, "sub");
    await subscribe(sub.c, "cfg/#", 1);
    assert.equal(str((await receive(sub.c, 1))[0].payload), "kept");
  });
});

describe("queues paged from the store", () => {
  const limits = { maxQueuedMessages: 10_000 };

  /** Publishes `n` QoS 1 messages `0..n-1` to `topic` back to back (3.1.1: no Receive Maximum) and waits for every PUBACK. */
  async function flood(t: TestContext, broker: Broker, topic: string, from: number, n: number) {
    const pub = client(t, broker, 4);
    await pub.connect({ clientId: `flood-${from}` });
    for (let i = 0; i < n; i++) {
      pub.send({
        type: "publish",
        topic,
        payload: text(`m${from + i}`),
        qos: 1,
        retain: false,
        dup: false,
        packetId: (i % 60_000) + 1,
      });
    }
    for (let i = 0; i < n; i++) await pub.next("puback", 10_000);
    pub.close();
  }

  const queueOf = (broker: Broker, id: string) => {
    const session = broker.core.sessions.get(id);
    assert.ok(session !== undefined, `session ${id}`);
    return session.queue;
  };

  it("[MQTT-3.1.2-5] an offline persistent session's queue stays in the store, not in memory, before and after a restart; it arrives in order when the client is back, a page at a time", async (t) => {
    const dir = newDir();
    const first = await startOn(t, dir, { limits });
    const sub = await open(t, first, 5, "sub", persistent(5));
    await subscribe(sub.c, "t", 1);
    await leave(sub.c);
    await flood(t, first, "t", 0, 2500);
    assert.equal(queueOf(first, "sub").length, 2500);
    assert.equal(queueOf(first, "sub").loaded, 0, "nothing of an offline queue is held in memory");
    await first.close();

    const second = await startOn(t, dir, { limits });
    const q = queueOf(second, "sub");
    assert.equal(q.length, 2500);
    assert.equal(q.loaded, 0);
    let bytes = 0;
    for (let i = 0; i < 2500; i++) bytes += `m${i}`.length;
    assert.equal(q.bytes, bytes, "payload bytes counted from the store");
    const back = await open(t, second, 5, "sub", persistent(5));
    let maxLoaded = 0;
    const got: string[] = [];
    for (let i = 0; i < 2500; i++) {
      const p = await back.c.next("publish", 10_000);
      got.push(str(p.payload));
      back.c.send({ type: "puback", packetId: p.packetId as number });
      maxLoaded = Math.max(maxLoaded, q.loaded);
    }
    assert.deepEqual(
      got,
      Array.from({ length: 2500 }, (_, i) => `m${i}`),
    );
    assert.ok(maxLoaded <= 1000, `at most a page or two loaded (saw ${maxLoaded})`);
    assert.equal(await back.c.nothing(200, "publish"), true);
    await sleep(50);
    const store = second.core.persistence?.store;
    assert.equal(await store?.queueLength("sub"), 0);
  });

  it("[MQTT-4.6.0-6] messages arriving while the stored tail is paged in queue behind it: order kept", async (t) => {
    const broker = await startOn(t, newDir(), { limits });
    const sub = await open(t, broker, 5, "sub", persistent(5));
    await subscribe(sub.c, "t", 1);
    await leave(sub.c);
    await flood(t, broker, "t", 0, 1500);
    const back = await open(t, broker, 5, "sub", {
      ...persistent(5),
      properties: { sessionExpiryInterval: 300, receiveMaximum: 10 },
    });
    const more = flood(t, broker, "t", 1500, 500);
    const got: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const p = await back.c.next("publish", 10_000);
      got.push(str(p.payload));
      back.c.send({ type: "puback", packetId: p.packetId as number });
    }
    await more;
    assert.deepEqual(
      got,
      Array.from({ length: 2000 }, (_, i) => `m${i}`),
    );
  });

  it("drop-oldest with the queue's tail in the store keeps the newest messages, in order", async (t) => {
    const broker = await startOn(t, newDir(), {
      limits: { maxQueuedMessages: 100, queueOverflow: "drop-oldest" },
    });
    const sub = await open(t, broker, 5, "sub", persistent(5));
    await subscribe(sub.c, "t", 1);
    await leave(sub.c);
    await flood(t, broker, "t", 0, 250);
    assert.equal(queueOf(broker, "sub").length, 100);
    const back = await open(t, broker, 5, "sub", persistent(5));
    const got = (await receive(back.c, 100)).map((p) => str(p.payload));
    assert.deepEqual(
      got,
      Array.from({ length: 100 }, (_, i) => `m${150 + i}`),
    );
    assert.equal(await back.c.nothing(200, "publish"), true);
    await sleep(50);
    assert.equal(
      await broker.core.persistence?.store.queueLength("sub"),
      0,
      "dropped entries left the store",
    );
  });

  it("[MQTT-3.3.2-5] a message in the stored tail that expired while its client was away is dropped when paged in", async (t) => {
    const broker = await startOn(t, newDir());
    const sub = await open(t, broker, 5, "sub", persistent(5));
    await subscribe(sub.c, "t", 1);
    await leave(sub.c);
    const pub = await open(t, broker, 5, "pub");
    for (let i = 1; i <= 5; i++)
      await publish(pub.c, i, "t", `short${i}`, 1, { properties: { messageExpiryInterval: 1 } });
    for (let i = 6; i <= 8; i++) await publish(pub.c, i, "t", `long${i}`, 1);
    await sleep(1200);
    const back = await open(t, broker, 5, "sub", persistent(5));
    const got = (await receive(back.c, 3)).map((p) => str(p.payload));
    assert.deepEqual(got, ["long6", "long7", "long8"]);
    assert.equal(await back.c.nothing(200, "publish"), true);
  });

  it("[MQTT-3.1.2-5] a session resumed with Session Expiry 0 still receives its stored queue, and ends at disconnect", async (t) => {
    const broker = await startOn(t, newDir(), { limits });
    const sub = await open(t, broker, 5, "sub", persistent(5));
    await subscribe(sub.c, "t", 1);
    await leave(sub.c);
    await flood(t, broker, "t", 0, 600);
    const back = await open(t, broker, 5, "sub", { clean: false, properties: {} });
    assert.equal(back.connack.sessionPresent, true);
    const got = (await receive(back.c, 600)).map((p) => str(p.payload));
    assert.deepEqual(
      got,
      Array.from({ length: 600 }, (_, i) => `m${i}`),
    );
    await leave(back.c);
    await sleep(50);
    assert.equal(broker.core.sessions.has("sub"), false);
    assert.equal(await broker.core.persistence?.store.getSession("sub"), undefined);
  });

  it("[MQTT-4.3.3-10] a QoS 2 PUBLISH to a stored session, and its PUBREL, leave only after the state they follow is committed", async (t) => {
    let gate: ReturnType<typeof gated> | undefined;
    const broker = await startOn(t, newDir(), {
      wrap: (s) => {
        gate = gated(s);
        return gate.wrapped;
      },
    });
    const g = gate as ReturnType<typeof gated>;
    const sub = await open(t, broker, 5, "sub", persistent(5));
    await subscribe(sub.c, "t", 2);
    const pub = await open(t, broker, 5, "pub");
    g.hold();
    pub.c.send({
      type: "publish",
      topic: "t",
      payload: text("once"),
      qos: 2,
      retain: false,
      dup: false,
      packetId: 7,
    });
    assert.equal(await sub.c.nothing(200, "publish"), true, "no PUBLISH before its commit");
    g.release();
    const p = await sub.c.next("publish");
    assert.equal(str(p.payload), "once");
    g.hold();
    sub.c.send({ type: "pubrec", packetId: p.packetId as number });
    assert.equal(await sub.c.nothing(200, "pubrel"), true, "no PUBREL before its commit");
    g.release();
    assert.equal((await sub.c.next("pubrel")).packetId, p.packetId);
  });
});

describe("retained messages in the store", () => {
  it("[MQTT-3.3.2-5] a retained message found expired is removed from the store too, not only from memory", async (t) => {
    const broker = await startOn(t, newDir());
    const pub = await open(t, broker, 5, "pub");
    await publish(pub.c, 1, "r/short", "x", 1, {
      retain: true,
      properties: { messageExpiryInterval: 1 },
    });
    await publish(pub.c, 2, "r/long", "y", 1, { retain: true });
    const store = broker.core.persistence?.store;
    assert.ok(store !== undefined);
    assert.deepEqual((await store.listRetained()).map((r) => r.topic).sort(), [
      "r/long",
      "r/short",
    ]);
    await sleep(1200);
    const sub = await open(t, broker, 5, "sub");
    await subscribe(sub.c, "r/#", 1);
    assert.equal(str((await sub.c.next("publish")).payload), "y");
    assert.equal(await sub.c.nothing(100, "publish"), true);
    await sleep(50);
    assert.deepEqual(
      (await store.listRetained()).map((r) => r.topic),
      ["r/long"],
    );
  });

  it("a restored retained message queued for a persistent session is not stored a second time", async (t) => {
    const dir = newDir();
    const first = await startOn(t, dir);
    const pub = await open(t, first, 5, "pub");
    await publish(pub.c, 1, "r", "retained", 1, { retain: true });
    await first.close();
    const second = await startOn(t, dir);
    const store = second.core.persistence?.store;
    assert.ok(store !== undefined);
    assert.equal((await store.summary()).storedMessages, 1);
    const sub = await open(t, second, 5, "sub", persistent(5));
    await subscribe(sub.c, "r", 1);
    const p = await sub.c.next("publish");
    assert.equal(str(p.payload), "retained");
    await sleep(50);
    const summary = await store.summary();
    assert.equal(summary.inflightMessages, 1);
    assert.equal(
      summary.storedMessages,
      1,
      "the in-flight entry refers to the stored retained message",
    );
  });
});
