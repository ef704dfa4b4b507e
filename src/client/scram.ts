/**
 * The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) for MQTT 5 enhanced
 * authentication: proves the password without sending it, and checks that
 * the broker holds the user's credential (its server-final message in
 * CONNACK). WebCrypto only, so it runs in Node and in browsers (where
 * `crypto.subtle` needs a secure context: https or localhost).
 *
 * @example
 * ```ts
 * import { connect, scramSha256 } from "starling/client";
 * const client = await connect("mqtt://127.0.0.1:1883", {
 *   auth: scramSha256({ username: "alice", password: "correct horse battery staple" }),
 * });
 * ```
 */
import { InvalidArgumentError, MqttError } from "../protocol/index.js";
import type { EnhancedAuth } from "./options.js";

export interface ScramOptions {
  username: string;
  password: string;
  /**
   * Fewest iterations accepted from the broker (default 4096, RFC 7677's
   * floor): fewer would make a captured exchange cheap to brute-force.
   */
  minIterations?: number;
  /** Most iterations accepted (default 1,000,000): bounds the work a broker can ask for. */
  maxIterations?: number;
  /** Makes each client nonce (tests only); default 18 random bytes in base64. */
  nonce?: () => string;
}

type Subtle = (typeof globalThis.crypto)["subtle"];

/** Where one connection's exchange stands. */
type State =
  | { step: "first"; bare: string; nonce: string }
  | { step: "final"; serverSignature: Uint8Array }
  | { step: "idle" };

const METHOD = "SCRAM-SHA-256";
/** printable = %x21-2B / %x2D-7E: visible ASCII except ",". */
const NONCE = /^[\x21-\x2B\x2D-\x7E]+$/;
const fail = (why: string) => new MqttError("AUTH_FAILED", `SCRAM-SHA-256: ${why}`);

/**
 * The `auth` option for SCRAM-SHA-256. Each CONNECT (the first and every
 * reconnect) starts a new exchange with a new nonce. `connect` rejects with
 * `MqttError` `AUTH_FAILED` when the broker's messages are malformed, ask for
 * fewer than `minIterations`, or its final signature is wrong (a broker that
 * does not hold the credential); a wrong password is the broker's refusal
 * (`RefusedError`, reason code 0x86).
 *
 * Names and passwords go through a reduced SASLprep (characters mapped to
 * nothing dropped, NFKC, control characters refused with
 * `InvalidArgumentError`); "=" and "," in the name are sent as "=3D" and "=2C".
 */
export function scramSha256(options: ScramOptions): EnhancedAuth {
  const subtle = globalThis.crypto?.subtle;
  if (subtle === undefined)
    throw new MqttError(
      "UNSUPPORTED",
      "SCRAM-SHA-256 needs WebCrypto (crypto.subtle): in a browser, a secure context (https: or localhost)",
    );
  const username = prepare(options.username, "username").replace(/=/g, "=3D").replace(/,/g, "=2C");
  const password = encoder.encode(prepare(options.password, "password"));
  const minIterations = options.minIterations ?? 4096;
  const maxIterations = options.maxIterations ?? 1_000_000;
  const makeNonce = options.nonce ?? (() => toBase64(crypto.getRandomValues(new Uint8Array(18))));
  /** Keys for the last salt and iteration count: a reconnect does not redo PBKDF2. */
  let cached:
    | { salt: string; iterations: number; clientKey: Uint8Array; serverKey: Uint8Array }
    | undefined;
  let state: State = { step: "idle" };

  async function keys(salt: string, saltBytes: Uint8Array, iterations: number) {
    if (cached?.salt === salt && cached.iterations === iterations) return cached;
    const base = await subtle.importKey("raw", password, "PBKDF2", false, ["deriveBits"]);
    const salted = new Uint8Array(
      await subtle.deriveBits(
        { name: "PBKDF2", hash: "SHA-256", salt: saltBytes, iterations },
        base,
        256,
      ),
    );
    cached = {
      salt,
      iterations,
      clientKey: await hmac(subtle, salted, "Client Key"),
      serverKey: await hmac(subtle, salted, "Server Key"),
    };
    return cached;
  }

  return {
    method: METHOD,
    /** client-first-message, new for each CONNECT. */
    get data(): Uint8Array {
      const nonce = makeNonce();
      if (!NONCE.test(nonce))
        throw new InvalidArgumentError("the nonce must be printable ASCII without ','");
      const bare = `n=${username},r=${nonce}`;
      state = { step: "first", bare, nonce };
      return encoder.encode(`n,,${bare}`);
    },
    /** server-first-message → client-final-message. */
    async onChallenge(data) {
      const s = state;
      const idle: State = { step: "idle" };
      state = idle;
      if (s.step !== "first") throw fail("a challenge out of turn");
      const serverFirst = text(data);
      const attrs = serverFirst.split(",");
      if (attrs[0]?.startsWith("m="))
        throw fail("the broker requires an extension (m=) we do not know");
      const [r, sAttr, i] = attrs;
      if (!r?.startsWith("r=") || !sAttr?.startsWith("s=") || !i?.startsWith("i="))
        throw fail(`server-first-message is not r=…,s=…,i=…: ${JSON.stringify(serverFirst)}`);
      const nonce = r.slice(2);
      // The broker's nonce extends ours: otherwise it could replay an old exchange.
      if (!nonce.startsWith(s.nonce) || nonce.length === s.nonce.length || !NONCE.test(nonce))
        throw fail("the broker's nonce does not extend ours");
      const salt = sAttr.slice(2);
      const saltBytes = fromBase64(salt);
      if (saltBytes === undefined || saltBytes.length === 0) throw fail("the salt is not base64");
      const iterations = /^[1-9][0-9]{0,9}$/.test(i.slice(2)) ? Number(i.slice(2)) : Number.NaN;
      if (!(iterations >= minIterations && iterations <= maxIterations))
        throw fail(`iteration count ${i.slice(2)} outside ${minIterations}..${maxIterations}`);
      const k = await keys(salt, saltBytes, iterations);
      // For gs2 flag "n" the channel binding data is the header "n,," itself: "biws" in base64.
      const withoutProof = `c=biws,r=${nonce}`;
      const authMessage = `${s.bare},${serverFirst},${withoutProof}`;
      const storedKey = new Uint8Array(await subtle.digest("SHA-256", k.clientKey));
      const signature = await hmac(subtle, storedKey, authMessage);
      const proof = k.clientKey.map((b, n) => b ^ signature[n]);
      const serverSignature = await hmac(subtle, k.serverKey, authMessage);
      // Unless a new CONNECT (a reconnect) started another exchange meanwhile.
      if (state === idle) state = { step: "final", serverSignature };
      return encoder.encode(`${withoutProof},p=${toBase64(proof)}`);
    },
    /** server-final-message (CONNACK's data): the broker proves it holds the credential. */
    onSuccess(data) {
      const s = state;
      state = { step: "idle" };
      if (s.step !== "final")
        throw fail("the broker accepted the connection without completing the exchange");
      const serverFinal = text(data);
      if (serverFinal.startsWith("e=")) throw fail(`the broker reports ${serverFinal.slice(2)}`);
      const v = serverFinal.startsWith("v=")
        ? fromBase64(serverFinal.slice(2).split(",")[0])
        : undefined;
      if (v === undefined || !sameBytes(v, s.serverSignature))
        throw fail("the broker's signature is wrong: it does not hold this user's credential");
    },
  };
}

