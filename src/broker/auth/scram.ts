/**
 * SCRAM-SHA-256 (RFC 5802 with RFC 7677's hash) as an MQTT 5 enhanced
 * authentication method (§4.12): the client proves it knows the password
 * without sending it, and the server proves it holds the user's credential.
 *
 * On the wire (Authentication Method "SCRAM-SHA-256"):
 *
 * | packet | Authentication Data |
 * |---|---|
 * | CONNECT (or AUTH 0x19 to re-authenticate) | client-first-message: `n,,n=alice,r=<client nonce>` |
 * | AUTH 0x18 from the broker | server-first-message: `r=<client nonce><server nonce>,s=<salt>,i=<iterations>` |
 * | AUTH 0x18 from the client | client-final-message: `c=biws,r=<nonce>,p=<ClientProof>` |
 * | CONNACK 0x00 (or AUTH 0x00) | server-final-message: `v=<ServerSignature>` |
 *
 * The broker keeps only a {@link ScramCredential} per user (salt, iteration
 * count, StoredKey, ServerKey), never the password. Refusals:
 *
 * - 0x86 Bad User Name or Password: a wrong proof, an unknown user (the
 *   exchange runs to the end with a made-up credential, so neither the answer
 *   nor its timing tells which users exist), or a CONNECT User Name other than
 *   the SCRAM one.
 * - 0x8C Bad authentication method: the client asks for channel binding
 *   (gs2 flag `p=`, that is SCRAM-SHA-256-PLUS), which this method does not do.
 * - 0x87 Not authorized: a malformed message, a nonce that is not the one
 *   of this exchange, an extension marked mandatory (`m=`), an authorization
 *   identity other than the user; and any failed re-authentication (DISCONNECT
 *   cannot carry 0x86 or 0x8C).
 *
 * The user a client proved to be is the identity the broker uses from then on
 * (the {@link Authorizer} sees it, whatever CONNECT's User Name was);
 * re-authentication must prove the same user.
 *
 * @example
 * ```ts
 * const users = new MemoryScramStore();
 * users.set("alice", await scramCredential("correct horse battery staple"));
 * const broker = await Broker.start({ enhancedAuth: [new ScramSha256Authenticator(users)] });
 * ```
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import { ReasonCode } from "../../protocol/index.js";
import {
  addressKey,
  DEFAULT_LOGIN_THROTTLE,
  type LoginAttempt,
  LoginThrottle,
} from "./password-auth.js";
import type { AuthStep, ConnectInfo, EnhancedAuthenticator } from "./types.js";

const pbkdf2Async = promisify(pbkdf2);

/** The Authentication Method name (RFC 7677 §5). */
export const SCRAM_SHA_256 = "SCRAM-SHA-256";

/** Iterations when none are given: RFC 7677 §4 asks for at least 4096. */
const DEFAULT_ITERATIONS = 4096;
const SALT_BYTES = 16;
const KEY_BYTES = 32; // SHA-256 output
const NONCE_BYTES = 18; // 24 base64 characters, no padding

/** What the broker stores per user (RFC 5802 §3): enough to check a proof, not to make one. */
export interface ScramCredential {
  readonly salt: Uint8Array;
  readonly iterations: number;
  /** H(ClientKey): checks the client's proof. */
  readonly storedKey: Uint8Array;
  /** HMAC(SaltedPassword, "Server Key"): signs the server-final message. */
  readonly serverKey: Uint8Array;
}

/** Where the authenticator finds a user's credential; may be asynchronous (a database …). */
export interface ScramCredentialStore {
  lookup(username: string): ScramCredential | undefined | Promise<ScramCredential | undefined>;
}

/** Credentials held in a Map: for tests, and for users defined in code or loaded at start. */
export class MemoryScramStore implements ScramCredentialStore {
  readonly #users = new Map<string, ScramCredential>();

  set(username: string, credential: ScramCredential): this {
    this.#users.set(username, credential);
    return this;
  }

  delete(username: string): boolean {
    return this.#users.delete(username);
  }

  lookup(username: string): ScramCredential | undefined {
    return this.#users.get(username);
  }
}

/**
 * Derives the credential to store for `password` (prepared as the client
 * prepares it: see {@link prepareScramString}). `iterations` defaults to 4096,
 * `salt` to 16 random bytes; pass a salt only to reproduce a known credential.
 *
 * @example
 * ```ts
 * const alice = await scramCredential("correct horse battery staple", { iterations: 100_000 });
 * ```
 */
