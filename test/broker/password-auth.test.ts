/**
 * PasswordAuthenticator (src/broker/auth/password-auth.ts): Mosquitto 2's
 * allow_anonymous / password_file rules, the CONNACK codes per version
 * (§3.2.2.2 of 5.0, §3.2.2.3 of 3.1.1), logging, and the per-address
 * slowing of repeated failures — as units with a fake clock, then through a
 * real Starling broker over TCP with raw clients and MQTT.js.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import mqtt from "mqtt";
import {
  addressKey,
  LoginThrottle,
  PasswordAuthenticator,
  type PasswordAuthenticatorOptions,
} from "../../src/broker/auth/password-auth.js";
import { PasswordFile } from "../../src/broker/auth/password-file.js";
import type { ConnectInfo } from "../../src/broker/auth/types.js";
import type { Broker, Logger } from "../../src/broker/index.js";
import type { ProtocolVersion } from "../../src/protocol/index.js";
import { startBroker, tcpPort } from "../helpers/broker.js";
import { RawClient, text } from "../helpers/raw-client.js";

/** Cheap hashes: these tests are about the rules, not the hash cost. */
const ITERATIONS = 1000;

async function users(entries: Record<string, string>): Promise<PasswordFile> {
  const file = PasswordFile.parse("", "test-passwd");
  for (const [user, password] of Object.entries(entries))
    await file.set(user, password, ITERATIONS);
  return file;
}

function info(over: Partial<ConnectInfo> = {}): ConnectInfo {
  return {
    clientId: "c1",
    username: undefined,
    password: undefined,
    remoteAddress: "192.0.2.7:50000",
    transport: "tcp",
    protocolVersion: 5,
    ...over,
  };
}

