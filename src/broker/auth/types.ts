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
  /** URL of the listener the connection arrived on (for per-listener settings). */
  listener?: string;
}

/** The outcome of authentication: accept, or refuse with an MQTT 5 reason code (mapped for 3.1.x). */
export type AuthResult =
  | { ok: true; username?: string }
  | { ok: false; reasonCode: number; reason?: string };

/** Decides whether a CONNECT is accepted. May be asynchronous (HTTP, JWT, database …). */
export interface Authenticator {
  authenticate(info: ConnectInfo): AuthResult | Promise<AuthResult>;
}

/**
 * One step of MQTT 5 enhanced authentication (§4.12). A successful last step
 * may name the `username` the client proved to be: on CONNECT it becomes the
 * client's identity (what the {@link Authorizer} sees), as with
 * {@link AuthResult}; on re-authentication the identity does not change.
 */
export type AuthStep =
  | { done: false; data?: Uint8Array }
  | { done: true; ok: true; data?: Uint8Array; username?: string }
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

/** The identity an {@link Authorizer} decides for: the client id and the user name it authenticated with. */
export interface ClientIdentity {
  readonly clientId: string;
  readonly username: string | undefined;
}

/**
 * Decides what a client may publish, subscribe to and receive. Calls are
 * synchronous: they sit on the publish path.
 *
 * - `canPublish` is asked for each PUBLISH a client sends and for its will
 *   when the will is about to be published. A refusal is answered with
 *   PUBACK/PUBREC 0x87 in 5.0; 3.1.1 has no way to say no, so the message is
 *   acknowledged and dropped ([MQTT-3.3.5-2] of 3.1.1).
 * - `canSubscribe` is asked for each Topic Filter of a SUBSCRIBE (the whole
 *   `$share/{group}/…` filter for a shared subscription); a refusal is SUBACK
 *   0x80 (3.1.1) / 0x87 (5.0) for that filter.
 * - `canRead`, when present, is asked before each message (live, retained or
 *   a will) is handed to a session, with the message's Topic Name: a filter
 *   that `canSubscribe` granted may match topics the client may not read
 *   (`#` with read rights on `a/#` only). Leave it out when `canSubscribe`
 *   decides everything: the broker then makes no per-message call.
 *
 * @example
 * ```ts
 * const readOnlyGuests: Authorizer = {
 *   canPublish: (client) => client.username !== undefined,
 *   canSubscribe: () => true,
 *   canRead: (client, topic) => client.username !== undefined || topic.startsWith("public/"),
 * };
 * await Broker.start({ authorizer: readOnlyGuests });
 * ```
 */
export interface Authorizer {
  canPublish(client: ClientIdentity, topic: string): boolean;
  canSubscribe(client: ClientIdentity, filter: string): boolean;
  canRead?(client: ClientIdentity, topic: string): boolean;
}

/** Accepts everyone: the default for a broker listening on loopback only. Has no `canRead`. */
export const allowAll: Authenticator & Authorizer = {
  authenticate: () => ({ ok: true }),
  canPublish: () => true,
  canSubscribe: () => true,
};
