/**
 * Mosquitto's `mosquitto.conf`, read into the same {@link BrokerConfig} as
 * starling.toml, so an existing Mosquitto setup (with its password and ACL
 * files) runs unchanged. The common directives are understood; any other
 * directive is reported once as a warning naming it (Mosquitto itself would
 * refuse an unknown one, but these are known to Mosquitto and merely not
 * implemented here). A malformed value is an error naming file and line.
 */
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import {
  type BrokerConfig,
  ConfigError,
  defaultConfig,
  type ListenerSpec,
  type TlsSettings,
} from "./model.js";

/** Directives Mosquitto has that Starling accepts without acting on them. */
const KNOWN_UNSUPPORTED = new Set([
  "acl_file_per_listener",
  "auth_plugin",
  "plugin",
  "plugin_opt",
  "auth_opt",
  "autosave_interval",
  "autosave_on_changes",
  "bridge_attempt_unsubscribe",
  "check_retain_source",
  "ciphers",
  "ciphers_tls1.3",
  "clientid_prefixes",
  "connection",
  "connection_messages",
  "crlfile",
  "dhparamfile",
  "http_dir",
  "log_facility",
  "log_timestamp",
  "log_timestamp_format",
  "max_qos",
  "memory_limit",
  "mount_point",
  "persistence_file",
  "persistent_client_expiration",
  "pid_file",
  "psk_file",
  "psk_hint",
  "queue_qos0_messages",
  "set_tcp_nodelay",
  "socket_domain",
  "upgrade_outgoing_qos",
  "user",
  "websockets_headers_size",
  "websockets_log_level",
  "address",
  "topic",
  "bridge_cafile",
  "bridge_insecure",
]);

interface State {
  config: BrokerConfig;
  /** The listener directives apply to; undefined before the first `listener`. */
  current: ListenerSpec | undefined;
  /** `port`/`bind_address` outside any listener (the default listener, Mosquitto 1.x style). */
  defaultListener: ListenerSpec | undefined;
  perListener: boolean;
  anyListener: boolean;
  tls: Map<ListenerSpec, Partial<TlsSettings> & { useIdentityAsUsername?: boolean }>;
  logTypes: string[];
  warned: Set<string>;
}

/** Reads a mosquitto.conf file (following include_dir). */
export async function loadMosquittoConfig(file: string): Promise<BrokerConfig> {
  const config = defaultConfig();
  config.file = file;
  config.format = "mosquitto";
  // A mosquitto.conf means what it means to Mosquitto: no persistence unless it says so.
  config.persistence.enabled = false;
  const state: State = {
    config,
    current: undefined,
    defaultListener: undefined,
    perListener: false,
    anyListener: false,
    tls: new Map(),
    logTypes: [],
    warned: new Set(),
  };
  await readInto(state, file, 0);
  return finish(state, file);
}

async function readInto(state: State, file: string, depth: number): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, undefined, undefined, `cannot read: ${(err as Error).message}`);
  }
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const [directive, ...args] = line.split(/\s+/);
    const at = { file, line: i + 1, directive, args };
    if (directive === "include_dir") {
      if (depth > 4) throw err(at, "include_dir nested too deeply (more than 4 levels)");
      const dir = resolve(dirname(file), need(at, 1)[0]);
      let names: string[];
      try {
        names = (await readdir(dir)).filter((n) => n.endsWith(".conf")).sort();
      } catch (e) {
        throw err(at, `cannot read directory ${dir}: ${(e as Error).message}`);
      }
      for (const n of names) await readInto(state, join(dir, n), depth + 1);
      continue;
    }
    apply(state, at);
  }
}

interface At {
  file: string;
  line: number;
  directive: string;
  args: string[];
}

function err(at: At, problem: string): ConfigError {
  return new ConfigError(at.file, at.line, at.directive, problem);
}

function need(at: At, n: number, max = n): string[] {
  if (at.args.length < n || at.args.length > max) {
    throw err(
      at,
      `expected ${n === max ? n : `${n} to ${max}`} value${max === 1 ? "" : "s"}, found ${at.args.length}`,
    );
  }
  return at.args;
}

