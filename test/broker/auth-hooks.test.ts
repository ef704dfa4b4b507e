/**
 * Broker black-box tests for the authentication and authorization seams:
 * the `authenticator` hook (sync and async) and what CONNACK says when it
 * refuses (§3.1.4, §3.2.2.2), MQTT 5 enhanced authentication and
 * re-authentication (§4.12, §3.15), and the `authorizer` on PUBLISH and
 * SUBSCRIBE (§3.3.5, §3.4.2.1, §3.9.3). Ids are MQTT 5.0 statements unless
 * the name says (3.1.1).
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import type {
  Authorizer,
  AuthResult,
  AuthStep,
  Broker,
  BrokerOptions,
  ConnectInfo,
  EnhancedAuthenticator,
} from "../../src/broker/index.js";
import type { Packet, ProtocolVersion } from "../../src/protocol/index.js";
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

const v = (version: ProtocolVersion) => (version === 5 ? "5.0" : "3.1.1");

async function watcher(t: TestContext, broker: Broker, filter: string): Promise<RawClient> {
  const c = memClient(t, broker, 5);
  await c.connect({ clientId: `watch-${Math.random()}` });
  c.send({ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: filter, qos: 1 }] });
  await c.next("suback");
  return c;
}

const refuseWith = (reasonCode: number) => (): AuthResult => ({
  ok: false,
  reasonCode,
  reason: "test refuses",
});

/**
 * A two-step challenge/response method for tests: the client starts with
 * "hello" (→ challenge "challenge", expecting "response") or "fast" (→ done at
 * once); anything else fails with 0x87 (Not authorized). Calls are recorded.
 */
function challengeResponse(
  method = "TEST-CR",
  async = false,
): EnhancedAuthenticator & {
  calls: string[];
} {
  const calls: string[] = [];
  const wrap = (s: AuthStep): AuthStep | Promise<AuthStep> =>
    async ? new Promise((r) => setTimeout(() => r(s), 30)) : s;
  return {
    method,
    calls,
    start(info: ConnectInfo, data: Uint8Array | undefined) {
      const d = data === undefined ? "" : str(data);
      calls.push(`start:${info.clientId}:${d}`);
      if (d === "hello") return wrap({ done: false, data: text("challenge") });
      if (d === "fast") return wrap({ done: true, ok: true, data: text("welcome") });
      return wrap({ done: true, ok: false, reasonCode: 0x87, reason: "bad start" });
    },
    continue(info: ConnectInfo, data: Uint8Array | undefined) {
      const d = data === undefined ? "" : str(data);
      calls.push(`continue:${info.clientId}:${d}`);
      return wrap(
        d === "response"
          ? { done: true, ok: true, data: text("welcome") }
          : { done: true, ok: false, reasonCode: 0x87, reason: "wrong response" },
      );
    },
  };
}

function authPacket(reasonCode: number, method: string, data?: string): Packet {
  return {
    type: "auth",
    reasonCode,
    properties:
      data === undefined
        ? { authenticationMethod: method }
        : { authenticationMethod: method, authenticationData: text(data) },
  };
}

// ---- authenticator hook ------------------------------------------------------