export async function scramCredential(
  password: string,
  options: { iterations?: number; salt?: Uint8Array } = {},
): Promise<ScramCredential> {
  const iterations = options.iterations ?? DEFAULT_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < 1)
    throw new RangeError(`iterations must be a positive integer, got ${iterations}`);
  const salt = options.salt ?? randomBytes(SALT_BYTES);
  if (salt.length === 0) throw new RangeError("the salt must not be empty");
  const salted = await pbkdf2Async(
    prepareScramString(password, "password"),
    salt,
    iterations,
    KEY_BYTES,
    "sha256",
  );
  const clientKey = hmac(salted, "Client Key");
  return {
    salt: Uint8Array.from(salt),
    iterations,
    storedKey: sha256(clientKey),
    serverKey: hmac(salted, "Server Key"),
  };
}

/**
 * A reduced SASLprep (RFC 4013): drops the characters it maps to nothing,
 * applies NFKC (which also turns the non-ASCII spaces into U+0020) and
 * refuses control characters. It does not check bidirectional text or
 * unassigned code points. The client applies the same steps.
 */
export function prepareScramString(s: string, what: string): string {
  const prepared = withoutMappedToNothing(s).normalize("NFKC");
  if (hasControl(prepared)) throw new RangeError(`the ${what} contains a control character`);
  if (prepared === "") throw new RangeError(`the ${what} is empty`);
  return prepared;
}

/** RFC 3454 table B.1 (the common part): soft hyphen, joiners, variation selectors, BOM … */
const MAPPED_TO_NOTHING = new Set([
  0xad, 0x34f, 0x1806, 0x180b, 0x180c, 0x180d, 0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, 0xfe00,
  0xfe01, 0xfe02, 0xfe03, 0xfe04, 0xfe05, 0xfe06, 0xfe07, 0xfe08, 0xfe09, 0xfe0a, 0xfe0b, 0xfe0c,
  0xfe0d, 0xfe0e, 0xfe0f,
]);

function withoutMappedToNothing(s: string): string {
  let out = "";
  for (const ch of s) if (!MAPPED_TO_NOTHING.has(ch.charCodeAt(0))) out += ch;
  return out;
}

/** C0, DEL and C1 control characters. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

export interface ScramSha256Options {
  /**
   * Iteration count announced for users the store does not know (default
   * 4096): set it to what your credentials use, so unknown users look like
   * known ones.
   */
  unknownUserIterations?: number;
  /** Makes the server's part of each nonce (tests only); default 18 random bytes in base64. */
  nonce?: () => string;
  /**
   * Slows repeated failures per address (default: a throttle of its own with
   * {@link DEFAULT_LOGIN_THROTTLE}); pass the PasswordAuthenticator's
   * `throttle` to count failures of both methods together.
   */
  throttle?: LoginThrottle;
  /** How a delay is waited (tests). */
  sleep?: (ms: number) => Promise<void>;
}

/** One exchange in progress, between `start` and `continue`. */
interface Exchange {
  username: string;
  gs2Header: string;
  clientFirstBare: string;
  serverFirst: string;
  nonce: string;
  credential: ScramCredential;
  known: boolean;
  /** The login attempt, settled when the proof is checked. */
  attempt: LoginAttempt;
}

const refuse = (reasonCode: number, reason: string): AuthStep => ({
  done: true,
  ok: false,
  reasonCode,
  reason,
});

/** The same refusal for an unknown user and a wrong password (the reason reaches a re-authenticating client). */
const BAD_CREDENTIALS = "SCRAM: unknown user or wrong password";

/**
 * The broker side of SCRAM-SHA-256: register it with
 * `Broker.start({ enhancedAuth: [new ScramSha256Authenticator(store)] })`.
 * State lives per connection (keyed on its {@link ConnectInfo}), so one
 * instance serves every client.
 */
export class ScramSha256Authenticator implements EnhancedAuthenticator {
  readonly method = SCRAM_SHA_256;
  readonly #store: ScramCredentialStore;
  readonly #unknownIterations: number;
  readonly #nonce: () => string;
  readonly #throttle: LoginThrottle;
  readonly #sleep: (ms: number) => Promise<void>;
  /** Keys the made-up salts of unknown users: stable per name, unguessable, per instance. */
  readonly #secret = randomBytes(KEY_BYTES);
  readonly #exchanges = new WeakMap<ConnectInfo, Exchange>();
  /** The user each connection proved to be: re-authentication must prove the same one. */
  readonly #authenticated = new WeakMap<ConnectInfo, string>();

