/**
 * Logging for the broker process: pino, as JSON lines or in a human-readable
 * form close to Mosquitto's (`2026-11-25T10:00:00.000Z INFO client c1 connected clientId=c1 remote=...`).
 */
import { Writable } from "node:stream";
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

/** A stream that turns pino's JSON lines into one readable line each. */
function prettyStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line === "") continue;
        try {
          const {
            level,
            time,
            msg,
            pid: _pid,
            hostname: _host,
            ...rest
          } = JSON.parse(line) as Record<string, unknown>;
          const fields = Object.entries(rest)
            .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
            .join(" ");
          out.write(
            `${new Date(time as number).toISOString()} ${levelNames[level as number] ?? level} ${msg ?? ""}${fields ? ` ${fields}` : ""}\n`,
          );
        } catch {
          out.write(`${line}\n`);
        }
      }
      done();
    },
  });
}

export function createLogger(
  options: { format?: LogFormat; level?: LogLevel; destination?: NodeJS.WritableStream } = {},
): PinoLogger {
  const destination = options.destination ?? process.stderr;
  const level = options.level ?? "info";
  const stream = options.format === "json" ? destination : prettyStream(destination);
  return pino({ level, base: undefined, serializers: { err: pino.stdSerializers.err } }, stream);
}
