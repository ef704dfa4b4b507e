/**
 * The client transports against a real broker: TCP, TLS (through a TLS
 * terminator in front of the broker), WebSocket, secure WebSocket, the
 * scheme dispatcher, and the browser transport driven by the `ws` package as
 * its global `WebSocket`. Bytes go through the project's codec only.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createNetServer, connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import { WebSocket as NodeWebSocket } from "ws";
import type { Broker } from "../../src/broker/index.js";
import { browserWsTransport } from "../../src/client/transport/browser-ws.js";
import { nodeTransport } from "../../src/client/transport/node-any.js";
import { connectError } from "../../src/client/transport/node-errors.js";
import { nodeTcpTransport } from "../../src/client/transport/node-tcp.js";
import { nodeWsTransport } from "../../src/client/transport/node-ws.js";
import type {
  Transport,
  TransportFactory,
  TransportOptions,
} from "../../src/client/transport/types.js";
import {
  AbortError,
  Decoder,
  encode,
  InvalidArgumentError,
  type Packet,
  TransportError,
} from "../../src/protocol/index.js";
import { sleep, startBroker, tcpPort } from "../helpers/broker.js";
import { RawClient, str, text } from "../helpers/raw-client.js";

type PacketOf<T extends Packet["type"]> = Extract<Packet, { type: T }>;

/** Drives a transport with the codec: records packets, closes and drains. */
class Peer {
  readonly transport: Transport;
  readonly packets: Packet[] = [];
  readonly closes: (Error | undefined)[] = [];
  chunks = 0;
  drains = 0;
  #decoder = new Decoder({ version: 4 });
  #waiters: { type: string; resolve: (p: Packet) => void }[] = [];
  #closeWaiters: ((e: Error | undefined) => void)[] = [];

  constructor(transport: Transport) {
    this.transport = transport;
    transport.onData = (chunk) => {
      assert.ok(chunk instanceof Uint8Array);
      this.chunks++;
      this.#decoder.push(chunk, (p) => this.#deliver(p));
    };
    transport.onClose = (error) => {
      this.closes.push(error);
      for (const w of this.#closeWaiters.splice(0)) w(error);
    };
    transport.onDrain = () => {
      this.drains++;
    };
  }

  #deliver(p: Packet): void {
    const i = this.#waiters.findIndex((w) => w.type === p.type);
    if (i >= 0) this.#waiters.splice(i, 1)[0].resolve(p);
    else this.packets.push(p);
  }

  send(p: Packet): void {
    this.transport.write(encode(p, 4));
  }

