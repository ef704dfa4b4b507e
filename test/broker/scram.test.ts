/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) as MQTT 5 enhanced authentication
 * (§4.12): the broker's ScramSha256Authenticator and the client's
 * scramSha256(), against each other, against RFC 7677's published exchange,
 * on the wire with a raw client, and the client against a scripted broker
 * that forges the server's signature. Ids are MQTT 5.0 statements.
 */
import assert from "node:assert/strict";
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import { before, describe, it, type TestContext } from "node:test";
import {
  type AuthStep,
  type Broker,
  type BrokerOptions,
  type ConnectInfo,
  type EnhancedAuthenticator,
  MemoryScramStore,
  type ScramCredential,
  ScramSha256Authenticator,
  scramCredential,
} from "../../src/broker/index.js";
import {
  type Client,
  type ConnectOptions,
  connect,
  InvalidArgumentError,
  MqttError,
  RefusedError,
  scramSha256,
} from "../../src/client/index.js";
import { nodeTransport } from "../../src/client/transport/node-any.js";
import type { TransportFactory } from "../../src/client/transport/types.js";
import type { Packet } from "../../src/protocol/index.js";
import { sleep, startBroker, tcpPort } from "../helpers/broker.js";
import { FakeBroker, type FakeConnection } from "../helpers/fake-broker.js";
import { waitFor } from "../helpers/programs.js";
import { RawClient, str, text } from "../helpers/raw-client.js";

const METHOD = "SCRAM-SHA-256";

// ---- fixtures -----------------------------------------------------------------

const credentials = new Map<string, ScramCredential>();
/** Users and passwords of the test store (one with "=" and "," in its name, one non-ASCII password). */
const USERS: Array<[string, string]> = [
  ["alice", "correct horse battery staple"],
  ["bob", "hunter2"],
  ["a=b,c", "pässwörd"],
];

before(async () => {
  for (const [user, password] of USERS) credentials.set(user, await scramCredential(password));
});

function store(): MemoryScramStore {
  const s = new MemoryScramStore();
  for (const [user, c] of credentials) s.set(user, c);
  return s;
}

async function brokerWith(t: TestContext, options: BrokerOptions = {}): Promise<Broker> {
  const broker = await startBroker({
    enhancedAuth: [new ScramSha256Authenticator(store())],
    ...options,
  });
  t.after(() => broker.close());
  return broker;
}

/** Counts the connections a client opens (a refusal must not be retried). */
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

const base: ConnectOptions = {
  protocolVersion: 5,
  connectTimeout: 3000,
  keepalive: 0,
  reconnect: { initialDelay: 10, random: () => 0 },
};

async function client(t: TestContext, url: string, options: ConnectOptions): Promise<Client> {
  const c = await connect(url, { ...base, ...options });
  t.after(() => c.end({ force: true }));
  return c;
}

/** What `connect` rejects with (fails the test if it resolves or hangs). */
async function refusal(t: TestContext, url: string, options: ConnectOptions): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("connect neither resolved nor rejected")), 4000);
  });
  try {
    const c = await Promise.race([connect(url, { ...base, ...options }), hang]);
    t.after(() => c.end({ force: true }));
    return assert.fail("connect should have been refused");
  } catch (err) {
    return err;
  } finally {
    clearTimeout(timer);
  }
}

function connectInfo(username?: string): ConnectInfo {
  return {
    clientId: "unit",
    username,
    password: undefined,
    remoteAddress: "127.0.0.1:1",
    transport: "tcp",
    protocolVersion: 5,
  };
}

/** A step's Authentication Data as text ("" for none). */
const dataOf = (step: AuthStep): string => ("data" in step && step.data ? str(step.data) : "");

// ---- an independent client computation (node:crypto), for raw exchanges ----------

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const hmac = (key: Uint8Array, msg: string) => createHmac("sha256", key).update(msg).digest();

