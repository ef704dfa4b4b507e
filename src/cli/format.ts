/**
 * How `starling sub` and `starling rr` print a message: payload only, `-v`
 * (topic and payload), `-F` format strings with mosquitto_sub's exact
 * semantics (including its quirks, so output diffs clean against
 * mosquitto_sub), and `--json` (one object per line).
 *
 * Output is built as bytes: payloads are printed as received, not decoded.
 */
import { type Command, InvalidArgumentError } from "commander";
import type { Message } from "../client/index.js";

/** One printed message: the bytes to write, and an error for stderr (mosquitto's `%J` on a non-JSON payload). */
export interface Rendered {
  out: Buffer;
  error?: string;
}

/** How messages are printed (`eol: false` is `-N`). */
export type OutputMode =
  | { kind: "payload"; eol: boolean }
  | { kind: "verbose"; eol: boolean }
  | { kind: "format"; eol: boolean; ops: FormatOp[] }
  | { kind: "json" };

/** A compiled `-F` format string. */
export type FormatOp =
  | { op: "text"; bytes: Buffer }
  | { op: "param"; spec: string; align: "-" | ""; pad: " " | "0"; width: number; precision: number }
  | { op: "time"; spec: string };

/** A `-F` format string mosquitto_sub would refuse; the message is mosquitto's. */
export class FormatError extends Error {}

const PARAMS = new Set("%ACDEFIjJlmPpqRSrtUxX");
const ESCAPES: Record<string, string> = {
  "\\": "\\",
  "0": "\0",
  a: "\x07",
  e: "\x1b",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
};

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";

/**
 * Checks a format string as mosquitto's `check_format` does, then compiles it
 * the way its `formatted_print` walks it (both loops are mirrored, since they
 * differ at the edges: `%5` at the very end is an error, a digit in the last
 * position is the specifier).
 *
 * @example
 * ```ts
 * const ops = compileFormat("%t %p");
 * process.stdout.write(render(msg, { kind: "format", eol: true, ops }).out);
 * ```
 */
export function compileFormat(format: string): FormatOp[] {
  check(format);
  const ops: FormatOp[] = [];
  let text = "";
  const flush = () => {
    if (text !== "") ops.push({ op: "text", bytes: Buffer.from(text, "utf8") });
    text = "";
  };
  const f = format;
  const len = f.length;
  for (let i = 0; i < len; i++) {
    const c = f[i];
    if (c === "%") {
      let align: "-" | "" = "";
      let pad: " " | "0" = " ";
      let width = 0;
      let precision = -1;
      if (i < len - 1) {
        i++;
        if (f[i] === "-") {
          align = "-";
          if (i < len - 1) i++;
        }
        if (f[i] === "0") {
          pad = "0";
          if (i < len - 1) i++;
        }
        while (i < len - 1 && isDigit(f[i])) width = width * 10 + Number(f[i++]);
        if (f[i] === "." && i < len - 1) {
          i++;
          precision = 0;
          while (i < len - 1 && isDigit(f[i])) precision = precision * 10 + Number(f[i++]);
        }
        flush();
        ops.push({ op: "param", spec: f[i], align, pad, width, precision });
      }
    } else if (c === "@") {
      if (i < len - 1) {
        i++;
        if (f[i] === "@") text += "@";
        else {
          flush();
          ops.push({ op: "time", spec: f[i] });
        }
      }
    } else if (c === "\\") {
      if (i < len - 1) {
        i++;
        text += ESCAPES[f[i]] ?? "";
      }
    } else {
      text += c;
    }
  }
  flush();
  return ops;
}

/** mosquitto's `check_format`, with its messages. */
function check(f: string): void {
  const len = f.length;
  const incomplete = () => new FormatError("Incomplete format specifier.");
  for (let i = 0; i < len; i++) {
    if (f[i] === "%") {
      if (i === len - 1) throw incomplete();
      if (f[i + 1] === "0" || f[i + 1] === "-") {
        i++;
        if (i === len - 1) throw incomplete();
      }
      while (isDigit(f[i + 1])) {
        i++;
        if (i === len - 1) throw incomplete();
      }
      if (f[i + 1] === ".") {
        i++;
        if (i === len - 1) throw incomplete();
        while (isDigit(f[i + 1])) {
          i++;
          if (i === len - 1) throw incomplete();
        }
      }
      if (!PARAMS.has(f[i + 1])) throw new FormatError(`Invalid format specifier '${f[i + 1]}'.`);
      i++;
    } else if (f[i] === "@") {
      if (i === len - 1) throw incomplete();
      i++;
    } else if (f[i] === "\\") {
      if (i === len - 1) throw new FormatError("Incomplete escape specifier.");
      if (!(f[i + 1] in ESCAPES)) throw new FormatError(`Invalid escape specifier '${f[i + 1]}'.`);
      i++;
    }
  }
}

