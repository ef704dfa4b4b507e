/**
 * The broker's configuration as both file formats (starling.toml and
 * Mosquitto's mosquitto.conf) parse into it, and the error they throw.
 */
import type { BrokerLimits } from "../core/options.js";
import type { LogFormat, LogLevel } from "../logging.js";
import type { TlsFiles } from "../transport/tls.js";

export type ListenerType = "mqtt" | "mqtts" | "ws" | "wss";

/** TLS files and options of a listener (the transport's own type). */
export type TlsSettings = TlsFiles;

export interface ListenerSpec {
  type: ListenerType;
  host: string;
  port: number;
  /** WebSocket path (ws/wss). */
  path: string;
  tls?: TlsSettings;
  /** Whether clients without a username are accepted here (default: only on loopback). */
  allowAnonymous?: boolean;
  /** Per-listener password/ACL files (Mosquitto's per_listener_settings). */
  passwordFile?: string;
  aclFile?: string;
  /** Where the listener was declared, for messages. */
  origin: string;
}

export interface PersistenceSettings {
  enabled: boolean;
  /** The data directory (one broker process per directory). */
  location: string;
  /** `full`: a commit is flushed to disk before PUBACK; `relaxed`: committed, flushed by the OS later. */
  sync: "full" | "relaxed";
}

export interface BrokerConfig {
  /** The file it came from (absent for the built-in defaults). */
  file?: string;
  format: "starling" | "mosquitto" | "defaults";
  listeners: ListenerSpec[];
  auth: { allowAnonymous?: boolean; passwordFile?: string; aclFile?: string };
  limits: Partial<BrokerLimits>;
  log: { level: LogLevel; format: LogFormat; file?: string };
  sysInterval: number;
  /** Serve /metrics, /healthz and /readyz on the WebSocket listeners' HTTP server. */
  metrics: boolean;
  /**
   * The durable store: sessions, queued and in-flight messages and retained
   * messages kept in `location` across restarts (off: kept in memory only).
   */
  persistence: PersistenceSettings;
  /** Directives accepted but not acted on, one message each. */
  warnings: string[];
}

/** Built-in defaults: loopback only, anonymous allowed there (as Mosquitto 2 does with no config). */
export function defaultConfig(): BrokerConfig {
  return {
    format: "defaults",
    listeners: [
      { type: "mqtt", host: "127.0.0.1", port: 1883, path: "/mqtt", origin: "default" },
      { type: "ws", host: "127.0.0.1", port: 8083, path: "/mqtt", origin: "default" },
    ],
    auth: {},
    limits: {},
    log: { level: "info", format: "pretty" },
    sysInterval: 10,
    metrics: true,
    // Off by default on this branch, so existing behaviour is unchanged until it is the default.
    persistence: { enabled: true, location: "./data", sync: "full" },
    warnings: [],
  };
}

/**
 * A configuration the broker refuses to start with. The message names the
 * file, the line (when known), the key, what was found and what was expected.
 */
export class ConfigError extends Error {
  readonly file: string;
  readonly line: number | undefined;
  readonly key: string | undefined;

  constructor(file: string, line: number | undefined, key: string | undefined, problem: string) {
    super(
      `${file}${line !== undefined ? `:${line}` : ""}: ${key !== undefined ? `${key}: ` : ""}${problem}`,
    );
    this.name = "ConfigError";
    this.file = file;
    this.line = line;
    this.key = key;
  }
}

/** Whether `host` is a loopback address (anonymous access is allowed there by default). */
export function isLoopback(host: string): boolean {
  return (
    host === "localhost" ||
    host === "::1" ||
    host === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
  );
}

/** The closest of `candidates` to `word` within a small edit distance, for "did you mean". */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
