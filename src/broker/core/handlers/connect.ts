/**
 * CONNECT (§3.1): protocol checks, client identifier rules, authentication
 * (plain and MQTT 5 enhanced), session takeover, clean start and session
 * resumption, then CONNACK and the re-sending of what the session still owes.
 */
import { randomUUID } from "node:crypto";
import {
  type ConnackPacket,
  type ConnectPacket,
  type Properties,
  ReasonCode,
} from "../../../protocol/index.js";
import type { AuthResult, AuthStep, ConnectInfo } from "../../auth/types.js";
import { NEVER_EXPIRES } from "../broker-core.js";
import { type Client, connackReturnCode } from "../client.js";
import { Session } from "../session/session.js";

export function handleConnect(client: Client, packet: ConnectPacket): void {
  const core = client.core;
  const version = packet.protocolVersion;
  client.version = version;
  client.state = "authenticating";
  client.pending = [];
  let clientId = packet.clientId;
  let assigned = false;
  if (client.refuse) {
    refuse(client, ReasonCode.ServerBusy, "too many connections");
    return;
  }
  if (clientId === "") {
    if (version === 3) {
      // MQTT 3.1 requires 1 to 23 characters.
      refuse(client, ReasonCode.ClientIdentifierNotValid, "empty client identifier (MQTT 3.1)");
      return;
    }
    if (version === 4 && !packet.clean) {
      // [MQTT-3.1.3-8]: a zero-byte ClientId needs CleanSession 1; refuse with return code 2.
      refuse(
        client,
        ReasonCode.ClientIdentifierNotValid,
        "empty client identifier with clean session 0",
      );
      return;
    }
    if (!core.limits.allowZeroLengthClientId) {
      // [MQTT-3.1.3-9] (3.1.1) / [MQTT-3.1.3-8] (5.0): a server that does not assign
      // identifiers refuses with return code 2 / 0x85.
      refuse(client, ReasonCode.ClientIdentifierNotValid, "empty client identifier not allowed");
      return;
    }
    // [MQTT-3.1.3-6] (3.1.1), [MQTT-3.1.3-6]/[MQTT-3.2.2-16] (5.0): the server assigns one.
    clientId = `auto-${randomUUID()}`;
    assigned = true;
  }
  client.clientId = clientId;
  client.username = packet.username;
  if (!willSupported(client, packet)) return;
  const conn = client.conn;
  const info: ConnectInfo = {
    clientId,
    username: packet.username,
    password: packet.password,
    // Read only if an authenticator asks (finding the peer is a system call).
    get remoteAddress() {
      return conn.remoteAddress;
    },
    transport: client.conn.transport,
    protocolVersion: version,
    listener: client.conn.listener,
  };
  client.authInfo = info;
  const identity = client.conn.identity;
  if (identity !== undefined) {
    // A TLS listener with use_identity_as_username: the verified certificate is the
    // credential; its CN (or SAN) is the username, whatever CONNECT says.
    client.username = identity;
    info.username = identity;
    onAuthenticated(client, packet, { ok: true, username: identity }, assigned, undefined);
    return;
  }
  const method = version === 5 ? packet.properties?.authenticationMethod : undefined;
  if (method !== undefined) {
    const enhanced = core.enhancedAuth.get(method);
    if (enhanced === undefined) {
      // §4.12: an unsupported Authentication Method is refused with 0x8C.
      refuse(
        client,
        ReasonCode.BadAuthenticationMethod,
        `unsupported authentication method ${JSON.stringify(method)}`,
      );
      return;
    }
    client.authMethod = method;
    settle(
      () => enhanced.start(info, packet.properties?.authenticationData),
      (step) => onAuthStep(client, packet, step, assigned),
      (err) => fail(client, err),
    );
    return;
  }
  settle(
    () => core.authenticator.authenticate(info),
    (result) => onAuthenticated(client, packet, result, assigned, undefined),
    (err) => fail(client, err),
  );
}

/**
 * Refuses a will the broker cannot honour: Will QoS above Maximum QoS
 * (5.0: CONNACK 0x9B [MQTT-3.2.2-12]) or Will Retain without retained
 * messages (5.0: CONNACK 0x9A [MQTT-3.2.2-13]). 3.1.x has no return code for
 * either: the connection is closed without CONNACK ([MQTT-3.2.2-6] of 3.1.1),
 * as Mosquitto does.
 */
function willSupported(client: Client, packet: ConnectPacket): boolean {
  const will = packet.will;
  const limits = client.core.limits;
  if (will === undefined) return true;
  let code = 0;
  if (will.qos > limits.maximumQoS) code = ReasonCode.QoSNotSupported;
  else if (will.retain && !limits.retainAvailable) code = ReasonCode.RetainNotSupported;
  if (code === 0) return true;
  const why = `will ${code === ReasonCode.QoSNotSupported ? "QoS" : "retain"} not supported`;
  if (packet.protocolVersion === 5) {
    refuse(client, code, why);
  } else {
    client.core.stats.connectionsRefused++;
    client.core.logger.warn(
      { clientId: client.label, remote: client.conn.remoteAddress },
      `connection refused: ${why}`,
    );
    client.pending = undefined;
    client.close(`refused: ${why}`);
  }
  return false;
}

