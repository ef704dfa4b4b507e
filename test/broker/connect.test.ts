/**
 * Broker black-box tests for MQTT §3.1 CONNECT and §3.2 CONNACK: the first
 * packet, protocol name and level, client identifiers, CONNACK properties,
 * connect timeout, keep alive, connection limits and session takeover
 * (§3.1.4). Raw bytes where the exact answer matters, decoded packets
 * elsewhere. Ids are MQTT 5.0 statements unless the name says (3.1.1) or (3.1).
 */
import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import { describe, it, type TestContext } from "node:test";
import type { Broker, BrokerOptions } from "../../src/broker/index.js";
import type { ProtocolVersion } from "../../src/protocol/index.js";
import { sleep, startBroker, tcpPort } from "../helpers/broker.js";
import { RawClient, str, text } from "../helpers/raw-client.js";

// ---- harness -----------------------------------------------------------------

async function brokerFor(t: TestContext, options: BrokerOptions = {}): Promise<Broker> {
  const broker = await startBroker(options);
  t.after(() => broker.close());
  return broker;
}

function memClient(t: TestContext, broker: Broker, version: ProtocolVersion = 5): RawClient {
  const client = RawClient.memory(broker, version);
  t.after(() => client.close());
  return client;
}

async function tcpClient(
  t: TestContext,
  broker: Broker,
  version: ProtocolVersion = 5,
): Promise<RawClient> {
  const client = await RawClient.tcp(tcpPort(broker), version);
  t.after(() => client.close());
  return client;
}

/**
 * Writes `hex` on a fresh TCP connection and collects every byte the broker
 * sends until it closes the connection or `waitMs` passes.
 */
function exchange(
  broker: Broker,
  hex: string,
  waitMs = 1500,
): Promise<{ bytes: string; closed: boolean; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = netConnect(tcpPort(broker), "127.0.0.1");
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({
        bytes: Buffer.concat(chunks).toString("hex"),
        closed,
        ms: Date.now() - started,
      });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("close", () => finish(true));
    socket.on("error", (err) => {
      if (!done && chunks.length === 0) reject(err);
    });
    socket.on("connect", () => {
      const bytes = hex.replace(/\s+/g, "");
      if (bytes !== "") socket.write(Buffer.from(bytes, "hex"));
    });
  });
}

/** A raw CONNECT: protocol name, level, flags, keepalive 60, v5 empty properties, client id. */
function rawConnect(name: string, level: number, flags: number, clientId = "", v5Props = false) {
  const nameBytes = Buffer.from(name, "utf8");
  const id = Buffer.from(clientId, "utf8");
  const body = Buffer.concat([
    Buffer.from([nameBytes.length >> 8, nameBytes.length & 0xff]),
    nameBytes,
    Buffer.from([level, flags, 0x00, 0x3c]),
    v5Props ? Buffer.from([0x00]) : Buffer.alloc(0),
    Buffer.from([id.length >> 8, id.length & 0xff]),
    id,
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]).toString("hex");
}

async function subscribe(client: RawClient, filter: string, qos: 0 | 1 | 2 = 1): Promise<void> {
  client.send({ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: filter, qos }] });
  const suback = await client.next("suback");
  assert.equal(suback.reasonCodes[0], qos);
}

// ---- §3.1.0 the first packet -----------------------------------------------