/** The wall-clock time a message is printed at, with sub-millisecond precision. */
export interface Stamp {
  /** Whole seconds since the epoch. */
  seconds: number;
  /** Nanoseconds into the second (microsecond resolution). */
  nanos: number;
}

export function now(): Stamp {
  const ms = performance.timeOrigin + performance.now();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1e3) * 1e3) };
}

/** Renders one message in `mode`, as mosquitto_sub's `print_message` does. */
export function render(msg: Message, mode: OutputMode, stamp: Stamp = now()): Rendered {
  switch (mode.kind) {
    case "json":
      return { out: Buffer.from(`${toJson(msg)}\n`, "utf8") };
    case "verbose":
      // mosquitto prints "topic (null)" for an empty payload, and nothing at all with -N.
      if (msg.payload.length === 0) {
        return { out: Buffer.from(mode.eol ? `${msg.topic} (null)\n` : "", "utf8") };
      }
      return {
        out: Buffer.concat([Buffer.from(`${msg.topic} `, "utf8"), msg.payload, eol(mode.eol)]),
      };
    case "payload":
      // An empty payload prints nothing, not even the newline (mosquitto_sub does the same).
      if (msg.payload.length === 0) return { out: Buffer.alloc(0) };
      return { out: Buffer.concat([msg.payload, eol(mode.eol)]) };
    case "format": {
      const parts: Buffer[] = [];
      let error: string | undefined;
      for (const op of mode.ops) {
        if (op.op === "text") parts.push(op.bytes);
        else if (op.op === "time") parts.push(Buffer.from(strftime(op.spec, stamp), "utf8"));
        else {
          const r = param(msg, op, stamp);
          if (typeof r === "string") error = r;
          else parts.push(r);
        }
      }
      if (mode.eol) parts.push(NEWLINE);
      const rendered: Rendered = { out: Buffer.concat(parts) };
      if (error !== undefined) rendered.error = error;
      return rendered;
    }
  }
}

const NEWLINE = Buffer.from("\n");
const eol = (on: boolean) => (on ? NEWLINE : Buffer.alloc(0));

const ascii = (s: string) => Buffer.from(s, "utf8");

/** `printf("%d")` with mosquitto's flags: `-` left-aligns with blanks, `0` zero-pads, else blanks on the left. */
function int(value: number, op: { align: string; pad: string; width: number }): Buffer {
  const s = String(value);
  if (op.width === 0) return ascii(s);
  if (op.align === "-") return ascii(s.padEnd(op.width, " "));
  return ascii(s.padStart(op.width, op.pad === "0" ? "0" : " "));
}

/** `printf("%*.*s")`: width and precision count bytes, as C does. */
function str(
  value: string | Uint8Array,
  op: { align: string; width: number; precision: number },
): Buffer {
  let b = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
  if (op.precision >= 0 && b.length > op.precision) b = b.subarray(0, op.precision);
  if (b.length >= op.width) return b;
  const fill = Buffer.alloc(op.width - b.length, " ");
  return op.align === "-" ? Buffer.concat([b, fill]) : Buffer.concat([fill, b]);
}

const blank = (pad: string, width: number) => Buffer.alloc(width, pad);

/**
 * mosquitto's `write_payload`, quirks included: a field width truncates the
 * payload to that many bytes (for hex, to half as many), and `%-p` without a
 * width pads with as many blanks as the payload is long.
 */
