/**
 * Authentication by user name and password against a Mosquitto password
 * file, with Mosquitto 2's `allow_anonymous` rules, and a per-address brake
 * on repeated failures.
 *
 * What is accepted (as Mosquitto 2.0 does; checked against it):
 *
 * | CONNECT | password file | allowAnonymous | result |
 * |---|---|---|---|
 * | no user name | any | true | accepted |
 * | no user name | any | false | 0x87 Not authorized (3.1.x: 5) |
 * | user name | none | true | accepted (nothing to check it against) |
 * | user name | none | false | 0x87 Not authorized (3.1.x: 5) |
 * | user name | loaded | any | accepted only with that user's password, else 0x86 Bad User Name or Password (3.1.x: 4) |
 *
 * Mosquitto itself answers a wrong password with 0x87 / 5; Starling sends
 * the code the specification names for it (§3.2.2.2 of 5.0, §3.2.2.3 of 3.1.1).
 */
import type { Logger } from "../core/logger.js";
import type { PasswordFile } from "./password-file.js";
import type { Authenticator, AuthResult, ConnectInfo } from "./types.js";

/** CONNACK reason codes used here (MQTT 5; the core maps them to 3.1.x return codes). */
const BAD_USER_NAME_OR_PASSWORD = 0x86;
const NOT_AUTHORIZED = 0x87;

/** How repeated login failures from one address are slowed down. */
export interface LoginThrottleOptions {
  /** Delay after the first failure, doubled after each further one (default 100 ms). */
  baseDelayMs: number;
  /** The delay never exceeds this (default 5000 ms; keep it below the broker's connect timeout). */
  maxDelayMs: number;
  /** An address with no failure for this long starts again from no delay (default 60 s). */
  quietMs: number;
  /** Addresses remembered at most; the least recently failed is forgotten first (default 10 000). */
  maxAddresses: number;
}

/** 100 ms doubling to 5 s, forgotten after a quiet minute, at most 10 000 addresses. */
export const DEFAULT_LOGIN_THROTTLE: Readonly<LoginThrottleOptions> = {
  baseDelayMs: 100,
  maxDelayMs: 5000,
  quietMs: 60_000,
  maxAddresses: 10_000,
};

interface AddressRecord {
  /** Failures in a row. */
  failures: number;
  /** When the last one happened. */
  last: number;
  /** Attempts from this address being delayed or checked right now. */
  pending: number;
}

/** One login attempt: wait `delayMs` before checking, then report the outcome. */
export interface LoginAttempt {
  readonly delayMs: number;
  /** Records the outcome; returns the address's failures in a row (0 after a success). */
  done(ok: boolean): number;
}

/**
 * Remembers failures per address and says how long to wait before checking
 * the next attempt from there. The delay comes before the check, for every
 * attempt from an address with recent failures: delaying only refusals would
 * let a guesser give up after a few milliseconds and treat silence as "wrong".
 * Attempts already in progress from the same address count as failures, so
 * parallel connections do not get around the delay.
 */
export class LoginThrottle {
  readonly #options: LoginThrottleOptions;
  readonly #now: () => number;
  /** In order of last failure, oldest first (a Map iterates in insertion order). */
  readonly #records = new Map<string, AddressRecord>();

  constructor(options: Partial<LoginThrottleOptions> = {}, now: () => number = Date.now) {
    this.#options = { ...DEFAULT_LOGIN_THROTTLE, ...options };
    this.#now = now;
  }

  /** The delay before checking an attempt made after `failures` failures in a row. */
  delayFor(failures: number): number {
    if (failures <= 0) return 0;
    const { baseDelayMs, maxDelayMs } = this.#options;
    // 2 ** 30 already exceeds any sensible cap; the min keeps the exponent finite.
    return Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(failures - 1, 30));
  }

  /** Addresses currently remembered. */
  get size(): number {
    return this.#records.size;
  }

  /** Starts an attempt from `address` (see {@link addressKey}). */
  attempt(address: string): LoginAttempt {
    const record = this.#current(address);
    let delayMs = 0;
    if (record !== undefined) {
      delayMs = this.delayFor(record.failures + record.pending);
      record.pending++;
    }
    let settled = false;
    return {
      delayMs,
      done: (ok) => {
        if (settled) return this.#records.get(address)?.failures ?? 0;
        settled = true;
        if (record !== undefined) record.pending--;
        return ok ? this.#succeeded(address) : this.#failed(address);
      },
    };
  }

  /** The record of `address`, forgetting it when it has been quiet long enough. */
  #current(address: string): AddressRecord | undefined {
    const record = this.#records.get(address);
    if (record === undefined) return undefined;
    if (this.#now() - record.last >= this.#options.quietMs) {
      this.#records.delete(address);
      return undefined;
    }
    return record;
  }

  #succeeded(address: string): number {
    this.#records.delete(address);
    return 0;
  }

  #failed(address: string): number {
    const record = this.#current(address) ?? { failures: 0, last: 0, pending: 0 };
    record.failures++;
    record.last = this.#now();
    // Re-insert so the map stays ordered by last failure; evict the oldest past the bound.
    this.#records.delete(address);
    this.#records.set(address, record);
    while (this.#records.size > this.#options.maxAddresses) {
      const oldest = this.#records.keys().next().value as string;
      this.#records.delete(oldest);
    }
    return record.failures;
  }
}