describe("authenticator hook: CONNECT accepted or refused", () => {
  it("[MQTT-3.1.4-2] [MQTT-3.2.2-7] a refusing authenticator → CONNACK 0x86 (Bad User Name or Password), session present 0, then close", async (t) => {
    const broker = await brokerFor(t, { authenticator: { authenticate: refuseWith(0x86) } });
    const c = memClient(t, broker, 5);
    const connack = await c.connect({ clientId: "nope", username: "u", password: text("p") });
    assert.equal(connack.reasonCode, 0x86);
    assert.equal(connack.sessionPresent, false); // [MQTT-3.2.2-6]
    await c.waitClosed();
    assert.equal(broker.core.sessions.has("nope"), false);
  });

  it("[MQTT-3.2.2-4] [MQTT-3.2.2-5] (3.1.1) a refusing authenticator → CONNACK return code 4, session present 0, then close", async (t) => {
    const broker = await brokerFor(t, { authenticator: { authenticate: refuseWith(0x86) } });
    const c = memClient(t, broker, 4);
    const connack = await c.connect({ clientId: "nope4", username: "u", password: text("p") });
    assert.deepEqual(connack, { type: "connack", sessionPresent: false, reasonCode: 4 });
    await c.waitClosed();
  });

  for (const [code, rc] of [
    [0x87, 5],
    [0x8a, 5],
    [0x88, 3],
  ] as const) {
    it(`the authenticator's reason code 0x${code.toString(16)} is sent as is (5.0) and as return code ${rc} (3.1.1)`, async (t) => {
      const broker = await brokerFor(t, { authenticator: { authenticate: refuseWith(code) } });
      const c5 = memClient(t, broker, 5);
      assert.equal((await c5.connect({ clientId: "c5" })).reasonCode, code);
      const c4 = memClient(t, broker, 4);
      assert.equal((await c4.connect({ clientId: "c4" })).reasonCode, rc);
    });
  }

  it("the authenticator sees client id, user name, password, protocol version, transport and remote address", async (t) => {
    const seen: ConnectInfo[] = [];
    const broker = await brokerFor(t, {
      authenticator: {
        authenticate: (info) => {
          seen.push(info);
          return { ok: true };
        },
      },
    });
    const c = await RawClient.tcp(tcpPort(broker), 4);
    t.after(() => c.close());
    await c.connect({ clientId: "who", username: "alice", password: text("secret") });
    assert.equal(seen.length, 1);
    const info = seen[0];
    assert.equal(info.clientId, "who");
    assert.equal(info.username, "alice");
    assert.equal(str(info.password ?? new Uint8Array()), "secret");
    assert.equal(info.protocolVersion, 4);
    assert.equal(info.transport, "tcp");
    assert.match(info.remoteAddress, /^127\.0\.0\.1:\d+$/);
  });

  for (const version of [4, 5] as const) {
    it(`an authenticator whose promise rejects → CONNACK ${version === 5 ? "0x80 (Unspecified error)" : "3 (Server unavailable)"}, then close (${v(version)})`, async (t) => {
      const broker = await brokerFor(t, {
        authenticator: { authenticate: () => Promise.reject(new Error("backend down")) },
      });
      const c = memClient(t, broker, version);
      const connack = await c.connect({ clientId: "rej" });
      assert.equal(connack.reasonCode, version === 5 ? 0x80 : 3);
      await c.waitClosed();
    });

    it(`an authenticator that throws → CONNACK ${version === 5 ? "0x80" : "3"}, then close (${v(version)})`, async (t) => {
      const broker = await brokerFor(t, {
        authenticator: {
          authenticate: () => {
            throw new Error("bug in hook");
          },
        },
      });
      const c = memClient(t, broker, version);
      const connack = await c.connect({ clientId: "throws" });
      assert.equal(connack.reasonCode, version === 5 ? 0x80 : 3);
      await c.waitClosed();
    });
  }

  for (const version of [4, 5] as const) {
    it(`[MQTT-3.2.0-1] async authenticator: packets sent before CONNACK are processed after it, in order (${v(version)})`, async (t) => {
      const broker = await brokerFor(t, {
        authenticator: {
          authenticate: () => new Promise((r) => setTimeout(() => r({ ok: true }), 100)),
        },
      });
      const c = memClient(t, broker, version);
      c.send({
        type: "connect",
        protocolVersion: version,
        clean: true,
        keepalive: 60,
        clientId: "eager",
      });
      c.send({
        type: "subscribe",
        packetId: 1,
        subscriptions: [{ topicFilter: "eager/t", qos: 1 }],
      });
      c.send({
        type: "publish",
        topic: "eager/t",
        payload: text("early"),
        qos: 1,
        retain: false,
        dup: false,
        packetId: 2,
      });
      c.send({ type: "pingreq" });
      const got: Packet[] = [];
      for (let i = 0; i < 5; i++) got.push(await c.next());
      assert.equal(got[0].type, "connack");
      assert.equal((got[0] as { reasonCode: number }).reasonCode, 0);
      assert.equal(got[1].type, "suback");
      assert.deepEqual(
        got
          .slice(2, 4)
          .map((p) => p.type)
          .sort(),
        ["puback", "publish"],
      );
      const msg = got.find((p) => p.type === "publish");
      assert.equal(msg?.type === "publish" && str(msg.payload), "early");
      assert.equal(got[4].type, "pingresp");
    });
  }

  it("[MQTT-3.1.4-6] a refused CONNECT: nothing the client sent after it is processed", async (t) => {
    const broker = await brokerFor(t, {
      authenticator: {
        authenticate: (info) =>
          new Promise((r) =>
            setTimeout(
              () => r(info.clientId === "refused" ? { ok: false, reasonCode: 0x87 } : { ok: true }),
              50,
            ),
          ),
      },
    });
    const w = await watcher(t, broker, "leak/#");
    const c = memClient(t, broker, 5);
    c.send({
      type: "connect",
      protocolVersion: 5,
      clean: true,
      keepalive: 60,
      clientId: "refused",
    });
    c.send({ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "#", qos: 0 }] });
    c.send({
      type: "publish",
      topic: "leak/t",
      payload: text("x"),
      qos: 1,
      retain: true,
      dup: false,
      packetId: 3,
    });
    assert.equal((await c.next("connack")).reasonCode, 0x87);
    await c.waitClosed();
    assert.equal(c.received.length, 0); // no SUBACK, no PUBACK
    assert.equal(await w.nothing(100, "publish"), true);
    assert.equal(broker.core.retained.size, 0);
  });

  it("the user name an authenticator returns is the one the authorizer sees", async (t) => {
    const seen: (string | undefined)[] = [];
    const broker = await brokerFor(t, {
      authenticator: { authenticate: () => ({ ok: true, username: "mapped-user" }) },
      authorizer: {
        canPublish: (client) => {
          seen.push(client.username);
          return true;
        },
        canSubscribe: () => true,
      },
    });
    const c = memClient(t, broker, 5);
    await c.connect({ clientId: "mapped", username: "raw-user" });
    c.send({
      type: "publish",
      topic: "m/t",
      payload: text("x"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 1,
    });
    await c.next("puback");
    assert.deepEqual(seen, ["mapped-user"]);
  });
});