/**
 * Calls `then` with what `run` returns, or its promise's result; `onError`
 * when `run` throws or its promise rejects (a hook that throws refuses the
 * CONNECT like one that rejects, rather than closing without CONNACK).
 */
function settle<T>(
  run: () => T | Promise<T>,
  then: (v: T) => void,
  onError: (err: unknown) => void,
): void {
  let value: T | Promise<T>;
  try {
    value = run();
  } catch (err) {
    onError(err);
    return;
  }
  if (value instanceof Promise) value.then(then, onError);
  else then(value);
}

function fail(client: Client, err: unknown): void {
  client.core.logger.error({ clientId: client.label, err }, "authentication hook failed");
  refuse(client, ReasonCode.UnspecifiedError, "authentication failed");
}

/** One step of enhanced authentication: continue with AUTH 0x18, or finish. */
export function onAuthStep(
  client: Client,
  packet: ConnectPacket | undefined,
  step: AuthStep,
  assigned: boolean,
): void {
  if (client.state === "closed") return;
  if (!step.done) {
    const properties: Properties = { authenticationMethod: client.authMethod };
    if (step.data !== undefined) properties.authenticationData = step.data;
    client.send({ type: "auth", reasonCode: ReasonCode.ContinueAuthentication, properties });
    client.authConnect = packet ?? client.authConnect;
    client.authAssigned = assigned || client.authAssigned;
    return;
  }
  const connect = packet ?? client.authConnect;
  if (connect === undefined) {
    // Re-authentication of a connected client (§4.12.1).
    if (step.ok) {
      const properties: Properties = { authenticationMethod: client.authMethod };
      if (step.data !== undefined) properties.authenticationData = step.data;
      client.send({ type: "auth", reasonCode: ReasonCode.Success, properties });
    } else {
      client.disconnect(step.reasonCode, step.reason);
    }
    return;
  }
  client.authConnect = undefined;
  const result: AuthResult = step.ok
    ? { ok: true, username: step.username }
    : { ok: false, reasonCode: step.reasonCode, reason: step.reason };
  onAuthenticated(
    client,
    connect,
    result,
    assigned || client.authAssigned,
    step.ok ? step.data : undefined,
  );
}