  next<T extends Packet["type"]>(type: T, timeoutMs = 3000): Promise<PacketOf<T>> {
    const i = this.packets.findIndex((p) => p.type === type);
    if (i >= 0) return Promise.resolve(this.packets.splice(i, 1)[0] as PacketOf<T>);
    return new Promise((resolve, reject) => {
      const waiter = {
        type,
        resolve: (p: Packet) => {
          clearTimeout(timer);
          resolve(p as PacketOf<T>);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  closed(timeoutMs = 3000): Promise<Error | undefined> {
    if (this.closes.length > 0) return Promise.resolve(this.closes[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("transport did not close")), timeoutMs);
      this.#closeWaiters.push((e) => {
        clearTimeout(timer);
        resolve(e);
      });
    });
  }

  async connect(clientId: string): Promise<void> {
    this.send({ type: "connect", protocolVersion: 4, clean: true, keepalive: 0, clientId });
    const connack = await this.next("connack");
    assert.equal(connack.reasonCode, 0);
  }
}

/** A port nothing listens on: bound, then closed again. */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : 0;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A TCP server that accepts and never says a word (handshakes hang against it). */
async function silentServer(): Promise<{
  port: number;
  sockets: Socket[];
  closed: Set<Socket>;
  close(): Promise<void>;
}> {
  const sockets: Socket[] = [];
  const closed = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.push(s);
    s.on("error", () => {});
    s.on("close", () => closed.add(s));
    s.resume(); // read (and drop) what arrives, so the peer's FIN is seen
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  return {
    port: typeof addr === "object" && addr !== null ? addr.port : 0,
    sockets,
    closed,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

async function assertRejects<E extends Error>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => E,
  message: RegExp,
): Promise<E> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected a ${type.name} matching ${message}`);
}

interface Case {
  name: string;
  factory: TransportFactory;
  url: () => URL;
  /** The error message when nothing listens on `port`. */
  refused: (port: number) => { url: URL; message: RegExp };
}

let broker: Broker;
let savedWebSocket: unknown;
const wsPort = () => broker.listeners.find((l) => l.type === "ws")!.port;

before(async () => {
  broker = await startBroker();
  // The browser transport uses the runtime's global WebSocket; Node 20 has none, and
  // the `ws` package implements the same interface.
  savedWebSocket = (globalThis as { WebSocket?: unknown }).WebSocket;
  (globalThis as { WebSocket?: unknown }).WebSocket = NodeWebSocket;
});
after(async () => {
  (globalThis as { WebSocket?: unknown }).WebSocket = savedWebSocket;
  await broker.close();
});

const refusedTcp = (port: number) => ({
  url: new URL(`mqtt://127.0.0.1:${port}`),
  message: new RegExp(`^connection refused by 127\\.0\\.0\\.1:${port} — is a broker running\\?$`),
});
const refusedWs = (port: number) => ({
  url: new URL(`ws://127.0.0.1:${port}/mqtt`),
  message: new RegExp(`^connection refused by 127\\.0\\.0\\.1:${port} — is a broker running\\?$`),
});

const cases: Case[] = [
  {
    name: "nodeTcpTransport (mqtt:)",
    factory: nodeTcpTransport,
    url: () => new URL(`mqtt://127.0.0.1:${tcpPort(broker)}`),
    refused: refusedTcp,
  },
  {
    name: "nodeTransport (tcp:)",
    factory: nodeTransport,
    url: () => new URL(`tcp://127.0.0.1:${tcpPort(broker)}`),
    refused: refusedTcp,
  },
  {
    name: "nodeWsTransport (ws:)",
    factory: nodeWsTransport,
    url: () => new URL(`ws://127.0.0.1:${wsPort()}/mqtt`),
    refused: refusedWs,
  },
  {
    name: "nodeTransport (ws:)",
    factory: nodeTransport,
    url: () => new URL(`ws://127.0.0.1:${wsPort()}/mqtt`),
    refused: refusedWs,
  },
  {
    name: "browserWsTransport (ws: over a WHATWG-style WebSocket)",
    factory: browserWsTransport,
    url: () => new URL(`ws://127.0.0.1:${wsPort()}/mqtt`),
    refused: (port) => ({
      url: new URL(`ws://127.0.0.1:${port}/mqtt`),
      message: new RegExp(
        `^cannot open WebSocket ws://127\\.0\\.0\\.1:${port}/mqtt \\(close code 1006\\)`,
      ),
    }),
  },
];

