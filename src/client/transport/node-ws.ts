/**
 * MQTT over WebSocket (`ws:`, `wss:`) in Node, on the `ws` package: binary
 * frames (§6), subprotocol `mqtt` unless told otherwise.
 */
import { WebSocket } from "ws";
import { InvalidArgumentError, TransportError } from "../../protocol/index.js";
import {
  abortError,
  bareHost,
  connectError,
  connectionLost,
  formatAddress,
} from "./node-errors.js";
import { tlsCredentials } from "./node-tcp.js";
import type { Transport, TransportFactory, TransportOptions } from "./types.js";

/** How long {@link WsTransport.close} waits for the closing handshake before terminating. */
const CLOSE_GRACE_MS = 5000;

/**
 * An open WebSocket as a {@link Transport}. Writes made during one
 * event-loop turn go out as one binary frame on the next tick; `onDrain`
 * follows once every sent frame has reached the kernel.
 */
class WsTransport implements Transport {
  onData: (chunk: Uint8Array) => void = () => {};
  onClose: (error?: Error) => void = () => {};
  onDrain: () => void = () => {};
  #ws: WebSocket;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #scheduled = false;
  /** Frames sent whose callback has not run yet. */
  #inflight = 0;
  #error: Error | undefined;
  #closing = false;
  #closed = false;

