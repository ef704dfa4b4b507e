/**
 * TLS listeners (mqtts, wss) with certificates made at test time: server
 * authentication, mutual TLS (require_certificate) accepted and refused,
 * the certificate's CN as the username (use_identity_as_username), the
 * minimum TLS version, and certificates replaced while running without
 * dropping open connections. Clients are MQTT.js over node:tls.
 */
import assert from "node:assert/strict";
import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import mqtt, { type MqttClient } from "mqtt";
import type { Authorizer } from "../../src/broker/auth/types.js";
import { Broker, type TlsFiles } from "../../src/broker/broker.js";
import { makePki, type Pki } from "../helpers/certs.js";
import { requireProgram } from "../helpers/programs.js";

const skip = requireProgram("openssl", "openssl");

describe("TLS listeners", { skip }, () => {
  let pki: Pki;
  const brokers: Broker[] = [];
  const clients: MqttClient[] = [];

  before(() => {
    pki = makePki();
  });
  after(async () => {
    for (const c of clients) c.end(true);
    for (const b of brokers) await b.close();
    pki?.remove();
  });

  function files(extra: Partial<TlsFiles> = {}): TlsFiles {
    return {
      cert: pki.serverCert,
      key: pki.serverKey,
      ca: pki.ca,
      requireCertificate: false,
      useIdentityAsUsername: false,
      minVersion: "TLSv1.2",
      ...extra,
    };
  }

  async function start(
    type: "tls" | "ws",
    tls: TlsFiles,
    authorizer?: Authorizer,
  ): Promise<Broker> {
    const broker = await Broker.start({
      listeners: [
        type === "tls"
          ? { type: "tls", host: "127.0.0.1", port: 0, tls }
          : { type: "ws", host: "127.0.0.1", port: 0, path: "/mqtt", tls },
      ],
      sysInterval: 0,
      ...(authorizer ? { authorizer } : {}),
    });
    brokers.push(broker);
    return broker;
  }

  async function client(url: string, options: mqtt.IClientOptions = {}): Promise<MqttClient> {
    const c = await mqtt.connectAsync(url, {
      ca: pki.read(pki.ca),
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...options,
    });
    clients.push(c);
    return c;
  }

  /** Connecting fails (handshake refused or connection closed before CONNACK). */
  async function refused(url: string, options: mqtt.IClientOptions): Promise<string> {
    const c = mqtt.connect(url, {
      ca: pki.read(pki.ca),
      reconnectPeriod: 0,
      connectTimeout: 3000,
      ...options,
    });
    clients.push(c);
    return new Promise((resolve, reject) => {
      c.once("connect", () => reject(new Error("connected, but should have been refused")));
      c.once("error", (err) => resolve(err.message));
      c.once("close", () => resolve("closed"));
    });
  }

  async function roundTrip(c: MqttClient, topic: string): Promise<void> {
    await c.subscribeAsync(topic, { qos: 1 });
    const got = new Promise<string>((r) => c.once("message", (_t, p) => r(p.toString())));
    await c.publishAsync(topic, "over tls", { qos: 1 });
    assert.equal(await got, "over tls");
  }

  it("mqtts: a client trusting the CA connects, publishes and receives", async () => {
    const broker = await start("tls", files());
    assert.match(broker.url("tls"), /^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const c = await client(broker.url("tls"));
    await roundTrip(c, "tls/a");
  });

  it("mqtts: a client that does not trust the server's CA is refused by its own TLS check", async () => {
    const broker = await start("tls", files());
    const message = await refused(broker.url("tls"), { ca: undefined, rejectUnauthorized: true });
    assert.match(message, /self[- ]signed|unable to verify|certificate/i);
  });

  it("wss: MQTT over WebSocket over TLS", async () => {
    const broker = await start("ws", files());
    assert.match(broker.url("wss"), /^wss:\/\/127\.0\.0\.1:\d+\/mqtt$/);
    const c = await client(broker.url("wss"));
    await roundTrip(c, "wss/a");
  });

  it("require_certificate: a client with a certificate from the CA is accepted; none or a stranger's is refused", async () => {
    const broker = await start("tls", files({ requireCertificate: true }));
    const alice = pki.client("alice");
    const ok = await client(broker.url("tls"), {
      cert: pki.read(alice.cert),
      key: pki.read(alice.key),
    });
    await roundTrip(ok, "mtls/a");
    await refused(broker.url("tls"), {});
    const stranger = pki.client("mallory", { selfSigned: true });
    await refused(broker.url("tls"), {
      cert: pki.read(stranger.cert),
      key: pki.read(stranger.key),
    });
    assert.equal(broker.core.clients.size, 1, "only alice got in");
  });

  it("wss with require_certificate refuses a client without a certificate", async () => {
    const broker = await start("ws", files({ requireCertificate: true }));
    await refused(broker.url("wss"), {});
    const bob = pki.client("bob");
    const c = await client(broker.url("wss"), { cert: pki.read(bob.cert), key: pki.read(bob.key) });
    await roundTrip(c, "wss/mtls");
  });

  it("use_identity_as_username: the certificate's CN is the username, whatever CONNECT says", async () => {
    const seen: (string | undefined)[] = [];
    const recorder: Authorizer = {
      canPublish: () => true,
      canSubscribe: (client) => {
        seen.push(client.username);
        return true;
      },
    };
    const broker = await start(
      "tls",
      files({ requireCertificate: true, useIdentityAsUsername: true }),
      recorder,
    );
    const carol = pki.client("carol");
    const c = await client(broker.url("tls"), {
      cert: pki.read(carol.cert),
      key: pki.read(carol.key),
      username: "not-carol",
      password: "ignored",
    });
    await c.subscribeAsync("id/a");
    assert.deepEqual(seen, ["carol"]);
  });

  it("min TLS version 1.3: a client limited to TLS 1.2 is refused", async () => {
    const broker = await start("tls", files({ minVersion: "TLSv1.3" }));
    const port = broker.listeners[0].port;
    const error = await new Promise<Error | undefined>((resolve) => {
      const s = tlsConnect({
        host: "127.0.0.1",
        port,
        ca: pki.read(pki.ca),
        maxVersion: "TLSv1.2",
      });
      s.once("secureConnect", () => {
        s.destroy();
        resolve(undefined);
      });
      s.once("error", resolve);
    });
    assert.ok(error, "the TLS 1.2 handshake must fail");
    const c = await client(broker.url("tls"));
    await roundTrip(c, "tls13/a");
  });

  it("reloadTls: new connections get the new certificate; open ones stay; a failed reload changes nothing", async () => {
    // The broker's files are copies, so the test can replace them as an operator would.
    const cert = join(pki.dir, "live.crt");
    const key = join(pki.dir, "live.key");
    copyFileSync(pki.serverCert, cert);
    copyFileSync(pki.serverKey, key);
    const broker = await start("tls", files({ cert, key }));
    const before = await client(broker.url("tls"));

    const next = pki.rotate();
    copyFileSync(next.serverCert, cert);
    copyFileSync(next.serverKey, key);
    broker.reloadTls();

    // The open connection is untouched.
    await roundTrip(before, "reload/old");
    // A new client must trust the new CA; the old CA no longer verifies the server.
    const after = await client(broker.url("tls"), { ca: pki.read(next.ca) });
    await roundTrip(after, "reload/new");
    await refused(broker.url("tls"), { ca: pki.read(pki.ca) });

    // A reload that cannot read its files throws, naming the file, and keeps serving the
    // certificate it has.
    rmSync(key);
    assert.throws(() => broker.reloadTls(), /cannot read the TLS key .*live\.key/);
    const still = await client(broker.url("tls"), { ca: pki.read(next.ca) });
    await roundTrip(still, "reload/kept");
  });
});