for (const c of cases) {
  describe(c.name, () => {
    it("connects and exchanges MQTT packets; writes in one turn all arrive, then onDrain", async () => {
      const peer = new Peer(await c.factory(c.url(), {}));
      const connect = encode(
        { type: "connect", protocolVersion: 4, clean: true, keepalive: 0, clientId: "t-ex" },
        4,
      );
      const subscribe = encode(
        { type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "t/ex", qos: 0 }] },
        4,
      );
      // Written in one turn: coalesced into one flush, counted as buffered until then.
      peer.transport.write(connect);
      peer.transport.write(subscribe);
      assert.equal(peer.transport.bufferedAmount, connect.length + subscribe.length);
      assert.equal((await peer.next("connack")).reasonCode, 0);
      assert.deepEqual((await peer.next("suback")).reasonCodes, [0]);
      assert.ok(peer.drains >= 1, "onDrain after the flushed writes");
      assert.equal(peer.transport.bufferedAmount, 0);

      peer.send({
        type: "publish",
        topic: "t/ex",
        payload: text("hello"),
        qos: 0,
        retain: false,
        dup: false,
      });
      const msg = await peer.next("publish");
      assert.equal(msg.topic, "t/ex");
      assert.equal(str(msg.payload), "hello");

      peer.transport.close();
      assert.equal(await peer.closed(), undefined);
      await sleep(50);
      assert.equal(peer.closes.length, 1, "onClose exactly once");
      peer.transport.write(encode({ type: "pingreq" }, 4)); // ignored after close
      await sleep(20);
      assert.equal(peer.closes.length, 1);
    });

    it("pause() holds incoming data until resume()", async () => {
      const peer = new Peer(await c.factory(c.url(), {}));
      await peer.connect("t-pause");
      peer.send({
        type: "subscribe",
        packetId: 1,
        subscriptions: [{ topicFilter: "t/p", qos: 0 }],
      });
      await peer.next("suback");

      peer.transport.pause();
      const chunksBeforePause = peer.chunks;
      const pub = await RawClient.tcp(tcpPort(broker));
      await pub.connect({ clientId: "t-pause-pub" });
      for (let i = 0; i < 5; i++) {
        pub.send({
          type: "publish",
          topic: "t/p",
          payload: text(`m${i}`),
          qos: 0,
          retain: false,
          dup: false,
        });
      }
      pub.send({ type: "pingreq" });
      await pub.next("pingresp"); // the broker has routed all five
      await sleep(100);
      assert.equal(peer.chunks, chunksBeforePause, "nothing delivered while paused");
      assert.equal(peer.packets.length, 0);

      peer.transport.resume();
      const got: string[] = [];
      for (let i = 0; i < 5; i++) got.push(str((await peer.next("publish")).payload));
      assert.deepEqual(got, ["m0", "m1", "m2", "m3", "m4"]);
      pub.close();
      peer.transport.close();
      await peer.closed();
    });

    it("a clean close while paused is reported after resume(), after the held data", async () => {
      const peer = new Peer(await c.factory(c.url(), {}));
      await peer.connect("t-pclose");
      peer.send({
        type: "subscribe",
        packetId: 1,
        subscriptions: [{ topicFilter: "t/pc", qos: 0 }],
      });
      await peer.next("suback");
      peer.transport.pause();
      const chunksBeforePause = peer.chunks;
      // The broker echoes this PUBLISH, then closes on DISCONNECT.
      peer.send({
        type: "publish",
        topic: "t/pc",
        payload: text("last"),
        qos: 0,
        retain: false,
        dup: false,
      });
      peer.send({ type: "disconnect" });
      await sleep(150);
      assert.equal(peer.chunks, chunksBeforePause);
      assert.equal(peer.closes.length, 0, "close held back with the data");
      peer.transport.resume();
      assert.equal(str((await peer.next("publish")).payload), "last");
      assert.equal(await peer.closed(), undefined);
      await sleep(20);
      assert.equal(peer.closes.length, 1);
    });

    it("reports the broker closing the connection once", async () => {
      const peer = new Peer(await c.factory(c.url(), {}));
      await peer.connect("t-srvclose");
      peer.send({ type: "disconnect" });
      await peer.closed();
      await sleep(50);
      assert.equal(peer.closes.length, 1);
    });

    it("names the address when the connection is refused", async () => {
      const port = await closedPort();
      const { url, message } = c.refused(port);
      const err = await assertRejects(c.factory(url, {}), TransportError, message);
      assert.equal(err.code, "TRANSPORT_ERROR");
    });

    it("rejects with AbortError when the signal aborts while connecting, and drops the socket", async () => {
      const silent = await silentServer();
      try {
        const scheme = c.url().protocol === "ws:" ? "ws" : "mqtts"; // a handshake that never ends
        const factory = scheme === "mqtts" ? nodeTcpTransport : c.factory;
        const url = new URL(`${scheme}://127.0.0.1:${silent.port}/mqtt`);
        const controller = new AbortController();
        const pending = factory(url, { signal: controller.signal, rejectUnauthorized: false });
        await sleep(100);
        assert.equal(silent.sockets.length, 1, "the handshake started");
        controller.abort();
        await assertRejects(pending, AbortError, /aborted/);
        await sleep(50);
        assert.ok(silent.closed.has(silent.sockets[0]), "the client dropped the connection");
      } finally {
        await silent.close();
      }
    });

    it("rejects at once, without a connection, when the signal is already aborted", async () => {
      const controller = new AbortController();
      controller.abort(new Error("stop"));
      const err = await assertRejects(
        c.factory(c.url(), { signal: controller.signal }),
        AbortError,
        /aborted/,
      );
      assert.equal((err.cause as Error).message, "stop");
    });
  });
}