/** A logger that keeps every line. */
function recordingLogger(): Logger & { lines: { level: string; obj: object; msg?: string }[] } {
  const lines: { level: string; obj: object; msg?: string }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => {
    lines.push({ level, obj, msg });
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A sleep that records what it was asked to wait and returns at once. */
function instantSleep(): { sleeps: number[]; sleep: (ms: number) => Promise<void> } {
  const sleeps: number[] = [];
  return {
    sleeps,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
  };
}

describe("PasswordAuthenticator: who is accepted (Mosquitto 2's rules)", () => {
  const login = (username: string, password?: string) =>
    info({ username, password: password === undefined ? undefined : text(password) });

  it("no user name: accepted with allowAnonymous, else 0x87 Not authorized", async () => {
    const file = await users({ alice: "secret" });
    const open = new PasswordAuthenticator({ passwordFile: file, allowAnonymous: true });
    assert.deepEqual(await open.authenticate(info()), { ok: true });
    const closed = new PasswordAuthenticator({ passwordFile: file, allowAnonymous: false });
    assert.deepEqual(await closed.authenticate(info()), {
      ok: false,
      reasonCode: 0x87,
      reason: "anonymous access is not allowed",
    });
  });

  it("a user name and no password file: accepted with allowAnonymous (as Mosquitto), else 0x87", async () => {
    const open = new PasswordAuthenticator({ allowAnonymous: true });
    assert.deepEqual(await open.authenticate(login("anyone", "anything")), { ok: true });
    const closed = new PasswordAuthenticator({ allowAnonymous: false });
    const r = await closed.authenticate(login("anyone", "anything"));
    assert.equal(r.ok === false && r.reasonCode, 0x87);
  });

  for (const allowAnonymous of [false, true]) {
    it(`with a password file (allowAnonymous ${allowAnonymous}): only the right password of a listed user`, async () => {
      const auth = new PasswordAuthenticator({
        passwordFile: await users({ alice: "secret", bob: "" }),
        allowAnonymous,
        sleep: instantSleep().sleep,
      });
      assert.deepEqual(await auth.authenticate(login("alice", "secret")), { ok: true });
      for (const [user, password] of [
        ["alice", "Secret"],
        ["alice", ""],
        ["alice", undefined],
        ["carol", "secret"], // unknown user: refused even when anonymous access is allowed
        ["bob", undefined], // an empty password is not "no password"
      ] as const) {
        const r = await auth.authenticate(login(user, password));
        assert.equal(r.ok, false, `${user}/${password}`);
        assert.equal(r.ok === false && r.reasonCode, 0x86, `${user}/${password}`);
      }
      assert.deepEqual(await auth.authenticate(login("bob", "")), { ok: true });
    });
  }

  it("setPasswordFile() swaps the users for the next CONNECT; setAllowAnonymous() the rule", async () => {
    const auth = new PasswordAuthenticator({
      passwordFile: await users({ alice: "secret" }),
      allowAnonymous: false,
      sleep: instantSleep().sleep,
    });
    auth.setPasswordFile(await users({ bob: "hunter2" }));
    assert.equal((await auth.authenticate(login("alice", "secret"))).ok, false);
    assert.equal((await auth.authenticate(login("bob", "hunter2"))).ok, true);
    assert.equal(auth.allowAnonymous, false);
    auth.setAllowAnonymous(true);
    assert.equal((await auth.authenticate(info())).ok, true);
    auth.setPasswordFile(undefined);
    assert.equal((await auth.authenticate(login("alice", "whatever"))).ok, true);
  });
});

describe("PasswordAuthenticator: repeated failures are slowed", () => {
  async function setup(over: Partial<PasswordAuthenticatorOptions> = {}) {
    let now = 1_000_000;
    const { sleeps, sleep } = instantSleep();
    const logger = recordingLogger();
    const auth = new PasswordAuthenticator({
      passwordFile: await users({ alice: "secret" }),
      allowAnonymous: false,
      logger,
      now: () => now,
      sleep,
      ...over,
    });
    const attempt = (password: string, remoteAddress = "192.0.2.7:50000") =>
      auth.authenticate(info({ username: "alice", password: text(password), remoteAddress }));
    return { auth, sleeps, logger, attempt, advance: (ms: number) => (now += ms) };
  }

  it("the delay before checking doubles from 100 ms after each failure, up to 5 s", async () => {
    const { sleeps, attempt } = await setup();
    for (let i = 0; i < 9; i++) await attempt("wrong");
    assert.deepEqual(sleeps, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  });

  it("a success is not delayed from an address without failures, and resets the count", async () => {
    const { sleeps, attempt } = await setup();
    assert.equal((await attempt("secret")).ok, true);
    assert.deepEqual(sleeps, []);
    await attempt("wrong");
    await attempt("wrong");
    // Checked after the delay like any attempt (else a guesser could treat a slow answer as "wrong").
    assert.equal((await attempt("secret")).ok, true);
    assert.deepEqual(sleeps, [100, 200]);
    await attempt("wrong");
    assert.deepEqual(sleeps, [100, 200], "the count started again after the success");
  });

  it("other addresses are not slowed; ports of one host are the same address", async () => {
    const { sleeps, attempt } = await setup();
    await attempt("wrong", "192.0.2.7:1");
    await attempt("wrong", "192.0.2.7:2");
    await attempt("wrong", "198.51.100.1:1");
    assert.deepEqual(sleeps, [100]);
  });

  it("after a quiet minute an address starts again from no delay", async () => {
    const { sleeps, attempt, advance } = await setup();
    await attempt("wrong");
    await attempt("wrong");
    advance(60_000);
    await attempt("wrong");
    assert.deepEqual(sleeps, [100]);
  });

  it("attempts in progress from the same address count: parallel guesses wait longer each", async () => {
    const releases: (() => void)[] = [];
    const sleeps: number[] = [];
    const { attempt } = await setup({
      sleep: (ms) => {
        sleeps.push(ms);
        return new Promise<void>((r) => releases.push(r));
      },
    });
    await attempt("wrong"); // one failure: the next attempts are delayed
    const parallel = [attempt("a"), attempt("b"), attempt("c")];
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(sleeps, [100, 200, 400]);
    for (const r of releases) r();
    for (const p of parallel) assert.equal((await p).ok, false);
  });

  it("the table of addresses is bounded: the least recently failed is forgotten", async () => {
    const { auth, sleeps, attempt } = await setup({ throttle: { maxAddresses: 3 } });
    for (const host of ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]) {
      await attempt("wrong", `${host}:1`);
    }
    assert.equal(auth.throttle.size, 3);
    await attempt("wrong", "10.0.0.1:1"); // forgotten: no delay
    await attempt("wrong", "10.0.0.4:1"); // remembered
    assert.deepEqual(sleeps, [100]);
    assert.equal(auth.throttle.size, 3);
  });

  it("stays bounded under a flood of addresses", () => {
    const throttle = new LoginThrottle({ maxAddresses: 100 });
    for (let i = 0; i < 10_000; i++) throttle.attempt(`10.${i >> 8}.${i & 255}.1`).done(false);
    assert.equal(throttle.size, 100);
    assert.equal(throttle.delayFor(10_000), 5000);
  });

  it("logs at warn when an address reaches 2, 4, 8 … failures in a row, with address and client id, never the password", async () => {
    const { logger, attempt } = await setup();
    for (let i = 0; i < 8; i++) await attempt("hunter2-wrong");
    const warns = logger.lines.filter((l) => l.level === "warn");
    assert.deepEqual(
      warns.map((l) => (l.obj as { failures: number }).failures),
      [2, 4, 8],
    );
    const first = warns[0]?.obj as Record<string, unknown>;
    assert.equal(first.remote, "192.0.2.7:50000");
    assert.equal(first.address, "192.0.2.7");
    assert.equal(first.clientId, "c1");
    assert.equal(first.username, "alice");
    assert.doesNotMatch(JSON.stringify(logger.lines), /hunter2/);
  });

  it("addressKey: host without port, IPv4-mapped IPv6 as IPv4, IPv6 cut to its /64", () => {
    assert.equal(addressKey("127.0.0.1:5000"), "127.0.0.1");
    assert.equal(addressKey("::ffff:10.1.2.3:5000"), "10.1.2.3");
    assert.equal(addressKey("::1:5000"), "0:0:0:0::/64");
    assert.equal(addressKey("2001:db8:1:2:aaaa::1:443"), "2001:db8:1:2::/64");
    assert.equal(addressKey("2001:0db8:0001:0002:bbbb:cccc:dddd:eeee:80"), "2001:db8:1:2::/64");
    assert.equal(addressKey("[2001:db8::7]:1883"), "2001:db8:0:0::/64");
    assert.equal(addressKey("memory:1"), "memory");
  });
});

// ---- through a real broker ----------------------------------------------------

async function brokerWith(
  t: TestContext,
  options: Partial<PasswordAuthenticatorOptions> = {},
): Promise<{ broker: Broker; port: number; logger: ReturnType<typeof recordingLogger> }> {
  const logger = recordingLogger();
  const authenticator = new PasswordAuthenticator({
    passwordFile: await users({ alice: "secret" }),
    allowAnonymous: false,
    logger,
    ...options,
  });
  const broker = await startBroker({ authenticator, logger });
  t.after(() => broker.close());
  return { broker, port: tcpPort(broker), logger };
}

async function tcpClient(t: TestContext, port: number, version: ProtocolVersion) {
  const c = await RawClient.tcp(port, version);
  t.after(() => c.close());
  return c;
}

describe("PasswordAuthenticator in the broker (TCP, raw clients)", () => {
  it("[MQTT-3.1.4-2] [MQTT-3.2.2-6] [MQTT-3.2.2-7] 5.0: the right password → 0x00; a wrong one → CONNACK 0x86 Bad User Name or Password, session present 0, close", async (t) => {
    const { port } = await brokerWith(t);
    const good = await tcpClient(t, port, 5);
    const ok = await good.connect({
      clientId: "good",
      username: "alice",
      password: text("secret"),
    });
    assert.equal(ok.reasonCode, 0);
    const bad = await tcpClient(t, port, 5);
    const refused = await bad.connect({
      clientId: "bad",
      username: "alice",
      password: text("nope"),
    });
    assert.equal(refused.reasonCode, 0x86);
    assert.equal(refused.sessionPresent, false);
    await bad.waitClosed();
  });

  it("[MQTT-3.2.2-4] [MQTT-3.2.2-5] (3.1.1) a wrong password → CONNACK return code 4 (§3.2.2.3 bad user name or password), session present 0, close", async (t) => {
    const { port } = await brokerWith(t);
    const bad = await tcpClient(t, port, 4);
    const connack = await bad.connect({ clientId: "bad", username: "alice", password: text("x") });
    assert.deepEqual(connack, { type: "connack", sessionPresent: false, reasonCode: 4 });
    await bad.waitClosed();
    const good = await tcpClient(t, port, 4);
    const ok = await good.connect({
      clientId: "good",
      username: "alice",
      password: text("secret"),
    });
    assert.equal(ok.reasonCode, 0);
  });

  it("[MQTT-3.2.2-7] anonymous refused → 0x87 Not authorized (5.0), return code 5 (3.1.1)", async (t) => {
    const { port } = await brokerWith(t);
    const c5 = await tcpClient(t, port, 5);
    assert.equal((await c5.connect({ clientId: "anon5" })).reasonCode, 0x87);
    await c5.waitClosed();
    const c4 = await tcpClient(t, port, 4);
    assert.deepEqual(await c4.connect({ clientId: "anon4" }), {
      type: "connack",
      sessionPresent: false,
      reasonCode: 5,
    });
  });

  it("a refusal is logged at warn with the remote address and client id; no log line holds the password", async (t) => {
    const { port, logger } = await brokerWith(t);
    const c = await tcpClient(t, port, 5);
    await c.connect({ clientId: "who", username: "alice", password: text("pa55-guess") });
    await c.waitClosed();
    const line = logger.lines.find(
      (l) => l.level === "warn" && (l.obj as { clientId?: string }).clientId === "who",
    );
    assert.ok(line, JSON.stringify(logger.lines));
    assert.match(String((line.obj as { remote?: string }).remote), /^127\.0\.0\.1:\d+$/);
    assert.match(line.msg ?? "", /bad user name or password/);
    assert.doesNotMatch(JSON.stringify(logger.lines), /pa55-guess/);
  });

  it("after failures from 127.0.0.1 the next refusal takes at least the delay; a success from a fresh address is not delayed", async (t) => {
    const sleeps: number[] = [];
    const sleep = (ms: number) => {
      sleeps.push(ms);
      return new Promise<void>((r) => setTimeout(r, ms));
    };
    const { port } = await brokerWith(t, {
      sleep,
      throttle: { baseDelayMs: 150, maxDelayMs: 600 },
    });
    const good = await tcpClient(t, port, 5);
    await good.connect({ clientId: "first", username: "alice", password: text("secret") });
    assert.deepEqual(sleeps, [], "a success from an address without failures waits for nothing");
    for (const expected of [0, 150, 300]) {
      const c = await tcpClient(t, port, 5);
      const start = performance.now();
      const connack = await c.connect({
        clientId: "guess",
        username: "alice",
        password: text("no"),
      });
      const elapsed = performance.now() - start;
      assert.equal(connack.reasonCode, 0x86);
      // Lower bound only (timers may fire up to 1 ms early); the machine may be slow.
      assert.ok(elapsed >= expected - 2, `refusal after ${elapsed} ms, expected ≥ ${expected}`);
      await c.waitClosed();
    }
    const c = await tcpClient(t, port, 4);
    const start = performance.now();
    assert.equal(
      (await c.connect({ clientId: "g4", username: "alice", password: text("no") })).reasonCode,
      4,
    );
    const elapsed = performance.now() - start;
    assert.ok(elapsed >= 598, `refusal after ${elapsed} ms, expected ≥ 600`);
    assert.deepEqual(sleeps, [150, 300, 600]);
  });
});

describe("PasswordAuthenticator in the broker: MQTT.js", () => {
  /** Resolves with the CONNACK's code: 0, or the refusal MQTT.js reports. */
  function mqttjsConnect(
    port: number,
    protocolVersion: 4 | 5,
    username: string,
    password: string,
  ): Promise<number> {
    return new Promise((resolve, reject) => {
      const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
        protocolVersion,
        username,
        password,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
      });
      const timer = setTimeout(() => {
        client.end(true);
        reject(new Error("MQTT.js: no CONNACK within 10 s"));
      }, 10_000);
      const finish = (code: number) => {
        clearTimeout(timer);
        client.end(true);
        resolve(code);
      };
      client.once("connect", () => finish(0));
      client.once("error", (err) => finish(Number((err as { code?: number }).code ?? -1)));
    });
  }

  it("right password accepted; wrong one refused with 134 (5.0) and 4 (3.1.1)", async (t) => {
    const { port } = await brokerWith(t, { throttle: { baseDelayMs: 1, maxDelayMs: 1 } });
    assert.equal(await mqttjsConnect(port, 5, "alice", "secret"), 0);
    assert.equal(await mqttjsConnect(port, 4, "alice", "secret"), 0);
    assert.equal(await mqttjsConnect(port, 5, "alice", "wrong"), 0x86);
    assert.equal(await mqttjsConnect(port, 4, "alice", "wrong"), 4);
  });
});
