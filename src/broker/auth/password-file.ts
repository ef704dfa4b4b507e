/**
 * Mosquitto's password file: one `user:hash` per line, as `mosquitto_passwd`
 * writes it, so a file works with both brokers in either direction.
 *
 * Two hash formats exist (both checked against files made by the real
 * `mosquitto_passwd` and accepted by the real broker, see the tests):
 *
 * - `$7$ITERATIONS$SALT$HASH`: PBKDF2-HMAC-SHA512 of the password over the
 *   salt, 64 bytes. Mosquitto 2's default, written with 101 iterations.
 * - `$6$SALT$HASH`: one SHA-512 of the password bytes followed by the salt
 *   bytes (Mosquitto 1.6 and earlier). This is not sha512-crypt despite the
 *   prefix. Read only: Starling never writes it.
 *
 * SALT and HASH are standard base64 with padding; the salt is 12 bytes (the
 * Mosquitto broker drops an entry with another length), the hash 64.
 *
 * Blank lines and lines starting with `#` are kept as they are (the Mosquitto
 * broker skips them; `mosquitto_passwd` 2.0 does not accept them).
 */
import { createHash, pbkdf2, randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";

const pbkdf2Async = promisify(pbkdf2);

/**
 * PBKDF2 iterations for hashes Starling writes: about 32 ms per hash on the
 * machine this was measured on (Node 20, PBKDF2-HMAC-SHA512 over libuv's
 * thread pool). Mosquitto's 101 is far too cheap to slow down a guesser with
 * a stolen file. Mosquitto verifies on its only thread, so each login there
 * costs the same ~32 ms.
 */
export const DEFAULT_ITERATIONS = 50_000;

/** The iteration count `mosquitto_passwd` 2.0 writes (for tests and comparisons). */
export const MOSQUITTO_ITERATIONS = 101;

/** Salt length: what `mosquitto_passwd` writes and the only one the Mosquitto broker accepts. */
export const SALT_BYTES = 12;

/** SHA-512 / PBKDF2-HMAC-SHA512 output length. */
const HASH_BYTES = 64;

/** Mosquitto parses the iteration count as a C int. */
const MAX_ITERATIONS = 2_147_483_647;

/** A parsed hash; `hash` is the expected digest. */
export type PasswordHash =
  | { format: "sha512"; salt: Buffer; hash: Buffer }
  | { format: "pbkdf2-sha512"; iterations: number; salt: Buffer; hash: Buffer };

/** A line of the file: a user with a hash, or a comment/blank line kept verbatim. */
type Line = { user: string; hash: PasswordHash; text: string } | { user: undefined; text: string };

/**
 * A password file that cannot be used. The message names the file, the line
 * (when there is one) and the user, and says what was expected; it never
 * contains a hash or a password.
 */
export class PasswordFileError extends Error {
  readonly file: string;
  readonly line: number | undefined;
  readonly user: string | undefined;

  constructor(file: string, line: number | undefined, user: string | undefined, problem: string) {
    const where = line === undefined ? file : `${file}:${line}`;
    super(`${where}: ${user === undefined ? "" : `user ${JSON.stringify(user)}: `}${problem}`);
    this.name = "PasswordFileError";
    this.file = file;
    this.line = line;
    this.user = user;
  }
}

/**
 * Why `user` cannot be stored in a password file, or undefined when it can:
 * it must be non-empty, hold no `:` (the separator) and no line break, and
 * must not read back as a comment or a blank line.
 */
export function usernameProblem(user: string): string | undefined {
  if (user === "") return "the user name is empty";
  if (user.includes(":")) return "a user name cannot contain ':'";
  if (/[\r\n]/.test(user)) return "a user name cannot contain a line break";
  if (/^\s*#/.test(user)) return "a user name cannot start with '#' (it would read as a comment)";
  if (/^\s*$/.test(user)) return "a user name cannot be only spaces";
  return undefined;
}

/** Strict base64 (standard alphabet, padded) to bytes, or undefined. */
function base64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64");
  return bytes.toString("base64") === text ? bytes : undefined;
}

/** A hash's text → its parts, or a description of what is wrong (never quoting the hash). */
export function parseHash(text: string): PasswordHash | string {
  const expected = "(expected $6$ or $7$ as written by mosquitto_passwd)";
  if (!text.startsWith("$")) {
    return `not a hashed password ${expected}; a plain-text file can be converted with \`starling passwd -U FILE\``;
  }
  const parts = text.split("$");
  const id = parts[1];
  if (id !== "6" && id !== "7") {
    const prefix = id !== undefined && /^\w{1,8}$/.test(id) ? `$${id}$` : "$";
    return `unknown hash format "${prefix}…" ${expected}`;
  }
  const fields = id === "6" ? ["salt", "hash"] : ["iterations", "salt", "hash"];
  if (parts.length !== fields.length + 2) {
    return `a $${id}$ hash has ${fields.length} fields after "$${id}$" (${fields.join("$")}), found ${parts.length - 2}`;
  }
  const [saltText, hashText] = parts.slice(-2) as [string, string];
  const salt = base64(saltText);
  if (salt === undefined || salt.length !== SALT_BYTES) {
    return `the salt is not ${SALT_BYTES} bytes of base64 (what mosquitto_passwd writes and the Mosquitto broker requires)`;
  }
  const hash = base64(hashText);
  if (hash === undefined || hash.length !== HASH_BYTES) {
    return `the hash is not ${HASH_BYTES} bytes of base64`;
  }
  if (id === "6") return { format: "sha512", salt, hash };
  const iterations = Number(parts[2]);
  if (!/^\d{1,10}$/.test(parts[2] ?? "") || iterations < 1 || iterations > MAX_ITERATIONS) {
    return `the iteration count of a $7$ hash must be a whole number from 1 to ${MAX_ITERATIONS}`;
  }
  return { format: "pbkdf2-sha512", iterations, salt, hash };
}

/** The text of a hash, as mosquitto_passwd writes it. */
function formatHash(h: PasswordHash): string {
  const salt = h.salt.toString("base64");
  const hash = h.hash.toString("base64");
  return h.format === "sha512" ? `$6$${salt}$${hash}` : `$7$${h.iterations}$${salt}$${hash}`;
}

/** The digest `password` gives under `h`'s format, salt and iteration count. */
async function digest(h: PasswordHash, password: Uint8Array): Promise<Buffer> {
  if (h.format === "sha512") return createHash("sha512").update(password).update(h.salt).digest();
  return pbkdf2Async(password, h.salt, h.iterations, HASH_BYTES, "sha512");
}

/** Validates an iteration count given by a caller. */
function checkIterations(iterations: number): void {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new RangeError(`iterations: expected a whole number from 1 to ${MAX_ITERATIONS}`);
  }
}