describe("plain TCP details", () => {
  it("aborting right after the call, before the TCP connect completes, rejects and connects nothing", async () => {
    const controller = new AbortController();
    const pending = nodeTcpTransport(new URL(`mqtt://127.0.0.1:${tcpPort(broker)}`), {
      signal: controller.signal,
    });
    controller.abort();
    await assertRejects(pending, AbortError, /^connecting to 127\.0\.0\.1:\d+ was aborted$/);
  });

  it("a TLS URL against a plain port fails with the address in the message", async () => {
    const err = await assertRejects(
      nodeTcpTransport(new URL(`mqtts://127.0.0.1:${tcpPort(broker)}`), {}),
      TransportError,
      new RegExp(`127\\.0\\.0\\.1:${tcpPort(broker)}`),
    );
    assert.ok(err.cause !== undefined);
  });
});

describe("WebSocket details", () => {
  it("an HTTP answer instead of an upgrade names the status and the path", async () => {
    const url = new URL(`ws://127.0.0.1:${wsPort()}/not-mqtt`);
    await assertRejects(
      nodeWsTransport(url, {}),
      TransportError,
      /failed: HTTP 400 Bad Request instead of an upgrade — check the path \/not-mqtt \(brokers commonly serve MQTT at \/mqtt\)/,
    );
    await assertRejects(browserWsTransport(url, {}), TransportError, /cannot open WebSocket/);
  });

  it("wss: against a plain WebSocket port names the TLS failure", async () => {
    await assertRejects(
      nodeWsTransport(new URL(`wss://127.0.0.1:${wsPort()}/mqtt`), {}),
      TransportError,
      new RegExp(
        `^TLS handshake with 127\\.0\\.0\\.1:${wsPort()} failed \\(wrong version number\\) — is that port serving TLS\\?$`,
      ),
    );
  });

  it("no agreed subprotocol fails the handshake with a clear message", async () => {
    await assertRejects(
      nodeWsTransport(new URL(`ws://127.0.0.1:${wsPort()}/mqtt`), { wsProtocols: ["bogus"] }),
      TransportError,
      /Server sent no subprotocol \(offered bogus\) — is this an MQTT over WebSocket endpoint\?/,
    );
  });

  it("a connection dropped without a close frame is reported as a TransportError (code 1006)", async () => {
    const { WebSocketServer } = await import("ws");
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    wss.on("connection", (ws) => ws.on("message", () => ws.terminate()));
    await new Promise<void>((r) => wss.once("listening", () => r()));
    const port = (wss.address() as { port: number }).port;
    try {
      for (const factory of [nodeWsTransport, browserWsTransport]) {
        const peer = new Peer(await factory(new URL(`ws://127.0.0.1:${port}/`), {}));
        peer.send({ type: "pingreq" });
        const err = await peer.closed();
        assert.ok(err instanceof TransportError, String(err));
        assert.match(err.message, /closed .*\(code 1006\)/);
        await sleep(20);
        assert.equal(peer.closes.length, 1);
      }
    } finally {
      await new Promise<void>((r) => wss.close(() => r()));
    }
  });

  it("sends the configured headers and subprotocols", async () => {
    const { WebSocketServer } = await import("ws");
    const seen: { headers: Record<string, unknown>; protocol: string }[] = [];
    const wss = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      handleProtocols: (protocols) => [...protocols][0] ?? false,
    });
    wss.on("connection", (ws, req) => seen.push({ headers: req.headers, protocol: ws.protocol }));
    await new Promise<void>((r) => wss.once("listening", () => r()));
    const port = (wss.address() as { port: number }).port;
    try {
      const t = await nodeWsTransport(new URL(`ws://user:pw@127.0.0.1:${port}/x#frag`), {
        wsProtocols: ["mqttv3.1"],
        wsHeaders: { "x-starling": "yes" },
      });
      const peer = new Peer(t);
      t.close();
      await peer.closed();
      assert.equal(seen.length, 1);
      assert.equal(seen[0].protocol, "mqttv3.1");
      assert.equal(seen[0].headers["x-starling"], "yes");
      assert.equal(seen[0].headers.authorization, undefined, "URL credentials are not sent");
    } finally {
      await new Promise<void>((r) => wss.close(() => r()));
    }
  });
});

