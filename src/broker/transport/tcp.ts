/** TCP listener and connections (plain sockets; TLS slots in beside it). */
import { createServer, type Server, type Socket } from "node:net";
import type { Connection, ConnectionHandlers } from "./types.js";

/** Writes of one turn up to this many bytes are copied into one buffer and written at once. */
const COALESCE_BYTES = 64 * 1024;

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
  #flushed = 0;
  /** Bytes of the write whose callback comes next (one per flush). */
  #inFlight: number[] = [];
  #handlers: ConnectionHandlers | undefined;

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
    let error: Error | undefined;
    this.#socket.on("data", (chunk: Buffer) => handlers.data(chunk));
    this.#socket.on("error", (err) => {
      error = err;
    });
    this.#socket.on("close", () => handlers.close(error));
  }

  write(chunk: Uint8Array): void {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(this.#flush);
    }
  }

  #flush = (): void => {
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
    this.#inFlight.push(bytes);
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
  };

  #written = (err?: Error | null): void => {
    this.#flushed += this.#inFlight.shift() ?? 0;
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
  let url = "";
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
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
