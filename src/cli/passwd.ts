/**
 * `starling passwd`: edits a Mosquitto password file, with `mosquitto_passwd`'s
 * flags. The file stays readable by Mosquitto 2 (hashes are written as `$7$`,
 * PBKDF2-SHA512, with more iterations than Mosquitto's 101).
 *
 * ```sh
 * starling passwd -c passwd alice            # new file; asks for the password twice
 * starling passwd -b passwd bob hunter2      # add or change, password on the command line
 * printf 'pw\n' | starling passwd passwd carol   # one line from a pipe
 * starling passwd -D passwd bob              # delete
 * starling passwd -U passwd                  # hash a file of plain-text passwords
 * ```
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, open, readFile, realpath, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { ReadStream } from "node:tty";
import type { Command } from "commander";
import {
  DEFAULT_ITERATIONS,
  hashPlainTextFile,
  PasswordFile,
  PasswordFileError,
  usernameProblem,
} from "../broker/auth/password-file.js";
import { intOption } from "./options.js";

interface PasswdFlags {
  create?: boolean;
  batch?: boolean;
  delete?: boolean;
  upgrade?: boolean;
  iterations: number;
  hash?: string;
}

/** The longest password MQTT can carry (a two-byte length prefix). */
const MAX_PASSWORD_BYTES = 65_535;

/** A failure to report as `passwd: MESSAGE` with exit status 1. */
class PasswdError extends Error {}

/** Adds `starling passwd` to the command line. */
export function registerPasswd(program: Command): void {
  const cmd = program
    .command("passwd")
    .description(
      "add, change or delete users of a Mosquitto password file (mosquitto_passwd's flags)",
    )
    .argument("<file>", "the password file")
    .argument("[user]", "the user to add, change or delete")
    .argument("[password]", "the password (with -b)")
    .option("-c, --create", "create the file, replacing an existing one")
    .option("-b, --batch", "take the password from the command line")
    .option("-D, --delete", "delete the user")
    .option("-U, --upgrade", "hash the plain-text passwords of FILE (user:password lines)")
    .option(
      "-I, --iterations <count>",
      `PBKDF2 iterations of new hashes (Mosquitto writes 101)`,
      intOption("-I/--iterations", 1, 2_147_483_647),
      DEFAULT_ITERATIONS,
    )
    .option("-H, --hash <algorithm>", "sha512-pbkdf2, the only format written (for compatibility)");
  cmd.action(async (file: string, user: string | undefined, password: string | undefined) => {
    const flags = cmd.opts<PasswdFlags>();
    const usage = checkUsage(flags, user, password);
    if (usage !== undefined) cmd.error(`error: ${usage}`, { exitCode: 1, code: "starling.usage" });
    try {
      await runPasswd(flags, file, user, password);
    } catch (err) {
      if (!(err instanceof PasswdError || err instanceof PasswordFileError)) throw err;
      process.stderr.write(`passwd: ${err.message}\n`);
      process.exitCode = 1;
    }
  });
}

/** What is wrong with the combination of flags and arguments, if anything. */
function checkUsage(
  flags: PasswdFlags,
  user: string | undefined,
  password: string | undefined,
): string | undefined {
  if (flags.hash !== undefined && flags.hash !== "sha512-pbkdf2") {
    return flags.hash === "sha512"
      ? "-H sha512 (a single salted SHA-512) is too fast to resist guessing; Starling writes sha512-pbkdf2 only (and still reads sha512 entries)"
      : `-H: expected sha512-pbkdf2, got ${JSON.stringify(flags.hash)}`;
  }
  if (flags.upgrade) {
    if (flags.create || flags.delete || flags.batch) return "-U takes no -c, -D or -b";
    if (user !== undefined) return "-U takes only the file";
    return undefined;
  }
  if (flags.create && flags.delete) return "-c and -D do not go together";
  if (user === undefined) return "give the file and the user";
  const problem = usernameProblem(user);
  if (problem !== undefined) return problem;
  if (flags.delete) {
    if (flags.batch || password !== undefined) return "-D takes the file and the user only";
    return undefined;
  }
  if (flags.batch && password === undefined) return "-b needs the password after the user";
  if (!flags.batch && password !== undefined)
    return "a password on the command line needs -b (without it, it is asked for)";
  return undefined;
}

async function runPasswd(
  flags: PasswdFlags,
  file: string,
  user: string | undefined,
  passwordArg: string | undefined,
): Promise<void> {
  if (flags.upgrade) {
    const text = await readExisting(file, "");
    const { text: hashed } = await hashPlainTextFile(text, file, flags.iterations);
    PasswordFile.parse(hashed, file); // every line must now be a valid entry
    await writeAtomically(file, hashed);
    return;
  }
  if (user === undefined) throw new PasswdError("no user given");
  // Read (and validate) the file before asking for a password that could not be saved.
  const passwords = flags.create
    ? PasswordFile.parse("", file)
    : PasswordFile.parse(await readExisting(file), file);
  if (flags.delete) {
    if (!passwords.delete(user)) throw new PasswdError(`${file}: no user ${JSON.stringify(user)}`);
  } else {
    const password =
      passwordArg !== undefined ? Buffer.from(passwordArg, "utf8") : await askPassword();
    if (password.length > MAX_PASSWORD_BYTES)
      throw new PasswdError(
        `the password is longer than MQTT allows (${MAX_PASSWORD_BYTES} bytes)`,
      );
    await passwords.set(user, password, flags.iterations);
  }
  await writeAtomically(file, passwords.serialize());
}