describe("scheme checks", () => {
  it("each factory throws InvalidArgumentError for a scheme it does not speak", () => {
    assert.throws(() => nodeTransport(new URL("http://127.0.0.1/"), {}), InvalidArgumentError);
    assert.throws(() => nodeTcpTransport(new URL("ws://127.0.0.1/"), {}), InvalidArgumentError);
    assert.throws(() => nodeWsTransport(new URL("mqtt://127.0.0.1/"), {}), InvalidArgumentError);
    assert.throws(
      () => browserWsTransport(new URL("mqtt://127.0.0.1/"), {}),
      /browsers cannot open TCP connections/,
    );
  });

  it("browserWsTransport rejects with TransportError when the runtime has no WebSocket", async () => {
    const g = globalThis as { WebSocket?: unknown };
    const saved = g.WebSocket;
    g.WebSocket = undefined;
    try {
      await assertRejects(
        browserWsTransport(new URL("ws://127.0.0.1:1/mqtt"), {}),
        TransportError,
        /no global WebSocket/,
      );
    } finally {
      g.WebSocket = saved;
    }
  });
});

describe("connect error messages", () => {
  const errno = (code: string, message = code) => Object.assign(new Error(message), { code });
  const cases: [string, Error, RegExp][] = [
    ["ECONNREFUSED", errno("ECONNREFUSED"), /^connection refused by h:1 — is a broker running\?$/],
    ["ENOTFOUND", errno("ENOTFOUND"), /cannot resolve host "h" \(connecting to h:1\)/],
    ["ETIMEDOUT", errno("ETIMEDOUT"), /connection to h:1 timed out/],
    ["EHOSTUNREACH", errno("EHOSTUNREACH"), /h:1 is unreachable/],
    ["CERT_HAS_EXPIRED", errno("CERT_HAS_EXPIRED"), /certificate of h:1 has expired/],
    [
      "SELF_SIGNED_CERT_IN_CHAIN",
      errno("SELF_SIGNED_CERT_IN_CHAIN", "self-signed certificate in certificate chain"),
      /certificate of h:1 is not trusted .*"ca" option/,
    ],
    [
      "ERR_SSL_WRONG_VERSION_NUMBER",
      errno("ERR_SSL_WRONG_VERSION_NUMBER", "wrong version number"),
      /TLS handshake with h:1 failed .*serving TLS/,
    ],
    ["other", new Error("boom"), /^cannot connect to h:1: boom$/],
  ];
  for (const [name, error, message] of cases) {
    it(name, () => {
      const err = connectError(error, "h:1", "h");
      assert.ok(err instanceof TransportError);
      assert.match(err.message, message);
      assert.equal(err.cause, error);
    });
  }
});

// TLS: a self-signed certificate made at test time, and a TLS terminator in front of the
// broker's TCP and WebSocket listeners.
const haveOpenssl = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
if (!haveOpenssl) {
  if (process.env.CI === "true")
    throw new Error("openssl is required for the TLS transport tests in CI");
  console.warn("\n*** SKIPPING TLS transport tests: openssl not found on PATH ***\n");
}

