/**
 * A scripted MQTT broker for client tests: node:net plus the project's
 * Decoder/encode on a free loopback port. It answers each CONNECT as the test
 * says and, unless told otherwise, acknowledges like a broker would; every
 * packet the client sends is logged, Topic Aliases are resolved (and misuse
 * recorded), and `take(type)` waits for the next packet of a type — so a test
 * controls exactly what the client sees and checks exactly what it sent.
 */
import { createServer, type Server, type Socket } from "node:net";
import {
  type ConnackPacket,
  type ConnectPacket,
  Decoder,
  encode,
  type Packet,
  type ProtocolVersion,
  type PublishPacket,
} from "../../src/protocol/index.js";

export type PacketOf<T extends Packet["type"]> = Extract<Packet, { type: T }>;

export interface FakeOptions {
  /**
   * CONNACK for the n-th CONNECT (0-based); default: accepted, no session, no
   * properties. null sends none: the test answers itself (AUTH exchanges).
   */
  connack?: (connect: ConnectPacket, n: number) => Omit<ConnackPacket, "type"> | null;
  /** Acknowledge PUBLISH, PUBREL, SUBSCRIBE and UNSUBSCRIBE as a broker would (default true). */
  autoAck?: boolean;
}

/** One client connection to the {@link FakeBroker}, after its CONNECT. */
export class FakeConnection {
  readonly version: ProtocolVersion;
  readonly connect: ConnectPacket;
  /** Every packet the client sent after CONNECT, in order. */
  readonly log: Packet[] = [];
  /** The topic of each PUBLISH, with Topic Aliases resolved as a broker would. */
  readonly topics: string[] = [];
  /** Problems a real broker would close the connection for (unknown alias, alias 0 …). */
  readonly violations: string[] = [];
  readonly closed: Promise<void>;
  autoAck: boolean;
  #socket: Socket;
  #inbox: Packet[] = [];
  #waiters: { type: string; resolve: (p: Packet) => void }[] = [];
  #aliases = new Map<number, string>();
  #aliasMaximum: number;

  constructor(socket: Socket, connect: ConnectPacket, autoAck: boolean, aliasMaximum: number) {
    this.#socket = socket;
    this.connect = connect;
    this.version = connect.protocolVersion;
    this.autoAck = autoAck;
    this.#aliasMaximum = aliasMaximum;
    this.closed = new Promise((r) => socket.once("close", () => r()));
  }

  send(packet: Packet): void {
    if (!this.#socket.destroyed) this.#socket.write(encode(packet, this.version));
  }

  /** Drops the TCP connection without DISCONNECT (as a crashing broker would). */
  drop(): void {
    this.#socket.destroy();
  }

  /** PUBLISH packets received so far. */
  get publishes(): PublishPacket[] {
    return this.log.filter((p): p is PublishPacket => p.type === "publish");
  }

  receive(p: Packet): void {
    this.log.push(p);
    if (p.type === "publish") this.#resolveTopic(p);
    if (this.autoAck) this.#ack(p);
    else if (p.type === "pingreq") this.send({ type: "pingresp" });
    const i = this.#waiters.findIndex((w) => w.type === p.type);
    if (i >= 0) this.#waiters.splice(i, 1)[0].resolve(p);
    else this.#inbox.push(p);
  }

  #resolveTopic(p: PublishPacket): void {
    const alias = p.properties?.topicAlias;
    if (alias === undefined) {
      this.topics.push(p.topic);
      return;
    }
    if (alias === 0 || alias > this.#aliasMaximum)
      this.violations.push(`topic alias ${alias} out of range`);
    if (p.topic !== "") this.#aliases.set(alias, p.topic);
    const topic = this.#aliases.get(alias);
    if (topic === undefined) this.violations.push(`unknown topic alias ${alias}`);
    this.topics.push(topic ?? `<unknown alias ${alias}>`);
  }

  #ack(p: Packet): void {
    switch (p.type) {
      case "publish":
        if (p.qos === 1) this.send({ type: "puback", packetId: p.packetId as number });
        if (p.qos === 2) this.send({ type: "pubrec", packetId: p.packetId as number });
        return;
      case "pubrel":
        this.send({ type: "pubcomp", packetId: p.packetId });
        return;
      case "subscribe":
        this.send({
          type: "suback",
          packetId: p.packetId,
          reasonCodes: p.subscriptions.map((s) => s.qos),
        });
        return;
      case "unsubscribe":
        this.send({
          type: "unsuback",
          packetId: p.packetId,
          ...(this.version === 5 ? { reasonCodes: p.topicFilters.map(() => 0) } : {}),
        });
        return;
      case "pingreq":
        this.send({ type: "pingresp" });
        return;
      default:
    }
  }

  /** The next not-yet-taken packet of `type`; rejects after `timeoutMs`. */
  take<T extends Packet["type"]>(type: T, timeoutMs = 2000): Promise<PacketOf<T>> {
    const i = this.#inbox.findIndex((p) => p.type === type);
    if (i >= 0) return Promise.resolve(this.#inbox.splice(i, 1)[0] as PacketOf<T>);
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
        reject(
          new Error(
            `no ${type} within ${timeoutMs} ms (log: ${this.log.map((p) => p.type).join(", ")})`,
          ),
        );
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** True when no (not-yet-taken) packet of `type` arrives within `ms`. */
  async quiet(type: Packet["type"], ms = 150): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return !this.#inbox.some((p) => p.type === type);
  }
}

/** A broker that answers from a script, on a free loopback port. */
export class FakeBroker {
  readonly connections: FakeConnection[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #opts: FakeOptions;
  #arrived: (() => void)[] = [];

  private constructor(server: Server, opts: FakeOptions) {
    this.#server = server;
    this.#opts = opts;
    server.on("connection", (socket) => this.#accept(socket));
  }

  static start(opts: FakeOptions = {}): Promise<FakeBroker> {
    const server = createServer();
    const fake = new FakeBroker(server, opts);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve(fake));
    });
  }

  get url(): string {
    const a = this.#server.address();
    return `mqtt://127.0.0.1:${typeof a === "object" && a !== null ? a.port : 0}`;
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on("close", () => this.#sockets.delete(socket));
    socket.on("error", () => {});
    const decoder = new Decoder();
    let conn: FakeConnection | undefined;
    socket.on("data", (chunk) => {
      try {
        decoder.push(chunk, (p) => {
          if (conn !== undefined) {
            conn.receive(p);
            return;
          }
          if (p.type !== "connect") throw new Error(`first packet was ${p.type}`);
          const n = this.connections.length;
          const answer = this.#opts.connack
            ? this.#opts.connack(p, n)
            : { sessionPresent: false, reasonCode: 0 };
          conn = new FakeConnection(
            socket,
            p,
            this.#opts.autoAck ?? true,
            answer?.properties?.topicAliasMaximum ?? 0,
          );
          if (answer !== null) conn.send({ type: "connack", ...answer });
          this.connections.push(conn);
          for (const wake of this.#arrived.splice(0)) wake();
        });
      } catch {
        socket.destroy();
      }
    });
  }

  /** The n-th connection (0-based), once its CONNECT has arrived. */
  async connection(n: number, timeoutMs = 3000): Promise<FakeConnection> {
    const deadline = Date.now() + timeoutMs;
    while (this.connections.length <= n) {
      if (Date.now() > deadline)
        throw new Error(`connection ${n} did not arrive within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        this.#arrived.push(r);
        setTimeout(r, 50);
      });
    }
    return this.connections[n];
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((r) => this.#server.close(() => r()));
  }
}