/** The client-final-message for `serverFirst`, and the server signature to expect (RFC 5802 §3). */
function answer(
  password: string,
  gs2Header: string,
  bare: string,
  serverFirst: string,
  tamper: { nonce?: string; proof?: Uint8Array } = {},
): { message: string; serverSignature: string } {
  const attrs = Object.fromEntries(serverFirst.split(",").map((a) => [a[0], a.slice(2)]));
  const salted = pbkdf2Sync(
    password,
    Buffer.from(attrs.s, "base64"),
    Number(attrs.i),
    32,
    "sha256",
  );
  const clientKey = hmac(salted, "Client Key");
  const storedKey = createHash("sha256").update(clientKey).digest();
  const withoutProof = `c=${b64(text(gs2Header))},r=${tamper.nonce ?? attrs.r}`;
  const authMessage = `${bare},${serverFirst},${withoutProof}`;
  const signature = hmac(storedKey, authMessage);
  const proof = tamper.proof ?? clientKey.map((b, i) => b ^ signature[i]);
  return {
    message: `${withoutProof},p=${b64(proof)}`,
    serverSignature: `v=${b64(hmac(hmac(salted, "Server Key"), authMessage))}`,
  };
}

function auth(reasonCode: number, data?: string): Packet {
  return {
    type: "auth",
    reasonCode,
    properties:
      data === undefined
        ? { authenticationMethod: METHOD }
        : { authenticationMethod: METHOD, authenticationData: text(data) },
  };
}

async function raw(t: TestContext, broker: Broker): Promise<RawClient> {
  const c = await RawClient.tcp(tcpPort(broker), 5);
  t.after(() => c.close());
  return c;
}

function sendConnect(c: RawClient, clientFirst: string | undefined, username?: string): void {
  c.send({
    type: "connect",
    protocolVersion: 5,
    clean: true,
    keepalive: 60,
    clientId: `raw-${Math.random().toString(36).slice(2)}`,
    ...(username === undefined ? {} : { username }),
    properties:
      clientFirst === undefined
        ? { authenticationMethod: METHOD }
        : { authenticationMethod: METHOD, authenticationData: text(clientFirst) },
  });
}

// ---- RFC 7677 ---------------------------------------------------------------------