function payload(
  p: Uint8Array,
  hex: 0 | 1 | 2,
  op: { align: string; pad: string; width: number },
): Buffer {
  let n = p.length;
  let padlen: number;
  if (op.width > 0) {
    if (n > op.width) n = op.width;
    if (hex > 0) {
      n = Math.floor(n / 2);
      padlen = op.width - n * 2;
    } else {
      padlen = op.width - n;
    }
  } else {
    padlen = op.width - n;
  }
  const parts: Buffer[] = [];
  if (op.align !== "-" && padlen > 0) parts.push(blank(op.pad, padlen));
  const body = Buffer.from(p.buffer, p.byteOffset, n);
  if (hex === 0) parts.push(body);
  else parts.push(ascii(hex === 1 ? body.toString("hex") : body.toString("hex").toUpperCase()));
  // printf("%*s", padlen, "") with a negative padlen pads |padlen| blanks.
  if (op.align === "-" && padlen !== 0) parts.push(blank(" ", Math.abs(padlen)));
  return Buffer.concat(parts);
}

/** One `%` parameter; a string is an error message for stderr (the parameter prints nothing). */
function param(
  msg: Message,
  op: Extract<FormatOp, { op: "param" }>,
  stamp: Stamp,
): Buffer | string {
  const props = msg.properties;
  const optionalInt = (v: number | undefined) =>
    v === undefined ? blank(op.pad, op.width) : int(v, op);
  switch (op.spec) {
    case "%":
      return ascii("%");
    case "A":
      return optionalInt(props?.topicAlias);
    case "C":
      return props?.contentType === undefined ? blank(" ", op.width) : str(props.contentType, op);
    case "D":
      return props?.correlationData === undefined
        ? Buffer.alloc(0)
        : Buffer.from(props.correlationData);
    case "E":
      return optionalInt(props?.messageExpiryInterval);
    case "F":
      return optionalInt(props?.payloadFormatIndicator);
    case "I":
      return str(strftimeAll("%FT%T%z", stamp), op);
    case "j":
      return ascii(mosquittoJson(msg, stamp, true) as string);
    case "J": {
      const json = mosquittoJson(msg, stamp, false);
      return json === undefined
        ? `Error: Message payload is not valid JSON on topic ${msg.topic}.`
        : ascii(json);
    }
    case "l":
      return int(msg.payload.length, op);
    case "m":
      return int(msg.packetId ?? 0, op);
    case "P":
      return ascii((props?.userProperties ?? []).map(([k, v]) => `${k}:${v}`).join(" "));
    case "p":
      return payload(msg.payload, 0, op);
    case "q":
      return ascii(String(msg.qos));
    case "R":
      return props?.responseTopic === undefined ? Buffer.alloc(0) : str(props.responseTopic, op);
    case "r":
      return ascii(msg.retain ? "1" : "0");
    case "S":
      return optionalInt(props?.subscriptionIdentifiers?.[0]);
    case "t":
      return str(msg.topic, op);
    case "U":
      return ascii(`${stamp.seconds}.${String(stamp.nanos).padStart(9, "0")}`);
    case "x":
      return payload(msg.payload, 1, op);
    case "X":
      return payload(msg.payload, 2, op);
    default:
      return Buffer.alloc(0);
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The bytes as UTF-8 text, or undefined when they are not well-formed UTF-8. */
function text(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * mosquitto_sub's `%j` (escaped payload) and `%J` (payload that is itself
 * JSON; undefined when it is not). Keys and their order are mosquitto's; a
 * payload that is not UTF-8 prints as an array of byte values (as newer
 * mosquitto does; 2.0.11 writes the raw bytes, which is not JSON).
 */
export function mosquittoJson(msg: Message, stamp: Stamp, escaped: boolean): string | undefined {
  let body = "";
  if (msg.payload.length === 0) body = "null";
  else if (escaped) {
    const t = text(msg.payload);
    body = t === undefined ? `[${Array.from(msg.payload).join(",")}]` : JSON.stringify(t);
  } else {
    const t = text(msg.payload);
    if (t === undefined) return undefined;
    try {
      body = JSON.stringify(JSON.parse(t));
    } catch {
      return undefined;
    }
  }
  const tst = `${strftimeAll("%Y-%m-%dT%H:%M:%S", stamp)}.${String(Math.floor(stamp.nanos / 1000)).padStart(6, "0")}Z${strftime("z", stamp)}`;
  let out = `{"tst":"${tst}","topic":${JSON.stringify(msg.topic)},"qos":${msg.qos},"retain":${msg.retain ? 1 : 0},"payloadlen":${msg.payload.length}`;
  if (msg.qos > 0) out += `,"mid":${msg.packetId ?? 0}`;
  const props = msg.properties;
  if (props !== undefined) {
    const fields: string[] = [];
    if (props.userProperties !== undefined && props.userProperties.length > 0) {
      // An object with repeated keys, as mosquitto (cJSON) prints duplicates.
      const pairs = props.userProperties.map(
        ([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`,
      );
      fields.push(`"user-properties":{${pairs.join(",")}}`);
    }
    if (props.contentType !== undefined)
      fields.push(`"content-type":${JSON.stringify(props.contentType)}`);
    if (props.responseTopic !== undefined)
      fields.push(`"response-topic":${JSON.stringify(props.responseTopic)}`);
    if (props.correlationData !== undefined) {
      fields.push(
        `"correlation-data":${JSON.stringify(Buffer.from(props.correlationData).toString("utf8"))}`,
      );
    }
    if (props.payloadFormatIndicator !== undefined)
      fields.push(`"payload-format-indicator":${props.payloadFormatIndicator}`);
    if (props.messageExpiryInterval !== undefined)
      fields.push(`"message-expiry-interval":${props.messageExpiryInterval}`);
    if (props.topicAlias !== undefined) fields.push(`"topic-alias":${props.topicAlias}`);
    for (const id of props.subscriptionIdentifiers ?? [])
      fields.push(`"subscription-identifier":${id}`);
    if (fields.length > 0) out += `,"properties":{${fields.join(",")}}`;
  }
  return `${out},"payload":${body}}`;
}

/** Binary as text when it is UTF-8, else base64 with a `<name>Encoding: "base64"` sibling. */
function bytesField(target: Record<string, unknown>, name: string, bytes: Uint8Array): void {
  const t = text(bytes);
  if (t !== undefined) target[name] = t;
  else {
    target[name] = Buffer.from(bytes).toString("base64");
    target[`${name}Encoding`] = "base64";
  }
}

/**
 * `--json`: `{"topic","payload","qos","retain","properties"}` — properties
 * with the client's names (camelCase, `userProperties` as `[name, value]`
 * pairs, in order, duplicates kept). A payload or correlation data that is not
 * UTF-8 is base64 with `payloadEncoding` / `correlationDataEncoding: "base64"`.
 */
export function toJson(msg: Message): string {
  const obj: Record<string, unknown> = { topic: msg.topic };
  bytesField(obj, "payload", msg.payload);
  obj.qos = msg.qos;
  obj.retain = msg.retain;
  if (msg.properties !== undefined) {
    const props: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(msg.properties)) {
      if (value === undefined) continue;
      if (value instanceof Uint8Array) bytesField(props, key, value);
      else props[key] = value;
    }
    if (Object.keys(props).length > 0) obj.properties = props;
  }
  return JSON.stringify(obj);
}

// ---- strftime (C locale), for @X sequences, %I and %j ----------------------

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

const p2 = (n: number) => String(n).padStart(2, "0");
const sp2 = (n: number) => String(n).padStart(2, " ");

function dayOfYear(d: Date): number {
  const start = new Date(d.getFullYear(), 0, 1);
  return Math.round(
    (Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()) - Date.UTC(start.getFullYear(), 0, 1)) /
      86_400_000,
  );
}

/** ISO 8601 week number and week-based year (`%V`, `%G`). */
function isoWeek(d: Date): { week: number; year: number } {
  const t = new Date(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  return {
    week: Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7),
    year: t.getUTCFullYear(),
  };
}

function tzName(d: Date): string {
  const part = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" })
    .formatToParts(d)
    .find((x) => x.type === "timeZoneName");
  return part?.value ?? "";
}

/**
 * One strftime(3) conversion in the local time zone and the C locale
 * (`@N` is mosquitto's nanoseconds). Unknown conversions print as `%X`, as glibc does.
 */
export function strftime(spec: string, stamp: Stamp): string {
  const d = new Date(stamp.seconds * 1000);
  const h = d.getHours();
  const h12 = h % 12 === 0 ? 12 : h % 12;
  switch (spec) {
    case "N":
      return String(stamp.nanos).padStart(9, "0");
    case "Y":
      return String(d.getFullYear());
    case "C":
      return p2(Math.floor(d.getFullYear() / 100));
    case "y":
      return p2(d.getFullYear() % 100);
    case "m":
      return p2(d.getMonth() + 1);
    case "d":
      return p2(d.getDate());
    case "e":
      return sp2(d.getDate());
    case "H":
      return p2(h);
    case "k":
      return sp2(h);
    case "I":
      return p2(h12);
    case "l":
      return sp2(h12);
    case "M":
      return p2(d.getMinutes());
    case "S":
      return p2(d.getSeconds());
    case "p":
      return h < 12 ? "AM" : "PM";
    case "P":
      return h < 12 ? "am" : "pm";
    case "a":
      return DAYS[d.getDay()].slice(0, 3);
    case "A":
      return DAYS[d.getDay()];
    case "b":
    case "h":
      return MONTHS[d.getMonth()].slice(0, 3);
    case "B":
      return MONTHS[d.getMonth()];
    case "j":
      return String(dayOfYear(d) + 1).padStart(3, "0");
    case "u":
      return String(d.getDay() || 7);
    case "w":
      return String(d.getDay());
    case "U":
      return p2(Math.floor((dayOfYear(d) + 7 - d.getDay()) / 7));
    case "W":
      return p2(Math.floor((dayOfYear(d) + 7 - ((d.getDay() + 6) % 7)) / 7));
    case "V":
      return p2(isoWeek(d).week);
    case "G":
      return String(isoWeek(d).year);
    case "g":
      return p2(isoWeek(d).year % 100);
    case "s":
      return String(stamp.seconds);
    case "z": {
      const off = -d.getTimezoneOffset();
      const abs = Math.abs(off);
      return `${off < 0 ? "-" : "+"}${p2(Math.floor(abs / 60))}${p2(abs % 60)}`;
    }
    case "Z":
      return tzName(d);
    case "n":
      return "\n";
    case "t":
      return "\t";
    case "%":
      return "%";
    case "F":
      return strftimeAll("%Y-%m-%d", stamp);
    case "T":
      return strftimeAll("%H:%M:%S", stamp);
    case "R":
      return strftimeAll("%H:%M", stamp);
    case "r":
      return strftimeAll("%I:%M:%S %p", stamp);
    case "D":
    case "x":
      return strftimeAll("%m/%d/%y", stamp);
    case "X":
      return strftimeAll("%H:%M:%S", stamp);
    case "c":
      return strftimeAll("%a %b %e %H:%M:%S %Y", stamp);
    default:
      return `%${spec}`;
  }
}

/** strftime(3) over a whole pattern of `%X` conversions. */
function strftimeAll(pattern: string, stamp: Stamp): string {
  return pattern.replace(/%(.)/g, (_, spec: string) => strftime(spec, stamp));
}

// ---- output flags shared by sub and rr -------------------------------------

/** The output flags as commander parsed them. */
export interface OutputFlags {
  verbose?: boolean;
  format?: FormatOp[];
  json?: boolean;
  eol: boolean;
}

/** Adds `-v`, `-F`, `-N` and `--json`. */
export function addOutputOptions(cmd: Command): Command {
  return cmd
    .optionsGroup("Output:")
    .option("-v, --verbose", "print the topic, a space and the payload")
    .option(
      "-F, --format <format>",
      "format each message (mosquitto_sub's %t %p %q %r %m %l %x %j %I %U @… \\n …)",
      (value) => {
        try {
          return compileFormat(value);
        } catch (err) {
          throw new InvalidArgumentError(`-F/--format: ${(err as Error).message}`);
        }
      },
    )
    .option("--json", "one JSON object per line: topic, payload, qos, retain, properties")
    .option("-N, --no-eol", "no newline after each message");
}

/** The output mode the flags ask for (`-F` overrides `-v`, as with mosquitto). */
export function outputMode(flags: OutputFlags): OutputMode {
  if (flags.json === true) return { kind: "json" };
  if (flags.format !== undefined) return { kind: "format", eol: flags.eol, ops: flags.format };
  if (flags.verbose === true) return { kind: "verbose", eol: flags.eol };
  return { kind: "payload", eol: flags.eol };
}
