/**
 * MQTT over the runtime's own `WebSocket` (browsers, Deno, Bun, Node 22+):
 * binary frames as ArrayBuffers, subprotocol `mqtt`. Uses no Node API, so the
 * browser bundle stays free of Node built-ins and polyfills.
 */
import { AbortError, InvalidArgumentError, TransportError } from "../../protocol/index.js";
import type { Transport, TransportFactory, TransportOptions } from "./types.js";

/**
 * The part of the WHATWG `WebSocket` this transport uses. Declared here so the
 * project type-checks without the DOM lib.
 */
interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null;
}
type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** `WebSocket.OPEN` (the readyState of an open socket). */
const OPEN = 1;
/** Polling for a drained send buffer starts at this delay and doubles up to the cap. */
const DRAIN_POLL_FIRST_MS = 4;
const DRAIN_POLL_MAX_MS = 250;

/**
 * An open WebSocket as a {@link Transport}.
 *
 * - Writes made in one turn are joined into one binary frame on a microtask.
 * - The WebSocket API has no read backpressure, so `pause()` only holds the
 *   chunks that arrive until `resume()` delivers them, in order, on a
 *   microtask. A clean close while paused is reported after the held chunks
 *   are delivered; a failure drops them and is reported at once.
 * - `onDrain` follows a flush once the socket's `bufferedAmount` is 0,
 *   polled with a single backing-off timer (at most one pending at a time).
 */
class BrowserWsTransport implements Transport {
  onData: (chunk: Uint8Array) => void = () => {};
  onClose: (error?: Error) => void = () => {};
  onDrain: () => void = () => {};
  #ws: WebSocketLike;
  #href: string;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #scheduled = false;
  #paused = false;
  #held: Uint8Array[] = [];
  #delivering = false;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  #drainDelay = DRAIN_POLL_FIRST_MS;
  #error: Error | undefined;
  /** Set when the socket has closed but held chunks still wait for `resume()`. */
  #closePending = false;
  #closed = false;

  constructor(ws: WebSocketLike, href: string) {
    this.#ws = ws;
    this.#href = href;
    ws.onmessage = (event) => {
      const data = event.data;
      if (!(data instanceof ArrayBuffer)) {
        // [MQTT-6.0.0-1]: MQTT travels in binary frames; a text frame closes the connection.
        this.#error ??= new TransportError(
          `${href} sent a text WebSocket frame; MQTT needs binary frames [MQTT-6.0.0-1]`,
        );
        ws.close(1003, "MQTT needs binary frames");
        return;
      }
      const chunk = new Uint8Array(data);
      if (this.#paused || this.#held.length > 0) this.#held.push(chunk);
      else this.onData(chunk);
    };
    ws.onerror = () => {
      // Browsers give no detail here; the close event that follows carries the code.
    };
    ws.onclose = (event) => {
      if (this.#closed) return;
      if (this.#error === undefined && !(event.code === 1000 || event.code === 1005)) {
        const reason = event.reason ? `: ${event.reason}` : "";
        this.#error = new TransportError(
          `WebSocket to ${href} closed ${event.wasClean ? "" : "abnormally "}(code ${event.code}${reason})`,
        );
      }
      this.#pending = [];
      this.#pendingBytes = 0;
      if (this.#held.length > 0 && this.#error === undefined) {
        this.#closePending = true;
        return;
      }
      this.#held = [];
      this.#finish();
    };
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount + this.#pendingBytes;
  }

