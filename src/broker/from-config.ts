/**
 * Starts a broker from a {@link BrokerConfig} (starling.toml or
 * mosquitto.conf): chooses the listeners, the password and ACL files, and
 * the logger and the store — the one place concrete auth and store
 * implementations are picked (ARCHITECTURE.md). `reload()` re-reads the password files, ACL files and
 * TLS certificates (SIGHUP) without dropping connections; if anything fails
 * to load, everything keeps its old state and the error says why.
 */
import { AclFile } from "./auth/acl-file.js";
import { PasswordAuthenticator } from "./auth/password-auth.js";
import { PasswordFile } from "./auth/password-file.js";
import type { Authenticator, Authorizer, AuthResult, ConnectInfo } from "./auth/types.js";
import { Broker, type BrokerOptions, type ListenerConfig } from "./broker.js";
import { type BrokerConfig, isLoopback, type ListenerSpec } from "./config/model.js";
import type { Logger } from "./core/logger.js";
import { createHttpEndpoints, type HttpEndpoints } from "./http/metrics.js";
import type { Store } from "./store/index.js";
import { secureContextOptions } from "./transport/tls.js";

/** What each listener authenticates and authorizes with. */
interface ListenerAuth {
  spec: ListenerSpec;
  passwordFile: string | undefined;
  aclFile: string | undefined;
  authenticator: PasswordAuthenticator;
}

/** Routes each CONNECT to its listener's authenticator. */
class PerListenerAuthenticator implements Authenticator {
  readonly byUrl = new Map<string, ListenerAuth>();
  fallback: ListenerAuth | undefined;

  authenticate(info: ConnectInfo): AuthResult | Promise<AuthResult> {
    const entry =
      (info.listener !== undefined ? this.byUrl.get(info.listener) : undefined) ?? this.fallback;
    if (entry === undefined)
      return { ok: false, reasonCode: 0x87, reason: "no listener configuration" };
    return entry.authenticator.authenticate(info);
  }
}

/**
 * The configured ACL, replaceable on reload. Only installed when an ACL file
 * is configured, so a broker without one does no per-message read checks.
 */
class ReloadableAuthorizer implements Authorizer {
  current: Authorizer;
  constructor(initial: Authorizer) {
    this.current = initial;
  }
  canPublish(client: { clientId: string; username: string | undefined }, topic: string): boolean {
    return this.current.canPublish(client, topic);
  }
  canSubscribe(
    client: { clientId: string; username: string | undefined },
    filter: string,
  ): boolean {
    return this.current.canSubscribe(client, filter);
  }
  canRead(client: { clientId: string; username: string | undefined }, topic: string): boolean {
    return this.current.canRead?.(client, topic) ?? true;
  }
}

export interface ConfiguredBroker {
  broker: Broker;
  /** /metrics, /healthz, /readyz on the WebSocket listeners. */
  http: HttpEndpoints;
  /** Re-reads password files, ACL files and TLS certificates; throws (keeping the old state) on failure. */
  reload(): Promise<void>;
}

/** Translates a config's listeners to the broker's listener options. */
export function listenerConfigs(config: BrokerConfig): ListenerConfig[] {
  return config.listeners.map((l): ListenerConfig => {
    switch (l.type) {
      case "mqtt":
        return { type: "tcp", host: l.host, port: l.port };
      case "mqtts":
        return { type: "tls", host: l.host, port: l.port, tls: l.tls as NonNullable<typeof l.tls> };
      case "ws":
        return { type: "ws", host: l.host, port: l.port, path: l.path };
      default:
        return { type: "ws", host: l.host, port: l.port, path: l.path, tls: l.tls };
    }
  });
}

async function loadPasswords(path: string | undefined): Promise<PasswordFile | undefined> {
  return path === undefined ? undefined : PasswordFile.load(path);
}

