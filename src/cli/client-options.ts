/**
 * The connection flags `starling pub`, `sub` and `rr` share, spelled as
 * mosquitto_pub/sub/rr spell them (`-h host -p port -L url -i id -u user -P
 * pass -k -c -V -x -D … --will-* --cafile …`), turned into `connect()`
 * options; and the reporting of failures with mosquitto's exit codes.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import {
  type Client,
  type ConnectOptions,
  connect,
  MqttError,
  type Properties,
  type ProtocolVersion,
  type QoS,
  RefusedError,
} from "../client/index.js";
import { reasonCodeName, validateTopicName } from "../protocol/index.js";

export type Tool = "pub" | "sub" | "rr";

/** What mosquitto calls MQTT_PROP commands: the packets a `-D` property goes into. */
type PropertyTarget = "connect" | "publish" | "subscribe" | "unsubscribe" | "disconnect" | "will";

/** The MQTT 5 properties given with `-D`, per packet. */
export interface PropertySet {
  connect: Properties;
  publish: Properties;
  subscribe: Properties;
  unsubscribe: Properties;
  disconnect: Properties;
  will: Properties;
  /** Whether any `-D` was given (it implies MQTT 5, as with mosquitto). */
  any: boolean;
}

const TARGETS: Record<Tool, PropertyTarget[]> = {
  pub: ["connect", "publish", "disconnect", "will"],
  sub: ["connect", "subscribe", "unsubscribe", "disconnect", "will"],
  rr: ["connect", "publish", "subscribe", "unsubscribe", "disconnect", "will"],
};

type Kind = "byte" | "u16" | "u32" | "string" | "binary" | "topic";

/** Property identifiers as mosquitto spells them, their type, and where each may go. */
const PROPERTIES: Record<string, { key: keyof Properties; kind: Kind; in: PropertyTarget[] }> = {
  "payload-format-indicator": {
    key: "payloadFormatIndicator",
    kind: "byte",
    in: ["publish", "will"],
  },
  "message-expiry-interval": { key: "messageExpiryInterval", kind: "u32", in: ["publish", "will"] },
  "content-type": { key: "contentType", kind: "string", in: ["publish", "will"] },
  "response-topic": { key: "responseTopic", kind: "topic", in: ["publish", "will"] },
  "correlation-data": { key: "correlationData", kind: "binary", in: ["publish", "will"] },
  "will-delay-interval": { key: "willDelayInterval", kind: "u32", in: ["will"] },
  "session-expiry-interval": {
    key: "sessionExpiryInterval",
    kind: "u32",
    in: ["connect", "disconnect"],
  },
  "authentication-method": { key: "authenticationMethod", kind: "string", in: ["connect"] },
  "authentication-data": { key: "authenticationData", kind: "binary", in: ["connect"] },
  "request-problem-information": {
    key: "requestProblemInformation",
    kind: "byte",
    in: ["connect"],
  },
  "request-response-information": {
    key: "requestResponseInformation",
    kind: "byte",
    in: ["connect"],
  },
  "receive-maximum": { key: "receiveMaximum", kind: "u16", in: ["connect"] },
  "topic-alias-maximum": { key: "topicAliasMaximum", kind: "u16", in: ["connect"] },
  "maximum-packet-size": { key: "maximumPacketSize", kind: "u32", in: ["connect"] },
};

const ALL_TARGETS = "connect, publish, subscribe, unsubscribe, disconnect, will";

/** No properties. */
export function emptyProperties(): PropertySet {
  return {
    connect: {},
    publish: {},
    subscribe: {},
    unsubscribe: {},
    disconnect: {},
    will: {},
    any: false,
  };
}

/**
 * Parses the `-D command identifier value` groups (`-D command user-property
 * name value`) in `args`. Returns the other arguments untouched.
 * `takesValue(arg)` says whether an option consumes the next argument, so a
 * message such as `-m -D` stays a message.
 */
