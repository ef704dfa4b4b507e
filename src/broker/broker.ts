/**
 * The broker's composition root: picks the transports, logger and auth from
 * the options, wires them to the core, and owns their lifecycle.
 *
 * @example
 * ```ts
 * import { Broker } from "starling/broker";
 * const broker = await Broker.start({ listeners: [{ type: "tcp", port: 1883 }] });
 * console.log(broker.listeners[0].url); // mqtt://127.0.0.1:1883
 * await broker.close();
 * ```
 */
import { Buffer } from "node:buffer";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createSlabAlloc } from "../protocol/index.js";
import { BrokerCore, type BrokerCoreOptions } from "./core/broker-core.js";
import type { Logger } from "./core/logger.js";
import { DEFAULT_LIMITS } from "./core/options.js";
import { startSys } from "./core/sys.js";
import { fileLimit } from "./fd-limit.js";
import { createMemoryPair, type MemoryPeer } from "./transport/memory.js";
import { type Listener, listenTcp } from "./transport/tcp.js";
import { listenTls, type TlsFiles } from "./transport/tls.js";
import { listenWs } from "./transport/ws.js";

export const VERSION = "0.1.0";

export type ListenerConfig =
  | { type: "tcp"; host?: string; port: number }
  | { type: "tls"; host?: string; port: number; tls: TlsFiles }
  | { type: "ws"; host?: string; port: number; path?: string; tls?: TlsFiles };

export type { TlsFiles };

export interface BrokerOptions extends Omit<BrokerCoreOptions, "alloc"> {
  /** Default: TCP on 127.0.0.1:1883 and WebSocket on 127.0.0.1:8083/mqtt. */
  listeners?: ListenerConfig[];
  logger?: Logger;
  /** Seconds between $SYS updates; 0 disables them. Default 10. */
  sysInterval?: number;
  /** Plain HTTP requests on the WebSocket listeners (metrics, health); default 404. */
  http?: (req: IncomingMessage, res: ServerResponse) => void;
}

export const DEFAULT_LISTENERS: ListenerConfig[] = [
  { type: "tcp", host: "127.0.0.1", port: 1883 },
  { type: "ws", host: "127.0.0.1", port: 8083, path: "/mqtt" },
];

export class Broker {
  readonly core: BrokerCore;
  readonly listeners: readonly Listener[];
  #stopSys: () => void;
  #closed = false;

  private constructor(core: BrokerCore, listeners: Listener[], stopSys: () => void) {
    this.core = core;
    this.listeners = listeners;
    this.#stopSys = stopSys;
  }

  /** Starts a broker and its listeners; rejects (closing what opened) if a listener cannot bind. */
  static async start(options: BrokerOptions = {}): Promise<Broker> {
    const core = new BrokerCore({
      ...options,
      alloc: createSlabAlloc(64 * 1024, (n) => Buffer.allocUnsafeSlow(n)),
    });
    const accept = core.accept.bind(core);
    const listeners: Listener[] = [];
    try {
      // What the store kept is in place before the first client can connect.
      await core.restore();
      for (const l of options.listeners ?? DEFAULT_LISTENERS) {
        const host = l.host ?? "127.0.0.1";
        if (l.type === "tcp") listeners.push(await listenTcp(host, l.port, accept));
        else if (l.type === "tls") listeners.push(await listenTls(host, l.port, l.tls, accept));
        else {
          listeners.push(
            await listenWs(
              { host, port: l.port, path: l.path, tls: l.tls, http: options.http },
              accept,
            ),
          );
        }
      }
    } catch (err) {
      await Promise.all(listeners.map((l) => l.close()));
      await core.close();
      await options.store?.close();
      throw err;
    }
    for (const l of listeners)
      core.logger.info({ type: l.type, url: l.url }, `listening on ${l.url}`);
    watchFileLimit(core);
    const stopSys = startSys(core, options.sysInterval ?? 10, VERSION);
    return new Broker(core, listeners, stopSys);
  }

  /**
   * Re-reads every TLS listener's certificate, key and CA files; connections
   * already open keep theirs. Throws (keeping the old certificates of the
   * listener that failed) naming the file that could not be used.
   */
  reloadTls(): void {
    // Read every listener's files first, so a failure leaves all of them unchanged.
    const apply: (() => void)[] = [];
    for (const l of this.listeners) {
      if ("prepareTlsReload" in l && typeof l.prepareTlsReload === "function") {
        apply.push((l.prepareTlsReload as () => () => void)());
      }
    }
    for (const f of apply) f();
  }

  /** The URL of the first listener of `type`. */
  url(type: "tcp" | "tls" | "ws" | "wss" = "tcp"): string {
    const l = this.listeners.find((x) => x.type === type);
    if (l === undefined) throw new Error(`no ${type} listener`);
    return l.url;
  }

  /** Connects an in-memory client (tests, embedding): returns the raw byte pipe. */
  connectMemory(remoteAddress?: string): MemoryPeer {
    const { server, peer } = createMemoryPair(remoteAddress);
    this.core.accept(server);
    return peer;
  }

  /**
   * Closes every connection (5.0: DISCONNECT 0x8B), then the listeners, then
   * the store (committing what the closing connections staged).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopSys();
    await this.core.close();
    await Promise.all(this.listeners.map((l) => l.close()));
    await this.core.persistence?.close();
  }
}

/** Share of the connections the open-file limit leaves at which the core warns. */
const NEAR_FILE_LIMIT = 0.9;

/**
 * Tells the operator at start how many connections the open-file limit leaves
 * room for (a warning if `maxConnections` was set above that), and has the
 * core warn as connections near it.
 */
function watchFileLimit(core: BrokerCore): void {
  const fl = fileLimit();
  if (fl === undefined) return;
  const room = fl.limit - fl.open;
  const why = `open-file limit ${fl.limit} (${fl.open} in use at start)`;
  core.connectionsWarnAt = Math.max(1, Math.floor(room * NEAR_FILE_LIMIT));
  core.connectionsWarnWhy = why;
  const max = core.limits.maxConnections;
  const fields = { fileLimit: fl.limit, open: fl.open, maxConnections: max };
  // The default (100,000) says "no particular limit": only a limit someone chose is questioned.
  if (max > room && max !== DEFAULT_LIMITS.maxConnections) {
    core.logger.warn(
      fields,
      `max_connections ${max} is more than the ${why} leaves room for (about ${room} connections): raise the limit (ulimit -n, LimitNOFILE= under systemd) or lower max_connections`,
    );
  } else {
    core.logger.info(fields, `${why}: room for about ${room} connections`);
  }
}
