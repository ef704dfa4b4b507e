/**
 * MQTT over WebSocket (§6 of the spec): binary frames on an HTTP server at a
 * path (default `/mqtt`), subprotocol `mqtt` (or 3.1's `mqttv3.1`). The same
 * HTTP server will later serve the console and metrics.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { TLSSocket } from "node:tls";
import { type WebSocket, WebSocketServer } from "ws";
import { bind, listenerUrl } from "./tcp.js";
import {
  certificateIdentity,
  secureContextOptions,
  type TlsFiles,
  type TlsListener,
} from "./tls.js";
import type { Connection, ConnectionHandlers } from "./types.js";

const SUBPROTOCOLS = ["mqtt", "mqttv3.1"];

export class WebSocketConnection implements Connection {
  readonly transport: string;
  readonly remoteAddress: string;
  listener?: string;
  identity?: string;
  #ws: WebSocket;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #scheduled = false;
  #handlers: ConnectionHandlers | undefined;
  #highWater: number;

  constructor(ws: WebSocket, req: IncomingMessage, transport = "ws", highWater = 1024 * 1024) {
    this.#ws = ws;
    this.transport = transport;
    this.remoteAddress = `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? 0}`;
    this.#highWater = highWater;
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount + this.#pendingBytes;
  }

  start(handlers: ConnectionHandlers): void {
    this.#handlers = handlers;
    let error: Error | undefined;
    this.#ws.on("message", (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (!isBinary) {
        // [MQTT-6.0.0-1]: MQTT travels in binary frames; a text frame closes the connection.
        this.#ws.close(1003, "MQTT needs binary frames");
        return;
      }
      if (Array.isArray(data)) for (const part of data) handlers.data(part);
      else handlers.data(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
    });
    this.#ws.on("error", (err) => {
      error = err;
    });
    this.#ws.on("close", () => handlers.close(error));
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
    if (this.#pending.length === 0) return;
    const data =
      this.#pending.length === 1
        ? this.#pending[0]
        : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(data, { binary: true }, () => {
      if (this.#ws.bufferedAmount < this.#highWater) this.#handlers?.drain();
    });
  };

  end(): void {
    this.#flush();
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.close(1000);
    const timer = setTimeout(() => this.#ws.terminate(), 5000);
    timer.unref();
    this.#ws.once("close", () => clearTimeout(timer));
  }

  destroy(): void {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#ws.terminate();
  }

  pause(): void {
    this.#ws.pause();
  }

  resume(): void {
    this.#ws.resume();
  }
}

export interface WsListenerOptions {
  host: string;
  port: number;
  path?: string;
  /** Other HTTP requests (console, metrics, health) go here. */
  http?: (req: IncomingMessage, res: ServerResponse) => void;
  /** Serve WSS (HTTPS) with these certificates instead of plain WebSocket. */
  tls?: TlsFiles;
}

/** Listens for MQTT over WebSocket on `host:port` at `path`. */
export async function listenWs(
  options: WsListenerOptions,
  accept: (conn: Connection) => void,
): Promise<TlsListener> {
  const path = options.path ?? "/mqtt";
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (options.http) {
      options.http(req, res);
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end(`Starling MQTT broker: connect with MQTT over WebSocket at ${path}\n`);
  };
  const files = options.tls;
  const server: Server | HttpsServer =
    files === undefined
      ? createServer(onRequest)
      : createHttpsServer(
          {
            ...secureContextOptions(files),
            requestCert: files.requireCertificate || files.useIdentityAsUsername,
            rejectUnauthorized: files.requireCertificate,
          },
          onRequest,
        );
  if (files !== undefined) server.on("tlsClientError", () => {});
  const type = files === undefined ? "ws" : "wss";
  let url = "";
  const wss = new WebSocketServer({
    server,
    path,
    maxPayload: 256 * 1024 * 1024,
    handleProtocols: (protocols) => {
      for (const p of SUBPROTOCOLS) if (protocols.has(p)) return p;
      return false;
    },
  });
  wss.on("connection", (ws, req) => {
    const conn = new WebSocketConnection(ws, req, type);
    conn.listener = url;
    if (files?.useIdentityAsUsername) {
      const socket = req.socket as TLSSocket;
      const identity = socket.authorized
        ? certificateIdentity(socket.getPeerCertificate())
        : undefined;
      if (identity === undefined) {
        ws.terminate();
        return;
      }
      conn.identity = identity;
    }
    accept(conn);
  });
  // ws re-emits the HTTP server's errors on the WebSocketServer; unhandled there, a port in
  // use (EADDRINUSE) became an uncaught exception. The server's own listener below rejects.
  wss.on("error", () => {});
  const actual = await bind(server, options.host, options.port);
  url = `${listenerUrl(type, options.host, actual)}${path}`;
  return {
    type,
    host: options.host,
    port: actual,
    url,
    prepareTlsReload: () => {
      if (files === undefined) return () => {};
      const next = secureContextOptions(files);
      return () => (server as HttpsServer).setSecureContext(next);
    },
    close: () =>
      new Promise<void>((done) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}