describe("RFC 7677 §3: the published SCRAM-SHA-256 exchange", () => {
  it("client and broker reproduce client-first, server-first, client-final and server-final byte for byte", async () => {
    const users = new MemoryScramStore().set(
      "user",
      await scramCredential("pencil", {
        salt: Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"),
        iterations: 4096,
      }),
    );
    const server = new ScramSha256Authenticator(users, {
      nonce: () => "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    });
    const scram = scramSha256({
      username: "user",
      password: "pencil",
      nonce: () => "rOprNGfwEbeRWgbNEkqO",
    });
    const info = connectInfo();

    const clientFirst = scram.data;
    assert.equal(str(clientFirst ?? new Uint8Array()), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    const first = await server.start(info, clientFirst);
    assert.equal(first.done, false);
    assert.equal(
      dataOf(first),
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    );
    const clientFinal = await scram.onChallenge(text(dataOf(first)));
    assert.equal(
      str(clientFinal ?? new Uint8Array()),
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    );
    const last = await server.continue(info, clientFinal);
    assert.deepEqual(
      {
        done: last.done,
        ok: last.done && last.ok,
        username: last.done && last.ok && last.username,
      },
      { done: true, ok: true, username: "user" },
    );
    assert.equal(dataOf(last), "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    scram.onSuccess?.(text(dataOf(last))); // the client accepts the broker's signature
  });

  it("scramCredential keeps salt, iterations, StoredKey and ServerKey (32 bytes each), never the password; a new random salt each time", async () => {
    const a = await scramCredential("pencil");
    const b = await scramCredential("pencil");
    assert.deepEqual(Object.keys(a).sort(), ["iterations", "salt", "serverKey", "storedKey"]);
    assert.equal(a.iterations, 4096);
    assert.equal(a.salt.length, 16);
    assert.equal(a.storedKey.length, 32);
    assert.equal(a.serverKey.length, 32);
    assert.notDeepEqual(a.salt, b.salt);
    assert.notDeepEqual(a.storedKey, b.storedKey);
    await assert.rejects(scramCredential("pencil", { iterations: 0 }), RangeError);
    await assert.rejects(scramCredential("bad\u0007bell"), RangeError);
  });

  it("scramSha256 refuses names and passwords with control characters (InvalidArgumentError), and escapes '=' and ','", () => {
    assert.throws(() => scramSha256({ username: "ali\nce", password: "x" }), InvalidArgumentError);
    assert.throws(
      () => scramSha256({ username: "alice", password: "tab\there" }),
      InvalidArgumentError,
    );
    assert.throws(() => scramSha256({ username: "", password: "x" }), InvalidArgumentError);
    const scram = scramSha256({ username: "a=b,c", password: "x", nonce: () => "abc" });
    assert.equal(str(scram.data ?? new Uint8Array()), "n,,n=a=3Db=2Cc,r=abc");
  });
});

// ---- Starling client against the Starling broker ------------------------------------

describe("SCRAM-SHA-256: the Starling client against the Starling broker", () => {
  it("the right password connects; publish and subscribe work; the authorizer sees the SCRAM user", async (t) => {
    const seen: (string | undefined)[] = [];
    const broker = await brokerWith(t, {
      authorizer: {
        canPublish: (who) => {
          seen.push(who.username);
          return true;
        },
        canSubscribe: () => true,
      },
    });
    const c = await client(t, broker.url(), {
      clientId: "scram-ok",
      auth: scramSha256({ username: "alice", password: "correct horse battery staple" }),
    });
    assert.equal(c.connected, true);
    const sub = await c.subscribe("scram/t", { qos: 1 });
    await c.publish("scram/t", "hello", { qos: 1 });
    const next = await sub[Symbol.asyncIterator]().next();
    assert.equal(next.value?.text(), "hello");
    assert.deepEqual(seen, ["alice"], "no User Name in CONNECT: the identity is the SCRAM user");
  });

  it("a user name with '=' and ',' and a non-ASCII password", async (t) => {
    const broker = await brokerWith(t);
    const c = await client(t, broker.url(), {
      auth: scramSha256({ username: "a=b,c", password: "pässwörd" }),
    });
    assert.equal(c.connected, true);
  });

  for (const [what, username, password] of [
    ["a wrong password", "alice", "Correct horse battery staple"],
    ["an unknown user", "mallory", "correct horse battery staple"],
  ] as const) {
    it(`[MQTT-4.12.0-4] ${what} → RefusedError 0x86 (Bad User Name or Password), one connection, no retry`, async (t) => {
      const broker = await brokerWith(t);
      const opens = counting();
      const err = await refusal(t, broker.url(), {
        auth: scramSha256({ username, password }),
        transport: opens.factory,
      });
      assert.ok(err instanceof RefusedError, `got ${String(err)}`);
      assert.equal(err.code, "CONNECTION_REFUSED");
      assert.equal(err.reasonCode, 0x86);
      await sleep(100);
      assert.equal(opens.opened, 1);
      assert.equal(broker.core.sessions.size, 0);
    });
  }

  it("a CONNECT User Name other than the SCRAM user → 0x86 (one cannot prove bob and act as alice)", async (t) => {
    const broker = await brokerWith(t);
    const err = await refusal(t, broker.url(), {
      username: "alice",
      auth: scramSha256({ username: "bob", password: "hunter2" }),
    });
    assert.ok(err instanceof RefusedError, `got ${String(err)}`);
    assert.equal(err.reasonCode, 0x86);
  });

  it("every CONNECT, reconnects included, starts a new exchange with a new client nonce", async (t) => {
    const scram = new ScramSha256Authenticator(store());
    const firsts: string[] = [];
    const recording: EnhancedAuthenticator = {
      method: METHOD,
      start: (info, data) => {
        firsts.push(str(data ?? new Uint8Array()));
        return scram.start(info, data);
      },
      continue: (info, data) => scram.continue(info, data),
    };
    const broker = await brokerWith(t, { enhancedAuth: [recording] });
    const c = await client(t, broker.url(), {
      clientId: "scram-again",
      auth: scramSha256({ username: "bob", password: "hunter2" }),
    });
    for (const bc of [...broker.core.clients]) bc.close("test drops the connection");
    await waitFor(() => firsts.length === 2 && c.connected, "a re-authenticated reconnect", 3000);
    assert.match(firsts[0], /^n,,n=bob,r=[^,]{16,}$/);
    assert.notEqual(firsts[0], firsts[1]);
  });
});

// ---- the client checks the broker -------------------------------------------------------

/**
 * A scripted broker that runs the real ScramSha256Authenticator but can change
 * what it sends: `serverFirst` rewrites the server-first-message, `serverFinal`
 * the CONNACK's data; `skip` answers CONNECT with CONNACK 0x00 at once.
 */
async function scripted(
  t: TestContext,
  script: {
    serverFirst?: (s: string) => string;
    serverFinal?: (s: string) => string;
    skip?: boolean;
  } = {},
): Promise<{ fake: FakeBroker; done: Promise<FakeConnection> }> {
  const scram = new ScramSha256Authenticator(store());
  const fake = await FakeBroker.start({
    connack: () =>
      script.skip
        ? {
            sessionPresent: false,
            reasonCode: 0,
            properties: { authenticationMethod: METHOD, authenticationData: text("v=AAAA") },
          }
        : null,
  });
  t.after(() => fake.close());
  const done = (async () => {
    const conn = await fake.connection(0);
    if (script.skip) return conn;
    const info = connectInfo();
    const first = await scram.start(info, conn.connect.properties?.authenticationData);
    conn.send(auth(0x18, (script.serverFirst ?? ((s) => s))(dataOf(first))));
    const final = await conn.take("auth");
    const last = scram.continue(info, final.properties?.authenticationData);
    assert.ok(last.done && last.ok, "the broker side accepts the client's proof");
    conn.send({
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: {
        authenticationMethod: METHOD,
        authenticationData: text((script.serverFinal ?? ((s) => s))(dataOf(last))),
      },
    });
    return conn;
  })();
  done.catch(() => {}); // a test that expects the client to stop early awaits nothing further
  return { fake, done };
}

const alice = () => scramSha256({ username: "alice", password: "correct horse battery staple" });

function assertAuthFailed(err: unknown, pattern: RegExp): void {
  assert.ok(err instanceof MqttError && !(err instanceof RefusedError), `got ${String(err)}`);
  assert.equal(err.code, "AUTH_FAILED");
  assert.match(err.message, pattern);
}

describe("SCRAM-SHA-256: the client verifies the broker", () => {
  it("a scripted broker sending the genuine server-final-message: connected (the control for the next tests)", async (t) => {
    const { fake } = await scripted(t);
    const c = await client(t, fake.url, { auth: alice() });
    assert.equal(c.connected, true);
  });

  it("a forged server-final-message (wrong ServerSignature) in CONNACK → connect rejects with AUTH_FAILED and the client closes, no retry", async (t) => {
    const forged = `v=${b64(new Uint8Array(32).fill(7))}`;
    const { fake } = await scripted(t, { serverFinal: () => forged });
    const opens = counting();
    const err = await refusal(t, fake.url, { auth: alice(), transport: opens.factory });
    assertAuthFailed(err, /signature is wrong/);
    const conn = await fake.connection(0);
    await Promise.race([conn.closed, sleep(2000).then(() => assert.fail("still open"))]);
    await sleep(100);
    assert.equal(opens.opened, 1);
  });

  it("a server-final-message with e= (server error) → AUTH_FAILED naming it", async (t) => {
    const { fake } = await scripted(t, { serverFinal: () => "e=invalid-proof" });
    assertAuthFailed(await refusal(t, fake.url, { auth: alice() }), /invalid-proof/);
  });

  it("CONNACK 0x00 without any exchange (the broker skipped the challenge) → AUTH_FAILED", async (t) => {
    const { fake } = await scripted(t, { skip: true });
    assertAuthFailed(
      await refusal(t, fake.url, { auth: alice() }),
      /without completing the exchange/,
    );
  });

  it("a server-first-message asking for 1000 iterations → AUTH_FAILED, and no proof is sent", async (t) => {
    const { fake } = await scripted(t, { serverFirst: (s) => s.replace(/i=\d+$/, "i=1000") });
    assertAuthFailed(await refusal(t, fake.url, { auth: alice() }), /iteration count 1000/);
    const conn = await fake.connection(0);
    assert.equal(await conn.quiet("auth", 50), true);
  });

  it("a server nonce that does not extend the client's → AUTH_FAILED", async (t) => {
    const { fake } = await scripted(t, { serverFirst: (s) => s.replace(/^r=./, "r=#") });
    assertAuthFailed(await refusal(t, fake.url, { auth: alice() }), /nonce/);
  });
});

// ---- on the wire ------------------------------------------------------------------------

describe("SCRAM-SHA-256 on the wire (raw client)", () => {
  it("[MQTT-4.12.0-2] [MQTT-4.12.0-3] [MQTT-4.12.0-5] CONNECT (method, client-first) → AUTH 0x18 (server-first) → AUTH 0x18 (client-final) → CONNACK 0x00 (method, server-final)", async (t) => {
    const broker = await brokerWith(t);
    const c = await raw(t, broker);
    const bare = "n=alice,r=fyko+d2lbbFgONRv9qkxdawL";
    sendConnect(c, `n,,${bare}`);

    const challenge = await c.next("auth");
    assert.equal(challenge.reasonCode, 0x18);
    assert.equal(challenge.properties?.authenticationMethod, METHOD);
    const serverFirst = str(challenge.properties?.authenticationData ?? new Uint8Array());
    assert.match(serverFirst, /^r=fyko\+d2lbbFgONRv9qkxdawL[^,]{24},s=[A-Za-z0-9+/]{22}==,i=4096$/);
    assert.equal(c.received.length, 0, "no CONNACK before the exchange ends");

    const { message, serverSignature } = answer(
      "correct horse battery staple",
      "n,,",
      bare,
      serverFirst,
    );
    c.send(auth(0x18, message));
    const connack = await c.next("connack");
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.authenticationMethod, METHOD);
    assert.equal(str(connack.properties?.authenticationData ?? new Uint8Array()), serverSignature);
    c.send({ type: "pingreq" });
    await c.next("pingresp");
  });

  it("gs2 flag y (client could bind, thinks the server cannot) is accepted: c=eSws", async (t) => {
    const broker = await brokerWith(t);
    const c = await raw(t, broker);
    const bare = "n=bob,r=yyyyyyyyyyyy";
    sendConnect(c, `y,,${bare}`);
    const serverFirst = str(
      (await c.next("auth")).properties?.authenticationData ?? new Uint8Array(),
    );
    const { message } = answer("hunter2", "y,,", bare, serverFirst);
    assert.match(message, /^c=eSws,/);
    c.send(auth(0x18, message));
    assert.equal((await c.next("connack")).reasonCode, 0);
  });

  it("an unknown user gets a server-first-message like a known one's (4096 iterations, a 16-byte salt that is the same on every attempt), then 0x86", async (t) => {
    const broker = await brokerWith(t);
    const salts: string[] = [];
    for (const name of ["ghost", "ghost", "phantom"]) {
      const c = await raw(t, broker);
      const bare = `n=${name},r=abcdefgh`;
      sendConnect(c, `n,,${bare}`);
      const serverFirst = str(
        (await c.next("auth")).properties?.authenticationData ?? new Uint8Array(),
      );
      const [, s, i] = serverFirst.split(",");
      assert.equal(i, "i=4096");
      assert.equal(Buffer.from(s.slice(2), "base64").length, 16);
      salts.push(s);
      c.send(auth(0x18, answer("anything", "n,,", bare, serverFirst).message));
      const connack = await c.next("connack");
      assert.equal(connack.reasonCode, 0x86);
      await c.waitClosed();
    }
    assert.equal(salts[0], salts[1]);
    assert.notEqual(salts[0], salts[2]);
  });

  for (const [what, clientFirst, code] of [
    ["channel binding asked for (gs2 flag p=)", "p=tls-unique,,n=alice,r=abcdefgh", 0x8c],
    ["no gs2 header", "n=alice,r=abcdefgh", 0x87],
    ["a mandatory extension (m=)", "n,,m=ext,n=alice,r=abcdefgh", 0x87],
    ["a badly escaped user name (=2X)", "n,,n=al=2Xice,r=abcdefgh", 0x87],
    ["an authorization identity of another user", "n,a=bob,n=alice,r=abcdefgh", 0x87],
    ["no nonce", "n,,n=alice", 0x87],
    ["a nonce holding a space", "n,,n=alice,r=abc def", 0x87],
    ["no Authentication Data at all", undefined, 0x87],
  ] as const) {
    it(`[MQTT-4.12.0-4] client-first-message with ${what} → CONNACK 0x${code.toString(16)}, then close`, async (t) => {
      const broker = await brokerWith(t);
      const c = await raw(t, broker);
      sendConnect(c, clientFirst);
      const connack = await c.next("connack");
      assert.equal(connack.reasonCode, code);
      await c.waitClosed();
      assert.equal(c.received.length, 0, "no AUTH was sent");
    });
  }

  it("an authorization identity equal to the user is accepted (n,a=alice,)", async (t) => {
    const broker = await brokerWith(t);
    const c = await raw(t, broker);
    const bare = "n=alice,r=abcdefgh";
    sendConnect(c, `n,a=alice,${bare}`);
    const serverFirst = str(
      (await c.next("auth")).properties?.authenticationData ?? new Uint8Array(),
    );
    c.send(
      auth(0x18, answer("correct horse battery staple", "n,a=alice,", bare, serverFirst).message),
    );
    assert.equal((await c.next("connack")).reasonCode, 0);
  });

  for (const [what, tamper, code] of [
    ["another nonce", { nonce: "abcdefgh-not-the-servers" }, 0x87],
    ["a proof of 31 bytes", { proof: new Uint8Array(31) }, 0x87],
    ["a wrong proof of the right length", { proof: new Uint8Array(32) }, 0x86],
  ] as const) {
    it(`[MQTT-4.12.0-4] client-final-message with ${what} → CONNACK 0x${code.toString(16)}`, async (t) => {
      const broker = await brokerWith(t);
      const c = await raw(t, broker);
      const bare = "n=alice,r=abcdefgh";
      sendConnect(c, `n,,${bare}`);
      const serverFirst = str(
        (await c.next("auth")).properties?.authenticationData ?? new Uint8Array(),
      );
      c.send(
        auth(
          0x18,
          answer("correct horse battery staple", "n,,", bare, serverFirst, tamper).message,
        ),
      );
      assert.equal((await c.next("connack")).reasonCode, code);
      await c.waitClosed();
    });
  }

  async function connected(t: TestContext): Promise<RawClient> {
    const broker = await brokerWith(t);
    const c = await raw(t, broker);
    const bare = "n=alice,r=first-exchange";
    sendConnect(c, `n,,${bare}`);
    const serverFirst = str(
      (await c.next("auth")).properties?.authenticationData ?? new Uint8Array(),
    );
    c.send(auth(0x18, answer("correct horse battery staple", "n,,", bare, serverFirst).message));
    assert.equal((await c.next("connack")).reasonCode, 0);
    return c;
  }

  it("[MQTT-4.12.1-1] re-authentication: AUTH 0x19 (client-first) → AUTH 0x18 → AUTH 0x18 → AUTH 0x00 with the server-final-message", async (t) => {
    const c = await connected(t);
    const bare = "n=alice,r=second-exchange";
    c.send(auth(0x19, `n,,${bare}`));
    const challenge = await c.next("auth");
    assert.equal(challenge.reasonCode, 0x18);
    const serverFirst = str(challenge.properties?.authenticationData ?? new Uint8Array());
    assert.match(serverFirst, /^r=second-exchange/);
    const { message, serverSignature } = answer(
      "correct horse battery staple",
      "n,,",
      bare,
      serverFirst,
    );
    c.send(auth(0x18, message));
    const done = await c.next("auth");
    assert.equal(done.reasonCode, 0x00);
    assert.equal(done.properties?.authenticationMethod, METHOD);
    assert.equal(str(done.properties?.authenticationData ?? new Uint8Array()), serverSignature);
    assert.equal(c.isClosed, false);
  });

  it("[MQTT-4.12.1-2] re-authentication as another user (with that user's right password) → DISCONNECT 0x87, then close", async (t) => {
    const c = await connected(t);
    c.send(auth(0x19, "n,,n=bob,r=switch-user"));
    const disconnect = await c.next("disconnect");
    assert.equal(disconnect.reasonCode, 0x87);
    await c.waitClosed();
  });

  it("[MQTT-4.12.1-2] re-authentication with a wrong password → DISCONNECT 0x87 (0x86 is not a DISCONNECT code)", async (t) => {
    const c = await connected(t);
    const bare = "n=alice,r=wrong-password";
    c.send(auth(0x19, `n,,${bare}`));
    const serverFirst = str(
      (await c.next("auth")).properties?.authenticationData ?? new Uint8Array(),
    );
    c.send(auth(0x18, answer("wrong", "n,,", bare, serverFirst).message));
    assert.equal((await c.next("disconnect")).reasonCode, 0x87);
    await c.waitClosed();
  });
});

describe("SCRAM-SHA-256: repeated failures are slowed", () => {
  it("wrong proofs from one address delay the next exchange (100 ms doubling); a success resets; other addresses are not slowed", async () => {
    const delays: number[] = [];
    const scram = new ScramSha256Authenticator(store(), {
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    const attempt = async (password: string, remoteAddress: string) => {
      const info = { ...connectInfo("alice"), remoteAddress };
      const bare = "n=alice,r=fyko+d2lbbFgONRv9qkxdawL";
      const first = await scram.start(info, text(`n,,${bare}`));
      assert.equal(first.done, false);
      const { message } = answer(password, "n,,", bare, dataOf(first));
      return scram.continue(info, text(message));
    };
    const [user, password] = USERS[0];
    assert.equal(user, "alice");
    for (let i = 0; i < 3; i++) {
      const step = await attempt("wrong", "10.0.0.1:5000");
      assert.ok(step.done && !step.ok);
    }
    assert.deepEqual(delays, [100, 200], "the 2nd and 3rd attempts waited");
    // Another address is not slowed.
    const other = await attempt(password, "10.0.0.2:5000");
    assert.ok(other.done && other.ok);
    assert.deepEqual(delays, [100, 200]);
    // The failing address waits 400 ms even with the right password, then starts afresh.
    const ok = await attempt(password, "10.0.0.1:6000");
    assert.ok(ok.done && ok.ok);
    assert.deepEqual(delays, [100, 200, 400]);
    await attempt(password, "10.0.0.1:6001");
    assert.deepEqual(delays, [100, 200, 400], "no delay after a success");
  });
});
