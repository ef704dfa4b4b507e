/**
 * An in-memory connection pair: the broker side is a {@link Connection}, the
 * other side is a raw byte pipe a test drives. Bytes cross asynchronously, as
 * they would over a socket, so tests exercise the same paths without ports.
 */
import type { Connection, ConnectionHandlers } from "./types.js";

export interface MemoryPeer {
  /** Sends bytes to the broker. */
  write(bytes: Uint8Array): void;
  /** Receives every chunk the broker writes. */
  onData(listener: (chunk: Uint8Array) => void): void;
  /** Closes the pipe from the peer's side (like a socket close). */
  close(): void;
  /** Resolves when the pipe is closed by either side. */
  readonly closed: Promise<void>;
  /** Whether the pipe is closed. */
  readonly isClosed: boolean;
}

export function createMemoryPair(remoteAddress = "memory:1"): {
  server: Connection;
  peer: MemoryPeer;
} {
  let handlers: ConnectionHandlers | undefined;
  let closed = false;
  let resolveClosed!: () => void;
  const closedPromise = new Promise<void>((r) => {
    resolveClosed = r;
  });
  const listeners: ((chunk: Uint8Array) => void)[] = [];
  const earlyToServer: Uint8Array[] = [];
  let pending: Uint8Array[] = [];
  let scheduled = false;

  const shut = () => {
    if (closed) return;
    closed = true;
    resolveClosed();
    setImmediate(() => handlers?.close());
  };
  const flush = () => {
    scheduled = false;
    const chunks = pending;
    pending = [];
    if (chunks.length === 0 || closed) return;
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    for (const l of listeners) l(out);
    // Everything is handed over: tell the core, which may be holding messages back as congested.
    handlers?.drain();
  };

  const server: Connection = {
    transport: "memory",
    remoteAddress,
    get bufferedAmount() {
      return pending.reduce((n, c) => n + c.length, 0);
    },
    start(h) {
      handlers = h;
      for (const chunk of earlyToServer.splice(0)) h.data(chunk);
    },
    write(chunk) {
      if (closed) return;
      pending.push(chunk.slice());
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    end() {
      if (scheduled) flush();
      shut();
    },
    destroy() {
      pending = [];
      shut();
    },
    pause() {},
    resume() {},
  };

  const peer: MemoryPeer = {
    write(bytes) {
      if (closed) return;
      const copy = bytes.slice();
      setImmediate(() => {
        if (closed) return;
        if (handlers) handlers.data(copy);
        else earlyToServer.push(copy);
      });
    },
    onData(listener) {
      listeners.push(listener);
    },
    close: shut,
    closed: closedPromise,
    get isClosed() {
      return closed;
    },
  };
  return { server, peer };
}