/** The bytes of a password given as text (UTF-8) or bytes. */
const bytesOf = (password: string | Uint8Array): Uint8Array =>
  typeof password === "string" ? Buffer.from(password, "utf8") : password;

/**
 * Hashes `password` with a new random salt in Mosquitto's `$7$` format
 * (PBKDF2-HMAC-SHA512), readable by Mosquitto 2 and Starling.
 */
export async function hashPassword(
  password: string | Uint8Array,
  iterations: number = DEFAULT_ITERATIONS,
): Promise<string> {
  checkIterations(iterations);
  const salt = randomBytes(SALT_BYTES);
  const hash = await pbkdf2Async(bytesOf(password), salt, iterations, HASH_BYTES, "sha512");
  return formatHash({ format: "pbkdf2-sha512", iterations, salt, hash });
}

/** Splits a file's text into lines without their line ending (`\n` or `\r\n`). */
function splitLines(text: string): string[] {
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  if (lines.at(-1) === "") lines.pop(); // the final newline ends the last line
  return lines;
}

const isCommentOrBlank = (line: string) => /^\s*(#|$)/.test(line);

/**
 * Mosquitto's password file, parsed and editable.
 *
 * @example
 * ```ts
 * const file = await PasswordFile.load("/etc/mosquitto/passwd");
 * if (await file.verify("alice", new TextEncoder().encode("secret"))) { … }
 * await file.set("bob", "hunter2");
 * await writeFile("/etc/mosquitto/passwd", file.serialize());
 * ```
 */
export class PasswordFile {
  /** Where the file was read from (for messages). */
  readonly path: string;
  readonly #lines: Line[];
  readonly #users = new Map<string, PasswordHash>();
  /** The hash an unknown user is checked against, so that "no such user" costs as much as a wrong password. */
  #decoy: PasswordHash;

  private constructor(path: string, lines: Line[]) {
    this.path = path;
    this.#lines = lines;
    let decoy: PasswordHash | undefined;
    for (const line of lines) {
      if (line.user === undefined) continue;
      this.#users.set(line.user, line.hash);
      decoy ??= line.hash;
    }
    this.#decoy = decoy ?? {
      format: "pbkdf2-sha512",
      iterations: DEFAULT_ITERATIONS,
      salt: Buffer.alloc(SALT_BYTES),
      hash: Buffer.alloc(HASH_BYTES),
    };
  }

  /** Reads and parses the file at `path`; rejects with a {@link PasswordFileError}. */
  static async load(path: string): Promise<PasswordFile> {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === "ENOENT" ? "no such file" : e.message;
      throw new PasswordFileError(
        path,
        undefined,
        undefined,
        `cannot read the password file: ${why}`,
      );
    }
    return PasswordFile.parse(text, path);
  }

  /**
   * Parses the text of a password file; `path` names it in errors. Throws a
   * {@link PasswordFileError} at the first bad line or at a user listed twice.
   * An empty text gives an empty file.
   */
  static parse(text: string, path: string): PasswordFile {
    const lines: Line[] = [];
    const seen = new Map<string, number>();
    splitLines(text).forEach((raw, i) => {
      const lineNo = i + 1;
      if (isCommentOrBlank(raw)) {
        lines.push({ user: undefined, text: raw });
        return;
      }
      const colon = raw.indexOf(":");
      if (colon < 0) {
        throw new PasswordFileError(path, lineNo, undefined, 'expected "user:hash" (no ":" found)');
      }
      if (colon === 0) throw new PasswordFileError(path, lineNo, undefined, "empty user name");
      const user = raw.slice(0, colon);
      const hash = parseHash(raw.slice(colon + 1).trimEnd());
      if (typeof hash === "string") throw new PasswordFileError(path, lineNo, user, hash);
      const first = seen.get(user);
      if (first !== undefined) {
        throw new PasswordFileError(path, lineNo, user, `listed twice (first on line ${first})`);
      }
      seen.set(user, lineNo);
      lines.push({ user, hash, text: raw });
    });
    return new PasswordFile(path, lines);
  }

  /** Whether `user` has an entry. */
  has(user: string): boolean {
    return this.#users.has(user);
  }

  /** The users, in file order. */
  users(): string[] {
    return [...this.#users.keys()];
  }

  /** How many users the file holds. */
  get size(): number {
    return this.#users.size;
  }

  /** The parsed hash of `user` (format, iteration count, salt), if listed. */
  hashOf(user: string): Readonly<PasswordHash> | undefined {
    return this.#users.get(user);
  }

  /**
   * Whether `password` is `user`'s. Hashing runs on libuv's thread pool
   * (never blocking the event loop) and the comparison takes constant time.
   * An unknown user costs about as much as a wrong password, so the answer
   * time does not tell which users exist.
   */
  async verify(user: string, password: Uint8Array): Promise<boolean> {
    const expected = this.#users.get(user);
    if (expected === undefined) {
      await digest(this.#decoy, password);
      return false;
    }
    const actual = await digest(expected, password);
    return timingSafeEqual(actual, expected.hash);
  }

  /**
   * Adds `user` or changes its password, hashed as `$7$` with a new random
   * 12-byte salt and `iterations` rounds. A new user goes at the end, a
   * changed one keeps its place. Throws a RangeError for a user name the
   * file cannot hold (see {@link usernameProblem}).
   */
  async set(
    user: string,
    password: string | Uint8Array,
    iterations: number = DEFAULT_ITERATIONS,
  ): Promise<void> {
    const problem = usernameProblem(user);
    if (problem !== undefined) throw new RangeError(problem);
    const text = await hashPassword(password, iterations);
    const hash = parseHash(text) as PasswordHash;
    const line = { user, hash, text: `${user}:${text}` };
    const i = this.#lines.findIndex((l) => l.user === user);
    if (i >= 0) this.#lines[i] = line;
    else this.#lines.push(line);
    this.#users.set(user, hash);
    if (this.#users.size === 1) this.#decoy = hash;
  }

  /** Removes `user`; returns whether it was there. */
  delete(user: string): boolean {
    const i = this.#lines.findIndex((l) => l.user === user);
    if (i < 0) return false;
    this.#lines.splice(i, 1);
    this.#users.delete(user);
    return true;
  }

  /**
   * The file's text: the lines in their order, comments and blank lines
   * included, lines not changed byte for byte as read, `\n` after each.
   */
  serialize(): string {
    return this.#lines.map((l) => `${l.text}\n`).join("");
  }
}

/**
 * `mosquitto_passwd -U`: hashes the plain-text passwords of a file
 * (`user:password` lines). Unlike `mosquitto_passwd` 2.0, a line that
 * already holds a valid `$6$`/`$7$` hash is kept, so running it twice does
 * not hash the hashes. Comments and blank lines are kept. Throws a
 * {@link PasswordFileError} for a line without `:` or with an empty user.
 */
export async function hashPlainTextFile(
  text: string,
  path: string,
  iterations: number = DEFAULT_ITERATIONS,
): Promise<{ text: string; converted: number }> {
  checkIterations(iterations);
  const out: string[] = [];
  let converted = 0;
  const lines = splitLines(text);
  for (const [i, raw] of lines.entries()) {
    const colon = raw.indexOf(":");
    if (
      isCommentOrBlank(raw) ||
      (colon > 0 && typeof parseHash(raw.slice(colon + 1).trimEnd()) !== "string")
    ) {
      out.push(raw);
      continue;
    }
    if (colon <= 0) {
      const problem = colon < 0 ? 'expected "user:password" (no ":" found)' : "empty user name";
      throw new PasswordFileError(path, i + 1, undefined, problem);
    }
    const user = raw.slice(0, colon);
    // The password is everything after the first ":" (it may contain ":" itself).
    out.push(`${user}:${await hashPassword(raw.slice(colon + 1), iterations)}`);
    converted++;
  }
  return { text: out.map((l) => `${l}\n`).join(""), converted };
}