function onAuthenticated(
  client: Client,
  packet: ConnectPacket,
  result: AuthResult,
  assigned: boolean,
  authData: Uint8Array | undefined,
): void {
  if (client.state === "closed") return;
  const core = client.core;
  if (!result.ok) {
    core.stats.authFailures++;
    refuse(client, result.reasonCode, result.reason ?? "not authorized");
    return;
  }
  if (result.username !== undefined) client.username = result.username;
  if (core.limits.useUsernameAsClientId) {
    // Mosquitto's use_username_as_clientid: the username is the identity; none is not authorised.
    if (client.username === undefined) {
      refuse(client, ReasonCode.NotAuthorized, "use_username_as_clientid needs a username");
      return;
    }
    client.clientId = client.username;
    assigned = false;
  }
  const version = packet.protocolVersion;
  const clientId = client.clientId;
  const props = packet.properties;

  // The client's limits on what the broker sends (5.0).
  if (props?.receiveMaximum !== undefined) client.receiveMaximum = props.receiveMaximum;
  if (props?.maximumPacketSize !== undefined) client.maximumPacketSize = props.maximumPacketSize;

  let keepalive = packet.keepalive;
  let serverKeepAlive: number | undefined;
  const maxKeepalive = core.limits.maxKeepalive;
  if (maxKeepalive > 0 && (keepalive === 0 || keepalive > maxKeepalive)) {
    if (version === 5) {
      keepalive = maxKeepalive;
      serverKeepAlive = maxKeepalive; // [MQTT-3.2.2-21]
    } else {
      refuse(
        client,
        ReasonCode.ClientIdentifierNotValid,
        `keepalive ${keepalive} exceeds the maximum ${maxKeepalive}`,
      );
      return;
    }
  }
  client.keepalive = keepalive;

  // Session takeover [MQTT-3.1.4-3]: the existing connection is closed (5.0: DISCONNECT 0x8E).
  let session = core.sessions.get(clientId);
  if (session?.owner) {
    const old = session.owner as Client;
    core.logger.info(
      { clientId, remote: old.conn.remoteAddress },
      "client already connected: closing the old connection",
    );
    // Detach first, so closing the old connection does not end or expire the session the new one continues.
    session.owner = null;
    old.session = null;
    old.disconnect(ReasonCode.SessionTakenOver);
    if (!old.normalDisconnect && session.will !== undefined) {
      const will = session.will;
      const delay = will.properties?.willDelayInterval ?? 0;
      // A will with a delay is not sent if the session continues (§3.1.3.2.2).
      if (packet.clean || delay === 0) {
        session.will = undefined;
        core.publishWill(clientId, will, session.username);
      }
    }
  }

  let sessionPresent = false;
  if (session !== undefined && packet.clean) {
    core.endSession(session);
    session = undefined;
  }
  if (session === undefined) {
    session = new Session(clientId, version);
    core.sessions.set(clientId, session);
  } else {
    sessionPresent = true; // [MQTT-3.2.2-2] (5.0), [MQTT-3.2.2-2] (3.1.1)
    session.clearTimers(); // a reconnect before the Will Delay Interval cancels the will [MQTT-3.1.3-9]
    session.version = version;
  }
  // The will lives as long as the session: own its payload rather than pin the CONNECT's read buffer.
  session.will =
    packet.will === undefined
      ? undefined
      : { ...packet.will, payload: packet.will.payload.slice() };
  session.username = client.username;
  session.expiryInterval =
    version === 5
      ? (props?.sessionExpiryInterval ?? 0)
      : packet.clean
        ? 0
        : core.limits.persistentSessionExpiry || NEVER_EXPIRES;
  session.owner = client;
  session.disconnectedAt = 0;
  // A persistent session is stored (a resumed one that is no longer persistent is removed).
  core.saveSession(session);
  client.session = session;
  client.state = "connected";
  // Kept only for re-authentication (AUTH 0x19); otherwise the password need not stay in memory.
  if (client.authMethod === undefined) client.authInfo = undefined;
  core.stats.clientsConnected++;
  core.stats.clientsTotal++;
  if (core.stats.clientsConnected > core.stats.clientsMaximum)
    core.stats.clientsMaximum = core.stats.clientsConnected;

  const connack: ConnackPacket = { type: "connack", sessionPresent, reasonCode: 0 };
  if (version === 5) {
    const limits = core.limits;
    const p: Properties = {};
    if (limits.receiveMaximum < 65_535) p.receiveMaximum = limits.receiveMaximum;
    if (limits.maximumQoS < 2) p.maximumQoS = limits.maximumQoS as 0 | 1;
    if (!limits.retainAvailable) p.retainAvailable = false;
    p.maximumPacketSize = limits.maxPacketSize;
    if (limits.topicAliasMaximum > 0) p.topicAliasMaximum = limits.topicAliasMaximum;
    p.wildcardSubscriptionAvailable = true;
    p.subscriptionIdentifierAvailable = true;
    p.sharedSubscriptionAvailable = true;
    if (assigned) p.assignedClientIdentifier = clientId;
    if (serverKeepAlive !== undefined) p.serverKeepAlive = serverKeepAlive;
    if (client.authMethod !== undefined) {
      p.authenticationMethod = client.authMethod;
      if (authData !== undefined) p.authenticationData = authData;
    }
    if (props?.requestResponseInformation === true && core.responseInformation !== undefined) {
      p.responseInformation = core.responseInformation;
    }
    connack.properties = p;
  }
  client.send(connack);
  if (core.logsInfo) {
    core.logger.info(
      {
        clientId,
        remote: client.conn.remoteAddress,
        transport: client.conn.transport,
        protocol: version === 5 ? "5.0" : version === 4 ? "3.1.1" : "3.1",
        clean: packet.clean,
        keepalive,
        username: client.username,
      },
      `client ${clientId} connected`,
    );
  }

  // What the session still owes: unacknowledged PUBLISH again with DUP, and PUBREL [MQTT-4.4.0-1].
  const owed = session.inflightSize > 0 ? session.inflight.values() : [];
  for (const d of owed) {
    if (d.state === "publish") {
      // Too large for the client's new Maximum Packet Size: as if delivered [MQTT-3.1.2-25].
      if (!client.sendDelivery(d, d.packetId, true)) {
        session.inflight.delete(d.packetId);
        if (session.stored) core.persistence?.deleteInflight(session, d.packetId);
      }
    } else client.send({ type: "pubrel", packetId: d.packetId });
  }
  client.pump();

  const pending = client.pending ?? [];
  client.pending = undefined;
  for (const p of pending) {
    if (client.state !== "connected") break;
    client.handle(p);
  }
}

/** Refuses the connection with CONNACK (5.0 reason code, or its 3.1.x return code) and closes. */
export function refuse(client: Client, reasonCode: number, why: string): void {
  const core = client.core;
  core.stats.connectionsRefused++;
  core.logger.warn(
    {
      clientId: client.label,
      remote: client.conn.remoteAddress,
      username: client.username,
      reasonCode,
    },
    `connection refused: ${why}`,
  );
  const code = client.version === 5 ? reasonCode : connackReturnCode(reasonCode);
  client.send({ type: "connack", sessionPresent: false, reasonCode: code });
  client.pending = undefined;
  client.close(`refused: ${why}`);
}
