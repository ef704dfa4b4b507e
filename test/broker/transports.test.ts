/**
 * The broker over real sockets: MQTT over WebSocket (§6), TCP write
 * coalescing and abrupt closes, shutdown, and listeners that cannot bind.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, connect as netConnect, type Server } from "node:net";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { Broker } from "../../src/broker/index.js";
import {
  Decoder,
  encode,
  type Packet,
  type ProtocolVersion,
  type PublishPacket,
} from "../../src/protocol/index.js";
import { sleep, startBroker, tcpPort } from "../helpers/broker.js";
import { RawClient, str, text } from "../helpers/raw-client.js";

type PacketOf<T extends Packet["type"]> = Extract<Packet, { type: T }>;

/** An MQTT peer over a WebSocket: binary frames out, a decoder over the frames in. */
class WsPeer {
  readonly ws: WebSocket;
  readonly decoder: Decoder;
  readonly received: Packet[] = [];
  /** Frames received, to show how packets were framed. */
  frames = 0;
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: { type: string | undefined; resolve: (p: Packet) => void }[] = [];
  decodeError: unknown;

  private constructor(ws: WebSocket, version: ProtocolVersion) {
    this.ws = ws;
    this.decoder = new Decoder({ version });
    this.closed = new Promise((resolve) =>
      ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    ws.on("message", (data: Buffer, isBinary) => {
      this.frames++;
      assert.ok(isBinary, "the broker sent a text frame [MQTT-6.0.0-1]");
      try {
        this.decoder.push(data, (p) => this.#deliver(p));
      } catch (err) {
        this.decodeError = err;
      }
    });
  }

  /** Opens a WebSocket to `url` offering `protocols`; resolves once the handshake is done. */
  static async open(
    url: string,
    protocols: string[] = ["mqtt"],
    version: ProtocolVersion = 4,
  ): Promise<WsPeer> {
    const ws = new WebSocket(url, protocols);
    const peer = new WsPeer(ws, version);
    await once(ws, "open");
    return peer;
  }

  #deliver(p: Packet): void {
    const i = this.#waiters.findIndex((w) => w.type === undefined || w.type === p.type);
    if (i >= 0) this.#waiters.splice(i, 1)[0]?.resolve(p);
    else this.received.push(p);
  }

  /** Sends `bytes` as one binary frame. */
  frame(bytes: Uint8Array): void {
    this.ws.send(bytes, { binary: true });
  }

  send(p: Packet): void {
    if (p.type === "connect") this.decoder.version = p.protocolVersion;
    this.frame(encode(p, this.decoder.version));
  }

  next<T extends Packet["type"]>(type: T, timeoutMs = 3000): Promise<PacketOf<T>> {
    const i = this.received.findIndex((p) => p.type === type);
    if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0] as PacketOf<T>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const k = this.#waiters.indexOf(waiter);
        if (k >= 0) this.#waiters.splice(k, 1);
        reject(new Error(`no ${type} within ${timeoutMs} ms over WebSocket`));
      }, timeoutMs);
      const waiter = {
        type,
        resolve: (p: Packet) => {
          clearTimeout(timer);
          resolve(p as PacketOf<T>);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  async connect(clientId: string, version: ProtocolVersion = 4): Promise<PacketOf<"connack">> {
    this.send({ type: "connect", protocolVersion: version, clean: true, keepalive: 60, clientId });
    return this.next("connack");
  }
}

function publish(topic: string, payload: string, extra: Partial<PublishPacket> = {}): Packet {
  return {
    type: "publish",
    topic,
    payload: text(payload),
    qos: 0,
    retain: false,
    dup: false,
    ...extra,
  };
}

/** Resolves when `cond` holds; rejects after `timeoutMs`. */
async function until(cond: () => boolean, timeoutMs = 3000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Binds a plain TCP server on `port` (0: any); the port is in use until it is closed. */
async function occupy(port = 0): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.destroy());
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  const addr = server.address();
  assert.ok(addr !== null && typeof addr === "object");
  return { server, port: addr.port };
}

const closeServer = (server: Server) => new Promise<void>((r) => server.close(() => r()));

// ---------------------------------------------------------------------------

