/**
 * `starling/broker`: the embeddable MQTT 3.1 / 3.1.1 / 5.0 broker.
 *
 * @example
 * ```ts
 * import { Broker } from "starling/broker";
 * const broker = await Broker.start({ listeners: [{ type: "tcp", port: 0 }] });
 * console.log(`listening on ${broker.url()}`);
 * ```
 */

export { type AclAccess, AclFile, AclFileError } from "./auth/acl-file.js";
export { PasswordAuthenticator, type PasswordAuthenticatorOptions } from "./auth/password-auth.js";
export { PasswordFile, PasswordFileError } from "./auth/password-file.js";
export {
  MemoryScramStore,
  prepareScramString,
  SCRAM_SHA_256,
  type ScramCredential,
  type ScramCredentialStore,
  ScramSha256Authenticator,
  type ScramSha256Options,
  scramCredential,
} from "./auth/scram.js";
export type {
  Authenticator,
  Authorizer,
  AuthResult,
  AuthStep,
  ClientIdentity,
  ConnectInfo,
  EnhancedAuthenticator,
} from "./auth/types.js";
export { allowAll } from "./auth/types.js";
export {
  Broker,
  type BrokerOptions,
  DEFAULT_LISTENERS,
  type ListenerConfig,
  VERSION,
} from "./broker.js";
export { detectFormat, loadConfig } from "./config/load.js";
export {
  type BrokerConfig,
  ConfigError,
  defaultConfig,
  type ListenerSpec,
  type TlsSettings,
} from "./config/model.js";
export { loadMosquittoConfig } from "./config/mosquitto.js";
export { loadTomlConfig, parseTomlConfig } from "./config/toml.js";
export { BrokerCore, type BrokerCoreOptions } from "./core/broker-core.js";
export type { Logger } from "./core/logger.js";
export { type BrokerLimits, DEFAULT_LIMITS } from "./core/options.js";
export { type ConfiguredBroker, checkConfig, startFromConfig } from "./from-config.js";
export { createLogger, type LogFormat, type LogLevel } from "./logging.js";
export type { MemoryPeer } from "./transport/memory.js";
export type { Listener } from "./transport/tcp.js";
export type { Connection, ConnectionHandlers } from "./transport/types.js";