/** The text of an existing file, or a clear error. */
async function readExisting(file: string, hint = " (use -c to create it)"): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ENOENT") throw new PasswdError(`${file}: no such file${hint}`);
    throw new PasswdError(`${file}: cannot read it: ${e.message}`);
  }
}

// ---- asking for the password --------------------------------------------------

/**
 * The new password: on a terminal, asked twice with echo off; otherwise the
 * first line of stdin (so `printf 'pw\n' | starling passwd f u` works).
 */
async function askPassword(): Promise<Uint8Array> {
  if (!process.stdin.isTTY) {
    const line = await readLine();
    if (line === undefined) throw new PasswdError("no password on stdin (expected one line)");
    if (line.length === 0) throw new PasswdError("empty password");
    return line;
  }
  const stdin = process.stdin as ReadStream;
  // Echo goes off before the first prompt and stays off until both answers are in,
  // so that nothing typed ahead of a prompt is shown.
  stdin.setRawMode(true);
  const terminal = new HiddenInput(stdin);
  try {
    const ask = async (prompt: string) => {
      process.stderr.write(prompt);
      const answer = await terminal.next();
      process.stderr.write("\n"); // the Enter the terminal did not echo
      if (answer === undefined) throw new PasswdError("cancelled");
      return answer;
    };
    const first = await ask("Password: ");
    if (first === "") throw new PasswdError("empty password");
    const second = await ask("Reenter password: ");
    if (first !== second) throw new PasswdError("the passwords do not match");
    return Buffer.from(first, "utf8");
  } finally {
    terminal.close();
    stdin.setRawMode(false);
  }
}

/** The first line of stdin without its `\n` (or `\r\n`), as bytes; undefined when stdin is empty. */
async function readLine(): Promise<Uint8Array | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let complete = false;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    const newline = chunk.indexOf(0x0a);
    chunks.push(newline >= 0 ? chunk.subarray(0, newline) : chunk);
    size += chunk.length;
    if (newline >= 0) {
      complete = true;
      break;
    }
    if (size > MAX_PASSWORD_BYTES + 2) break;
  }
  if (!complete && size === 0) return undefined;
  let line = Buffer.concat(chunks);
  if (line.at(-1) === 0x0d) line = line.subarray(0, -1);
  return line;
}

/**
 * Lines typed on a terminal in raw mode (no echo), with the editing a
 * password prompt needs: backspace, Ctrl-U (erase the line), Ctrl-C and
 * Ctrl-D on an empty line (cancel). Input typed ahead is kept for the next line.
 */
class HiddenInput {
  readonly #stdin: ReadStream;
  readonly #lines: (string | undefined)[] = [];
  #current = "";
  #waiting: ((line: string | undefined) => void) | undefined;
  readonly #onData = (chunk: string) => {
    for (const ch of chunk) {
      if (ch === "\r" || ch === "\n") this.#push(this.#current);
      else if (ch === "\u0003")
        this.#push(undefined); // Ctrl-C
      else if (ch === "\u0004" && this.#current === "")
        this.#push(undefined); // Ctrl-D
      else if (ch === "\u007f" || ch === "\b")
        this.#current = Array.from(this.#current).slice(0, -1).join("");
      else if (ch === "\u0015")
        this.#current = ""; // Ctrl-U
      else if (ch >= " ") this.#current += ch;
    }
  };

  constructor(stdin: ReadStream) {
    this.#stdin = stdin;
    stdin.setEncoding("utf8");
    stdin.on("data", this.#onData);
    stdin.resume();
  }

  /** The next line; undefined when cancelled. */
  next(): Promise<string | undefined> {
    if (this.#lines.length > 0) return Promise.resolve(this.#lines.shift());
    return new Promise((resolve) => {
      this.#waiting = resolve;
    });
  }

  close(): void {
    this.#stdin.off("data", this.#onData);
    this.#stdin.pause();
  }

  #push(line: string | undefined): void {
    this.#current = "";
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting !== undefined) waiting(line);
    else this.#lines.push(line);
  }
}

// ---- writing the file -----------------------------------------------------------

/**
 * Replaces `file` with `text` atomically: writes a temporary file beside it,
 * flushes it, and renames it over the file, so a crash leaves the old file or
 * the new one, never half of one. A new file gets mode 0600; an existing one
 * keeps its mode (and, when run as root, its owner). A symbolic link is
 * followed: the file it points to is replaced.
 */
async function writeAtomically(file: string, text: string): Promise<void> {
  let target = file;
  let mode = 0o600;
  let owner: { uid: number; gid: number } | undefined;
  try {
    target = await realpath(file);
    const st = await stat(target);
    mode = st.mode & 0o7777;
    owner = { uid: st.uid, gid: st.gid };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const temp = join(
    dirname(target),
    `.${basename(target)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`,
  );
  let handle: FileHandle | undefined;
  try {
    handle = await open(temp, "wx", 0o600);
    await handle.writeFile(text, "utf8");
    if (mode !== 0o600) await handle.chmod(mode);
    if (owner !== undefined && process.getuid?.() === 0) await handle.chown(owner.uid, owner.gid);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, target);
  } catch (err) {
    await handle?.close().catch(() => {});
    await unlink(temp).catch(() => {});
    const e = err as NodeJS.ErrnoException;
    throw new PasswdError(`${file}: cannot write it: ${e.message}`);
  }
  // Make the rename itself durable; not every file system lets a directory be fsynced.
  const dir = await open(dirname(target), "r").catch(() => undefined);
  await dir?.sync().catch(() => {});
  await dir?.close();
}
