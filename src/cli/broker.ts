/**
 * `starling broker`: runs the broker from the built-in defaults, a
 * starling.toml or a mosquitto.conf (`-c FILE`), with command-line flags
 * overriding the file; `--check` validates without starting. SIGHUP reloads
 * password files, ACL files and TLS certificates; SIGINT/SIGTERM stop it
 * gracefully.
 */
import { createWriteStream } from "node:fs";
import type { Command } from "commander";
import {
  type BrokerConfig,
  ConfigError,
  checkConfig,
  createLogger,
  defaultConfig,
  type LogFormat,
  type LogLevel,
  loadConfig,
  startFromConfig,
} from "../broker/index.js";
import { intOption } from "./options.js";

interface BrokerFlags {
  config?: string;
  mosquitto?: boolean;
  check?: boolean;
  port?: number;
  host?: string;
  wsPort?: number;
  wsHost?: string;
  logFormat?: LogFormat;
  logLevel?: LogLevel;
  sysInterval?: number;
  dataDir?: string;
  memory?: boolean;
}

export function registerBroker(program: Command): void {
  program
    .command("broker", { isDefault: true })
    .description("run the MQTT broker (TCP, TLS, WebSocket; MQTT 3.1, 3.1.1 and 5.0)")
    .option("-c, --config <file>", "starling.toml, or a mosquitto.conf")
    .option("--mosquitto", "read --config as a mosquitto.conf (default: recognised by content)")
    .option("--check", "validate the configuration (and the files it names), then exit")
    .option("-p, --port <port>", "TCP port for MQTT (default 1883)", intOption("--port", 0, 65535))
    .option("--host <address>", "address to listen on (default 127.0.0.1)")
    .option(
      "--ws-port <port>",
      "WebSocket port (path /mqtt, default 8083); 0 disables",
      intOption("--ws-port", 0, 65535),
    )
    .option("--ws-host <address>", "WebSocket address (default: --host)")
    .option("--log-format <format>", "pretty or json (default pretty)", logFormat)
    .option("--log-level <level>", "debug, info, warn, error or silent (default info)", logLevel)
    .option(
      "--sys-interval <seconds>",
      "seconds between $SYS updates (0: off; default 10)",
      intOption("--sys-interval", 0, 86400),
    )
    .option("--data-dir <dir>", "keep sessions and retained messages in DIR (turns persistence on)")
    .option("--memory", "keep all state in memory: nothing survives a restart")
    .action(async (flags: BrokerFlags) => {
      let config: BrokerConfig;
      try {
        config = flags.config
          ? await loadConfig(flags.config, flags.mosquitto ? "mosquitto" : undefined)
          : defaultConfig();
        applyFlags(config, flags);
        if (flags.check) {
          await checkConfig(config);
          for (const w of config.warnings) process.stderr.write(`warning: ${w}\n`);
          process.stdout.write(
            `${flags.config ?? "built-in defaults"}: OK (${config.format} format; ${config.listeners
              .map((l) => `${l.type}://${l.host}:${l.port}`)
              .join(", ")})\n`,
          );
          return;
        }
      } catch (err) {
        process.stderr.write(`starling broker: ${configMessage(err)}\n`);
        process.exitCode = 1;
        return;
      }
      const logger = createLogger({
        format: config.log.format,
        level: config.log.level,
        ...(config.log.file !== undefined
          ? { destination: createWriteStream(config.log.file, { flags: "a" }) }
          : {}),
      });
      for (const w of config.warnings) logger.warn({}, w);
      let running: Awaited<ReturnType<typeof startFromConfig>>;
      try {
        running = await startFromConfig(config, { logger });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        logger.error({ code: e.code }, `cannot start the broker: ${configMessage(err)}`);
        process.exitCode = 1;
        return;
      }
      const { broker } = running;
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
      process.on("SIGHUP", () => {
        running.reload().then(
          () =>
            logger.info(
              { signal: "SIGHUP" },
              "reloaded password files, ACL files and TLS certificates",
            ),
          (err: unknown) =>
            logger.error(
              { signal: "SIGHUP" },
              `reload failed, keeping the previous state: ${configMessage(err)}`,
            ),
        );
      });
    });
}

/** Command-line flags override the file: listener flags apply to its first TCP / WebSocket listener. */
function applyFlags(config: BrokerConfig, flags: BrokerFlags): void {
  if (flags.memory && flags.dataDir !== undefined) {
    throw new ConfigError("command line", undefined, "--memory", "cannot be used with --data-dir");
  }
  if (flags.memory) config.persistence.enabled = false;
  if (flags.dataDir !== undefined) {
    config.persistence.enabled = true;
    config.persistence.location = flags.dataDir;
  }
  const mqtt = config.listeners.find((l) => l.type === "mqtt");
  if (flags.port !== undefined || flags.host !== undefined) {
    if (mqtt !== undefined) {
      if (flags.port !== undefined) mqtt.port = flags.port;
      if (flags.host !== undefined) mqtt.host = flags.host;
    } else {
      config.listeners.unshift({
        type: "mqtt",
        host: flags.host ?? "127.0.0.1",
        port: flags.port ?? 1883,
        path: "/mqtt",
        origin: "command line",
      });
    }
  }
  if (flags.wsPort === 0) {
    config.listeners = config.listeners.filter((l) => l.type !== "ws");
  } else if (flags.wsPort !== undefined || flags.wsHost !== undefined || flags.host !== undefined) {
    const ws = config.listeners.find((l) => l.type === "ws");
    const host = flags.wsHost ?? flags.host;
    if (ws !== undefined) {
      if (flags.wsPort !== undefined) ws.port = flags.wsPort;
      if (host !== undefined) ws.host = host;
    } else if (flags.wsPort !== undefined) {
      config.listeners.push({
        type: "ws",
        host: host ?? "127.0.0.1",
        port: flags.wsPort,
        path: "/mqtt",
        origin: "command line",
      });
    }
  }
  if (flags.logFormat !== undefined) config.log.format = flags.logFormat;
  if (flags.logLevel !== undefined) config.log.level = flags.logLevel;
  if (flags.sysInterval !== undefined) config.sysInterval = flags.sysInterval;
}

function configMessage(err: unknown): string {
  if (err instanceof ConfigError) return err.message;
  return err instanceof Error ? err.message : String(err);
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
