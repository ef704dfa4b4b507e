/**
 * `starling.toml`: the native configuration file. Every key is declared
 * below with its type and range; an unknown key, a value of the wrong type
 * or out of range is an error naming the file, the line, the key, what was
 * found and what was expected (with "did you mean" for a near miss).
 * The commented example is `starling.example.toml`; docs/configuration.md
 * lists every key.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parse, TomlError } from "smol-toml";
import { type BrokerLimits, DEFAULT_LIMITS } from "../core/options.js";
import {
  type BrokerConfig,
  ConfigError,
  closest,
  defaultConfig,
  type ListenerSpec,
  type ListenerType,
} from "./model.js";

type Value = unknown;

interface FieldSpec {
  /** What is expected, as shown in errors. */
  expected: string;
  check(v: Value): boolean;
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER): FieldSpec => ({
  expected:
    max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in ${min}..${max}`,
  check: (v) =>
    (typeof v === "number" || typeof v === "bigint") &&
    Number.isInteger(Number(v)) &&
    Number(v) >= min &&
    Number(v) <= max,
});
const bool: FieldSpec = { expected: "true or false", check: (v) => typeof v === "boolean" };
const nonEmpty: FieldSpec = {
  expected: "a non-empty string",
  check: (v) => typeof v === "string" && v.length > 0,
};
const oneOf = (...values: string[]): FieldSpec => ({
  expected: values.map((x) => JSON.stringify(x)).join(" or "),
  check: (v) => typeof v === "string" && values.includes(v),
});

const snake = (camel: string) =>
  camel.replace(/QoS/g, "Qos").replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** `[limits]`: every BrokerLimits field, in snake_case. */
const limitFields: Record<string, FieldSpec> = {};
const limitNames: Record<string, keyof BrokerLimits> = {};
for (const [name, value] of Object.entries(DEFAULT_LIMITS) as [keyof BrokerLimits, unknown][]) {
  const key = snake(name);
  limitNames[key] = name;
  if (typeof value === "boolean") limitFields[key] = bool;
  else if (name === "queueOverflow") limitFields[key] = oneOf("drop-new", "drop-oldest");
  else if (name === "maximumQoS") limitFields[key] = int(0, 2);
  else if (name === "maxPacketSize") limitFields[key] = int(16, 268_435_460);
  else if (name === "receiveMaximum") limitFields[key] = int(1, 65_535);
  else if (name === "topicAliasMaximum" || name === "maxTopicLength")
    limitFields[key] = int(0, 65_535);
  else limitFields[key] = int(0);
}

const listenerFields: Record<string, FieldSpec> = {
  type: oneOf("mqtt", "mqtts", "ws", "wss"),
  host: nonEmpty,
  port: int(0, 65_535),
  path: {
    expected: 'a path starting with "/"',
    check: (v) => typeof v === "string" && v.startsWith("/"),
  },
  cert: nonEmpty,
  key: nonEmpty,
  ca: nonEmpty,
  require_certificate: bool,
  use_identity_as_username: bool,
  min_tls_version: oneOf("TLSv1.2", "TLSv1.3"),
  allow_anonymous: bool,
};

const sections: Record<string, Record<string, FieldSpec>> = {
  auth: { allow_anonymous: bool, password_file: nonEmpty, acl_file: nonEmpty },
  limits: limitFields,
  log: {
    level: oneOf("debug", "info", "warn", "error", "silent"),
    format: oneOf("pretty", "json"),
    file: nonEmpty,
  },
  sys: { interval: int(0, 86_400) },
  metrics: { enabled: bool },
  persistence: { enabled: bool, location: nonEmpty, sync: oneOf("full", "relaxed") },
};

const DEFAULT_PORTS: Record<ListenerType, number> = {
  mqtt: 1883,
  mqtts: 8883,
  ws: 8083,
  wss: 8084,
};

/** Reads and validates a starling.toml file. */
export async function loadTomlConfig(file: string): Promise<BrokerConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, undefined, undefined, `cannot read: ${(err as Error).message}`);
  }
  return parseTomlConfig(text, file);
}

/** Validates starling.toml text; relative paths in it are resolved against the file's directory. */
export function parseTomlConfig(text: string, file: string): BrokerConfig {
  let doc: Record<string, Value>;
  try {
    doc = parse(text) as Record<string, Value>;
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      throw new ConfigError(file, err.line, undefined, `not valid TOML: ${first}`);
    }
    throw err;
  }
  const lines = new KeyLines(text);
  const fail = (
    section: string | undefined,
    key: string | undefined,
    problem: string,
    index?: number,
  ): never => {
    throw new ConfigError(
      file,
      lines.find(section, key, index),
      key === undefined ? section : section ? `${section}.${key}` : key,
      problem,
    );
  };
  const check = (
    section: string,
    fields: Record<string, FieldSpec>,
    table: Value,
    index?: number,
  ) => {
    if (table === null || typeof table !== "object" || Array.isArray(table)) {
      fail(undefined, section, `expected a table ([${section}]), found ${describe(table)}`);
    }
    for (const [key, value] of Object.entries(table as Record<string, Value>)) {
      const spec = fields[key];
      if (spec === undefined) {
        const hint = closest(key, Object.keys(fields));
        fail(
          section,
          key,
          `unknown key${hint ? ` (did you mean ${hint}?)` : ""}; known keys: ${Object.keys(fields).join(", ")}`,
          index,
        );
      }
      if (!spec.check(value))
        fail(section, key, `expected ${spec.expected}, found ${describe(value)}`, index);
    }
    return table as Record<string, Value>;
  };

  const config = defaultConfig();
  config.file = file;
  config.format = "starling";
  const base = dirname(resolve(file));
  const path = (p: unknown) => resolve(base, p as string);

  for (const [name, value] of Object.entries(doc)) {
    if (name === "listeners") continue;
    if (sections[name] === undefined) {
      const hint = closest(name, [...Object.keys(sections), "listeners"]);
      fail(
        undefined,
        name,
        `unknown section${hint ? ` (did you mean ${hint}?)` : ""}; known: [[listeners]], ${Object.keys(
          sections,
        )
          .map((s) => `[${s}]`)
          .join(", ")}`,
      );
    }
    check(name, sections[name], value);
  }

  if (doc.listeners !== undefined) {
    if (!Array.isArray(doc.listeners))
      fail(
        undefined,
        "listeners",
        `expected an array of tables ([[listeners]]), found ${describe(doc.listeners)}`,
      );
    config.listeners = (doc.listeners as Value[]).map((raw, i) => {
      const t = check("listeners", listenerFields, raw, i);
      const where = `listeners[${i}]`;
      if (t.type === undefined)
        fail(
          "listeners",
          "type",
          `missing: expected "mqtt", "mqtts", "ws" or "wss" in [[listeners]] #${i + 1}`,
          i,
        );
      const type = t.type as ListenerType;
      const spec: ListenerSpec = {
        type,
        host: (t.host as string | undefined) ?? "127.0.0.1",
        port: t.port !== undefined ? Number(t.port) : DEFAULT_PORTS[type],
        path: (t.path as string | undefined) ?? "/mqtt",
        origin: `${file} ${where}`,
      };
      if (t.allow_anonymous !== undefined) spec.allowAnonymous = t.allow_anonymous as boolean;
      const tls = type === "mqtts" || type === "wss";
      for (const k of [
        "cert",
        "key",
        "ca",
        "require_certificate",
        "use_identity_as_username",
        "min_tls_version",
      ]) {
        if (!tls && t[k] !== undefined)
          fail(
            "listeners",
            k,
            `only for TLS listeners (type "mqtts" or "wss"), found on a "${type}" listener`,
            i,
          );
      }
      if (tls) {
        if (t.cert === undefined || t.key === undefined)
          fail(
            "listeners",
            t.cert === undefined ? "cert" : "key",
            `missing: a "${type}" listener needs cert and key (PEM files)`,
            i,
          );
        if (t.require_certificate === true && t.ca === undefined)
          fail(
            "listeners",
            "ca",
            "missing: require_certificate needs a ca to verify client certificates against",
            i,
          );
        spec.tls = {
          cert: path(t.cert),
          key: path(t.key),
          ...(t.ca !== undefined ? { ca: path(t.ca) } : {}),
          requireCertificate: (t.require_certificate as boolean | undefined) ?? false,
          useIdentityAsUsername: (t.use_identity_as_username as boolean | undefined) ?? false,
          minVersion: (t.min_tls_version as "TLSv1.2" | "TLSv1.3" | undefined) ?? "TLSv1.2",
        };
      }
      if (type === "mqtt" || type === "mqtts") {
        if (t.path !== undefined)
          fail(
            "listeners",
            "path",
            `only for WebSocket listeners ("ws" or "wss"), found on a "${type}" listener`,
            i,
          );
      }
      return spec;
    });
  }

  const auth = doc.auth as Record<string, Value> | undefined;
  if (auth?.allow_anonymous !== undefined)
    config.auth.allowAnonymous = auth.allow_anonymous as boolean;
  if (auth?.password_file !== undefined) config.auth.passwordFile = path(auth.password_file);
  if (auth?.acl_file !== undefined) config.auth.aclFile = path(auth.acl_file);

  const limits = doc.limits as Record<string, Value> | undefined;
  for (const [key, value] of Object.entries(limits ?? {})) {
    (config.limits as Record<string, unknown>)[limitNames[key]] =
      typeof value === "bigint" ? Number(value) : value;
  }
  const log = doc.log as Record<string, Value> | undefined;
  if (log?.level !== undefined) config.log.level = log.level as BrokerConfig["log"]["level"];
  if (log?.format !== undefined) config.log.format = log.format as BrokerConfig["log"]["format"];
  if (log?.file !== undefined) config.log.file = path(log.file);
  const sys = doc.sys as Record<string, Value> | undefined;
  if (sys?.interval !== undefined) config.sysInterval = Number(sys.interval);
  const metrics = doc.metrics as Record<string, Value> | undefined;
  if (metrics?.enabled !== undefined) config.metrics = metrics.enabled as boolean;
  const persistence = doc.persistence as Record<string, Value> | undefined;
  if (persistence?.enabled !== undefined)
    config.persistence.enabled = persistence.enabled as boolean;
  if (persistence?.location !== undefined) config.persistence.location = path(persistence.location);
  if (persistence?.sync !== undefined)
    config.persistence.sync = persistence.sync as "full" | "relaxed";
  return config;
}

