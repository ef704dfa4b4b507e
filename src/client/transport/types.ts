/**
 * The seam between the client's pure core and the runtime: bytes in, bytes
 * out, close. Node's TCP, TLS and WebSocket transports and the browser's
 * WebSocket implement it; nothing in the core knows which one it has.
 */

/** One open connection to a broker. */
export interface Transport {
  /** Writes bytes (the transport may coalesce writes made in one turn). */
  write(bytes: Uint8Array): void;
  /** Bytes written but not yet sent. */
  readonly bufferedAmount: number;
  /** Stops delivering data until {@link resume} (backpressure from slow consumers). */
  pause(): void;
  resume(): void;
  /** Closes the connection after what is written; `onClose` follows. */
  close(): void;
  /** Set by the core before any data flows. */
  onData: (chunk: Uint8Array) => void;
  /** Called once when the connection is gone, with the error if it failed. */
  onClose: (error?: Error) => void;
  /** Called when the write buffer has drained. */
  onDrain: () => void;
}

/** Options a transport may use; each ignores what does not apply to it. */
export interface TransportOptions {
  /** TLS (mqtts:, wss:) in Node: CA, client certificate and key (PEM), and verification. */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  /** Verify the server certificate (default true). */
  rejectUnauthorized?: boolean;
  /** TLS server name (SNI); default: the URL's host. */
  servername?: string;
  /** WebSocket subprotocols (default `["mqtt"]`). */
  wsProtocols?: string[];
  /** Extra HTTP headers for the WebSocket handshake (Node only). */
  wsHeaders?: Record<string, string>;
  /** Aborts opening the connection. */
  signal?: AbortSignal;
}

/**
 * Opens a transport to `url` (`mqtt:`, `mqtts:`, `ws:`, `wss:`, and `tcp:`/
 * `ssl:`/`tls:` as aliases). Rejects with a {@link TransportError}-style
 * error naming the address when the connection cannot be opened.
 */
export type TransportFactory = (url: URL, options: TransportOptions) => Promise<Transport>;