describe("§3.1.0 CONNECT must come first, and only once", () => {
  for (const [what, hex] of [
    ["PINGREQ", "c000"],
    ["PUBLISH", "3005000161 6869"],
    ["SUBSCRIBE", "8206 0001 000161 00"],
    ["DISCONNECT", "e000"],
    ["non-MQTT bytes (HTTP)", Buffer.from("GET / HTTP/1.1\r\n\r\n").toString("hex")],
  ] as const) {
    it(`[MQTT-3.1.0-1] ${what} as the first packet → connection closed without a reply`, async (t) => {
      const broker = await brokerFor(t);
      const r = await exchange(broker, hex);
      assert.equal(r.closed, true);
      assert.equal(r.bytes, "");
    });
  }

  it("[MQTT-3.1.0-2] (3.1.1) a second CONNECT is a protocol violation → connection closed", async (t) => {
    const broker = await brokerFor(t);
    const c = memClient(t, broker, 4);
    assert.equal((await c.connect({ clientId: "twice4" })).reasonCode, 0);
    c.send({ type: "connect", protocolVersion: 4, clean: true, keepalive: 60, clientId: "twice4" });
    await c.waitClosed();
    assert.deepEqual(c.received, []);
  });

  it("[MQTT-3.1.0-2] a second CONNECT → DISCONNECT 0x82 (Protocol Error), then close", async (t) => {
    const broker = await brokerFor(t);
    const c = memClient(t, broker, 5);
    assert.equal((await c.connect({ clientId: "twice5" })).reasonCode, 0);
    c.send({ type: "connect", protocolVersion: 5, clean: true, keepalive: 60, clientId: "twice5" });
    const d = await c.next("disconnect");
    assert.equal(d.reasonCode, 0x82);
    await c.waitClosed();
  });
});

// ---- §3.1.2.1–2 protocol name and level ---------------------------------------

describe("§3.1.2.1–3.1.2.2 protocol name and level", () => {
  it("[MQTT-3.1.2-2] (3.1.1) protocol level 6 → CONNACK 0x01 in the 3.1.1 form (20 02 00 01), then close", async (t) => {
    const broker = await brokerFor(t);
    const r = await exchange(broker, rawConnect("MQTT", 6, 0x02, "lvl6"));
    assert.equal(r.bytes, "20020001");
    assert.equal(r.closed, true);
  });

  it("[MQTT-3.1.2-2] (3.1.1) name MQTT with level 3 → CONNACK 0x01, then close", async (t) => {
    const broker = await brokerFor(t);
    const r = await exchange(broker, rawConnect("MQTT", 3, 0x02, "lvl3"));
    assert.equal(r.bytes, "20020001");
    assert.equal(r.closed, true);
  });

  it("[MQTT-3.1.2-2] (3.1) name MQIsdp with level 4 → CONNACK 0x01, then close", async (t) => {
    const broker = await brokerFor(t);
    const r = await exchange(broker, rawConnect("MQIsdp", 4, 0x02, "isdp4"));
    assert.equal(r.bytes, "20020001");
    assert.equal(r.closed, true);
  });

  it("[MQTT-3.1.2-1] (3.1.1) unknown protocol name → closed (at most CONNACK 0x01 first)", async (t) => {
    const broker = await brokerFor(t);
    const r = await exchange(broker, rawConnect("MQTX", 4, 0x02, "name"));
    assert.equal(r.closed, true);
    assert.ok(r.bytes === "" || r.bytes === "20020001", `got ${r.bytes}`);
  });

  it("(3.1) MQIsdp level 3 → CONNACK 20 02 00 00; (3.1.1) MQTT level 4 → 20 02 00 00", async (t) => {
    const broker = await brokerFor(t);
    const v3 = await exchange(broker, rawConnect("MQIsdp", 3, 0x02, "isdp3"), 300);
    assert.equal(v3.bytes, "20020000");
    assert.equal(v3.closed, false);
    const v4 = await exchange(broker, rawConnect("MQTT", 4, 0x02, "mqtt4"), 300);
    assert.equal(v4.bytes, "20020000");
    assert.equal(v4.closed, false);
  });

  it("[MQTT-3.1.4-5] MQTT level 5 → CONNACK 0x00 with properties", async (t) => {
    const broker = await brokerFor(t);
    const r = await exchange(broker, rawConnect("MQTT", 5, 0x02, "mqtt5", true), 300);
    assert.equal(r.closed, false);
    // 20 <len> 00 (flags) 00 (Success) <properties>
    assert.equal(r.bytes.slice(0, 2), "20");
    assert.equal(r.bytes.slice(4, 8), "0000");
  });

  it("[MQTT-3.1.2-3] (3.1.1) reserved Connect Flags bit set → closed without CONNACK", async (t) => {
    const broker = await brokerFor(t);
    const r = await exchange(broker, rawConnect("MQTT", 4, 0x03, "resv4"));
    assert.equal(r.closed, true);
    assert.equal(r.bytes, "");
  });

  it("[MQTT-3.1.2-3] reserved Connect Flags bit set → closed (at most a CONNACK ≥ 0x80 first)", async (t) => {
    const broker = await brokerFor(t);
    const r = await exchange(broker, rawConnect("MQTT", 5, 0x03, "resv5", true));
    assert.equal(r.closed, true);
    if (r.bytes !== "") {
      assert.equal(r.bytes.slice(0, 2), "20");
      assert.ok(Number.parseInt(r.bytes.slice(6, 8), 16) >= 0x80, `got ${r.bytes}`);
    }
  });

  it("[MQTT-3.1.2-12] Will QoS 3 is malformed → closed without CONNACK 0x00", async (t) => {
    const broker = await brokerFor(t);
    // flags: clean, will flag, will QoS 3; will props (0), topic "w", payload "x"
    const r = await exchange(broker, "1015 0004 4d515454 05 1e 003c 00 0001 63 00 0001 77 0001 78");
    assert.equal(r.closed, true);
    assert.ok(r.bytes === "" || Number.parseInt(r.bytes.slice(6, 8), 16) >= 0x80, r.bytes);
  });
});