  constructor(store: ScramCredentialStore, options: ScramSha256Options = {}) {
    this.#store = store;
    this.#unknownIterations = options.unknownUserIterations ?? DEFAULT_ITERATIONS;
    this.#nonce = options.nonce ?? (() => randomBytes(NONCE_BYTES).toString("base64"));
    this.#throttle = options.throttle ?? new LoginThrottle();
    this.#sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** client-first-message (CONNECT or AUTH 0x19) → server-first-message in AUTH 0x18. */
  async start(info: ConnectInfo, data: Uint8Array | undefined): Promise<AuthStep> {
    this.#exchanges.delete(info);
    const previous = this.#authenticated.get(info);
    const again = previous !== undefined;
    const notAuthorized = (why: string) => refuse(ReasonCode.NotAuthorized, `SCRAM: ${why}`);
    const text = utf8(data);
    if (text === undefined) return notAuthorized("client-first-message is missing or not UTF-8");
    const first = parseClientFirst(text);
    if (typeof first === "string") {
      if (first === CHANNEL_BINDING && !again)
        return refuse(ReasonCode.BadAuthenticationMethod, `SCRAM: ${first}`);
      return notAuthorized(first);
    }
    const { username } = first;
    if (again ? username !== previous : info.username !== undefined && username !== info.username)
      return refuse(
        again ? ReasonCode.NotAuthorized : ReasonCode.BadUserNameOrPassword,
        `SCRAM: authenticates as ${JSON.stringify(username)}, not as ${JSON.stringify(previous ?? info.username)}`,
      );
    // Repeated failures from this address: wait before going on (as PasswordAuthenticator does).
    const attempt = this.#throttle.attempt(addressKey(info.remoteAddress));
    if (attempt.delayMs > 0) await this.#sleep(attempt.delayMs);
    const found = await this.#store.lookup(username);
    const credential = found ?? this.#madeUp(username);
    const serverPart = this.#nonce();
    if (!NONCE.test(serverPart))
      throw new RangeError("the server nonce must be printable ASCII without ','");
    const nonce = first.nonce + serverPart;
    const serverFirst = `r=${nonce},s=${Buffer.from(credential.salt).toString("base64")},i=${credential.iterations}`;
    this.#exchanges.set(info, {
      username,
      gs2Header: first.gs2Header,
      clientFirstBare: first.bare,
      serverFirst,
      nonce,
      credential,
      known: found !== undefined,
      attempt,
    });
    return { done: false, data: Buffer.from(serverFirst, "utf8") };
  }

  /** client-final-message → server-final-message in CONNACK (or AUTH 0x00), or a refusal. */
  continue(info: ConnectInfo, data: Uint8Array | undefined): AuthStep {
    const ex = this.#exchanges.get(info);
    // One answer per exchange: a second AUTH finds nothing to continue.
    this.#exchanges.delete(info);
    const again = this.#authenticated.has(info);
    const notAuthorized = (why: string) => refuse(ReasonCode.NotAuthorized, `SCRAM: ${why}`);
    if (ex === undefined) return notAuthorized("no exchange in progress");
    const step = this.#check(info, ex, data, again);
    ex.attempt.done(step.done && step.ok);
    return step;
  }

  #check(info: ConnectInfo, ex: Exchange, data: Uint8Array | undefined, again: boolean): AuthStep {
    const notAuthorized = (why: string) => refuse(ReasonCode.NotAuthorized, `SCRAM: ${why}`);
    const text = utf8(data);
    if (text === undefined) return notAuthorized("client-final-message is missing or not UTF-8");
    const final = parseClientFinal(text);
    if (typeof final === "string") return notAuthorized(final);
    // For "n" and "y" the channel binding data is the gs2 header itself (RFC 5802 §7).
    if (!final.binding.equals(Buffer.from(ex.gs2Header, "utf8")))
      return notAuthorized("channel binding (c=) does not repeat the gs2 header");
    if (final.nonce !== ex.nonce) return notAuthorized("the nonce is not this exchange's");
    if (final.proof.length !== KEY_BYTES) return notAuthorized("the proof is not 32 bytes");
    const authMessage = `${ex.clientFirstBare},${ex.serverFirst},${final.withoutProof}`;
    const signature = hmac(ex.credential.storedKey, authMessage);
    const clientKey = xor(final.proof, signature);
    const matches = timingSafeEqual(sha256(clientKey), ex.credential.storedKey);
    if (!matches || !ex.known)
      return refuse(
        again ? ReasonCode.NotAuthorized : ReasonCode.BadUserNameOrPassword,
        BAD_CREDENTIALS,
      );
    this.#authenticated.set(info, ex.username);
    const verifier = hmac(ex.credential.serverKey, authMessage).toString("base64");
    return {
      done: true,
      ok: true,
      data: Buffer.from(`v=${verifier}`, "utf8"),
      username: ex.username,
    };
  }

  /** A credential for a user that does not exist: a salt stable per name, keys nobody can match. */
  #madeUp(username: string): ScramCredential {
    return {
      salt: hmac(this.#secret, `salt:${username}`).subarray(0, SALT_BYTES),
      iterations: this.#unknownIterations,
      storedKey: randomBytes(KEY_BYTES),
      serverKey: randomBytes(KEY_BYTES),
    };
  }
}

