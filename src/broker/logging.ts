/**
 * Logging for the broker process: pino, as JSON lines or in a human-readable
 * form close to Mosquitto's (`2026-11-25T10:00:00.000Z INFO client c1 connected clientId=c1 remote=...`).
 *
 * Lines logged during one event-loop turn reach the destination in one write
 * (a connection burst logs two lines per client; a write system call each
 * cost as much as accepting the connection). Errors are written at once, and
 * whatever is pending is written when the process exits.
 */
import { type Logger as PinoLogger, pino } from "pino";

export type LogFormat = "pretty" | "json";
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const levelNames: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};

/** Pending text beyond this is written at once rather than at the end of the turn. */
const BATCH_BYTES = 64 * 1024;
/** pino's numeric level of `error`: such lines are not held back. */
const ERROR_LEVEL = 50;

/** Batches holding lines not yet written: written out when the process exits. */
const pending = new Set<LineBatch>();
let exitHook = false;

/** Text for `out`, collected during a turn and written with one `write` call. */
class LineBatch {
  #out: NodeJS.WritableStream;
  #parts: string[] = [];
  #bytes = 0;
  #scheduled = false;

  constructor(out: NodeJS.WritableStream) {
    this.#out = out;
  }

  push(text: string, urgent: boolean): void {
    if (this.#parts.length === 0) {
      pending.add(this);
      if (!exitHook) {
        exitHook = true;
        process.once("exit", () => {
          for (const b of pending) b.flush();
        });
      }
    }
    this.#parts.push(text);
    this.#bytes += text.length;
    if (urgent || this.#bytes >= BATCH_BYTES) {
      this.flush();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.flush);
    }
  }

  flush = (): void => {
    this.#scheduled = false;
    if (this.#parts.length === 0) return;
    const text = this.#parts.length === 1 ? this.#parts[0] : this.#parts.join("");
    this.#parts = [];
    this.#bytes = 0;
    pending.delete(this);
    this.#out.write(text);
  };
}

/** One pino JSON line as `time LEVEL msg key=value …`; `undefined` if it is not JSON. */
function prettyLine(line: string): { text: string; level: number } | undefined {
  try {
    const {
      level,
      time,
      msg,
      pid: _pid,
      hostname: _host,
      ...rest
    } = JSON.parse(line) as Record<string, unknown>;
    let fields = "";
    for (const k in rest) {
      const v = rest[k];
      fields += ` ${k}=${typeof v === "string" ? v : JSON.stringify(v)}`;
    }
    const text = `${new Date(time as number).toISOString()} ${levelNames[level as number] ?? level} ${msg ?? ""}${fields}\n`;
    return { text, level: typeof level === "number" ? level : 0 };
  } catch {
    return undefined;
  }
}

/** pino's level in a JSON line it wrote (`{"level":30,…`), or 0. */
function jsonLevel(line: string): number {
  const at = line.indexOf('"level":');
  return at === -1 ? 0 : Number.parseInt(line.slice(at + 8, at + 11), 10) || 0;
}

/** The destination pino writes to: lines go through a {@link LineBatch}, pretty-printed or as they are. */
function batchedDestination(
  out: NodeJS.WritableStream,
  format: LogFormat,
): { write(s: string): void } {
  const batch = new LineBatch(out);
  if (format === "json") {
    return { write: (s) => batch.push(s, jsonLevel(s) >= ERROR_LEVEL) };
  }
  return {
    write(s) {
      // pino writes one line per call; split anyway, in case a caller hands several.
      for (const line of s.split("\n")) {
        if (line === "") continue;
        const pretty = prettyLine(line);
        if (pretty === undefined) batch.push(`${line}\n`, false);
        else batch.push(pretty.text, pretty.level >= ERROR_LEVEL);
      }
    },
  };
}

export function createLogger(
  options: { format?: LogFormat; level?: LogLevel; destination?: NodeJS.WritableStream } = {},
): PinoLogger {
  const destination = options.destination ?? process.stderr;
  const level = options.level ?? "info";
  const stream = batchedDestination(destination, options.format ?? "pretty");
  return pino({ level, base: undefined, serializers: { err: pino.stdSerializers.err } }, stream);
}
