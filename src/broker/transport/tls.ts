/**
 * TLS listener (mqtts, default port 8883): node:tls in front of the same
 * {@link SocketConnection} as plain TCP. Certificates can be replaced while
 * running (SIGHUP) without dropping the connections already open.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { PeerCertificate, SecureContextOptions, TLSSocket } from "node:tls";
import { createServer, type Server } from "node:tls";
import { bind, type Listener, listenerUrl, SocketConnection } from "./tcp.js";
import type { Connection } from "./types.js";

export interface TlsFiles {
  /** PEM certificate chain and key. */
  cert: string;
  key: string;
  /** CA bundle for client certificates (and chain); PEM file. */
  ca?: string;
  /** Directory of PEM CA certificates (Mosquitto's capath). */
  caPath?: string;
  /** Mutual TLS: refuse clients without a certificate signed by `ca`. */
  requireCertificate: boolean;
  /** Use the client certificate's CN (or first SAN) as the username. */
  useIdentityAsUsername: boolean;
  /** Lowest TLS version accepted. */
  minVersion: "TLSv1.2" | "TLSv1.3";
}

/** A listener whose certificates can be re-read. */
export interface TlsListener extends Listener {
  /**
   * Reads the certificate, key and CA files again and returns the function
   * that puts them in use (for new connections); throws, changing nothing,
   * when a file cannot be read. Plain listeners return a no-op.
   */
  prepareTlsReload(): () => void;
}

/** Reads the PEM files into secure-context options (throws naming the file that failed). */
export function secureContextOptions(files: TlsFiles): SecureContextOptions {
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read the TLS ${what} ${path}: ${(err as Error).message}`);
    }
  };
  const ca: Buffer[] = [];
  if (files.ca !== undefined) ca.push(read("CA file", files.ca));
  if (files.caPath !== undefined) {
    for (const name of readdirSync(files.caPath).sort()) {
      if (/\.(pem|crt)$/.test(name)) ca.push(read("CA file", join(files.caPath, name)));
    }
  }
  return {
    cert: read("certificate", files.cert),
    key: read("key", files.key),
    ...(ca.length > 0 ? { ca } : {}),
    minVersion: files.minVersion,
  };
}

/** The identity of a verified peer certificate: its CN, else its first DNS/email/URI SAN. */
export function certificateIdentity(cert: PeerCertificate | undefined): string | undefined {
  if (cert === undefined || Object.keys(cert).length === 0) return undefined;
  const cn = cert.subject?.CN;
  if (typeof cn === "string" && cn !== "") return cn;
  if (Array.isArray(cn) && cn.length > 0) return cn[0];
  const san = cert.subjectaltname?.split(",")[0]?.trim();
  return san ? san.replace(/^(DNS|email|URI):/, "") : undefined;
}

/** Listens for MQTT over TLS on `host:port`. */
export async function listenTls(
  host: string,
  port: number,
  files: TlsFiles,
  accept: (conn: Connection) => void,
): Promise<TlsListener> {
  const sockets = new Set<TLSSocket>();
  const forget = function (this: TLSSocket) {
    sockets.delete(this);
  };
  let url = "";
  const server: Server = createServer(
    {
      noDelay: true,
      ...secureContextOptions(files),
      requestCert: files.requireCertificate || files.useIdentityAsUsername,
      rejectUnauthorized: files.requireCertificate,
    },
    (socket) => {
      sockets.add(socket);
      socket.on("close", forget);
      const conn = new SocketConnection(socket, "tls");
      conn.listener = url;
      if (files.useIdentityAsUsername) {
        const identity = socket.authorized
          ? certificateIdentity(socket.getPeerCertificate())
          : undefined;
        // No verified certificate: an identity-based listener cannot name the client.
        if (identity === undefined) {
          socket.destroy();
          return;
        }
        conn.identity = identity;
      }
      accept(conn);
    },
  );
  // A failed handshake (untrusted client certificate, wrong protocol) concerns that socket only.
  server.on("tlsClientError", () => {});
  const actual = await bind(server, host, port);
  url = listenerUrl("mqtts", host, actual);
  return {
    type: "tls",
    host,
    port: actual,
    url,
    prepareTlsReload: () => {
      const next = secureContextOptions(files);
      return () => server.setSecureContext(next);
    },
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        for (const s of sockets) s.destroy();
      }),
  };
}