// ---- messages (RFC 5802 §7) ---------------------------------------------------

const CHANNEL_BINDING = "channel binding (SCRAM-SHA-256-PLUS) is not supported";
/** printable = %x21-2B / %x2D-7E: visible ASCII except ",". */
const NONCE = /^[\x21-\x2B\x2D-\x7E]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

interface ClientFirst {
  gs2Header: string;
  bare: string;
  username: string;
  nonce: string;
}

/** Parses `gs2-cbind-flag "," [authzid] "," [m=…,] n=user,r=nonce[,ext…]`; a string says what is wrong. */
function parseClientFirst(text: string): ClientFirst | string {
  const flag = text.startsWith("p=") ? "p" : text.slice(0, 2);
  if (flag === "p") return CHANNEL_BINDING;
  if (flag !== "n," && flag !== "y,") return "the gs2 header must start with n, or y,";
  const comma = text.indexOf(",", 2);
  if (comma < 0) return "the gs2 header has no second ','";
  const authzid = text.slice(2, comma);
  const gs2Header = text.slice(0, comma + 1);
  const bare = text.slice(comma + 1);
  const attrs = bare.split(",");
  if (attrs[0].startsWith("m=")) return "a mandatory extension (m=) is not supported";
  if (!attrs[0].startsWith("n=")) return "client-first-message-bare must start with n=";
  if (attrs.length < 2 || !attrs[1].startsWith("r=")) return "n= must be followed by r=";
  const username = saslName(attrs[0].slice(2));
  if (username === undefined)
    return "the user name is empty, badly escaped or holds a control character";
  const nonce = attrs[1].slice(2);
  if (!NONCE.test(nonce)) return "the client nonce must be printable ASCII without ','";
  if (authzid !== "") {
    const asked = authzid.startsWith("a=") ? saslName(authzid.slice(2)) : undefined;
    if (asked !== username) return "an authorization identity other than the user is not supported";
  }
  return { gs2Header, bare, username, nonce };
}

interface ClientFinal {
  binding: Buffer;
  nonce: string;
  proof: Buffer;
  withoutProof: string;
}

/** Parses `c=…,r=…[,ext…],p=…`; a string says what is wrong. */
function parseClientFinal(text: string): ClientFinal | string {
  const at = text.lastIndexOf(",p=");
  if (at < 0) return "client-final-message has no proof (p=)";
  const withoutProof = text.slice(0, at);
  const attrs = withoutProof.split(",");
  if (attrs.length < 2 || !attrs[0].startsWith("c=") || !attrs[1].startsWith("r="))
    return "client-final-message must start with c=…,r=…";
  const binding = base64(attrs[0].slice(2));
  const proof = base64(text.slice(at + 3));
  if (binding === undefined || proof === undefined) return "c= and p= must be base64";
  return { binding, nonce: attrs[1].slice(2), proof, withoutProof };
}

/** A saslname: `=2C` and `=3D` stand for "," and "="; any other "=" is an error. */
function saslName(s: string): string | undefined {
  if (s === "" || /=(?!2C|3D)/.test(s) || hasControl(s)) return undefined;
  return s.replace(/=2C|=3D/g, (m) => (m === "=2C" ? "," : "="));
}

// ---- bytes ---------------------------------------------------------------------

const decoder = new TextDecoder("utf-8", { fatal: true });

function utf8(data: Uint8Array | undefined): string | undefined {
  if (data === undefined || data.length === 0) return undefined;
  try {
    return decoder.decode(data);
  } catch {
    return undefined;
  }
}

function base64(s: string): Buffer | undefined {
  return s !== "" && BASE64.test(s) ? Buffer.from(s, "base64") : undefined;
}

function hmac(key: Uint8Array, message: string): Buffer {
  return createHmac("sha256", key).update(message, "utf8").digest();
}

function sha256(data: Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}

function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}