describe("MQTT over WebSocket (§6)", () => {
  let broker: Broker;
  before(async () => {
    broker = await startBroker();
  });
  after(() => broker.close());

  it("[MQTT-6.0.0-4] subprotocol mqtt is selected; binary frames carry CONNECT, SUBSCRIBE and PUBLISH", async () => {
    const peer = await WsPeer.open(broker.url("ws"));
    assert.equal(peer.ws.protocol, "mqtt");
    const connack = await peer.connect("ws-basic");
    assert.equal(connack.reasonCode, 0);
    peer.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{ topicFilter: "ws/basic", qos: 1 }],
    });
    assert.deepEqual((await peer.next("suback")).reasonCodes, [1]);
    peer.send(publish("ws/basic", "over ws", { qos: 1, packetId: 2 }));
    assert.equal((await peer.next("puback")).packetId, 2);
    const msg = await peer.next("publish");
    assert.equal(msg.topic, "ws/basic");
    assert.equal(str(msg.payload), "over ws");
    peer.send({ type: "puback", packetId: msg.packetId as number });
    assert.equal(peer.decodeError, undefined);
    peer.ws.close();
    await peer.closed;
  });

  it("[MQTT-6.0.0-2] one MQTT packet split over two frames, and two packets in one frame", async () => {
    const peer = await WsPeer.open(broker.url("ws"));
    await peer.connect("ws-framing");
    peer.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{ topicFilter: "ws/frames/#", qos: 0 }],
    });
    await peer.next("suback");

    // A PUBLISH in two frames, cut inside the topic.
    const split = encode(publish("ws/frames/split", "x".repeat(300)), 4);
    peer.frame(split.subarray(0, 7));
    await sleep(20);
    peer.frame(split.subarray(7));
    const a = await peer.next("publish");
    assert.equal(a.topic, "ws/frames/split");
    assert.equal(a.payload.length, 300);

    // Two PUBLISHes and a PINGREQ in one frame.
    peer.frame(
      Buffer.concat([
        encode(publish("ws/frames/one", "1"), 4),
        encode(publish("ws/frames/two", "2"), 4),
        encode({ type: "pingreq" }, 4),
      ]),
    );
    const one = await peer.next("publish");
    const two = await peer.next("publish");
    assert.deepEqual([one.topic, two.topic], ["ws/frames/one", "ws/frames/two"]);
    await peer.next("pingresp");

    // A fixed header cut after its first byte, then the rest one byte per frame.
    const bytes = encode(publish("ws/frames/bytewise", "b"), 4);
    for (const byte of bytes) peer.frame(Uint8Array.of(byte));
    assert.equal((await peer.next("publish")).topic, "ws/frames/bytewise");
    assert.equal(peer.decodeError, undefined);
    peer.ws.close();
    await peer.closed;
  });

  it("subprotocol mqttv3.1 is accepted for MQTT 3.1 clients", async () => {
    const peer = await WsPeer.open(broker.url("ws"), ["mqttv3.1"], 3);
    assert.equal(peer.ws.protocol, "mqttv3.1");
    const connack = await peer.connect("ws-v31", 3);
    assert.equal(connack.reasonCode, 0);
    peer.send({ type: "pingreq" });
    await peer.next("pingresp");
    peer.ws.close();
    await peer.closed;
  });

  it("mqtt is chosen when a client offers both subprotocols", async () => {
    const peer = await WsPeer.open(broker.url("ws"), ["mqttv3.1", "mqtt"]);
    assert.equal(peer.ws.protocol, "mqtt");
    peer.ws.close();
    await peer.closed;
  });

  it("a client offering only other subprotocols (against [MQTT-6.0.0-3]) gets none, and the ws client gives up", async () => {
    const ws = new WebSocket(broker.url("ws"), ["chat"]);
    const [err] = (await once(ws, "error")) as [Error];
    assert.match(err.message, /no subprotocol/i);
  });

  it("[MQTT-6.0.0-1] a text frame closes the connection", async () => {
    const peer = await WsPeer.open(broker.url("ws"));
    await peer.connect("ws-text");
    const before = broker.core.clients.size;
    peer.ws.send("hello", { binary: false });
    const { code } = await peer.closed;
    assert.equal(code, 1003);
    await until(
      () => broker.core.clients.size === before - 1,
      3000,
      "the broker to drop the client",
    );
  });

  it("a text frame before CONNECT closes the connection too", async () => {
    const before = broker.core.clients.size;
    const peer = await WsPeer.open(broker.url("ws"));
    await until(() => broker.core.clients.size === before + 1, 3000, "the connection");
    peer.ws.send("CONNECT", { binary: false });
    const { code } = await peer.closed;
    assert.equal(code, 1003);
    await until(() => broker.core.clients.size === before, 3000, "the broker to drop it");
  });

  it("a path other than /mqtt is refused at the handshake", async () => {
    const before = broker.core.clients.size;
    const url = broker.url("ws").replace(/\/mqtt$/, "/other");
    const ws = new WebSocket(url, ["mqtt"]);
    const [err] = (await once(ws, "error")) as [Error];
    assert.match(err.message, /Unexpected server response: 400/);
    assert.equal(broker.core.clients.size, before);
  });

  it("a plain HTTP request gets a 404 that names the MQTT path", async () => {
    const res = await fetch(
      broker
        .url("ws")
        .replace(/^ws:/, "http:")
        .replace(/\/mqtt$/, "/"),
    );
    assert.equal(res.status, 404);
    assert.match(await res.text(), /\/mqtt/);
  });

  it("TCP and WebSocket clients exchange messages both ways", async () => {
    const wsSub = await WsPeer.open(broker.url("ws"));
    await wsSub.connect("ws-cross", 4);
    wsSub.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{ topicFilter: "cross/#", qos: 1 }],
    });
    await wsSub.next("suback");
    const tcp = await RawClient.tcp(tcpPort(broker), 5);
    await tcp.connect({ clientId: "tcp-cross", protocolVersion: 5 });
    tcp.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{ topicFilter: "cross/#", qos: 1 }],
    });
    await tcp.next("suback");

    tcp.send(publish("cross/from-tcp", "t", { qos: 1, packetId: 5 }));
    wsSub.send(publish("cross/from-ws", "w", { qos: 1, packetId: 6 }));
    const atWs = [await wsSub.next("publish"), await wsSub.next("publish")].map((p) => p.topic);
    const atTcp = [await tcp.next("publish"), await tcp.next("publish")].map((p) => p.topic);
    assert.deepEqual(atWs.sort(), ["cross/from-tcp", "cross/from-ws"]);
    assert.deepEqual(atTcp.sort(), ["cross/from-tcp", "cross/from-ws"]);
    wsSub.ws.close();
    tcp.close();
    await Promise.all([wsSub.closed, tcp.closed]);
  });
});

