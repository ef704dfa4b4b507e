/**
 * A test peer that speaks raw MQTT bytes to the broker, over TCP or the
 * in-memory pipe, using the project's codec only to build and read packets.
 * Tests assert on exact packets (or bytes) the broker sends back.
 */
import { connect as netConnect, type Socket } from "node:net";
import type { Broker } from "../../src/broker/index.js";
import {
  type ConnackPacket,
  type ConnectPacket,
  Decoder,
  encode,
  type Packet,
  type ProtocolVersion,
} from "../../src/protocol/index.js";

type PacketOf<T extends Packet["type"]> = Extract<Packet, { type: T }>;

export class RawClient {
  version: ProtocolVersion;
  readonly decoder: Decoder;
  readonly received: Packet[] = [];
  #waiters: { type: string | undefined; resolve: (p: Packet) => void }[] = [];
  #write: (b: Uint8Array) => void;
  #end: () => void;
  #closed: Promise<void>;
  #isClosed = false;
  decodeError: unknown;

  private constructor(
    version: ProtocolVersion,
    write: (b: Uint8Array) => void,
    end: () => void,
    onData: (cb: (b: Uint8Array) => void) => void,
    closed: Promise<void>,
  ) {
    this.version = version;
    this.decoder = new Decoder({ version });
    this.#write = write;
    this.#end = end;
    this.#closed = closed.then(() => {
      this.#isClosed = true;
    });
    onData((chunk) => {
      try {
        this.decoder.push(chunk, (p) => this.#deliver(p));
      } catch (err) {
        this.decodeError = err;
      }
    });
  }

  /** Opens a TCP connection to `port` on 127.0.0.1. */
  static tcp(port: number, version: ProtocolVersion = 4): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket: Socket = netConnect(port, "127.0.0.1");
      const closed = new Promise<void>((r) => socket.once("close", () => r()));
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        socket.on("error", () => {});
        resolve(
          new RawClient(
            version,
            (b) => socket.write(b),
            () => socket.destroy(),
            (cb) => socket.on("data", cb),
            closed,
          ),
        );
      });
    });
  }

  /** Connects through the broker's in-memory pipe (no sockets). */
  static memory(broker: Broker, version: ProtocolVersion = 4): RawClient {
    const peer = broker.connectMemory();
    return new RawClient(
      version,
      (b) => peer.write(b),
      () => peer.close(),
      (cb) => peer.onData(cb),
      peer.closed,
    );
  }

  #deliver(p: Packet): void {
    const i = this.#waiters.findIndex((w) => w.type === undefined || w.type === p.type);
    if (i >= 0) {
      const [w] = this.#waiters.splice(i, 1);
      w.resolve(p);
      return;
    }
    this.received.push(p);
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Resolves when the broker (or we) closed the connection. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Sends a packet encoded for this client's version (CONNECT also switches the decoder's version). */
  send(packet: Packet): void {
    if (packet.type === "connect") {
      this.version = packet.protocolVersion;
      this.decoder.version = packet.protocolVersion;
    }
    this.#write(encode(packet, this.version));
  }

  sendBytes(bytes: Uint8Array | number[] | string): void {
    const b =
      typeof bytes === "string"
        ? Uint8Array.from(Buffer.from(bytes.replace(/\s+/g, ""), "hex"))
        : Uint8Array.from(bytes);
    this.#write(b);
  }

  /** The next packet (of `type`, if given) the broker sends; rejects after `timeoutMs`. */
  next<T extends Packet["type"]>(type?: T, timeoutMs = 3000): Promise<PacketOf<T>> {
    const i = this.received.findIndex((p) => type === undefined || p.type === type);
    if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0] as PacketOf<T>);
    return new Promise((resolve, reject) => {
      const waiter = { type, resolve: resolve as (p: Packet) => void };
      this.#waiters.push(waiter);
      const timer = setTimeout(() => {
        const k = this.#waiters.indexOf(waiter);
        if (k >= 0) this.#waiters.splice(k, 1);
        reject(
          new Error(
            `no ${type ?? "packet"} within ${timeoutMs} ms (received: ${this.received.map((p) => p.type).join(", ") || "nothing"}; closed: ${this.#isClosed})`,
          ),
        );
      }, timeoutMs);
      void this.#closed.then(() => {
        // Give packets written just before the close a chance to arrive first.
        setTimeout(() => {
          const k = this.#waiters.indexOf(waiter);
          if (k >= 0) {
            this.#waiters.splice(k, 1);
            clearTimeout(timer);
            reject(new Error(`connection closed while waiting for ${type ?? "a packet"}`));
          }
        }, 50);
      });
      const clear = waiter.resolve;
      waiter.resolve = (p) => {
        clearTimeout(timer);
        clear(p);
      };
    });
  }

  /** Resolves true when nothing arrives for `ms` (no packet of `type`, if given). */
  async nothing(ms = 200, type?: Packet["type"]): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return !this.received.some((p) => type === undefined || p.type === type);
  }

  /** Resolves when the connection closes; rejects after `timeoutMs`. */
  async waitClosed(timeoutMs = 3000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#closed,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`connection still open after ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
    clearTimeout(timer);
  }

  /** Sends CONNECT and returns the CONNACK. */
  async connect(options: Partial<ConnectPacket> = {}): Promise<ConnackPacket> {
    const packet: ConnectPacket = {
      type: "connect",
      protocolVersion: options.protocolVersion ?? this.version,
      clean: true,
      keepalive: 60,
      clientId: "",
      ...options,
    };
    this.send(packet);
    return this.next("connack");
  }

  close(): void {
    this.#end();
  }
}

/** Text payload helpers. */
export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);