// ---- §3.1.3.1 client identifier --------------------------------------------

describe("§3.1.3.1 client identifier", () => {
  it("[MQTT-3.1.3-6] (3.1.1) empty client id with clean session 1 → accepted, and the connection works", async (t) => {
    const broker = await brokerFor(t);
    const c = memClient(t, broker, 4);
    const connack = await c.connect({ clientId: "", clean: true });
    assert.deepEqual(connack, { type: "connack", sessionPresent: false, reasonCode: 0 });
    await subscribe(c, "anon/t");
    c.send({
      type: "publish",
      topic: "anon/t",
      payload: text("me"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 7,
    });
    const msg = await c.next("publish");
    assert.equal(str(msg.payload), "me");
    assert.equal((await c.next("puback")).packetId, 7);
  });

  it("[MQTT-3.1.3-6] (3.1.1) two anonymous clients get different identifiers (neither takes the other over)", async (t) => {
    const broker = await brokerFor(t);
    const a = memClient(t, broker, 4);
    const b = memClient(t, broker, 4);
    assert.equal((await a.connect({ clientId: "" })).reasonCode, 0);
    assert.equal((await b.connect({ clientId: "" })).reasonCode, 0);
    a.send({ type: "pingreq" });
    await a.next("pingresp");
    assert.equal(a.isClosed, false);
  });

  it("[MQTT-3.1.3-8] (3.1.1) empty client id with clean session 0 → CONNACK 0x02 (20 02 00 02), then close", async (t) => {
    const broker = await brokerFor(t);
    const r = await exchange(broker, rawConnect("MQTT", 4, 0x00, ""));
    assert.equal(r.bytes, "20020002");
    assert.equal(r.closed, true);
  });

  it("(3.1) empty client id → CONNACK 0x02 (identifier rejected; 3.1 requires 1–23 characters), then close", async (t) => {
    const broker = await brokerFor(t);
    const r = await exchange(broker, rawConnect("MQIsdp", 3, 0x02, ""));
    assert.equal(r.bytes, "20020002");
    assert.equal(r.closed, true);
  });

  it("[MQTT-3.2.2-16] empty client id → CONNACK carries a new, unique Assigned Client Identifier", async (t) => {
    const broker = await brokerFor(t);
    const a = memClient(t, broker);
    const b = memClient(t, broker);
    const ca = await a.connect({ clientId: "" });
    const cb = await b.connect({ clientId: "" });
    assert.equal(ca.reasonCode, 0);
    const ida = ca.properties?.assignedClientIdentifier;
    const idb = cb.properties?.assignedClientIdentifier;
    assert.ok(ida !== undefined && ida.length > 0);
    assert.ok(idb !== undefined && idb.length > 0);
    assert.notEqual(ida, idb);
    assert.ok(!broker.core.sessions.has("") && broker.core.sessions.has(ida));
  });

  it("[MQTT-3.2.2-16] a client that sent its own id gets no Assigned Client Identifier", async (t) => {
    const broker = await brokerFor(t);
    const c = memClient(t, broker);
    const connack = await c.connect({ clientId: "mine" });
    assert.equal(connack.properties?.assignedClientIdentifier, undefined);
  });

  it("[MQTT-3.1.3-7] the CONNECT is processed as if the client had sent the assigned id: it names the session", async (t) => {
    const broker = await brokerFor(t);
    const c = memClient(t, broker);
    const connack = await c.connect({
      clientId: "",
      clean: true,
      properties: { sessionExpiryInterval: 60 },
    });
    const id = connack.properties?.assignedClientIdentifier as string;
    await subscribe(c, "assigned/t");
    c.close();
    await sleep(20);
    const again = memClient(t, broker);
    const resumed = await again.connect({
      clientId: id,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    assert.equal(resumed.sessionPresent, true);
    assert.equal(resumed.properties?.assignedClientIdentifier, undefined);
  });
});

// ---- §3.2.2.3 CONNACK properties --------------------------------------------

describe("§3.2.2.3 CONNACK properties announce the broker's limits", () => {
  it("default limits: Maximum Packet Size, Topic Alias Maximum, wildcard / subscription id / shared available; no Receive Maximum, Maximum QoS or Retain Available", async (t) => {
    const broker = await brokerFor(t);
    const c = memClient(t, broker);
    const p = (await c.connect({ clientId: "props" })).properties ?? {};
    const limits = broker.core.limits;
    assert.equal(p.maximumPacketSize, limits.maxPacketSize);
    assert.equal(p.topicAliasMaximum, limits.topicAliasMaximum);
    assert.equal(p.receiveMaximum, undefined); // absent means 65,535
    assert.equal(p.maximumQoS, undefined); // absent means 2
    assert.equal(p.retainAvailable, undefined); // absent means available
    assert.notEqual(p.wildcardSubscriptionAvailable, false);
    assert.notEqual(p.subscriptionIdentifierAvailable, false);
    assert.notEqual(p.sharedSubscriptionAvailable, false);
    assert.equal(p.serverKeepAlive, undefined);
    assert.equal(p.authenticationMethod, undefined);
  });

  it("[MQTT-3.2.2-9] limited broker: Receive Maximum, Maximum QoS 1, Retain Available 0, Maximum Packet Size, no Topic Alias Maximum", async (t) => {
    const broker = await brokerFor(t, {
      limits: {
        receiveMaximum: 10,
        maximumQoS: 1,
        retainAvailable: false,
        maxPacketSize: 4096,
        topicAliasMaximum: 0,
      },
    });
    const c = memClient(t, broker);
    const p = (await c.connect({ clientId: "limited" })).properties ?? {};
    assert.equal(p.receiveMaximum, 10);
    assert.equal(p.maximumQoS, 1);
    assert.equal(p.retainAvailable, false);
    assert.equal(p.maximumPacketSize, 4096);
    assert.equal(p.topicAliasMaximum, undefined); // absent means 0
  });

  it("[MQTT-3.2.2-9] Maximum QoS 0 is announced as 0", async (t) => {
    const broker = await brokerFor(t, { limits: { maximumQoS: 0 } });
    const c = memClient(t, broker);
    const p = (await c.connect({ clientId: "qos0" })).properties ?? {};
    assert.equal(p.maximumQoS, 0);
  });

  it("[MQTT-3.2.2-10] a broker with Maximum QoS 1 still accepts SUBSCRIBE at QoS 2 (granting 1)", async (t) => {
    const broker = await brokerFor(t, { limits: { maximumQoS: 1 } });
    const c = memClient(t, broker);
    await c.connect({ clientId: "sub2" });
    c.send({ type: "subscribe", packetId: 3, subscriptions: [{ topicFilter: "q/#", qos: 2 }] });
    assert.deepEqual((await c.next("suback")).reasonCodes, [1]);
  });

  it("the announced limits are the ones enforced: PUBLISH above Maximum QoS → DISCONNECT 0x9B", async (t) => {
    const broker = await brokerFor(t, { limits: { maximumQoS: 1 } });
    const c = memClient(t, broker);
    await c.connect({ clientId: "overqos" });
    c.send({
      type: "publish",
      topic: "a",
      payload: text("x"),
      qos: 2,
      retain: false,
      dup: false,
      packetId: 1,
    });
    assert.equal((await c.next("disconnect")).reasonCode, 0x9b);
    await c.waitClosed();
  });

  it("the announced limits are the ones enforced: a packet above Maximum Packet Size → DISCONNECT 0x95", async (t) => {
    const broker = await brokerFor(t, { limits: { maxPacketSize: 256 } });
    const c = memClient(t, broker);
    const p = (await c.connect({ clientId: "big" })).properties ?? {};
    assert.equal(p.maximumPacketSize, 256);
    c.send({
      type: "publish",
      topic: "a",
      payload: new Uint8Array(300),
      qos: 0,
      retain: false,
      dup: false,
    });
    assert.equal((await c.next("disconnect")).reasonCode, 0x95);
    await c.waitClosed();
  });

  it("the announced limits are the ones enforced: RETAIN with Retain Available 0 → DISCONNECT 0x9A", async (t) => {
    const broker = await brokerFor(t, { limits: { retainAvailable: false } });
    const c = memClient(t, broker);
    await c.connect({ clientId: "noretain" });
    c.send({ type: "publish", topic: "a", payload: text("x"), qos: 0, retain: true, dup: false });
    assert.equal((await c.next("disconnect")).reasonCode, 0x9a);
    await c.waitClosed();
  });

  it("(3.1.1) CONNACK has no properties and session present 0 for a new session", async (t) => {
    const broker = await brokerFor(t);
    const c = memClient(t, broker, 4);
    assert.deepEqual(await c.connect({ clientId: "v4props" }), {
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
    });
  });
});

// ---- connect timeout and keep alive (slow: run concurrently) ----------------

describe("CONNECT timeout and §3.1.2.10 Keep Alive", { concurrency: true }, () => {
  it("a connection that never sends CONNECT is closed after connectTimeoutMs", async (t) => {
    const broker = await brokerFor(t, { limits: { connectTimeoutMs: 300 } });
    const r = await exchange(broker, "", 3000);
    assert.equal(r.closed, true);
    assert.equal(r.bytes, "");
    assert.ok(r.ms >= 250, `closed after ${r.ms} ms`);
  });

  it("a connection that sends half a CONNECT is closed after connectTimeoutMs", async (t) => {
    const broker = await brokerFor(t, { limits: { connectTimeoutMs: 300 } });
    const r = await exchange(broker, rawConnect("MQTT", 4, 0x02, "half").slice(0, 12), 3000);
    assert.equal(r.closed, true);
    assert.equal(r.bytes, "");
  });

  it("[MQTT-3.1.2-24] (3.1.1) no packet within 1.5 × Keep Alive → connection closed", async (t) => {
    const broker = await brokerFor(t);
    const c = await tcpClient(t, broker, 4);
    const started = Date.now();
    await c.connect({ clientId: "ka4", keepalive: 1 });
    await c.waitClosed(4000);
    const ms = Date.now() - started;
    assert.ok(ms >= 1400, `closed after ${ms} ms`);
    assert.deepEqual(c.received, []);
  });

  it("[MQTT-3.1.2-22] no packet within 1.5 × Keep Alive → DISCONNECT 0x8D (Keep Alive timeout), then close", async (t) => {
    const broker = await brokerFor(t);
    const c = await tcpClient(t, broker, 5);
    const started = Date.now();
    await c.connect({ clientId: "ka5", keepalive: 1 });
    const d = await c.next("disconnect", 4000);
    assert.equal(d.reasonCode, 0x8d);
    assert.ok(Date.now() - started >= 1400);
    await c.waitClosed();
  });

  for (const version of [4, 5] as const) {
    it(`[MQTT-3.1.2-22] PINGREQ within the Keep Alive keeps the connection open (${version === 5 ? "5.0" : "3.1.1"})`, async (t) => {
      const broker = await brokerFor(t);
      const c = await tcpClient(t, broker, version);
      await c.connect({ clientId: `ping${version}`, keepalive: 1 });
      for (let i = 0; i < 4; i++) {
        await sleep(600);
        c.send({ type: "pingreq" });
        await c.next("pingresp");
      }
      assert.equal(c.isClosed, false);
      assert.equal(c.received.length, 0);
    });
  }

  it("[MQTT-3.2.2-22] Keep Alive 0 turns the mechanism off", async (t) => {
    const broker = await brokerFor(t);
    const c = await tcpClient(t, broker, 5);
    const connack = await c.connect({ clientId: "ka0", keepalive: 0 });
    assert.equal(connack.properties?.serverKeepAlive, undefined);
    await sleep(2200);
    assert.equal(c.isClosed, false);
  });

  it("[MQTT-3.2.2-21] maxKeepalive: the Server Keep Alive in CONNACK replaces a larger or zero Keep Alive", async (t) => {
    const broker = await brokerFor(t, { limits: { maxKeepalive: 10 } });
    const big = memClient(t, broker);
    assert.equal(
      (await big.connect({ clientId: "k60", keepalive: 60 })).properties?.serverKeepAlive,
      10,
    );
    const zero = memClient(t, broker);
    assert.equal(
      (await zero.connect({ clientId: "k0", keepalive: 0 })).properties?.serverKeepAlive,
      10,
    );
    const small = memClient(t, broker);
    const connack = await small.connect({ clientId: "k5", keepalive: 5 });
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.serverKeepAlive, undefined); // [MQTT-3.2.2-22]
  });

  it("[MQTT-3.2.2-21] the Server Keep Alive is the one enforced", async (t) => {
    const broker = await brokerFor(t, { limits: { maxKeepalive: 1 } });
    const c = await tcpClient(t, broker, 5);
    const connack = await c.connect({ clientId: "ska", keepalive: 60 });
    assert.equal(connack.properties?.serverKeepAlive, 1);
    assert.equal((await c.next("disconnect", 4000)).reasonCode, 0x8d);
  });

  it("(3.1.1) Keep Alive above maxKeepalive → CONNACK 0x02 and close (Mosquitto's max_keepalive behaviour)", async (t) => {
    const broker = await brokerFor(t, { limits: { maxKeepalive: 10 } });
    const c = memClient(t, broker, 4);
    const connack = await c.connect({ clientId: "k4", keepalive: 60 });
    assert.equal(connack.reasonCode, 2);
    assert.equal(connack.sessionPresent, false);
    await c.waitClosed();
  });
});

// ---- connection limit ------------------------------------------------------

describe("maxConnections", () => {
  it("[MQTT-3.2.2-7] beyond maxConnections → CONNACK 0x89 (Server busy), session present 0, then close", async (t) => {
    const broker = await brokerFor(t, { limits: { maxConnections: 1 } });
    const first = memClient(t, broker);
    assert.equal((await first.connect({ clientId: "one" })).reasonCode, 0);
    const second = memClient(t, broker);
    const connack = await second.connect({ clientId: "two" });
    assert.equal(connack.reasonCode, 0x89);
    assert.equal(connack.sessionPresent, false); // [MQTT-3.2.2-6]
    await second.waitClosed();
    assert.equal(broker.core.sessions.has("two"), false);
  });

  it("[MQTT-3.2.2-5] (3.1.1) beyond maxConnections → CONNACK 0x03 (Server unavailable), then close; the slot frees on close", async (t) => {
    const broker = await brokerFor(t, { limits: { maxConnections: 1 } });
    const first = memClient(t, broker, 4);
    assert.equal((await first.connect({ clientId: "one4" })).reasonCode, 0);
    const r = await exchange(broker, rawConnect("MQTT", 4, 0x02, "two4"));
    assert.equal(r.bytes, "20020003");
    assert.equal(r.closed, true);
    first.close();
    await first.closed;
    await sleep(20);
    const third = memClient(t, broker, 4);
    assert.equal((await third.connect({ clientId: "three4" })).reasonCode, 0);
  });
});

// ---- §3.1.4 session takeover -----------------------------------------------

describe("§3.1.4 session takeover", () => {
  it("[MQTT-3.1.4-3] same client id again → the old connection gets DISCONNECT 0x8E (Session taken over) and is closed", async (t) => {
    const broker = await brokerFor(t);
    const old = memClient(t, broker);
    await old.connect({ clientId: "dup" });
    const fresh = memClient(t, broker);
    const connack = await fresh.connect({ clientId: "dup" });
    assert.equal(connack.reasonCode, 0);
    assert.equal((await old.next("disconnect")).reasonCode, 0x8e);
    await old.waitClosed();
    fresh.send({ type: "pingreq" });
    await fresh.next("pingresp");
  });

  it("[MQTT-3.1.4-2] (3.1.1) same client id again → the old connection is closed", async (t) => {
    const broker = await brokerFor(t);
    const old = await tcpClient(t, broker, 4);
    await old.connect({ clientId: "dup4" });
    const fresh = await tcpClient(t, broker, 4);
    assert.equal((await fresh.connect({ clientId: "dup4" })).reasonCode, 0);
    await old.waitClosed();
    assert.deepEqual(old.received, []);
    fresh.send({ type: "pingreq" });
    await fresh.next("pingresp");
  });

  it("[MQTT-3.1.4-3] a 3.1.1 connection taken over by a 5.0 one is closed without DISCONNECT", async (t) => {
    const broker = await brokerFor(t);
    const old = memClient(t, broker, 4);
    await old.connect({ clientId: "mixed" });
    const fresh = memClient(t, broker, 5);
    assert.equal((await fresh.connect({ clientId: "mixed" })).reasonCode, 0);
    await old.waitClosed();
    assert.deepEqual(old.received, []);
  });

  for (const version of [4, 5] as const) {
    const v = version === 5 ? "5.0" : "3.1.1";
    it(`[MQTT-3.1.4-3] takeover with clean ${version === 5 ? "start" : "session"} 0 continues the session: session present 1, subscriptions kept (${v})`, async (t) => {
      const broker = await brokerFor(t);
      const props = version === 5 ? { sessionExpiryInterval: 60 } : undefined;
      const old = memClient(t, broker, version);
      await old.connect({ clientId: `keep${version}`, clean: true, properties: props });
      await subscribe(old, "keep/t");
      const fresh = memClient(t, broker, version);
      const connack = await fresh.connect({
        clientId: `keep${version}`,
        clean: false,
        properties: props,
      });
      assert.equal(connack.sessionPresent, true);
      await old.waitClosed();
      const pub = memClient(t, broker, version);
      await pub.connect({ clientId: `kp${version}` });
      pub.send({
        type: "publish",
        topic: "keep/t",
        payload: text("x"),
        qos: 0,
        retain: false,
        dup: false,
      });
      const msg = await fresh.next("publish");
      assert.equal(msg.topic, "keep/t");
    });

    it(`[MQTT-3.1.4-3] takeover with clean ${version === 5 ? "start" : "session"} 1 starts a new session: session present 0, subscriptions gone (${v})`, async (t) => {
      const broker = await brokerFor(t);
      const props = version === 5 ? { sessionExpiryInterval: 60 } : undefined;
      const old = memClient(t, broker, version);
      await old.connect({ clientId: `drop${version}`, clean: false, properties: props });
      await subscribe(old, "drop/t");
      const fresh = memClient(t, broker, version);
      const connack = await fresh.connect({
        clientId: `drop${version}`,
        clean: true,
        properties: props,
      });
      assert.equal(connack.sessionPresent, false);
      await old.waitClosed();
      const pub = memClient(t, broker, version);
      await pub.connect({ clientId: `dp${version}` });
      pub.send({
        type: "publish",
        topic: "drop/t",
        payload: text("x"),
        qos: 0,
        retain: false,
        dup: false,
      });
      assert.equal(await fresh.nothing(150), true);
    });
  }
});

describe("§4.13.1 a malformed MQTT 5 CONNECT is answered with CONNACK and its reason code", () => {
  it("[MQTT-3.1.2-3] reserved CONNECT flag set (5.0) → CONNACK 0x81, then close", async (t) => {
    const broker = await startBroker();
    t.after(() => broker.close());
    const c = RawClient.memory(broker, 5);
    // CONNECT, "MQTT" level 5, flags 0x03 (reserved bit set), keepalive 60, no properties, empty id.
    c.sendBytes("10 0d 00 04 4d 51 54 54 05 03 00 3c 00 00 00");
    const connack = await c.next("connack");
    assert.equal(connack.reasonCode, 0x81);
    await c.waitClosed();
  });
});