// ---------------------------------------------------------------------------

describe("TCP", () => {
  let broker: Broker;
  before(async () => {
    broker = await startBroker();
  });
  after(() => broker.close());

  it("writes made in one turn all arrive: 2,000 PUBLISHes fanned out to three subscribers", async () => {
    const port = tcpPort(broker);
    const subs: RawClient[] = [];
    for (let i = 0; i < 3; i++) {
      const sub = await RawClient.tcp(port, i === 2 ? 5 : 4);
      await sub.connect({ clientId: `fan-sub-${i}`, protocolVersion: i === 2 ? 5 : 4 });
      sub.send({
        type: "subscribe",
        packetId: 1,
        subscriptions: [{ topicFilter: "fan/+", qos: 0 }],
      });
      await sub.next("suback");
      subs.push(sub);
    }
    const pub = await RawClient.tcp(port, 4);
    await pub.connect({ clientId: "fan-pub" });
    // One write holding every PUBLISH: the broker handles them in one turn and its writes
    // to each subscriber are queued and flushed together.
    const n = 2000;
    const packets: Uint8Array[] = [];
    for (let i = 0; i < n; i++) packets.push(encode(publish(`fan/${i % 7}`, `m${i}`), 4));
    packets.push(encode({ type: "pingreq" }, 4));
    pub.sendBytes(Buffer.concat(packets));
    await pub.next("pingresp");
    for (const sub of subs) {
      await until(() => sub.received.length >= n, 5000, "every PUBLISH");
      const got = sub.received.map((p) => (p.type === "publish" ? str(p.payload) : p.type));
      assert.deepEqual(
        got,
        Array.from({ length: n }, (_, i) => `m${i}`),
      );
      assert.equal(sub.decodeError, undefined);
    }
    for (const c of [...subs, pub]) c.close();
  });

  it("QoS 1 beyond the in-flight window is queued and delivered in order, once", async () => {
    const port = tcpPort(broker);
    const sub = await RawClient.tcp(port, 4);
    await sub.connect({ clientId: "window-sub" });
    sub.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{ topicFilter: "window", qos: 1 }],
    });
    await sub.next("suback");
    const pub = await RawClient.tcp(port, 4);
    await pub.connect({ clientId: "window-pub" });
    const n = 300;
    const packets: Uint8Array[] = [];
    for (let i = 0; i < n; i++)
      packets.push(encode(publish("window", `q${i}`, { qos: 1, packetId: i + 1 }), 4));
    pub.sendBytes(Buffer.concat(packets));
    const got: string[] = [];
    while (got.length < n) {
      const p = await sub.next("publish");
      got.push(str(p.payload));
      sub.send({ type: "puback", packetId: p.packetId as number });
    }
    assert.deepEqual(
      got,
      Array.from({ length: n }, (_, i) => `q${i}`),
    );
    assert.ok(await sub.nothing(100, "publish"), "a duplicate arrived");
    for (let i = 0; i < n; i++) assert.equal((await pub.next("puback")).packetId, i + 1);
    sub.close();
    pub.close();
  });

  it("a client closing abruptly mid-packet does not disturb the others", async () => {
    const port = tcpPort(broker);
    const sub = await RawClient.tcp(port, 5);
    await sub.connect({ clientId: "steady-sub", protocolVersion: 5 });
    sub.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{ topicFilter: "steady", qos: 1 }],
    });
    await sub.next("suback");
    const pub = await RawClient.tcp(port, 4);
    await pub.connect({ clientId: "steady-pub" });
    const before = broker.core.clients.size;

    const rude: RawClient[] = [];
    // Mid fixed header, mid CONNECT, mid PUBLISH after CONNECT, mid a large PUBLISH body.
    const big = encode(publish("steady", "x".repeat(100_000)), 4);
    const partials: { connect: boolean; bytes: Uint8Array }[] = [
      { connect: false, bytes: Uint8Array.of(0x10) },
      {
        connect: false,
        bytes: encode(
          { type: "connect", protocolVersion: 4, clean: true, keepalive: 0, clientId: "half" },
          4,
        ).subarray(0, 9),
      },
      { connect: true, bytes: encode(publish("steady", "cut"), 4).subarray(0, 6) },
      { connect: true, bytes: big.subarray(0, 50_000) },
    ];
    for (const [i, p] of partials.entries()) {
      const c = await RawClient.tcp(port, 4);
      if (p.connect) await c.connect({ clientId: `rude-${i}` });
      c.sendBytes(p.bytes);
      rude.push(c);
    }
    let sent = 0;
    const send = () => {
      sent++;
      pub.send(publish("steady", `s${sent}`, { qos: 1, packetId: sent }));
    };
    send();
    await until(() => broker.core.clients.size === before + rude.length, 3000, "rude clients");
    for (const c of rude) {
      c.close(); // destroy: no FIN after a whole packet, just gone
      send();
    }
    await until(() => broker.core.clients.size === before, 3000, "the broker to drop them");
    send();
    const got: string[] = [];
    while (got.length < sent) {
      const p = await sub.next("publish");
      got.push(str(p.payload));
      sub.send({ type: "puback", packetId: p.packetId as number });
    }
    assert.deepEqual(
      got,
      Array.from({ length: sent }, (_, i) => `s${i + 1}`),
    );
    assert.equal(sub.isClosed, false);
    assert.equal(pub.isClosed, false);
    // Nothing of the cut packets was routed.
    assert.ok(await sub.nothing(100, "publish"));
    sub.close();
    pub.close();
  });

  it("a client that resets while the broker is writing to it does not disturb the others", async () => {
    const port = tcpPort(broker);
    const victim = await RawClient.tcp(port, 4);
    await victim.connect({ clientId: "reset-victim" });
    victim.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{ topicFilter: "burst/#", qos: 0 }],
    });
    await victim.next("suback");
    const sub = await RawClient.tcp(port, 4);
    await sub.connect({ clientId: "reset-sub" });
    sub.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{ topicFilter: "burst/#", qos: 0 }],
    });
    await sub.next("suback");
    const pub = await RawClient.tcp(port, 4);
    await pub.connect({ clientId: "reset-pub" });
    const n = 200;
    const payload = "y".repeat(2000);
    const packets: Uint8Array[] = [];
    for (let i = 0; i < n; i++) packets.push(encode(publish(`burst/${i}`, payload), 4));
    pub.sendBytes(Buffer.concat(packets));
    victim.close(); // while its 400 kB are on their way
    await until(() => sub.received.length >= n, 5000, "every burst message");
    assert.deepEqual(
      sub.received.map((p) => (p.type === "publish" ? p.topic : p.type)),
      Array.from({ length: n }, (_, i) => `burst/${i}`),
    );
    sub.close();
    pub.close();
  });
});