export function extractProperties(
  args: string[],
  tool: Tool,
  takesValue: (arg: string) => boolean,
): { rest: string[]; properties: PropertySet } {
  const set = emptyProperties();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      rest.push(...args.slice(i));
      break;
    }
    if (arg !== "-D" && arg !== "--property") {
      rest.push(arg);
      if (takesValue(arg) && i + 1 < args.length) rest.push(args[++i]);
      continue;
    }
    const usage = `${arg}: expected ${arg} COMMAND IDENTIFIER VALUE (or ${arg} COMMAND user-property NAME VALUE)`;
    const command = args[++i]?.toLowerCase();
    const identifier = args[++i]?.toLowerCase();
    if (command === undefined || identifier === undefined) throw new InvalidArgumentError(usage);
    const allowed = TARGETS[tool];
    if (!allowed.includes(command as PropertyTarget)) {
      const known =
        ALL_TARGETS.split(", ").includes(command) ||
        ["puback", "pubrec", "pubrel", "pubcomp", "auth"].includes(command);
      throw new InvalidArgumentError(
        known
          ? `${arg}: starling ${tool} sends no properties in ${command.toUpperCase()}; it takes: ${allowed.join(", ")}`
          : `${arg}: unknown command "${command}"; starling ${tool} takes: ${allowed.join(", ")}`,
      );
    }
    const target = set[command as PropertyTarget];
    set.any = true;
    if (identifier === "user-property") {
      const name = args[++i];
      const value = args[++i];
      if (name === undefined || value === undefined) throw new InvalidArgumentError(usage);
      target.userProperties = [...(target.userProperties ?? []), [name, value]];
      continue;
    }
    const value = args[++i];
    if (value === undefined) throw new InvalidArgumentError(usage);
    const info = PROPERTIES[identifier];
    if (info === undefined) {
      const hint = identifier === "topic-alias" ? " (the client assigns topic aliases itself)" : "";
      throw new InvalidArgumentError(
        `${arg}: unknown or unsupported property "${identifier}"${hint}`,
      );
    }
    if (
      command === "subscribe" ||
      command === "unsubscribe" ||
      !info.in.includes(command as PropertyTarget)
    ) {
      throw new InvalidArgumentError(
        `${arg}: ${identifier} is not allowed in ${command.toUpperCase()}`,
      );
    }
    if (target[info.key] !== undefined) {
      throw new InvalidArgumentError(
        `${arg}: duplicate property ${identifier} in ${command.toUpperCase()}`,
      );
    }
    (target as Record<string, unknown>)[info.key] = propertyValue(
      arg,
      identifier,
      info.kind,
      value,
    );
  }
  return { rest, properties: set };
}

function propertyValue(flag: string, identifier: string, kind: Kind, value: string): unknown {
  const int = (max: number) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n > max) {
      throw new InvalidArgumentError(
        `${flag} ${identifier}: expected an integer from 0 to ${max}, got ${JSON.stringify(value)}`,
      );
    }
    return n;
  };
  switch (kind) {
    case "byte": {
      const n = int(1);
      return identifier === "payload-format-indicator" ? n : n === 1;
    }
    case "u16":
      return int(65_535);
    case "u32":
      return int(4_294_967_295);
    case "string":
      return value;
    case "binary":
      return new TextEncoder().encode(value);
    case "topic":
      try {
        validateTopicName(value);
      } catch (err) {
        throw new InvalidArgumentError(`${flag} ${identifier}: ${(err as Error).message}`);
      }
      return value;
  }
}

/**
 * A command whose `-D`/`--property` groups (three or four words each) are
 * taken out of the arguments before commander parses the rest.
 */
export class ToolCommand extends Command {
  readonly tool: Tool;
  properties: PropertySet = emptyProperties();

  constructor(tool: Tool) {
    super(tool);
    this.tool = tool;
  }

  override parseOptions(args: string[]): { operands: string[]; unknown: string[] } {
    const takesValue = (arg: string) => {
      if (!arg.startsWith("-") || arg.includes("=")) return false;
      const option = this.options.find((o) => o.short === arg || o.long === arg);
      return option !== undefined && (option.required || option.optional);
    };
    let rest: string[];
    try {
      ({ rest, properties: this.properties } = extractProperties(args, this.tool, takesValue));
    } catch (err) {
      this.error(`error: ${(err as Error).message}`, { exitCode: 1, code: "starling.property" });
    }
    return super.parseOptions(rest);
  }
}

// ---- value parsers -----------------------------------------------------------