// ---- §4.12 enhanced authentication ------------------------------------------

describe("§4.12 enhanced authentication", () => {
  it("[MQTT-4.12.0-1] an Authentication Method the broker does not know → CONNACK 0x8C (Bad authentication method), then close", async (t) => {
    const broker = await brokerFor(t, { enhancedAuth: [challengeResponse()] });
    const c = memClient(t, broker, 5);
    const connack = await c.connect({
      clientId: "unknown-method",
      properties: { authenticationMethod: "SCRAM-SHA-999" },
    });
    assert.equal(connack.reasonCode, 0x8c);
    await c.waitClosed();
  });

  it("[MQTT-4.12.0-1] no enhanced methods configured at all → CONNACK 0x8C", async (t) => {
    const broker = await brokerFor(t);
    const c = memClient(t, broker, 5);
    const connack = await c.connect({
      clientId: "no-methods",
      properties: { authenticationMethod: "TEST-CR" },
    });
    assert.equal(connack.reasonCode, 0x8c);
  });

  for (const async of [false, true]) {
    it(`[MQTT-4.12.0-2] [MQTT-4.12.0-3] [MQTT-4.12.0-5] two steps: AUTH 0x18 challenge, AUTH 0x18 response, CONNACK 0x00 with the method${async ? " (async steps)" : ""}`, async (t) => {
      const method = challengeResponse("TEST-CR", async);
      const broker = await brokerFor(t, { enhancedAuth: [method] });
      const c = memClient(t, broker, 5);
      c.send({
        type: "connect",
        protocolVersion: 5,
        clean: true,
        keepalive: 60,
        clientId: "cr",
        properties: { authenticationMethod: "TEST-CR", authenticationData: text("hello") },
      });
      const challenge = await c.next("auth");
      assert.equal(challenge.reasonCode, 0x18);
      assert.equal(challenge.properties?.authenticationMethod, "TEST-CR");
      assert.equal(str(challenge.properties?.authenticationData ?? new Uint8Array()), "challenge");
      assert.equal(c.received.length, 0); // no CONNACK yet
      c.send(authPacket(0x18, "TEST-CR", "response"));
      const connack = await c.next("connack");
      assert.equal(connack.reasonCode, 0);
      assert.equal(connack.properties?.authenticationMethod, "TEST-CR");
      assert.equal(str(connack.properties?.authenticationData ?? new Uint8Array()), "welcome");
      assert.deepEqual(method.calls, ["start:cr:hello", "continue:cr:response"]);
      c.send({ type: "pingreq" });
      await c.next("pingresp");
    });
  }

  it("one step: the method finishes on CONNECT → CONNACK 0x00 with the method, no AUTH", async (t) => {
    const broker = await brokerFor(t, { enhancedAuth: [challengeResponse()] });
    const c = memClient(t, broker, 5);
    const connack = await c.connect({
      clientId: "fast",
      properties: { authenticationMethod: "TEST-CR", authenticationData: text("fast") },
    });
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.authenticationMethod, "TEST-CR");
    assert.equal(c.received.length, 0);
  });

  it("[MQTT-4.12.0-4] a wrong response → CONNACK with the method's reason code (0x87), then close", async (t) => {
    const broker = await brokerFor(t, { enhancedAuth: [challengeResponse()] });
    const c = memClient(t, broker, 5);
    c.send({
      type: "connect",
      protocolVersion: 5,
      clean: true,
      keepalive: 60,
      clientId: "wrong",
      properties: { authenticationMethod: "TEST-CR", authenticationData: text("hello") },
    });
    await c.next("auth");
    c.send(authPacket(0x18, "TEST-CR", "guess"));
    const connack = await c.next("connack");
    assert.equal(connack.reasonCode, 0x87);
    assert.equal(connack.sessionPresent, false);
    await c.waitClosed();
    assert.equal(broker.core.sessions.has("wrong"), false);
  });

  it("[MQTT-4.12.0-5] AUTH with another method during authentication → closed, no CONNACK 0x00", async (t) => {
    const broker = await brokerFor(t, {
      enhancedAuth: [challengeResponse("TEST-CR"), challengeResponse("OTHER")],
    });
    const c = memClient(t, broker, 5);
    c.send({
      type: "connect",
      protocolVersion: 5,
      clean: true,
      keepalive: 60,
      clientId: "switch",
      properties: { authenticationMethod: "TEST-CR", authenticationData: text("hello") },
    });
    await c.next("auth");
    c.send(authPacket(0x18, "OTHER", "response"));
    await c.waitClosed();
    assert.ok(c.received.every((p) => p.type !== "connack" || p.reasonCode >= 0x80));
    // [MQTT-3.14.0-1] no DISCONNECT before a successful CONNACK
    assert.ok(c.received.every((p) => p.type !== "disconnect"));
  });

  it("[MQTT-4.12.0-6] a CONNECT without Authentication Method gets no AUTH and no method in CONNACK (the plain authenticator decides)", async (t) => {
    let called = 0;
    const broker = await brokerFor(t, {
      enhancedAuth: [challengeResponse()],
      authenticator: {
        authenticate: () => {
          called++;
          return { ok: true };
        },
      },
    });
    const c = memClient(t, broker, 5);
    const connack = await c.connect({ clientId: "plain" });
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.authenticationMethod, undefined);
    assert.equal(called, 1);
    assert.equal(await c.nothing(50), true);
  });

  it("the connect timeout also bounds an authentication the client never finishes", async (t) => {
    const broker = await brokerFor(t, {
      enhancedAuth: [challengeResponse()],
      limits: { connectTimeoutMs: 300 },
    });
    const c = memClient(t, broker, 5);
    c.send({
      type: "connect",
      protocolVersion: 5,
      clean: true,
      keepalive: 60,
      clientId: "stall",
      properties: { authenticationMethod: "TEST-CR", authenticationData: text("hello") },
    });
    await c.next("auth");
    await c.waitClosed(2000);
    assert.equal(c.received.length, 0);
  });
});

