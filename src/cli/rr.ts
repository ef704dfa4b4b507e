/**
 * `starling rr`: request/response, as mosquitto_rr. Subscribes to the
 * response topic (-e), publishes the request with that Response Topic and a
 * Correlation Data (MQTT 5), prints the first response and exits.
 */
import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import type { Message, Properties, PublishOptions, SubscribeOptions } from "../client/index.js";
import { validateTopicName } from "../protocol/index.js";
import {
  addConnectionOptions,
  type ConnectionFlags,
  connection,
  debug,
  integer,
  printError,
  Session,
  ToolCommand,
  UsageError,
  usageErrors,
} from "./client-options.js";
import { addOutputOptions, type OutputFlags, outputMode, render } from "./format.js";
import { addMessageOptions, loadMessage, type MessageFlags } from "./pub.js";

interface RrFlags extends ConnectionFlags, OutputFlags, MessageFlags {
  responseTopic?: string;
  timeout?: number;
  skipRetained?: boolean;
}

export function registerRr(program: Command): void {
  const cmd = new ToolCommand("rr");
  cmd.description(
    "send a request and print the response (mosquitto_rr's flags; MQTT 5 by default)",
  );
  addConnectionOptions(cmd, "rr");
  addMessageOptions(cmd, false)
    .optionsGroup("Request/response:")
    .option("-e, --response-topic <topic>", "topic to wait for the response on")
    .option(
      "-W, --timeout <seconds>",
      "give up after this many seconds (exit status 27)",
      integer("-W/--timeout", 1, 2_147_483),
    )
    .option("-R, --skip-retained", "ignore retained messages on the response topic");
  addOutputOptions(cmd).action((flags: RrFlags) =>
    usageErrors(cmd, () => runRr(flags, cmd as ToolCommand)),
  );
  program.addCommand(cmd);
}

const equalBytes = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

async function runRr(flags: RrFlags, cmd: ToolCommand): Promise<void> {
  const warn = (msg: string) => printError(flags, "", `Warning: ${msg}`);
  const conn = connection(flags, "rr", cmd.properties, warn);
  const topic = conn.topics.at(-1);
  const responseTopic = flags.responseTopic;
  const incomplete =
    "give the request topic (-t), the message (-m, -f, -n or -s) and the response topic (-e)";
  if (topic === undefined || responseTopic === undefined) throw new UsageError(incomplete);
  for (const [flag, t] of [
    ["-t/--topic", topic],
    ["-e/--response-topic", responseTopic],
  ]) {
    try {
      validateTopicName(t);
    } catch (err) {
      throw new UsageError(`${flag}: ${(err as Error).message}`);
    }
  }
  if (cmd.properties.publish.responseTopic !== undefined) {
    throw new UsageError("-e sets the response topic: leave out -D publish response-topic");
  }
  if (flags.json && flags.format !== undefined)
    throw new UsageError("--json and -F are different output formats: pick one");
  const body = await loadMessage(flags, incomplete);
  if (body === "lines") throw new UsageError(incomplete);
  const mode = outputMode(flags);
  const v5 = conn.version === 5;

  // MQTT 5: the request names where to answer and carries a correlation data the answer echoes.
  const options: PublishOptions = { qos: flags.qos };
  let correlation: Uint8Array | undefined;
  if (v5) {
    correlation =
      cmd.properties.publish.correlationData ??
      new TextEncoder().encode(randomBytes(8).toString("hex"));
    const properties: Properties = {
      ...cmd.properties.publish,
      responseTopic,
      correlationData: correlation,
    };
    options.properties = properties;
  }

  const session = new Session(flags, conn, cmd.properties);
  session.deadline(flags.timeout);
  const client = await session.connect({ reconnect: false });
  if (client === undefined) return;
  process.stdout.on("error", () => void session.stop(0));
  const onMessage = (msg: Message) => {
    if (session.stopping || msg.topic !== responseTopic) return;
    if (msg.retain && flags.skipRetained) return;
    const theirs = msg.properties?.correlationData;
    // A response to another request (its correlation data differs) is not ours; one without any is accepted.
    if (correlation !== undefined && theirs !== undefined && !equalBytes(theirs, correlation)) {
      debug(flags, "ignoring a response with another correlation data");
      return;
    }
    const { out, error } = render(msg, mode);
    if (error !== undefined) printError(flags, "", error);
    if (out.length > 0) process.stdout.write(out);
    void session.stop(0);
  };
  client.on("message", onMessage);

  const subOptions: SubscribeOptions = { qos: flags.qos, buffer: 1 };
  if (v5) {
    if (flags.skipRetained) subOptions.retainHandling = 2;
    if (cmd.properties.subscribe.userProperties !== undefined)
      subOptions.userProperties = cmd.properties.subscribe.userProperties;
  }
  try {
    await client.subscribe(responseTopic, subOptions);
    debug(flags, `subscribed to ${responseTopic}`);
    if (session.stopping) return;
    await client.publish(topic, body, options);
    debug(flags, `request published to ${topic}; waiting for the response on ${responseTopic}`);
  } catch (err) {
    if (!session.stopping) await session.fail(err);
  }
}