/** An integer option parser whose error names the flag, the range and the value. */
export function integer(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value) || n < min || n > max) {
      throw new InvalidArgumentError(
        `${flag}: expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
      );
    }
    return n;
  };
}

export const qosOption =
  (flag: string) =>
  (value: string): QoS => {
    if (value !== "0" && value !== "1" && value !== "2") {
      throw new InvalidArgumentError(`${flag}: expected 0, 1 or 2, got ${JSON.stringify(value)}`);
    }
    return Number(value) as QoS;
  };

function protocolVersion(value: string): ProtocolVersion {
  switch (value.toLowerCase()) {
    case "31":
    case "mqttv31":
      return 3;
    case "311":
    case "mqttv311":
      return 4;
    case "5":
    case "mqttv5":
      return 5;
    default:
      throw new InvalidArgumentError(
        `-V/--protocol-version: expected 31, 311 or 5 (or mqttv31, mqttv311, mqttv5), got ${JSON.stringify(value)}`,
      );
  }
}

/** `-x`: 0 to 4294967295 seconds; -1 and ∞ mean "never expires" (4294967295). */
function sessionExpiry(value: string): number {
  if (value === "∞" || value === "-1") return 4_294_967_295;
  return integer("-x", 0, 4_294_967_295)(value);
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

// ---- the flags ---------------------------------------------------------------

/** The flags every tool shares, as commander parsed them. */
export interface ConnectionFlags {
  host?: string;
  port?: number;
  url?: string;
  topic?: string[];
  id?: string;
  idPrefix?: string;
  username?: string;
  pw?: string;
  keepalive: number;
  disableCleanSession?: boolean;
  debug?: boolean;
  quiet?: boolean;
  protocolVersion?: ProtocolVersion;
  sessionExpiryInterval?: number;
  qos: QoS;
  willTopic?: string;
  willPayload?: string;
  willQos: QoS;
  willRetain?: boolean;
  cafile?: string;
  capath?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
  tlsUseOsCerts?: boolean;
}

/**
 * Adds the shared flags. `-h` is the host, as with mosquitto; help is
 * `--help` only.
 */
export function addConnectionOptions(cmd: Command, tool: Tool): Command {
  const topicHelp =
    tool === "sub"
      ? "topic filter to subscribe to (repeatable)"
      : tool === "pub"
        ? "topic to publish to"
        : "topic to send the request to";
  return cmd
    .helpOption("--help", "display help")
    .optionsGroup("Connection:")
    .option("-h, --host <host>", "broker host", "localhost")
    .option(
      "-p, --port <port>",
      "broker port (default: 1883, or 8883 with TLS)",
      integer("-p/--port", 1, 65535),
    )
    .option(
      "-L, --url <url>",
      "mqtt(s)://[user[:password]@]host[:port]/topic (also ws(s)://, path /mqtt)",
    )
    .option("-t, --topic <topic>", topicHelp, collect)
    .option("-i, --id <id>", "client identifier (default: starling- and random characters)")
    .option("-I, --id-prefix <prefix>", "client identifier: this prefix and the process id")
    .option("-u, --username <name>", "user name")
    .option("-P, --pw <password>", "password")
    .option(
      "-k, --keepalive <seconds>",
      "keep alive (0: off)",
      integer("-k/--keepalive", 0, 65535),
      60,
    )
    .option(
      "-c, --disable-clean-session",
      "keep the session (MQTT 5: session expiry ∞ unless -x); needs -i",
    )
    .option(
      "-V, --protocol-version <version>",
      `31, 311 or 5 (default: ${tool === "rr" ? "5" : "311, as mosquitto; 5 when -D is given"})`,
      protocolVersion,
    )
    .option(
      "-x, --session-expiry-interval <seconds>",
      "MQTT 5 session expiry (-1 or ∞: never)",
      sessionExpiry,
    )
    .option(
      "-D, --property <command identifier value>",
      `MQTT 5 property, e.g. -D ${tool === "sub" ? "connect session-expiry-interval 60" : "publish content-type text/plain"}; user-property takes NAME VALUE; implies -V 5`,
    )
    .option(
      "-q, --qos <qos>",
      tool === "sub" ? "subscription QoS" : "QoS",
      qosOption("-q/--qos"),
      0 as QoS,
    )
    .option("-d, --debug", "print what the client does to stderr")
    .option("--quiet", "print no runtime errors")
    .optionsGroup("Will:")
    .option("--will-topic <topic>", "topic of the will")
    .option("--will-payload <payload>", "payload of the will (default: empty)")
    .option("--will-qos <qos>", "QoS of the will", qosOption("--will-qos"), 0 as QoS)
    .option("--will-retain", "retain the will")
    .optionsGroup("TLS:")
    .option("--cafile <file>", "PEM CA certificates to trust (enables TLS)")
    .option("--capath <dir>", "directory of PEM CA certificates (*.crt, *.pem; enables TLS)")
    .option("--cert <file>", "PEM client certificate (with --key)")
    .option("--key <file>", "PEM client private key (with --cert)")
    .option("--insecure", "do not verify the broker's certificate (testing only)")
    .option("--tls-use-os-certs", "TLS with Node's built-in CA certificates");
}

/** A mistake in the flags found after parsing; reported like commander's own errors. */
export class UsageError extends Error {}

/** What a tool needs to connect. */
export interface Connection {
  url: string;
  options: ConnectOptions;
  version: ProtocolVersion;
  /** `host:port`, for messages. */
  address: string;
  /** Topics from `-t` and `-L`. */
  topics: string[];
}

interface ParsedUrl {
  scheme: "mqtt" | "mqtts" | "ws" | "wss";
  host: string;
  port?: number;
  username?: string;
  password?: string;
  topic: string;
}

/**
 * mosquitto's `-L`: the topic is everything after the first `/` (raw, so
 * `#` and `+` need no escaping); user name and password are not decoded.
 */
export function parseUrl(url: string): ParsedUrl {
  const m = /^(mqtts?|wss?):\/\/(.*)$/i.exec(url);
  if (m === null)
    throw new UsageError(
      `-L/--url: expected mqtt://, mqtts://, ws:// or wss://, got ${JSON.stringify(url)}`,
    );
  const scheme = m[1].toLowerCase() as ParsedUrl["scheme"];
  const slash = m[2].indexOf("/");
  if (slash < 0)
    throw new UsageError(
      `-L/--url: no topic in ${JSON.stringify(url)} (expected ${scheme}://host[:port]/topic)`,
    );
  let authority = m[2].slice(0, slash);
  const topic = m[2].slice(slash + 1);
  const parsed: ParsedUrl = { scheme, host: "", topic };
  const at = authority.lastIndexOf("@");
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    authority = authority.slice(at + 1);
    const colon = userinfo.indexOf(":");
    if (colon >= 0) {
      parsed.username = userinfo.slice(0, colon);
      parsed.password = userinfo.slice(colon + 1);
    } else parsed.username = userinfo;
  }
  const hostPort = /^(\[[^\]]+\]|[^:]*)(?::(\d*))?$/.exec(authority);
  if (hostPort === null || hostPort[1] === "")
    throw new UsageError(`-L/--url: no host in ${JSON.stringify(url)}`);
  parsed.host = hostPort[1].replace(/^\[(.*)\]$/, "$1");
  if (hostPort[2]) parsed.port = integer("-L/--url port", 1, 65535)(hostPort[2]);
  return parsed;
}