  write(bytes: Uint8Array): void {
    if (this.#closed || this.#closePending) return;
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  #flush = (): void => {
    this.#scheduled = false;
    const pending = this.#pending;
    if (pending.length === 0) return;
    this.#pending = [];
    const total = this.#pendingBytes;
    this.#pendingBytes = 0;
    if (this.#ws.readyState !== OPEN) return;
    let frame: Uint8Array;
    if (pending.length === 1) {
      frame = pending[0];
    } else {
      frame = new Uint8Array(total);
      let offset = 0;
      for (const part of pending) {
        frame.set(part, offset);
        offset += part.length;
      }
    }
    this.#ws.send(frame);
    // A timer already polling will report this frame's drain too.
    if (this.#drainTimer === undefined) {
      this.#drainDelay = DRAIN_POLL_FIRST_MS;
      this.#checkDrained();
    }
  };

  #checkDrained = (): void => {
    this.#drainTimer = undefined;
    if (this.#closed || this.#closePending) return;
    if (this.#ws.bufferedAmount === 0) {
      if (this.#pendingBytes === 0) this.onDrain();
      return;
    }
    this.#drainTimer = setTimeout(this.#checkDrained, this.#drainDelay);
    this.#drainDelay = Math.min(this.#drainDelay * 2, DRAIN_POLL_MAX_MS);
  };

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    if (this.#held.length > 0 && !this.#delivering) {
      this.#delivering = true;
      queueMicrotask(this.#deliverHeld);
    }
  }

  #deliverHeld = (): void => {
    this.#delivering = false;
    let i = 0;
    const held = this.#held;
    while (i < held.length && !this.#paused && !this.#closed) this.onData(held[i++]);
    held.splice(0, i);
    if (held.length === 0 && this.#closePending) this.#finish();
  };

  close(): void {
    this.#flush();
    if (this.#closed) return;
    this.#ws.close(1000);
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closePending = false;
    if (this.#drainTimer !== undefined) clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
    this.onClose(this.#error);
  }

  toString(): string {
    return `BrowserWsTransport(${this.#href})`;
  }
}

/**
 * Opens MQTT over the runtime's global `WebSocket` to a `ws:` or `wss:` URL,
 * offering `options.wsProtocols` (default `["mqtt"]`). The URL's path is used
 * as given (`/` when it has none); brokers commonly serve MQTT at `/mqtt`.
 * User info and fragment are not sent. TLS options and `wsHeaders` do not
 * apply: the browser owns certificates and handshake headers.
 *
 * Throws {@link InvalidArgumentError} synchronously for another scheme or a URL
 * the WebSocket constructor rejects. Rejects with a `TransportError` when the
 * runtime has no `WebSocket` or the connection fails (browsers do not say
 * why: the message gives the close code and points to the console), or with
 * an `AbortError` when `options.signal` aborts first.
 *
 * @example
 * ```ts
 * const transport = await browserWsTransport(new URL("wss://broker.example/mqtt"), {});
 * ```
 */
export const browserWsTransport: TransportFactory = (url: URL, options: TransportOptions = {}) => {
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new InvalidArgumentError(
      `browserWsTransport speaks ws: and wss:, not ${url.protocol} (${url.href}); browsers cannot open TCP connections`,
    );
  }
  const target = new URL(url.href);
  target.username = "";
  target.password = "";
  target.hash = "";
  const href = target.href;
  const Ctor = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (Ctor === undefined) {
    return Promise.reject(
      new TransportError(
        `this runtime has no global WebSocket (for ${href}); in Node use nodeWsTransport`,
      ),
    );
  }
  const signal = options.signal;
  if (signal?.aborted) {
    return Promise.reject(new AbortError(`opening WebSocket ${href} was aborted`, signal.reason));
  }
  let ws: WebSocketLike;
  try {
    ws = new Ctor(href, options.wsProtocols ?? ["mqtt"]);
  } catch (err) {
    throw new InvalidArgumentError(
      `cannot open a WebSocket to ${href}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  ws.binaryType = "arraybuffer";

  return new Promise<Transport>((resolve, reject) => {
    const settle = () => {
      ws.onopen = null;
      ws.onclose = null;
      ws.onerror = null;
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      settle();
      // Some implementations (the `ws` package) report the aborted handshake as an error event.
      ws.onerror = () => {};
      ws.close();
      reject(new AbortError(`opening WebSocket ${href} was aborted`, signal?.reason));
    };
    ws.onopen = () => {
      settle();
      resolve(new BrowserWsTransport(ws, href));
    };
    ws.onerror = () => {
      // The close event that follows says how it ended.
    };
    ws.onclose = (event) => {
      settle();
      const reason = event.reason ? `: ${event.reason}` : "";
      reject(
        new TransportError(
          `cannot open WebSocket ${href} (close code ${event.code}${reason}) — is a broker serving MQTT over WebSocket at that URL and path? (browsers report the cause only in the developer console)`,
        ),
      );
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
};