function describe(v: Value): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date) return `a date (${v.toISOString()})`;
  if (v !== null && typeof v === "object") return "a table";
  return String(v);
}

/**
 * Finds the line of `key` in `[section]` (or in the index-th `[[section]]`),
 * so that errors point at the line even though the TOML parser returns plain
 * values. Falls back to the section header, then to no line.
 */
class KeyLines {
  #lines: string[];

  constructor(text: string) {
    this.#lines = text.split(/\r?\n/);
  }

  find(section: string | undefined, key: string | undefined, index = 0): number | undefined {
    let current: string | undefined;
    let seen = -1;
    let header: number | undefined;
    for (let i = 0; i < this.#lines.length; i++) {
      const line = this.#lines[i].trim();
      const h = /^\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?/.exec(line);
      if (h) {
        if (section === undefined && key === h[1]) return i + 1; // an unknown or mistyped section
        current = h[1];
        if (current === section) {
          seen++;
          if (seen === index) header = i + 1;
        }
        continue;
      }
      if (key === undefined) continue;
      const inSection =
        section === undefined ? current === undefined : current === section && seen === index;
      if (inSection && new RegExp(`^["']?${escapeRe(key)}["']?\\s*=`).test(line)) return i + 1;
      // Dotted keys at top level: limits.max_inflight = 10
      if (
        section !== undefined &&
        current === undefined &&
        new RegExp(`^${escapeRe(section)}\\.${escapeRe(key)}\\s*=`).test(line)
      )
        return i + 1;
    }
    if (key === undefined && section !== undefined) {
      for (let i = 0; i < this.#lines.length; i++)
        if (new RegExp(`^\\s*${escapeRe(section)}\\s*=`).test(this.#lines[i])) return i + 1;
    }
    return header;
  }
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
