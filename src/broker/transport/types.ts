/**
 * The one interface every transport (TCP, TLS, WebSocket, in-memory) offers
 * the broker core: bytes in, bytes out, close.
 */

/** Callbacks the core installs on a connection. */
export interface ConnectionHandlers {
  /** Bytes arrived. The chunk is the core's until the callback returns; slices may be kept. */
  data(chunk: Uint8Array): void;
  /** The transport's write buffer drained below its high-water mark. */
  drain(): void;
  /** The connection is gone (closed by either side or failed). Called once. */
  close(error?: Error): void;
}

export interface Connection {
  /** `tcp`, `ws`, `tls`, `wss` or `memory`. */
  readonly transport: string;
  /** The peer, e.g. `127.0.0.1:51234`. */
  readonly remoteAddress: string;
  /** The listener it arrived on (its URL), for per-listener settings. */
  listener?: string;
  /**
   * The verified client certificate's identity (its CN, else its first SAN),
   * set only on TLS listeners configured to use it as the username.
   */
  identity?: string;
  /** Bytes written but not yet handed to the OS. */
  readonly bufferedAmount: number;
  /**
   * Bytes handed to the OS so far, where the transport knows: with it, a
   * client that keeps reading is told apart from one that stopped.
   */
  readonly bytesFlushed?: number;
  /** Installs the core's callbacks; data starts flowing after this. */
  start(handlers: ConnectionHandlers): void;
  /**
   * Queues bytes; they are flushed together once per event-loop turn. The
   * bytes must not be changed afterwards.
   */
  write(chunk: Uint8Array): void;
  /** Flushes what is queued, then closes. */
  end(): void;
  /** Closes at once, dropping anything queued. */
  destroy(): void;
  /** Stops or resumes reading (backpressure towards a fast publisher). */
  pause(): void;
  resume(): void;
}