/** Expands an IPv6 address to its 8 groups, or undefined when `host` is not one. */
function ipv6Groups(host: string): string[] | undefined {
  if (!host.includes(":") || !/^[0-9a-f:.]+$/i.test(host)) return undefined;
  const halves = host.split("::");
  if (halves.length > 2) return undefined;
  const part = (s: string) => (s === "" ? [] : s.split(":"));
  const head = part(halves[0] ?? "");
  const tail = halves.length === 2 ? part(halves[1] ?? "") : [];
  // An embedded IPv4 address (::ffff:1.2.3.4) fills two groups.
  const groups = head.length + tail.length + (tail.at(-1)?.includes(".") ? 1 : 0);
  if (halves.length === 1 && groups !== 8) return undefined;
  const zeros = Array.from({ length: Math.max(0, 8 - groups) }, () => "0");
  return [...head, ...(halves.length === 2 ? zeros : []), ...tail];
}

/**
 * The key failures are counted under for a connection's remote address
 * (`host:port` as the transports give it): the host, with an IPv4-mapped
 * IPv6 address written as IPv4, and an IPv6 address cut to its /64 prefix —
 * one machine usually holds a whole /64 and could otherwise change address
 * at every attempt.
 */
export function addressKey(remoteAddress: string): string {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(remoteAddress);
  let host = (m?.[1] ?? remoteAddress).toLowerCase();
  if (host.startsWith("::ffff:") && host.includes(".")) host = host.slice("::ffff:".length);
  const groups = ipv6Groups(host);
  if (groups === undefined) return host;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

/** How a {@link PasswordAuthenticator} decides. */
export interface PasswordAuthenticatorOptions {
  /** The users; without one, user names are not checked (see the table above). */
  passwordFile?: PasswordFile;
  /** Mosquitto's `allow_anonymous`: accept clients that give no user name. */
  allowAnonymous: boolean;
  /** Where repeated failures are reported (each refusal is also logged by the core, with the address). */
  logger?: Logger;
  /** Slowing down of repeated failures from one address; defaults in {@link DEFAULT_LOGIN_THROTTLE}. */
  throttle?: Partial<LoginThrottleOptions>;
  /** Clock, for tests. */
  now?: () => number;
  /** How a delay is waited, for tests. */
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Checks CONNECT's user name and password against a Mosquitto password file.
 *
 * @example
 * ```ts
 * const auth = new PasswordAuthenticator({
 *   passwordFile: await PasswordFile.load("/etc/mosquitto/passwd"),
 *   allowAnonymous: false,
 *   logger,
 * });
 * const broker = await Broker.start({ authenticator: auth });
 * // on SIGHUP:
 * auth.setPasswordFile(await PasswordFile.load("/etc/mosquitto/passwd"));
 * ```
 */
export class PasswordAuthenticator implements Authenticator {
  #passwordFile: PasswordFile | undefined;
  #allowAnonymous: boolean;
  readonly #logger: Logger | undefined;
  readonly #throttle: LoginThrottle;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: PasswordAuthenticatorOptions) {
    this.#passwordFile = options.passwordFile;
    this.#allowAnonymous = options.allowAnonymous;
    this.#logger = options.logger;
    this.#throttle = new LoginThrottle(options.throttle, options.now);
    this.#sleep = options.sleep ?? realSleep;
  }

  /**
   * Replaces the password file (a reload). Checks already under way finish
   * against the file they started with; the next CONNECT sees the new one.
   */
  setPasswordFile(passwordFile: PasswordFile | undefined): void {
    this.#passwordFile = passwordFile;
  }

  /** The password file in use, if any. */
  get passwordFile(): PasswordFile | undefined {
    return this.#passwordFile;
  }

  /** Whether clients without a user name are accepted (Mosquitto's `allow_anonymous`). */
  get allowAnonymous(): boolean {
    return this.#allowAnonymous;
  }

  /** Changes `allow_anonymous` (a reload). */
  setAllowAnonymous(allow: boolean): void {
    this.#allowAnonymous = allow;
  }

  /** The failure bookkeeping (for tests and metrics). */
  get throttle(): LoginThrottle {
    return this.#throttle;
  }

  async authenticate(info: ConnectInfo): Promise<AuthResult> {
    const { username, password } = info;
    if (username === undefined) {
      return this.#allowAnonymous
        ? { ok: true }
        : { ok: false, reasonCode: NOT_AUTHORIZED, reason: "anonymous access is not allowed" };
    }
    const file = this.#passwordFile;
    if (file === undefined) {
      return this.#allowAnonymous
        ? { ok: true }
        : {
            ok: false,
            reasonCode: NOT_AUTHORIZED,
            reason:
              "no password file to check the user name against, and anonymous access is not allowed",
          };
    }
    const address = addressKey(info.remoteAddress);
    const attempt = this.#throttle.attempt(address);
    let ok = false;
    try {
      if (attempt.delayMs > 0) await this.#sleep(attempt.delayMs);
      // Always hash, even without a password, so the answer time tells nothing.
      ok = (await file.verify(username, password ?? new Uint8Array(0))) && password !== undefined;
    } finally {
      const failures = attempt.done(ok);
      if (!ok) this.#reportFailures(info, address, failures);
    }
    if (ok) return { ok: true };
    return {
      ok: false,
      reasonCode: BAD_USER_NAME_OR_PASSWORD,
      reason: password === undefined ? "no password given" : "bad user name or password",
    };
  }

  /** Logs when an address's failures in a row reach 2, 4, 8, … (one line per doubling, not per attempt). */
  #reportFailures(info: ConnectInfo, address: string, failures: number): void {
    if (this.#logger === undefined || failures < 2 || (failures & (failures - 1)) !== 0) return;
    this.#logger.warn(
      {
        remote: info.remoteAddress,
        address,
        clientId: info.clientId,
        username: info.username,
        failures,
        delayMs: this.#throttle.delayFor(failures),
      },
      `${failures} failed logins in a row from ${address}: answers from there are slowed down`,
    );
  }
}