function int(at: At, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const [v] = need(at, 1);
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || n < min || n > max) {
    throw err(
      at,
      `expected an integer ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in ${min}..${max}`}, found ${JSON.stringify(v)}`,
    );
  }
  return n;
}

function bool(at: At): boolean {
  const [v] = need(at, 1);
  if (v === "true") return true;
  if (v === "false") return false;
  throw err(at, `expected true or false, found ${JSON.stringify(v)}`);
}

function listenerFor(state: State, at: At): ListenerSpec {
  if (state.current !== undefined) return state.current;
  if (state.defaultListener === undefined) {
    state.defaultListener = {
      type: "mqtt",
      host: "0.0.0.0",
      port: 1883,
      path: "/mqtt",
      origin: `${at.file}:${at.line}`,
    };
  }
  return state.defaultListener;
}

function tlsOf(state: State, l: ListenerSpec) {
  let t = state.tls.get(l);
  if (t === undefined) {
    t = {};
    state.tls.set(l, t);
  }
  return t;
}

function apply(state: State, at: At): void {
  const c = state.config;
  const path = () => resolve(dirname(at.file), need(at, 1)[0]);
  switch (at.directive) {
    case "listener": {
      const [port, host] = need(at, 1, 2);
      const n = Number(port);
      if (!/^\d+$/.test(port) || n > 65_535) {
        throw err(at, `expected a port in 0..65535, found ${JSON.stringify(port)}`);
      }
      const l: ListenerSpec = {
        type: "mqtt",
        host: host ?? "0.0.0.0",
        port: n,
        path: "/mqtt",
        origin: `${at.file}:${at.line}`,
      };
      state.current = l;
      state.anyListener = true;
      c.listeners.push(l);
      return;
    }
    case "port":
      listenerFor(state, at).port = int(at, 0, 65_535);
      return;
    case "bind_address":
      listenerFor(state, at).host = need(at, 1)[0];
      return;
    case "protocol": {
      const [p] = need(at, 1);
      if (p !== "mqtt" && p !== "websockets") {
        throw err(at, `expected mqtt or websockets, found ${JSON.stringify(p)}`);
      }
      listenerFor(state, at).type = p === "websockets" ? "ws" : "mqtt";
      return;
    }
    case "per_listener_settings":
      state.perListener = bool(at);
      return;
    case "allow_anonymous":
    case "password_file":
    case "acl_file": {
      const value = at.directive === "allow_anonymous" ? bool(at) : path();
      const target = state.perListener && state.current !== undefined ? state.current : undefined;
      if (at.directive === "allow_anonymous") {
        if (target) target.allowAnonymous = value as boolean;
        else c.auth.allowAnonymous = value as boolean;
      } else if (at.directive === "password_file") {
        if (target) target.passwordFile = value as string;
        else c.auth.passwordFile = value as string;
      } else if (target) target.aclFile = value as string;
      else c.auth.aclFile = value as string;
      return;
    }
    case "cafile":
      tlsOf(state, listenerFor(state, at)).ca = path();
      return;
    case "capath":
      tlsOf(state, listenerFor(state, at)).caPath = path();
      return;
    case "certfile":
      tlsOf(state, listenerFor(state, at)).cert = path();
      return;
    case "keyfile":
      tlsOf(state, listenerFor(state, at)).key = path();
      return;
    case "require_certificate":
      tlsOf(state, listenerFor(state, at)).requireCertificate = bool(at);
      return;
    case "use_identity_as_username":
    case "use_subject_as_username":
      tlsOf(state, listenerFor(state, at)).useIdentityAsUsername = bool(at);
      return;
    case "tls_version": {
      const [v] = need(at, 1);
      const map: Record<string, "TLSv1.2" | "TLSv1.3"> = {
        "tlsv1.2": "TLSv1.2",
        "tlsv1.3": "TLSv1.3",
      };
      if (map[v] === undefined) {
        throw err(
          at,
          `expected tlsv1.2 or tlsv1.3 (older versions are not offered), found ${JSON.stringify(v)}`,
        );
      }
      tlsOf(state, listenerFor(state, at)).minVersion = map[v];
      return;
    }
    case "use_username_as_clientid":
      c.limits.useUsernameAsClientId = bool(at);
      return;
    case "allow_zero_length_clientid":
      c.limits.allowZeroLengthClientId = bool(at);
      return;
    case "max_queued_messages": {
      const n = int(at, 0);
      c.limits.maxQueuedMessages = n === 0 ? Number.MAX_SAFE_INTEGER : n;
      return;
    }
    case "max_queued_bytes": {
      const n = int(at, 0);
      c.limits.maxQueuedBytes = n === 0 ? Number.MAX_SAFE_INTEGER : n;
      return;
    }
    case "max_inflight_messages": {
      const n = int(at, 0, 65_535);
      c.limits.maxInflight = n === 0 ? 65_535 : n;
      return;
    }
    case "max_packet_size": {
      const n = int(at, 0, 268_435_460);
      if (n > 0 && n < 20) throw err(at, `expected 0 (no limit) or at least 20, found ${n}`);
      c.limits.maxPacketSize = n === 0 ? 268_435_460 : n;
      return;
    }
    case "message_size_limit": {
      const n = int(at, 0, 268_435_455);
      c.limits.maxPayloadSize = n === 0 ? 268_435_455 : n;
      return;
    }
    case "max_keepalive":
      c.limits.maxKeepalive = int(at, 0, 65_535);
      return;
    case "max_connections": {
      const n = int(at, -1);
      c.limits.maxConnections = n === -1 ? Number.MAX_SAFE_INTEGER : n;
      return;
    }
    case "sys_interval":
      c.sysInterval = int(at, 0, 86_400);
      return;
    case "retain_available":
      c.limits.retainAvailable = bool(at);
      return;
    case "persistence":
      c.persistence.enabled = bool(at);
      return;
    case "persistence_location":
      // Mosquitto keeps a snapshot file in this directory; Starling keeps its store there.
      c.persistence.location = path();
      return;
    case "log_type": {
      const [t] = need(at, 1);
      const known = [
        "error",
        "warning",
        "notice",
        "information",
        "subscribe",
        "unsubscribe",
        "websockets",
        "debug",
        "all",
        "none",
      ];
      if (!known.includes(t))
        throw err(at, `expected one of ${known.join(", ")}, found ${JSON.stringify(t)}`);
      state.logTypes.push(t);
      return;
    }
    case "log_dest": {
      const [d, ...rest] = at.args;
      if (d === "stdout" || d === "stderr") {
        c.log.file = d === "stdout" ? "/dev/stdout" : undefined;
        return;
      }
      if (d === "file") {
        if (rest.length === 0) throw err(at, "expected a path after file");
        c.log.file = resolve(dirname(at.file), rest.join(" "));
        return;
      }
      if (d === "none") {
        c.log.level = "silent";
        return;
      }
      warnOnce(
        state,
        at,
        `log_dest ${d ?? ""}: only stdout, stderr, file and none are supported; logging to stderr`,
      );
      return;
    }
    default:
      if (KNOWN_UNSUPPORTED.has(at.directive) || at.directive.startsWith("bridge_")) {
        warnOnce(state, at, `${at.directive}: not supported by Starling; ignored`);
        return;
      }
      warnOnce(state, at, `${at.directive}: unknown directive; ignored`);
  }
}

function warnOnce(state: State, at: At, message: string): void {
  if (state.warned.has(at.directive)) return;
  state.warned.add(at.directive);
  state.config.warnings.push(`${at.file}:${at.line}: ${message}`);
}

function finish(state: State, file: string): BrokerConfig {
  const c = state.config;
  if (state.defaultListener !== undefined) c.listeners.unshift(state.defaultListener);
  if (state.anyListener || state.defaultListener !== undefined) {
    // Configured listeners replace the built-in loopback defaults.
    c.listeners = c.listeners.filter((l) => l.origin !== "default");
  }
  for (const [l, t] of state.tls) {
    if (t.cert === undefined && t.key === undefined) {
      if (t.ca !== undefined || t.requireCertificate) {
        throw new ConfigError(
          file,
          undefined,
          "certfile",
          `listener on port ${l.port} (${l.origin}) has TLS settings but no certfile/keyfile`,
        );
      }
      continue;
    }
    if (t.cert === undefined || t.key === undefined) {
      throw new ConfigError(
        file,
        undefined,
        t.cert === undefined ? "certfile" : "keyfile",
        `listener on port ${l.port} (${l.origin}) needs both certfile and keyfile`,
      );
    }
    if (t.requireCertificate && t.ca === undefined && t.caPath === undefined) {
      throw new ConfigError(
        file,
        undefined,
        "cafile",
        `listener on port ${l.port} (${l.origin}): require_certificate needs cafile or capath`,
      );
    }
    l.type = l.type === "ws" ? "wss" : "mqtts";
    l.tls = {
      cert: t.cert,
      key: t.key,
      ...(t.ca !== undefined ? { ca: t.ca } : {}),
      ...(t.caPath !== undefined ? { caPath: t.caPath } : {}),
      requireCertificate: t.requireCertificate ?? false,
      useIdentityAsUsername: t.useIdentityAsUsername ?? false,
      minVersion: t.minVersion ?? "TLSv1.2",
    };
  }
  if (state.logTypes.length > 0) {
    const t = state.logTypes;
    c.log.level =
      t.includes("debug") || t.includes("all")
        ? "debug"
        : t.includes("notice") || t.includes("information")
          ? "info"
          : t.includes("warning")
            ? "warn"
            : t.includes("error")
              ? "error"
              : "silent";
  }
  return c;
}
