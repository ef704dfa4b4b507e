/**
 * `starling sub`: subscribes and prints messages, with mosquitto_sub's flags
 * and exit statuses, so `mosquitto_sub … | grep x` ports by renaming the
 * command.
 */
import type { Command } from "commander";
import type { Message, SubscribeOptions } from "../client/index.js";
import { matchTopic, validateTopicFilter } from "../protocol/index.js";
import {
  addConnectionOptions,
  type ConnectionFlags,
  connection,
  debug,
  failure,
  integer,
  printError,
  Session,
  ToolCommand,
  UsageError,
  usageErrors,
} from "./client-options.js";
import { addOutputOptions, type OutputFlags, outputMode, render } from "./format.js";

interface SubFlags extends ConnectionFlags, OutputFlags {
  count?: number;
  timeout?: number;
  skipRetained?: boolean;
  filterOut?: string[];
  unsubscribe?: string[];
  exitAfterSubscribe?: boolean;
  retainedOnly?: boolean;
  removeRetained?: boolean;
  retainAsPublished?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerSub(program: Command): void {
  const cmd = new ToolCommand("sub");
  cmd.description("subscribe to topics and print the messages (mosquitto_sub's flags)");
  addConnectionOptions(cmd, "sub");
  addOutputOptions(cmd)
    .optionsGroup("Subscription:")
    .option(
      "-C, --count <n>",
      "exit after printing n messages",
      integer("-C/--count", 1, Number.MAX_SAFE_INTEGER),
    )
    .option(
      "-W, --timeout <seconds>",
      "exit with status 27 after this many seconds",
      integer("-W/--timeout", 1, 2_147_483),
    )
    .option("-R, --skip-retained", "do not print retained (stale) messages")
    .option(
      "-T, --filter-out <filter>",
      "do not print messages matching this filter (repeatable)",
      collect,
    )
    .option(
      "-U, --unsubscribe <filter>",
      "unsubscribe from this filter after subscribing (repeatable)",
      collect,
    )
    .option("-E, --exit-after-subscribe", "exit once the broker acknowledged the (un)subscriptions")
    .option("--retained-only", "print only retained messages; exit at the first live one")
    .option("--remove-retained", "clear each retained message received (empty retained publish)")
    .option("--retain-as-published", "MQTT 5: keep the retain flag as published")
    .action((flags: SubFlags) => usageErrors(cmd, () => runSub(flags, cmd as ToolCommand)));
  program.addCommand(cmd);
}

function checkFilter(flag: string, filter: string): void {
  try {
    validateTopicFilter(filter);
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
}

async function runSub(flags: SubFlags, cmd: ToolCommand): Promise<void> {
  const warn = (msg: string) => printError(flags, "", `Warning: ${msg}`);
  const conn = connection(flags, "sub", cmd.properties, warn);
  const filters = conn.topics;
  const unsubscribes = flags.unsubscribe ?? [];
  const filterOuts = flags.filterOut ?? [];
  if (filters.length === 0 && unsubscribes.length === 0) {
    throw new UsageError("give a topic filter to subscribe to (-t) or unsubscribe from (-U)");
  }
  for (const f of filters) checkFilter("-t/--topic", f);
  for (const f of filterOuts) checkFilter("-T/--filter-out", f);
  for (const f of unsubscribes) checkFilter("-U/--unsubscribe", f);
  if (flags.skipRetained && flags.retainedOnly)
    throw new UsageError("combining -R and --retained-only makes no sense");
  if (flags.json && flags.format !== undefined)
    throw new UsageError("--json and -F are different output formats: pick one");
  if (flags.retainAsPublished && conn.version !== 5)
    throw new UsageError("--retain-as-published needs MQTT 5 (-V 5)");
  const mode = outputMode(flags);
  const v5 = conn.version === 5;

  const session = new Session(flags, conn, cmd.properties);
  session.deadline(flags.timeout);
  // With -C n below 65535, the broker sends at most n unacknowledged QoS 1/2 messages, as mosquitto_sub asks.
  const extra =
    v5 &&
    flags.count !== undefined &&
    flags.count < 65_535 &&
    cmd.properties.connect.receiveMaximum === undefined
      ? { properties: { ...conn.options.properties, receiveMaximum: flags.count } }
      : {};
  const client = await session.connect(extra);
  if (client === undefined) return;

  let printed = 0;
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    // The reader went away (`| head -1`): stop quietly, as a pipeline expects.
    if (err.code !== "EPIPE") printError(flags, `cannot write to stdout: ${err.message}`);
    void session.stop(err.code === "EPIPE" ? 0 : 1);
  });
  // The order of checks is mosquitto_sub's (my_message_callback).
  const onMessage = (msg: Message) => {
    if (session.stopping) return;
    debug(
      flags,
      `received PUBLISH (q${msg.qos}, r${msg.retain ? 1 : 0}, m${msg.packetId ?? 0}, '${msg.topic}', ... (${msg.payload.length} bytes))`,
    );
    if (flags.retainedOnly && !msg.retain) {
      void session.stop(0);
      return;
    }
    if (msg.retain && flags.skipRetained) return;
    if (filterOuts.some((f) => matchTopic(f, msg.topic))) return;
    if (flags.removeRetained && msg.retain) {
      session.track(client.publish(msg.topic, new Uint8Array(0), { qos: 1, retain: true }));
    }
    const { out, error } = render(msg, mode);
    if (error !== undefined) printError(flags, "", error);
    if (out.length > 0) process.stdout.write(out);
    if (flags.count !== undefined && ++printed >= flags.count) void session.stop(0);
  };
  client.on("message", onMessage);

  const options: SubscribeOptions = { qos: flags.qos, buffer: 1 };
  if (v5) {
    options.retainAsPublished = flags.retainAsPublished === true;
    if (flags.skipRetained) options.retainHandling = 2;
    if (cmd.properties.subscribe.userProperties !== undefined)
      options.userProperties = cmd.properties.subscribe.userProperties;
  }
  // One SUBSCRIBE per filter: a refused filter does not take the granted ones down with it
  // (mosquitto_sub carries on unless every filter is refused).
  const results = await Promise.allSettled(filters.map((f) => client.subscribe(f, options)));
  if (session.stopping) return;
  let granted = 0;
  results.forEach((r, i) => {
    if (r.status === "fulfilled") {
      granted++;
      debug(
        flags,
        `subscribed to ${filters[i]} (granted QoS ${r.value.reasonCodes[0] ?? flags.qos})`,
      );
    } else {
      printError(flags, `subscribing to ${filters[i]}: ${failure(r.reason, conn).message}`);
    }
  });
  if (filters.length > 0 && granted === 0) {
    printError(flags, "all subscription requests were denied");
    await session.stop(1);
    return;
  }
  if (unsubscribes.length > 0) {
    const unsubOptions =
      cmd.properties.unsubscribe.userProperties === undefined
        ? {}
        : { userProperties: cmd.properties.unsubscribe.userProperties };
    try {
      await client.unsubscribe(unsubscribes, unsubOptions);
      debug(flags, `unsubscribed from ${unsubscribes.join(", ")}`);
    } catch (err) {
      if (!session.stopping) await session.fail(err);
      return;
    }
  }
  if (flags.exitAfterSubscribe) await session.stop(0);
}