describe("TLS (mqtts:, wss:)", { skip: haveOpenssl ? false : "openssl not found" }, () => {
  let dir: string;
  let cert: string;
  let key: string;
  const terminators: TlsServer[] = [];
  let mqttsPort: number;
  let wssPort: number;

  /** Terminates TLS and pipes the plain bytes to `targetPort`. */
  async function terminator(targetPort: number): Promise<number> {
    const server = createTlsServer({ key, cert }, (tls) => {
      const plain = netConnect(targetPort, "127.0.0.1");
      tls.on("error", () => plain.destroy());
      plain.on("error", () => tls.destroy());
      tls.pipe(plain).pipe(tls);
    });
    server.on("tlsClientError", () => {});
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    terminators.push(server);
    return (server.address() as { port: number }).port;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "starling-tls-"));
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
      ],
      { stdio: "ignore" },
    );
    cert = readFileSync(join(dir, "cert.pem"), "utf8");
    key = readFileSync(join(dir, "key.pem"), "utf8");
    mqttsPort = await terminator(tcpPort(broker));
    wssPort = await terminator(wsPort());
  });
  after(async () => {
    for (const s of terminators) await new Promise<void>((r) => s.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function roundTrip(factory: TransportFactory, url: URL, options: TransportOptions) {
    const peer = new Peer(await factory(url, options));
    await peer.connect(`tls-${url.protocol}`);
    peer.send({ type: "pingreq" });
    await peer.next("pingresp");
    peer.transport.close();
    assert.equal(await peer.closed(), undefined);
    assert.equal(peer.closes.length, 1);
  }

  it("mqtts: trusts the server through `ca` (string and bytes), and via the ssl:/tls: aliases", async () => {
    await roundTrip(nodeTcpTransport, new URL(`mqtts://127.0.0.1:${mqttsPort}`), { ca: cert });
    await roundTrip(nodeTransport, new URL(`ssl://127.0.0.1:${mqttsPort}`), {
      ca: [new TextEncoder().encode(cert)],
    });
    await roundTrip(nodeTransport, new URL(`tls://127.0.0.1:${mqttsPort}`), {
      ca: cert,
      servername: "localhost",
    });
  });

  it("mqtts: an untrusted certificate fails verification with a clear message", async () => {
    await assertRejects(
      nodeTcpTransport(new URL(`mqtts://127.0.0.1:${mqttsPort}`), {}),
      TransportError,
      new RegExp(
        `^TLS: the certificate of 127\\.0\\.0\\.1:${mqttsPort} is not trusted \\(DEPTH_ZERO_SELF_SIGNED_CERT.*pass its CA in the "ca" option`,
      ),
    );
  });

  it("mqtts: rejectUnauthorized: false connects without verification", async () => {
    await roundTrip(nodeTcpTransport, new URL(`mqtts://127.0.0.1:${mqttsPort}`), {
      rejectUnauthorized: false,
    });
  });

  it("mqtts: a certificate for another name fails with the name in the message", async () => {
    await assertRejects(
      nodeTcpTransport(new URL(`mqtts://127.0.0.1:${mqttsPort}`), {
        ca: cert,
        servername: "broker.example",
      }),
      TransportError,
      new RegExp(
        `^TLS: the certificate of 127\\.0\\.0\\.1:${mqttsPort} is not valid for the name "broker\\.example"`,
      ),
    );
  });

  it("wss: trusts the server through `ca`; fails verification without it", async () => {
    const url = new URL(`wss://127.0.0.1:${wssPort}/mqtt`);
    await roundTrip(nodeWsTransport, url, { ca: cert });
    await roundTrip(nodeTransport, url, { rejectUnauthorized: false });
    await assertRejects(
      nodeWsTransport(url, {}),
      TransportError,
      new RegExp(`^TLS: the certificate of 127\\.0\\.0\\.1:${wssPort} is not trusted`),
    );
  });
});
