/**
 * `starling pub`: publishes one message (-m, -f, -s, -n), or one per line of
 * stdin (-l), with mosquitto_pub's flags and exit statuses, so
 * `seq 10 | mosquitto_pub -t a -l` ports by renaming the command.
 */
import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError } from "commander";
import type { Client, PublishOptions } from "../client/index.js";
import { validateTopicName } from "../protocol/index.js";
import {
  addConnectionOptions,
  type ConnectionFlags,
  connection,
  debug,
  printError,
  Session,
  ToolCommand,
  UsageError,
  usageErrors,
} from "./client-options.js";

/** The message flags pub and rr share. */
export interface MessageFlags {
  message?: string;
  file?: string;
  stdinLine?: boolean;
  nullMessage?: boolean;
  stdinFile?: boolean;
}

interface PubFlags extends ConnectionFlags, MessageFlags {
  retain?: boolean;
  repeat: number;
  repeatDelay: number;
}

/** Adds `-m`, `-f`, `-n`, `-s` and (pub only) `-l`. */
export function addMessageOptions(cmd: Command, lines: boolean): Command {
  cmd
    .optionsGroup("Message (one of):")
    .option("-m, --message <message>", "the message")
    .option("-f, --file <file>", "the contents of a file")
    .option("-n, --null-message", "an empty message")
    .option("-s, --stdin-file", "all of stdin as one message");
  if (lines) cmd.option("-l, --stdin-line", "each line of stdin as a message (without its \\n)");
  return cmd;
}

/** The message to send, read before connecting; "lines" for -l. Throws {@link UsageError}. */
export async function loadMessage(
  flags: MessageFlags,
  what: string,
): Promise<Uint8Array | "lines"> {
  const modes = [
    flags.message !== undefined,
    flags.file !== undefined,
    flags.stdinLine,
    flags.nullMessage,
    flags.stdinFile,
  ].filter(Boolean);
  if (modes.length === 0) throw new UsageError(`give ${what}`);
  if (modes.length > 1) throw new UsageError("only one of -m, -f, -l, -n and -s can be given");
  if (flags.message !== undefined) return new TextEncoder().encode(flags.message);
  if (flags.nullMessage) return new Uint8Array(0);
  if (flags.stdinLine) return "lines";
  if (flags.file !== undefined) {
    try {
      return readFileSync(flags.file);
    } catch (err) {
      throw new UsageError(
        `-f/--file: cannot read ${flags.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function checkTopic(flag: string, topic: string): void {
  try {
    validateTopicName(topic);
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
}

const positive = (flag: string) => (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1)
    throw new InvalidArgumentError(
      `${flag}: expected a positive integer, got ${JSON.stringify(value)}`,
    );
  return n;
};

const seconds = (value: string) => {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(
      `--repeat-delay: expected seconds ≥ 0 (e.g. 0.5), got ${JSON.stringify(value)}`,
    );
  }
  return n;
};

export function registerPub(program: Command): void {
  const cmd = new ToolCommand("pub");
  cmd.description("publish a message, or one per line of stdin (mosquitto_pub's flags)");
  addConnectionOptions(cmd, "pub");
  addMessageOptions(cmd, true)
    .optionsGroup("Publishing:")
    .option("-r, --retain", "retain the message")
    .option(
      "--repeat <count>",
      "publish the message this many times (-m, -f, -n, -s)",
      positive("--repeat"),
      1,
    )
    .option("--repeat-delay <seconds>", "wait this long between repeats", seconds, 0)
    .action((flags: PubFlags) => usageErrors(cmd, () => runPub(flags, cmd as ToolCommand)));
  program.addCommand(cmd);
}

/** At most this many publishes wait for their acknowledgement while reading -l lines. */
const MAX_PENDING = 64;

async function runPub(flags: PubFlags, cmd: ToolCommand): Promise<void> {
  const warn = (msg: string) => printError(flags, "", `Warning: ${msg}`);
  const conn = connection(flags, "pub", cmd.properties, warn);
  const topic = conn.topics.at(-1);
  if (topic === undefined) throw new UsageError("give a topic to publish to (-t or -L)");
  checkTopic("-t/--topic", topic);
  if (flags.repeat > 1 && flags.stdinLine)
    throw new UsageError("--repeat works with -m, -f, -n and -s, not -l");
  const body = await loadMessage(flags, "a message: -m, -f, -l, -n or -s");

  const options: PublishOptions = { qos: flags.qos, retain: flags.retain === true };
  if (conn.version === 5 && Object.keys(cmd.properties.publish).length > 0)
    options.properties = cmd.properties.publish;
  const session = new Session(flags, conn, cmd.properties);
  // One message: no reconnecting, fail fast. Lines from stdin may run for long: reconnect.
  const client = await session.connect(body === "lines" ? {} : { reconnect: false });
  if (client === undefined) return;
  try {
    if (body === "lines") await publishLines(client, session, topic, options);
    else {
      for (let i = 0; i < flags.repeat && !session.stopping; i++) {
        if (i > 0 && flags.repeatDelay > 0)
          await new Promise((r) => setTimeout(r, flags.repeatDelay * 1000));
        await publish(client, flags, topic, body, options);
      }
    }
  } catch (err) {
    if (!session.stopping) await session.fail(err);
    return;
  }
  await session.stop(0);
}

async function publish(
  client: Client,
  flags: PubFlags,
  topic: string,
  payload: Uint8Array,
  options: PublishOptions,
): Promise<void> {
  const r = await client.publish(topic, payload, options);
  debug(
    flags,
    `published to ${topic} (q${options.qos}, r${options.retain ? 1 : 0}, ${payload.length} bytes)${r.reasonCode === 0 ? "" : ` reason 0x${r.reasonCode.toString(16)}`}`,
  );
}

/**
 * -l: one message per `\n`-terminated line (the `\n` removed, a `\r` kept,
 * an empty line sent as an empty message, a last unterminated line sent too —
 * all as mosquitto_pub does). Reading pauses while {@link MAX_PENDING}
 * publishes wait for their acknowledgement.
 */
async function publishLines(
  client: Client,
  session: Session,
  topic: string,
  options: PublishOptions,
): Promise<void> {
  const pending = new Set<Promise<void>>();
  let failed: unknown;
  const send = async (line: Uint8Array) => {
    const p = publish(client, session.flags as PubFlags, topic, line, options).then(
      () => {
        pending.delete(p);
      },
      (err: unknown) => {
        pending.delete(p);
        failed ??= err;
      },
    );
    pending.add(p);
    if (pending.size >= MAX_PENDING) await Promise.race(pending);
    if (failed !== undefined) throw failed;
  };
  let carry: Buffer = Buffer.alloc(0);
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    const buf = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
    let start = 0;
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10, start)) {
      await send(buf.subarray(start, nl));
      start = nl + 1;
      if (session.stopping) return;
    }
    carry = buf.subarray(start);
  }
  if (carry.length > 0) await send(carry);
  await Promise.all(pending);
  if (failed !== undefined) throw failed;
}