// ---- §4.12.1 re-authentication ----------------------------------------------

describe("§4.12.1 re-authentication", () => {
  async function authenticated(t: TestContext, methods = [challengeResponse()]) {
    const broker = await brokerFor(t, { enhancedAuth: methods });
    const c = memClient(t, broker, 5);
    const connack = await c.connect({
      clientId: "re",
      properties: { authenticationMethod: "TEST-CR", authenticationData: text("fast") },
    });
    assert.equal(connack.reasonCode, 0);
    return { broker, c, method: methods[0] as ReturnType<typeof challengeResponse> };
  }

  it("[MQTT-4.12.1-1] AUTH 0x19 → AUTH 0x18 challenge → AUTH 0x18 response → AUTH 0x00 with the method; other packets flow meanwhile", async (t) => {
    const { c, method } = await authenticated(t);
    c.send(authPacket(0x19, "TEST-CR", "hello"));
    const challenge = await c.next("auth");
    assert.equal(challenge.reasonCode, 0x18);
    assert.equal(challenge.properties?.authenticationMethod, "TEST-CR");
    c.send({ type: "pingreq" });
    await c.next("pingresp");
    c.send(authPacket(0x18, "TEST-CR", "response"));
    const done = await c.next("auth");
    assert.equal(done.reasonCode, 0x00);
    assert.equal(done.properties?.authenticationMethod, "TEST-CR");
    assert.equal(str(done.properties?.authenticationData ?? new Uint8Array()), "welcome");
    assert.deepEqual(method.calls.slice(1), ["start:re:hello", "continue:re:response"]);
    assert.equal(c.isClosed, false);
  });

  it("[MQTT-4.12.1-1] single-step re-authentication → AUTH 0x00", async (t) => {
    const { c } = await authenticated(t);
    c.send(authPacket(0x19, "TEST-CR", "fast"));
    const done = await c.next("auth");
    assert.equal(done.reasonCode, 0x00);
    assert.equal(done.properties?.authenticationMethod, "TEST-CR");
  });

  it("[MQTT-4.12.1-2] failed re-authentication → DISCONNECT with the reason code (0x87), then close", async (t) => {
    const { c } = await authenticated(t);
    c.send(authPacket(0x19, "TEST-CR", "hello"));
    await c.next("auth");
    c.send(authPacket(0x18, "TEST-CR", "guess"));
    assert.equal((await c.next("disconnect")).reasonCode, 0x87);
    await c.waitClosed();
  });

  it("[MQTT-4.12.1-1] re-authentication with another method → DISCONNECT 0x82 (Protocol Error)", async (t) => {
    const { c } = await authenticated(t, [
      challengeResponse("TEST-CR"),
      challengeResponse("OTHER"),
    ]);
    c.send(authPacket(0x19, "OTHER", "fast"));
    assert.equal((await c.next("disconnect")).reasonCode, 0x82);
    await c.waitClosed();
  });

  it("[MQTT-3.15.2-1] re-authentication must start with 0x19: AUTH 0x00 from the client → DISCONNECT 0x82", async (t) => {
    const { c } = await authenticated(t);
    c.send(authPacket(0x00, "TEST-CR"));
    assert.equal((await c.next("disconnect")).reasonCode, 0x82);
  });

  it("[MQTT-4.12.0-7] AUTH from a client that did not use enhanced authentication → DISCONNECT 0x82", async (t) => {
    const broker = await brokerFor(t, { enhancedAuth: [challengeResponse()] });
    const c = memClient(t, broker, 5);
    await c.connect({ clientId: "noauth" });
    c.send(authPacket(0x19, "TEST-CR", "fast"));
    assert.equal((await c.next("disconnect")).reasonCode, 0x82);
    await c.waitClosed();
  });
});