function readPem(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(
      `${flag}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/**
 * Turns the flags into a broker URL and `connect()` options, checking what
 * mosquitto checks (a client id with -c, a will topic with will options, cert
 * with key …). Throws {@link UsageError}.
 */
export function connection(
  flags: ConnectionFlags,
  tool: Tool,
  props: PropertySet,
  warn: (msg: string) => void,
): Connection {
  let version: ProtocolVersion = flags.protocolVersion ?? (tool === "rr" || props.any ? 5 : 4);
  if (props.any && version !== 5)
    throw new UsageError("-D/--property sets MQTT 5 properties: use -V 5 (or leave -V out)");
  const topics = [...(flags.topic ?? [])];
  let host = flags.host ?? "localhost";
  let port = flags.port;
  let username = flags.username;
  let password = flags.pw;
  let scheme: ParsedUrl["scheme"] = "mqtt";
  if (flags.url !== undefined) {
    const u = parseUrl(flags.url);
    scheme = u.scheme;
    host = u.host;
    port = u.port ?? flags.port;
    if (u.username !== undefined) username = u.username;
    if (u.password !== undefined) password = u.password;
    if (tool === "sub") topics.push(u.topic);
    else topics.splice(0, topics.length, u.topic);
  }
  const tls =
    flags.cafile !== undefined ||
    flags.capath !== undefined ||
    flags.tlsUseOsCerts === true ||
    port === 8883;
  if (tls && scheme === "mqtt") scheme = "mqtts";
  if (tls && scheme === "ws") scheme = "wss";
  const secure = scheme === "mqtts" || scheme === "wss";
  port ??= secure ? 8883 : 1883;

  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw new UsageError("--cert and --key go together: give both or neither");
  }
  if (flags.willTopic === undefined) {
    if (flags.willPayload !== undefined)
      throw new UsageError("--will-payload given, but no --will-topic");
    if (flags.willRetain) throw new UsageError("--will-retain given, but no --will-topic");
    if (Object.keys(props.will).length > 0)
      throw new UsageError("-D will … given, but no --will-topic");
  }
  if (flags.id !== undefined && flags.idPrefix !== undefined)
    throw new UsageError("-i and -I cannot be used together");
  const clean = flags.disableCleanSession !== true;
  let sessionExpiryInterval = flags.sessionExpiryInterval;
  if (version === 5) {
    if (!clean && sessionExpiryInterval === undefined) sessionExpiryInterval = 4_294_967_295;
    if (sessionExpiryInterval === 4_294_967_295 && flags.id === undefined) {
      throw new UsageError("a session that never expires (-c or -x -1) needs a client id (-i)");
    }
  } else {
    if (!clean && flags.id === undefined) throw new UsageError("-c needs a client id (-i)");
    if (sessionExpiryInterval !== undefined) {
      warn("-x applies to MQTT 5 only (add -V 5); ignored");
      sessionExpiryInterval = undefined;
    }
    if (password !== undefined && username === undefined) {
      throw new UsageError("-P needs -u with MQTT 3.1 and 3.1.1");
    }
  }

  const options: ConnectOptions = { protocolVersion: version, clean, keepalive: flags.keepalive };
  if (flags.id !== undefined) options.clientId = flags.id;
  else if (flags.idPrefix !== undefined) options.clientId = `${flags.idPrefix}${process.pid}`;
  if (username !== undefined) options.username = username;
  if (password !== undefined) options.password = password;
  if (sessionExpiryInterval !== undefined) options.sessionExpiryInterval = sessionExpiryInterval;
  if (version === 5) {
    // Like mosquitto_sub, accept no topic aliases unless asked (-D connect topic-alias-maximum N):
    // then %A and %j show what the broker sent, as mosquitto_sub's do.
    options.properties = { topicAliasMaximum: 0, ...props.connect };
  }
  if (flags.willTopic !== undefined) {
    try {
      validateTopicName(flags.willTopic);
    } catch (err) {
      throw new UsageError(`--will-topic: ${(err as Error).message}`);
    }
    options.will = {
      topic: flags.willTopic,
      payload: flags.willPayload ?? "",
      qos: flags.willQos,
      retain: flags.willRetain === true,
    };
    if (version === 5 && Object.keys(props.will).length > 0) options.will.properties = props.will;
  }
  if (secure) {
    const ca: Buffer[] = [];
    if (flags.cafile !== undefined) ca.push(readPem("--cafile", flags.cafile));
    if (flags.capath !== undefined) {
      let names: string[];
      try {
        names = readdirSync(flags.capath).filter((n) => /\.(crt|pem)$/.test(n));
      } catch (err) {
        throw new UsageError(
          `--capath: cannot read ${flags.capath}: ${(err as NodeJS.ErrnoException).code}`,
        );
      }
      for (const n of names) ca.push(readPem("--capath", join(flags.capath, n)));
    }
    if (ca.length > 0) options.ca = ca;
    if (flags.cert !== undefined) options.cert = readPem("--cert", flags.cert);
    if (flags.key !== undefined) options.key = readPem("--key", flags.key);
    if (flags.insecure) options.rejectUnauthorized = false;
  }
  const hostInUrl = host.includes(":") ? `[${host}]` : host;
  const path = scheme === "ws" || scheme === "wss" ? "/mqtt" : "";
  const address = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  version = options.protocolVersion as ProtocolVersion;
  return { url: `${scheme}://${hostInUrl}:${port}${path}`, options, version, address, topics };
}

// ---- failures and exit codes --------------------------------------------------

/** 3.1.x CONNACK return codes, as a person reads them. */
const RETURN_CODES: Record<number, string> = {
  1: "unacceptable protocol version",
  2: "client identifier rejected",
  3: "server unavailable",
  4: "bad user name or password",
  5: "not authorised",
};

const REASON_OVERRIDES: Record<number, string> = {
  134: "bad user name or password",
  135: "not authorised",
};

/** An MQTT 5 reason code as words: `0x87` → "not authorised". */
export function reasonText(code: number): string {
  return (
    REASON_OVERRIDES[code] ??
    reasonCodeName(code)
      .replace(/([a-z])([A-Z])/g, "$1 $2")
      .toLowerCase()
  );
}

function hint(v5Code: number): string {
  if (v5Code === 0x86 || v5Code === 0x87 || v5Code === 0x8a)
    return " — check -u/-P and the broker's access rules";
  if (v5Code === 0x84) return " — try another protocol version (-V 31, 311 or 5)";
  if (v5Code === 0x85) return " — check the client id (-i)";
  return "";
}

/**
 * What to print and which exit status to use for `err`, as mosquitto does:
 * a CONNACK refusal exits with the CONNACK code (the 3.1.x return code, or
 * the MQTT 5 reason code); anything else exits 1.
 */
export function failure(
  err: unknown,
  conn: Pick<Connection, "address" | "version">,
): { message: string; exitCode: number } {
  if (err instanceof RefusedError && err.code === "CONNECTION_REFUSED") {
    const v5 = conn.version === 5;
    const code = v5 ? err.reasonCode : (err.returnCode ?? 1);
    const words = v5 ? reasonText(code) : (RETURN_CODES[code] ?? `return code ${code}`);
    return {
      message: `connection refused by ${conn.address}: ${words} (CONNACK 0x${code.toString(16).padStart(2, "0")})${hint(err.reasonCode)}`,
      exitCode: code,
    };
  }
  if (err instanceof RefusedError) {
    // The client names reason codes as the spec does (NotAuthorized); say it in words.
    return {
      message: err.message.replace(reasonCodeName(err.reasonCode), reasonText(err.reasonCode)),
      exitCode: 1,
    };
  }
  if (err instanceof MqttError || err instanceof Error)
    return { message: err.message, exitCode: 1 };
  return { message: String(err), exitCode: 1 };
}

/** Writes an error line (mosquitto's "Error: " prefix, or `prefix`) unless `--quiet`. */
export function printError(
  flags: { quiet?: boolean },
  message: string,
  line = `Error: ${message}`,
): void {
  if (flags.quiet !== true) process.stderr.write(`${line}\n`);
}

/** Writes a `-d` line to stderr (mosquitto prints them on stdout; stderr keeps pipes clean). */
export function debug(flags: { debug?: boolean }, message: string): void {
  if (flags.debug === true) process.stderr.write(`${message}\n`);
}

/** Runs an action, turning a {@link UsageError} into commander's usage error (exit 1). */
export function usageErrors(cmd: Command, run: () => Promise<void>): Promise<void> {
  return run().catch((err: unknown) => {
    if (err instanceof UsageError)
      cmd.error(`error: ${err.message}`, { exitCode: 1, code: "starling.usage" });
    throw err;
  });
}

// ---- one run of a tool ------------------------------------------------------

/** mosquitto's exit status when -W expires (MOSQ_ERR_TIMEOUT). */
export const EXIT_TIMEOUT = 27;

/**
 * One run of a tool: connects, stops exactly once (waiting for tracked work,
 * then disconnecting cleanly) and sets the exit status. Every path ends in
 * {@link stop}, so the process always exits.
 */
export class Session {
  client: Client | undefined;
  readonly flags: ConnectionFlags;
  readonly conn: Connection;
  readonly props: PropertySet;
  readonly #abort = new AbortController();
  readonly #pending = new Set<Promise<unknown>>();
  #stopped: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #onSignal = () => void this.stop(0, 0x04);

  constructor(flags: ConnectionFlags, conn: Connection, props: PropertySet) {
    this.flags = flags;
    this.conn = conn;
    this.props = props;
  }

  get stopping(): boolean {
    return this.#stopped !== undefined;
  }

  /**
   * Connects; on failure reports it (exit status: the CONNACK code, else 1)
   * and resolves undefined. SIGINT/SIGTERM stop the run with status 0 (MQTT 5:
   * DISCONNECT 0x04, so the broker publishes the will, as mosquitto does).
   */
  async connect(extra: ConnectOptions = {}): Promise<Client | undefined> {
    process.on("SIGINT", this.#onSignal);
    process.on("SIGTERM", this.#onSignal);
    debug(this.flags, `connecting to ${this.conn.url} (MQTT ${versionName(this.conn.version)})`);
    let client: Client;
    try {
      client = await connect(this.conn.url, {
        ...this.conn.options,
        ...extra,
        signal: this.#abort.signal,
      });
    } catch (err) {
      if (!this.stopping) await this.fail(err);
      return undefined;
    }
    this.client = client;
    debug(this.flags, `connected as ${client.clientId}`);
    if (this.stopping) {
      await client.end({ force: true });
      return undefined;
    }
    client.on("disconnect", (err) => {
      if (!this.stopping && this.flags.quiet !== true) {
        process.stderr.write(`Warning: ${err?.message ?? "connection lost"}; reconnecting\n`);
      }
    });
    client.on("connect", () => debug(this.flags, `reconnected as ${client.clientId}`));
    void client.closed().then((err) => {
      if (!this.stopping) void this.fail(err ?? new Error("the client closed"));
    });
    return client;
  }

  /** Work to finish before disconnecting (e.g. --remove-retained publishes). */
  track(p: Promise<unknown>): void {
    const settled = p.then(
      () => undefined,
      (err: unknown) => printError(this.flags, failure(err, this.conn).message),
    );
    this.#pending.add(settled);
    void settled.then(() => this.#pending.delete(settled));
  }

  /** -W: after `seconds`, prints "Timed out" and stops with status 27, as mosquitto does. */
  deadline(seconds: number | undefined): void {
    if (seconds === undefined) return;
    this.#timer = setTimeout(() => {
      printError({ quiet: this.flags.quiet }, "", "Timed out");
      void this.stop(EXIT_TIMEOUT, 0x04);
    }, seconds * 1000);
  }

  /** Reports `err` (mosquitto's exit statuses) and stops. */
  fail(err: unknown): Promise<void> {
    const { message, exitCode } = failure(err, this.conn);
    printError(this.flags, message);
    return this.stop(exitCode);
  }

  /**
   * Ends the run with `exitCode`: waits for tracked work, disconnects (MQTT 5:
   * with `reasonCode` and the -D disconnect properties), sets the exit status.
   * Idempotent: the first call decides the status.
   */
  stop(exitCode: number, reasonCode?: number): Promise<void> {
    this.#stopped ??= (async () => {
      process.exitCode = exitCode;
      clearTimeout(this.#timer);
      this.#abort.abort();
      process.off("SIGINT", this.#onSignal);
      process.off("SIGTERM", this.#onSignal);
      await Promise.all(this.#pending);
      const client = this.client;
      if (client !== undefined) {
        const options: Parameters<Client["end"]>[0] = {};
        if (this.conn.version === 5) {
          if (reasonCode !== undefined) options.reasonCode = reasonCode;
          if (Object.keys(this.props.disconnect).length > 0)
            options.properties = this.props.disconnect;
        }
        debug(this.flags, "disconnecting");
        await client.end(options);
      }
      // Nothing should keep the process alive now; if something does, do not hang.
      setTimeout(() => process.exit(exitCode), 2000).unref();
    })();
    return this.#stopped;
  }
}

const versionName = (v: ProtocolVersion) => (v === 3 ? "3.1" : v === 4 ? "3.1.1" : "5.0");