// ---------------------------------------------------------------------------

describe("broker.close()", () => {
  it("sends 5.0 clients DISCONNECT 0x8B over TCP and WebSocket, closes every connection, frees the ports", async () => {
    const broker = await startBroker();
    const tcp = tcpPort(broker);
    const wsPort = broker.listeners.find((l) => l.type === "ws")?.port as number;

    const v5 = await RawClient.tcp(tcp, 5);
    await v5.connect({ clientId: "close-v5", protocolVersion: 5 });
    const v4 = await RawClient.tcp(tcp, 4);
    await v4.connect({ clientId: "close-v4" });
    const fresh = await RawClient.tcp(tcp, 4); // never sent CONNECT
    const ws5 = await WsPeer.open(broker.url("ws"), ["mqtt"], 5);
    await ws5.connect("close-ws5", 5);
    const ws4 = await WsPeer.open(broker.url("ws"));
    await ws4.connect("close-ws4", 4);
    await until(() => broker.core.clients.size === 5, 3000, "five clients");

    const tcpDisconnect = v5.next("disconnect");
    const wsDisconnect = ws5.next("disconnect");
    await broker.close();

    assert.equal((await tcpDisconnect).reasonCode, 0x8b);
    assert.equal((await wsDisconnect).reasonCode, 0x8b);
    await Promise.all([
      v5.waitClosed(),
      v4.waitClosed(),
      fresh.waitClosed(),
      ws5.closed,
      ws4.closed,
    ]);
    assert.deepEqual(
      v4.received.map((p) => p.type),
      [],
      "a 3.1.1 client gets no DISCONNECT from a server",
    );
    assert.deepEqual(fresh.received, []);
    assert.equal(broker.core.clients.size, 0);

    // The ports are free: nothing answers, and they can be bound again.
    assert.equal(await listening(tcp), false);
    assert.equal(await listening(wsPort), false);
    const again = await Broker.start({
      listeners: [
        { type: "tcp", host: "127.0.0.1", port: tcp },
        { type: "ws", host: "127.0.0.1", port: wsPort },
      ],
      sysInterval: 0,
    });
    const c = await RawClient.tcp(tcp, 4);
    assert.equal((await c.connect({ clientId: "again" })).reasonCode, 0);
    await again.close();
    await c.waitClosed();
  });

  it("closing twice, or with no connections, resolves", async () => {
    const broker = await startBroker();
    await Promise.all([broker.close(), broker.close()]);
    await broker.close();
  });

  it("connections arriving during close are refused", async () => {
    const broker = await startBroker();
    const port = tcpPort(broker);
    const v5 = await RawClient.tcp(port, 5);
    await v5.connect({ clientId: "closing-v5", protocolVersion: 5 });
    const closing = broker.close();
    // The listener is still open until every client is gone; a newcomer is dropped at once.
    const late = await RawClient.tcp(port, 4).catch(() => undefined);
    if (late !== undefined) {
      late.send({
        type: "connect",
        protocolVersion: 4,
        clean: true,
        keepalive: 0,
        clientId: "late",
      });
      await late.waitClosed();
      assert.equal(late.received.length, 0);
    }
    await closing;
    assert.equal(broker.core.clients.size, 0);
  });
});