// ---- authorizer ------------------------------------------------------------

/** Allows everything except publishing to or subscribing under `deny/`. */
function denyPrefix(seen: { clientId: string; username: string | undefined }[] = []): Authorizer {
  return {
    canPublish: (client, topic) => {
      seen.push(client);
      return !topic.startsWith("deny/");
    },
    canSubscribe: (client, filter) => {
      seen.push(client);
      return !filter.startsWith("deny/");
    },
  };
}

describe("authorizer hook: PUBLISH and SUBSCRIBE", () => {
  it("§3.4.2.1 publish denied → PUBACK 0x87 (Not authorized); the message is neither delivered nor retained", async (t) => {
    const broker = await brokerFor(t, { authorizer: denyPrefix() });
    const w = await watcher(t, broker, "#");
    const c = memClient(t, broker, 5);
    await c.connect({ clientId: "denied5" });
    c.send({
      type: "publish",
      topic: "deny/x",
      payload: text("no"),
      qos: 1,
      retain: true,
      dup: false,
      packetId: 4,
    });
    const puback = await c.next("puback");
    assert.equal(puback.packetId, 4);
    assert.equal(puback.reasonCode, 0x87);
    assert.equal(await w.nothing(100, "publish"), true);
    assert.equal(broker.core.retained.size, 0);
  });

  it("§3.5.2.1 QoS 2 publish denied → PUBREC 0x87; QoS 0 publish denied → dropped silently", async (t) => {
    const broker = await brokerFor(t, { authorizer: denyPrefix() });
    const w = await watcher(t, broker, "#");
    const c = memClient(t, broker, 5);
    await c.connect({ clientId: "denied5q2" });
    c.send({
      type: "publish",
      topic: "deny/x",
      payload: text("no"),
      qos: 2,
      retain: false,
      dup: false,
      packetId: 5,
    });
    assert.equal((await c.next("pubrec")).reasonCode, 0x87);
    c.send({
      type: "publish",
      topic: "deny/y",
      payload: text("no"),
      qos: 0,
      retain: false,
      dup: false,
    });
    c.send({ type: "pingreq" });
    await c.next("pingresp");
    assert.equal(c.isClosed, false);
    assert.equal(await w.nothing(100, "publish"), true);
  });

  it("[MQTT-3.3.5-2] (3.1.1) publish denied → a normal PUBACK, but the message is not delivered", async (t) => {
    const broker = await brokerFor(t, { authorizer: denyPrefix() });
    const w = await watcher(t, broker, "#");
    const c = memClient(t, broker, 4);
    await c.connect({ clientId: "denied4" });
    c.send({
      type: "publish",
      topic: "deny/x",
      payload: text("no"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 6,
    });
    assert.deepEqual(await c.next("puback"), { type: "puback", packetId: 6 });
    c.send({
      type: "publish",
      topic: "deny/x",
      payload: text("no"),
      qos: 2,
      retain: false,
      dup: false,
      packetId: 7,
    });
    assert.equal((await c.next("pubrec")).packetId, 7);
    c.send({ type: "pubrel", packetId: 7 });
    assert.equal((await c.next("pubcomp")).packetId, 7);
    assert.equal(await w.nothing(100, "publish"), true);
    assert.equal(c.isClosed, false);
  });

  for (const version of [4, 5] as const) {
    const fail = version === 5 ? 0x87 : 0x80;
    it(`[MQTT-3.9.3-1] subscribe denied → SUBACK 0x${fail.toString(16)} for that filter, the others granted in order (${v(version)})`, async (t) => {
      const broker = await brokerFor(t, { authorizer: denyPrefix() });
      const c = memClient(t, broker, version);
      await c.connect({ clientId: `sub${version}` });
      c.send({
        type: "subscribe",
        packetId: 9,
        subscriptions: [
          { topicFilter: "ok/a", qos: 1 },
          { topicFilter: "deny/#", qos: 2 },
          { topicFilter: "ok/b", qos: 0 },
        ],
      });
      const suback = await c.next("suback");
      assert.equal(suback.packetId, 9);
      assert.deepEqual(suback.reasonCodes, [1, fail, 0]);
      const session = broker.core.sessions.get(`sub${version}`);
      assert.deepEqual([...(session?.subscriptions.keys() ?? [])].sort(), ["ok/a", "ok/b"]);
    });
  }

  it("a denied subscription receives nothing", async (t) => {
    const broker = await brokerFor(t, {
      authorizer: {
        canPublish: () => true,
        canSubscribe: (_c, filter) => filter !== "secret/#",
      },
    });
    const c = memClient(t, broker, 5);
    await c.connect({ clientId: "nosecret" });
    c.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{ topicFilter: "secret/#", qos: 1 }],
    });
    assert.deepEqual((await c.next("suback")).reasonCodes, [0x87]);
    const pub = memClient(t, broker, 5);
    await pub.connect({ clientId: "secret-pub" });
    pub.send({
      type: "publish",
      topic: "secret/x",
      payload: text("s"),
      qos: 0,
      retain: false,
      dup: false,
    });
    assert.equal(await c.nothing(100, "publish"), true);
  });

  it("the authorizer sees the client id and user name", async (t) => {
    const seen: { clientId: string; username: string | undefined }[] = [];
    const broker = await brokerFor(t, { authorizer: denyPrefix(seen) });
    const c = memClient(t, broker, 5);
    await c.connect({ clientId: "ident", username: "bob" });
    c.send({ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "ok/#", qos: 0 }] });
    await c.next("suback");
    c.send({
      type: "publish",
      topic: "ok/x",
      payload: text("s"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 2,
    });
    await c.next("puback");
    await sleep(10);
    assert.ok(seen.length >= 2);
    for (const s of seen)
      assert.deepEqual(
        { clientId: s.clientId, username: s.username },
        { clientId: "ident", username: "bob" },
      );
  });
});
