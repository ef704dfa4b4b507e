/**
 * MQTT over TCP (`mqtt:`, `tcp:`) and TLS (`mqtts:`, `ssl:`, `tls:`) in Node.
 * Default ports: 1883 plain, 8883 TLS.
 */
import { isIP, connect as netConnect, type Socket } from "node:net";
import { type ConnectionOptions, connect as tlsConnect } from "node:tls";
import { InvalidArgumentError } from "../../protocol/index.js";
import {
  abortError,
  bareHost,
  connectError,
  connectionLost,
  formatAddress,
} from "./node-errors.js";
import type { Transport, TransportFactory, TransportOptions } from "./types.js";

const plainSchemes = new Set(["mqtt:", "tcp:"]);
const tlsSchemes = new Set(["mqtts:", "ssl:", "tls:"]);

/** How long {@link SocketTransport.close} waits for the peer before destroying the socket. */
const CLOSE_GRACE_MS = 5000;

/**
 * A connected socket as a {@link Transport}. Writes made during one
 * event-loop turn are corked and flushed together on the next tick (one
 * writev); `onDrain` follows once every flushed write has reached the kernel.
 */
class SocketTransport implements Transport {
  onData: (chunk: Uint8Array) => void = () => {};
  onClose: (error?: Error) => void = () => {};
  onDrain: () => void = () => {};
  #socket: Socket;
  #address: string;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #scheduled = false;
  /** Flushes whose last write has not completed yet. */
  #inflight = 0;
  #error: Error | undefined;
  #closing = false;
  #closed = false;

  constructor(socket: Socket, address: string) {
    this.#socket = socket;
    this.#address = address;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => {
      this.#error ??= connectionLost(err, address);
    });
    socket.on("close", () => {
      if (this.#closed) return;
      this.#closed = true;
      this.#pending = [];
      this.#pendingBytes = 0;
      this.onClose(this.#error);
    });
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength + this.#pendingBytes;
  }

  write(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(this.#flush);
    }
  }

  #flush = (): void => {
    this.#scheduled = false;
    const pending = this.#pending;
    if (pending.length === 0) return;
    this.#pending = [];
    this.#pendingBytes = 0;
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return;
    this.#inflight++;
    const last = pending.length - 1;
    if (last === 0) {
      socket.write(pending[0], this.#written);
      return;
    }
    socket.cork();
    for (let i = 0; i < last; i++) socket.write(pending[i]);
    socket.write(pending[last], this.#written);
    socket.uncork();
  };

  #written = (err?: Error | null): void => {
    this.#inflight--;
    if (!err && this.#inflight === 0 && this.#pending.length === 0 && !this.#closed) {
      this.onDrain();
    }
  };

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#flush();
    const socket = this.#socket;
    if (socket.destroyed) return;
    socket.end();
    // A peer that never reads or never closes must not keep the socket open forever.
    const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
  }

  toString(): string {
    return `SocketTransport(${this.#address})`;
  }
}

/** PEM given as bytes, as the Buffer Node's TLS API wants (no copy). */
function pem(bytes: string | Uint8Array): string | Buffer {
  return typeof bytes === "string" || Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The TLS options shared by `mqtts:` and `wss:`: CA, client certificate and
 * key, and verification (on unless `rejectUnauthorized` is false).
 */
export function tlsCredentials(
  options: TransportOptions,
): Pick<ConnectionOptions, "ca" | "cert" | "key" | "rejectUnauthorized"> {
  const { ca, cert, key } = options;
  return {
    ca: ca === undefined ? undefined : Array.isArray(ca) ? ca.map(pem) : pem(ca),
    cert: cert === undefined ? undefined : pem(cert),
    key: key === undefined ? undefined : pem(key),
    rejectUnauthorized: options.rejectUnauthorized ?? true,
  };
}

/**
 * Opens a socket with `open` and resolves once `readyEvent` fires; rejects with
 * a {@link TransportError} describing the failure, or an `AbortError` when
 * `signal` aborts first (the socket is destroyed either way).
 */
function openSocket(
  open: () => Socket,
  readyEvent: "connect" | "secureConnect",
  address: string,
  host: string,
  signal: AbortSignal | undefined,
): Promise<Transport> {
  if (signal?.aborted) return Promise.reject(abortError(signal, address));
  return new Promise((resolve, reject) => {
    const socket = open();
    const cleanup = () => {
      socket.off("error", onError);
      socket.off("close", onEarlyClose);
      socket.off(readyEvent, onReady);
      signal?.removeEventListener("abort", onAbort);
    };
    const onReady = () => {
      cleanup();
      resolve(new SocketTransport(socket, address));
    };
    const onError = (err: Error) => {
      cleanup();
      socket.destroy();
      reject(connectError(err, address, host));
    };
    const onEarlyClose = () => {
      cleanup();
      reject(connectError(new Error("connection closed while connecting"), address, host));
    };
    const onAbort = () => {
      cleanup();
      // A late 'error' from the destroyed socket must not become an uncaught exception.
      socket.on("error", () => {});
      socket.destroy();
      reject(abortError(signal!, address));
    };
    socket.once(readyEvent, onReady);
    socket.once("error", onError);
    socket.once("close", onEarlyClose);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Opens MQTT over TCP (`mqtt:`, `tcp:`; default port 1883) or TLS (`mqtts:`,
 * `ssl:`, `tls:`; default port 8883). TLS uses `ca`, `cert`, `key`,
 * `rejectUnauthorized` (default true) and `servername` (default: the URL's
 * host when it is a name; SNI is not sent for IP addresses). The certificate
 * is verified against `servername` or else the URL's host.
 *
 * Throws {@link InvalidArgumentError} synchronously for another scheme. Rejects
 * with a `TransportError` whose message names the address and the likely cause
 * (`connection refused by 127.0.0.1:1884 — is a broker running?`), or with an
 * `AbortError` when `options.signal` aborts before the connection is open.
 *
 * @example
 * ```ts
 * const transport = await nodeTcpTransport(new URL("mqtts://broker.example:8883"), { ca });
 * transport.onData = (chunk) => decoder.push(chunk, handle);
 * transport.write(encode(connectPacket, 5));
 * ```
 */
export const nodeTcpTransport: TransportFactory = (url: URL, options: TransportOptions = {}) => {
  const secure = tlsSchemes.has(url.protocol);
  if (!secure && !plainSchemes.has(url.protocol)) {
    throw new InvalidArgumentError(
      `nodeTcpTransport speaks mqtt:, tcp:, mqtts:, ssl: and tls:, not ${url.protocol} (${url.href})`,
    );
  }
  const host = bareHost(url);
  if (host === "") throw new InvalidArgumentError(`no host in ${url.href}`);
  const port = url.port === "" ? (secure ? 8883 : 1883) : Number(url.port);
  const address = formatAddress(host, port);
  if (!secure) {
    return openSocket(() => netConnect({ host, port }), "connect", address, host, options.signal);
  }
  const servername = options.servername ?? (isIP(host) === 0 ? host : undefined);
  const tlsOptions: ConnectionOptions = { host, port, servername, ...tlsCredentials(options) };
  return openSocket(
    () => tlsConnect(tlsOptions),
    "secureConnect",
    address,
    servername ?? host,
    options.signal,
  );
};