describe("Broker.start with a port in use", () => {
  it("rejects with EADDRINUSE and leaves nothing listening", async () => {
    const taken = await occupy();
    const free = await occupy();
    await closeServer(free.server); // a port that was free a moment ago
    try {
      await assert.rejects(
        Broker.start({
          listeners: [
            { type: "tcp", host: "127.0.0.1", port: free.port },
            { type: "ws", host: "127.0.0.1", port: taken.port },
          ],
          sysInterval: 0,
        }),
        (err: NodeJS.ErrnoException) => {
          assert.equal(err.code, "EADDRINUSE");
          assert.match(err.message, new RegExp(`EADDRINUSE.*127\\.0\\.0\\.1:${taken.port}`));
          return true;
        },
      );
      // The TCP listener that did open was closed again.
      assert.equal(await listening(free.port), false);
      const rebind = await occupy(free.port);
      await closeServer(rebind.server);
    } finally {
      await closeServer(taken.server);
    }
  });

  it("rejects for a TCP listener too", async () => {
    const taken = await occupy();
    try {
      await assert.rejects(
        Broker.start({
          listeners: [{ type: "tcp", host: "127.0.0.1", port: taken.port }],
          sysInterval: 0,
        }),
        { code: "EADDRINUSE" },
      );
    } finally {
      await closeServer(taken.server);
    }
  });
});