/** RFC 3454 table B.1 (the common part): soft hyphen, joiners, variation selectors, BOM … */
const MAPPED_TO_NOTHING = new Set([
  0xad, 0x34f, 0x1806, 0x180b, 0x180c, 0x180d, 0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, 0xfe00,
  0xfe01, 0xfe02, 0xfe03, 0xfe04, 0xfe05, 0xfe06, 0xfe07, 0xfe08, 0xfe09, 0xfe0a, 0xfe0b, 0xfe0c,
  0xfe0d, 0xfe0e, 0xfe0f,
]);

/** A reduced SASLprep, the same as the broker's `prepareScramString` (bidi and unassigned code points unchecked). */
function prepare(s: string, what: string): string {
  let kept = "";
  for (const ch of s) if (!MAPPED_TO_NOTHING.has(ch.charCodeAt(0))) kept += ch;
  const prepared = kept.normalize("NFKC");
  for (let i = 0; i < prepared.length; i++) {
    const c = prepared.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
      throw new InvalidArgumentError(`SCRAM-SHA-256: the ${what} contains a control character`);
  }
  if (prepared === "") throw new InvalidArgumentError(`SCRAM-SHA-256: the ${what} is empty`);
  return prepared;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function text(data: Uint8Array | undefined): string {
  if (data === undefined) throw fail("the broker sent no Authentication Data");
  try {
    return decoder.decode(data);
  } catch {
    throw fail("the broker's Authentication Data is not UTF-8");
  }
}

async function hmac(subtle: Subtle, key: Uint8Array, message: string): Promise<Uint8Array> {
  const k = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle.sign("HMAC", k, encoder.encode(message)));
}

/** Compares without stopping at the first difference. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

// ---- base64 without Buffer (browsers) ----------------------------------------

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function toBase64(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
    out += i + 1 < bytes.length ? ALPHABET[(n >> 6) & 63] : "=";
    out += i + 2 < bytes.length ? ALPHABET[n & 63] : "=";
  }
  return out;
}

/** Strict: undefined for anything but canonical-looking, padded base64. */
function fromBase64(s: string): Uint8Array | undefined {
  if (!BASE64.test(s)) return undefined;
  const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const n =
      (ALPHABET.indexOf(s[i]) << 18) |
      (ALPHABET.indexOf(s[i + 1]) << 12) |
      ((ALPHABET.indexOf(s[i + 2]) & 63) << 6) |
      (ALPHABET.indexOf(s[i + 3]) & 63);
    if (o < out.length) out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}