export async function startFromConfig(
  config: BrokerConfig,
  options: { logger: Logger; extra?: Partial<BrokerOptions> },
): Promise<ConfiguredBroker> {
  const logger = options.logger;
  const entries: ListenerAuth[] = [];
  const passwordFiles = new Map<string, PasswordFile | undefined>();
  const aclPaths = new Set<string>();
  for (const spec of config.listeners) {
    const passwordFile = spec.passwordFile ?? config.auth.passwordFile;
    const aclFile = spec.aclFile ?? config.auth.aclFile;
    if (passwordFile !== undefined && !passwordFiles.has(passwordFile)) {
      passwordFiles.set(passwordFile, await loadPasswords(passwordFile));
    }
    if (aclFile !== undefined) aclPaths.add(aclFile);
    const allowAnonymous =
      spec.allowAnonymous ?? config.auth.allowAnonymous ?? isLoopback(spec.host);
    entries.push({
      spec,
      passwordFile,
      aclFile,
      authenticator: new PasswordAuthenticator({
        passwordFile: passwordFile === undefined ? undefined : passwordFiles.get(passwordFile),
        allowAnonymous,
        logger,
      }),
    });
  }
  if (aclPaths.size > 1) {
    throw new Error(
      `one ACL file per broker is supported; the configuration names ${[...aclPaths].join(", ")}`,
    );
  }
  const aclPath = [...aclPaths][0];
  const authorizer =
    aclPath === undefined ? undefined : new ReloadableAuthorizer(await AclFile.load(aclPath));
  const authenticator = new PerListenerAuthenticator();
  // The durable store, opened last so a config error above leaves its directory untouched. LMDB's
  // native module is loaded only here, when persistence is on.
  let store: Store | undefined = options.extra?.store;
  if (store === undefined && config.persistence.enabled) {
    const { LmdbStore } = await import("./store/lmdb.js");
    const { location, sync } = config.persistence;
    store = await LmdbStore.open(location, { sync });
    logger.info({ location, sync }, `persistence: data in ${location} (sync ${sync})`);
  }
  // The HTTP endpoints need the core, which exists once the broker starts.
  let endpoints: HttpEndpoints | undefined;
  const broker = await Broker.start({
    http: (req, res) => {
      if (endpoints !== undefined) endpoints.handler(req, res);
      else {
        res.writeHead(503, { "content-type": "text/plain" });
        res.end("starting\n");
      }
    },
    listeners: listenerConfigs(config),
    logger,
    sysInterval: config.sysInterval,
    limits: config.limits,
    authenticator,
    ...(authorizer !== undefined ? { authorizer } : {}),
    ...options.extra,
    ...(store !== undefined ? { store } : {}),
  });
  broker.listeners.forEach((l, i) => {
    const e = entries[i];
    if (e === undefined) return;
    authenticator.byUrl.set(l.url, e);
    const anonymous = e.authenticator.allowAnonymous;
    logger.info(
      { url: l.url, anonymous, passwordFile: e.passwordFile, aclFile: e.aclFile },
      `${l.url}: anonymous ${anonymous ? "allowed" : "refused"}${e.passwordFile ? `, passwords from ${e.passwordFile}` : ""}`,
    );
  });
  authenticator.fallback = entries[0];
  endpoints = createHttpEndpoints(broker.core, { metrics: config.metrics });

  const reload = async () => {
    // Load everything first; swap only when all of it loaded.
    const fresh = new Map<string, PasswordFile | undefined>();
    for (const path of passwordFiles.keys()) fresh.set(path, await loadPasswords(path));
    const acl = aclPath === undefined ? undefined : await AclFile.load(aclPath);
    broker.reloadTls();
    for (const e of entries) {
      if (e.passwordFile !== undefined) e.authenticator.setPasswordFile(fresh.get(e.passwordFile));
    }
    if (authorizer !== undefined && acl !== undefined) authorizer.current = acl;
    for (const [k, v] of fresh) passwordFiles.set(k, v);
  };
  return { broker, http: endpoints, reload };
}

/**
 * Loads everything a configuration names — password files, ACL files, TLS
 * certificates and keys — without starting anything (`starling broker
 * --check`). Throws the first error, naming the file.
 */
export async function checkConfig(config: BrokerConfig): Promise<void> {
  const passwordFiles = new Set<string>();
  const aclFiles = new Set<string>();
  for (const l of config.listeners) {
    const pw = l.passwordFile ?? config.auth.passwordFile;
    const acl = l.aclFile ?? config.auth.aclFile;
    if (pw !== undefined) passwordFiles.add(pw);
    if (acl !== undefined) aclFiles.add(acl);
    if (l.tls !== undefined) secureContextOptions(l.tls);
  }
  for (const p of passwordFiles) await PasswordFile.load(p);
  for (const p of aclFiles) await AclFile.load(p);
}
