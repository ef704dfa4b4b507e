/**
 * Authentication and authorization seams. The broker core depends on these
 * interfaces only; password files, ACL files and hooks implement them.
 */

/** Who is connecting, as the core knows it when CONNECT arrives. */
export interface ConnectInfo {
  clientId: string;
  username: string | undefined;
  password: Uint8Array | undefined;
  remoteAddress: string;
  transport: string;
  protocolVersion: 3 | 4 | 5;
}

/** The outcome of authentication: accept, or refuse with an MQTT 5 reason code (mapped for 3.1.x). */
export type AuthResult =
  | { ok: true; username?: string }
  | { ok: false; reasonCode: number; reason?: string };

/** Decides whether a CONNECT is accepted. May be asynchronous (HTTP, JWT, database …). */
export interface Authenticator {
  authenticate(info: ConnectInfo): AuthResult | Promise<AuthResult>;
}

/** One step of MQTT 5 enhanced authentication (§4.12). */
export type AuthStep =
  | { done: false; data?: Uint8Array }
  | { done: true; ok: true; data?: Uint8Array }
  | { done: true; ok: false; reasonCode: number; reason?: string };

/**
 * An MQTT 5 enhanced-authentication method (e.g. SCRAM-SHA-256). The broker
 * calls `start` with the CONNECT's Authentication Data, then `continue` with
 * each AUTH the client sends, until a step is done.
 */
export interface EnhancedAuthenticator {
  readonly method: string;
  start(info: ConnectInfo, data: Uint8Array | undefined): AuthStep | Promise<AuthStep>;
  continue(info: ConnectInfo, data: Uint8Array | undefined): AuthStep | Promise<AuthStep>;
}

/** Decides what a connected client may publish and subscribe to. */
export interface Authorizer {
  canPublish(client: { clientId: string; username: string | undefined }, topic: string): boolean;
  canSubscribe(client: { clientId: string; username: string | undefined }, filter: string): boolean;
}

/** Accepts everyone: the default for a broker listening on loopback only. */
export const allowAll: Authenticator & Authorizer = {
  authenticate: () => ({ ok: true }),
  canPublish: () => true,
  canSubscribe: () => true,
};