  constructor(ws: WebSocket, address: string) {
    this.#ws = ws;
    ws.on("message", (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (!isBinary) {
        // [MQTT-6.0.0-1]: MQTT travels in binary frames; a text frame closes the connection.
        this.#error ??= new TransportError(
          `${address} sent a text WebSocket frame; MQTT needs binary frames [MQTT-6.0.0-1]`,
        );
        ws.close(1003, "MQTT needs binary frames");
        return;
      }
      if (Array.isArray(data)) for (const part of data) this.onData(part);
      else this.onData(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
    });
    ws.on("error", (err) => {
      this.#error ??= connectionLost(err, address);
    });
    ws.on("close", (code: number, reason: Buffer) => {
      if (this.#closed) return;
      // 1000 is a normal closure and 1005 a close frame without a code; anything else
      // (1006: the connection dropped without a close frame) is a failure, as in browsers.
      if (code !== 1000 && code !== 1005) {
        const why = reason.length > 0 ? `: ${reason.toString()}` : "";
        this.#error ??= new TransportError(`WebSocket to ${address} closed (code ${code}${why})`);
      }
      this.#closed = true;
      this.#pending = [];
      this.#pendingBytes = 0;
      this.onClose(this.#error);
    });
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount + this.#pendingBytes;
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
    if (this.#pending.length === 0) return;
    // One frame per turn: MQTT packets may share a frame or span frames (§6).
    const data =
      this.#pending.length === 1
        ? this.#pending[0]
        : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    this.#inflight++;
    this.#ws.send(data, { binary: true }, this.#sent);
  };

  #sent = (err?: Error): void => {
    this.#inflight--;
    if (!err && this.#inflight === 0 && this.#pending.length === 0 && !this.#closed) {
      this.onDrain();
    }
  };

  pause(): void {
    this.#ws.pause();
  }

  resume(): void {
    this.#ws.resume();
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#flush();
    const ws = this.#ws;
    if (ws.readyState === WebSocket.CLOSED) return;
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    // A peer that never answers the closing handshake must not keep the socket open forever.
    const timer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
    timer.unref();
    ws.once("close", () => clearTimeout(timer));
  }
}

/** The WebSocket URL to dial: credentials and fragment removed (they are not the HTTP server's). */
function dialUrl(url: URL): URL {
  const out = new URL(url.href);
  out.username = "";
  out.password = "";
  out.hash = "";
  return out;
}

/**
 * Opens MQTT over WebSocket (`ws:`, default port 80; `wss:`, default port
 * 443) with the `ws` package.
 *
 * The path is the URL's, as given: `ws://host:8083/mqtt` dials `/mqtt`, and a
 * URL without a path dials `/` (a WHATWG URL of a `ws:` scheme always has at
 * least `/`). Brokers commonly serve MQTT at `/mqtt` (Starling, Mosquitto,
 * EMQX, HiveMQ), so spell it out. User info and fragment are not sent.
 *
 * Offers `options.wsProtocols` (default `["mqtt"]`) and sends
 * `options.wsHeaders` with the handshake; `wss:` uses `ca`, `cert`, `key`,
 * `rejectUnauthorized` (default true) and `servername`. Per-message
 * compression is not offered (MQTT payloads are the application's business).
 *
 * Throws {@link InvalidArgumentError} synchronously for another scheme. Rejects
 * with a `TransportError` naming the address and likely cause (refused,
 * unresolved, TLS verification, an HTTP status instead of an upgrade, no
 * agreed subprotocol), or an `AbortError` when `options.signal` aborts first.
 *
 * @example
 * ```ts
 * const transport = await nodeWsTransport(new URL("ws://127.0.0.1:8083/mqtt"), {});
 * ```
 */
export const nodeWsTransport: TransportFactory = (url: URL, options: TransportOptions = {}) => {
  const secure = url.protocol === "wss:";
  if (!secure && url.protocol !== "ws:") {
    throw new InvalidArgumentError(
      `nodeWsTransport speaks ws: and wss:, not ${url.protocol} (${url.href})`,
    );
  }
  const host = bareHost(url);
  if (host === "") throw new InvalidArgumentError(`no host in ${url.href}`);
  const port = url.port === "" ? (secure ? 443 : 80) : Number(url.port);
  const address = formatAddress(host, port);
  const target = dialUrl(url);
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(abortError(signal, address));

  const protocols = options.wsProtocols ?? ["mqtt"];
  const wsOptions: WebSocket.ClientOptions & { servername?: string } = {
    perMessageDeflate: false,
    headers: options.wsHeaders,
  };
  if (secure) {
    Object.assign(wsOptions, tlsCredentials(options));
    if (options.servername !== undefined) wsOptions.servername = options.servername;
  }

  return new Promise<Transport>((resolve, reject) => {
    const ws = new WebSocket(target, protocols, wsOptions);
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      reject(error);
      ws.terminate();
    };
    const onAbort = () => fail(abortError(signal!, address));
    const onError = (err: Error) => fail(handshakeError(err, target, address, host, protocols));
    ws.on("error", onError);
    const onEarlyClose = () =>
      fail(new TransportError(`${target.href} closed the connection during the handshake`));
    ws.once("close", onEarlyClose);
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      const status = `${res.statusCode ?? "?"} ${res.statusMessage ?? ""}`.trim();
      // A wrong path shows as 404 from plain HTTP servers and 400 from `ws` servers bound to a path.
      const hint =
        res.statusCode === 404 || res.statusCode === 400
          ? ` — check the path ${target.pathname} (brokers commonly serve MQTT at /mqtt)`
          : " — is MQTT over WebSocket served at this URL?";
      fail(
        new TransportError(
          `WebSocket handshake with ${target.href} failed: HTTP ${status} instead of an upgrade${hint}`,
        ),
      );
    });
    ws.once("open", () => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      ws.off("error", onError);
      ws.off("close", onEarlyClose);
      resolve(new WsTransport(ws, address));
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
};

/** A handshake failure: the socket's own errors, or what `ws` reports about the upgrade. */
function handshakeError(
  err: Error,
  target: URL,
  address: string,
  host: string,
  protocols: string[],
): TransportError {
  if (/subprotocol/i.test(err.message)) {
    return new TransportError(
      `WebSocket handshake with ${target.href} failed: ${err.message} (offered ${protocols.join(", ")}) — is this an MQTT over WebSocket endpoint?`,
      err,
    );
  }
  if ((err as NodeJS.ErrnoException).code === undefined && !/SSL|TLS/.test(err.message)) {
    return new TransportError(
      `WebSocket handshake with ${target.href} failed: ${err.message}`,
      err,
    );
  }
  return connectError(err, address, host);
}
