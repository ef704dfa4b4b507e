/** TCP listener and connections (plain sockets; TLS slots in beside it). */
import { createServer, type Server, type Socket } from "node:net";
import type { Connection, ConnectionHandlers } from "./types.js";

/** Writes of one turn up to this many bytes are copied into one buffer and written at once. */
const COALESCE_BYTES = 64 * 1024;

/** The connection a socket belongs to, for the listeners every socket shares. */
const owner = Symbol("starling.connection");
type OwnedSocket = Socket & { [owner]: SocketConnection };

/**
 * A socket as a {@link Connection}. Writes made during one event-loop turn
 * are corked and flushed together on the next tick (one writev).
 */
export class SocketConnection implements Connection {
  readonly transport: string;
  listener?: string;
  identity?: string;
  #socket: Socket;
  #remote: string | undefined;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #scheduled = false;
  /** Bytes handed to the socket so far. */
  #handed = 0;
  #flushed = 0;
  #handlers: ConnectionHandlers | undefined;
  #error: Error | undefined;

  constructor(socket: Socket, transport = "tcp") {
    this.#socket = socket;
    this.transport = transport;
    socket.setNoDelay(true);
  }

  /**
   * The peer, read when first asked: a system call that at the default log level
   * the CONNACK line makes anyway, and that with `warn` most connections never
   * need. Asked first after the socket closed, it is `?:0`; every log line and
   * authenticator that names the peer asks while it is open.
   */
  get remoteAddress(): string {
    if (this.#remote === undefined) {
      const s = this.#socket;
      this.#remote = `${s.remoteAddress ?? "?"}:${s.remotePort ?? 0}`;
    }
    return this.#remote;
  }

  get bytesFlushed(): number {
    return this.#flushed;
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength + this.#pendingBytes;
  }

  start(handlers: ConnectionHandlers): void {
    this.#handlers = handlers;
    // Listeners shared by every connection (`this` is the socket), not closures per connection.
    const socket = this.#socket as OwnedSocket;
    socket[owner] = this;
    socket.on("data", SocketConnection.#onData);
    socket.on("error", SocketConnection.#onError);
    socket.on("close", SocketConnection.#onClose);
  }

  static #onData = function (this: OwnedSocket, chunk: Buffer): void {
    this[owner].#handlers?.data(chunk);
  };

  static #onError = function (this: OwnedSocket, err: Error): void {
    this[owner].#error = err;
  };

  static #onClose = function (this: OwnedSocket): void {
    const conn = this[owner];
    conn.#handlers?.close(conn.#error);
  };

  write(chunk: Uint8Array): void {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(SocketConnection.#flushLater, this);
    }
  }

  static #flushLater(conn: SocketConnection): void {
    conn.#flush();
  }

  #flush(): void {
    this.#scheduled = false;
    const pending = this.#pending;
    if (pending.length === 0) return;
    const bytes = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return;
    // The last write's callback runs once everything before it reached the kernel: that is
    // "drained" for the broker, whatever the socket's own high-water mark (which only emits
    // 'drain' after a write returned false).
    const last = pending.length - 1;
    this.#handed += bytes;
    if (last === 0) {
      socket.write(pending[0], this.#written);
      return;
    }
    if (bytes <= COALESCE_BYTES) {
      // One copy into one buffer costs less than a writev of many small ones through the stream.
      socket.write(Buffer.concat(pending, bytes), this.#written);
      return;
    }
    socket.cork();
    for (let i = 0; i < last; i++) socket.write(pending[i]);
    socket.write(pending[last], this.#written);
    socket.uncork();
  }

  /**
   * A flush's last write reached the kernel. The socket's buffer then holds
   * only what later flushes handed it, so everything else was flushed.
   */
  #written = (err?: Error | null): void => {
    this.#flushed = this.#handed - this.#socket.writableLength;
    if (!err && this.#pending.length === 0) this.#handlers?.drain();
  };

  end(): void {
    this.#flush();
    const socket = this.#socket;
    if (socket.destroyed) return;
    socket.end();
    // A peer that never reads must not keep the socket half-open forever.
    const timer = setTimeout(() => socket.destroy(), 5000);
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
  }

  destroy(): void {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#socket.destroy();
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }
}

export interface Listener {
  readonly type: string;
  readonly host: string;
  readonly port: number;
  /** A URL clients can use, e.g. `mqtt://127.0.0.1:1883`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Binds `server` to `host:port` and resolves with the port actually bound
 * (port 0: a free one); rejects with the bind error (EADDRINUSE …).
 */
export function bind(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const addr = server.address();
      resolve(typeof addr === "object" && addr !== null ? addr.port : port);
    });
  });
}

/** `scheme://host:port`, with an IPv6 host in brackets. */
export function listenerUrl(scheme: string, host: string, port: number): string {
  return `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Listens for MQTT over TCP on `host:port` (port 0: any free port). */
export async function listenTcp(
  host: string,
  port: number,
  accept: (conn: Connection) => void,
): Promise<Listener> {
  const sockets = new Set<Socket>();
  // One listener for every socket ('close' comes once; `once` would wrap it per socket).
  const forget = function (this: Socket) {
    sockets.delete(this);
  };
  let url = "";
  // Nagle off as the socket is accepted (SocketConnection's own setNoDelay is then a no-op).
  const server: Server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", forget);
    const conn = new SocketConnection(socket);
    conn.listener = url;
    accept(conn);
  });
  const actual = await bind(server, host, port);
  url = listenerUrl("mqtt", host, actual);
  return {
    type: "tcp",
    host,
    port: actual,
    url,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        for (const s of sockets) s.destroy();
      }),
  };
}
