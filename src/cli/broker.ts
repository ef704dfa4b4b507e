/** `starling broker`: runs the broker until SIGINT/SIGTERM, then closes gracefully. */
import type { Command } from "commander";
import {
  Broker,
  createLogger,
  type ListenerConfig,
  type LogFormat,
  type LogLevel,
} from "../broker/index.js";
import { intOption } from "./options.js";

interface BrokerFlags {
  port: number;
  host: string;
  wsPort: number;
  wsHost?: string;
  logFormat: LogFormat;
  logLevel: LogLevel;
  sysInterval: number;
}

export function registerBroker(program: Command): void {
  program
    .command("broker", { isDefault: true })
    .description("run the MQTT broker (TCP and WebSocket, MQTT 3.1, 3.1.1 and 5.0)")
    .option("-p, --port <port>", "TCP port for MQTT", intOption("--port", 0, 65535), 1883)
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .option(
      "--ws-port <port>",
      "WebSocket port (path /mqtt); 0 disables",
      intOption("--ws-port", 0, 65535),
      8083,
    )
    .option("--ws-host <address>", "WebSocket address (default: --host)")
    .option("--log-format <format>", "pretty or json", logFormat, "pretty" as LogFormat)
    .option(
      "--log-level <level>",
      "debug, info, warn, error or silent",
      logLevel,
      "info" as LogLevel,
    )
    .option(
      "--sys-interval <seconds>",
      "seconds between $SYS updates (0: off)",
      intOption("--sys-interval", 0, 86400),
      10,
    )
    .action(async (flags: BrokerFlags) => {
      const logger = createLogger({ format: flags.logFormat, level: flags.logLevel });
      const listeners: ListenerConfig[] = [{ type: "tcp", host: flags.host, port: flags.port }];
      if (flags.wsPort !== 0)
        listeners.push({
          type: "ws",
          host: flags.wsHost ?? flags.host,
          port: flags.wsPort,
          path: "/mqtt",
        });
      let broker: Broker;
      try {
        broker = await Broker.start({ listeners, logger, sysInterval: flags.sysInterval });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        logger.error({ code: e.code }, `cannot start the broker: ${e.message}`);
        process.exitCode = 1;
        return;
      }
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, "shutting down");
        broker.close().then(
          () => {
            logger.info({}, "broker stopped");
            process.exit(0);
          },
          (err: unknown) => {
            logger.error({ err }, "error while shutting down");
            process.exit(1);
          },
        );
      };
      process.on("SIGINT", () => stop("SIGINT"));
      process.on("SIGTERM", () => stop("SIGTERM"));
    });
}

function logFormat(value: string): LogFormat {
  if (value === "pretty" || value === "json") return value;
  throw new Error(`--log-format: expected pretty or json, got ${JSON.stringify(value)}`);
}

function logLevel(value: string): LogLevel {
  if (["debug", "info", "warn", "error", "silent"].includes(value)) return value as LogLevel;
  throw new Error(
    `--log-level: expected debug, info, warn, error or silent, got ${JSON.stringify(value)}`,
  );
}
