/**
 * PUBLISH from a client (§3.3): topic alias, limits, authorization, message
 * expiry, retained messages, routing, and the QoS 1 / QoS 2 answer.
 */
import {
  isValidTopicName,
  ProtocolError,
  type PublishPacket,
  protocolError,
  ReasonCode,
} from "../../../protocol/index.js";
import type { Client } from "../client.js";
import { forwardedProperties, type Message } from "../message.js";
import { withinTopicLimits } from "../topic-limits.js";

export function handlePublish(client: Client, packet: PublishPacket): void {
  const core = client.core;
  const session = client.session;
  if (session === null) return;
  const v5 = client.version === 5;
  let topic = packet.topic;
  const props = packet.properties;

  // Topic aliases (§3.3.2.3.4).
  const alias = props?.topicAlias;
  if (alias !== undefined) {
    if (alias > core.limits.topicAliasMaximum) {
      throw new ProtocolError(
        "PROTOCOL_ERROR",
        ReasonCode.TopicAliasInvalid,
        "§3.3.2.3.4",
        `topic alias ${alias} exceeds the maximum ${core.limits.topicAliasMaximum}`,
      );
    }
    if (topic === "") {
      const known = client.aliases?.get(alias);
      if (known === undefined) throw protocolError("§3.3.2.3.4", `unknown topic alias ${alias}`);
      topic = known;
    } else {
      client.aliases ??= new Map();
      client.aliases.set(alias, topic);
    }
  }
  if (props?.subscriptionIdentifiers !== undefined) {
    // A client must not send Subscription Identifiers in PUBLISH [MQTT-3.3.4-6].
    throw protocolError("MQTT-3.3.4-6", "PUBLISH from a client carries a Subscription Identifier");
  }

  const limits = core.limits;
  if (packet.qos > limits.maximumQoS) {
    // [MQTT-3.2.2-11]: QoS above Maximum QoS → DISCONNECT 0x9B.
    throw new ProtocolError(
      "PROTOCOL_ERROR",
      ReasonCode.QoSNotSupported,
      "MQTT-3.2.2-11",
      `QoS ${packet.qos} exceeds the maximum ${limits.maximumQoS}`,
    );
  }
  if (packet.retain && !limits.retainAvailable) {
    throw new ProtocolError(
      "PROTOCOL_ERROR",
      ReasonCode.RetainNotSupported,
      "MQTT-3.2.2-14",
      "retained messages are not supported",
    );
  }
  if (!withinTopicLimits(topic, limits) || !isValidTopicName(topic)) {
    throw new ProtocolError(
      "TOPIC_NAME_INVALID",
      ReasonCode.TopicNameInvalid,
      "§4.7",
      `topic ${JSON.stringify(topic.slice(0, 64))} exceeds the broker's topic limits`,
    );
  }

  const packetId = packet.packetId ?? 0;
  if (packet.qos === 2) {
    if (session.inboundQos2.has(packetId)) {
      // A re-sent QoS 2 PUBLISH whose PUBREL has not come yet: answer again, deliver nothing (§4.3.3).
      client.ackAfterCommit({ type: "pubrec", packetId });
      return;
    }
  }
  if (
    packet.qos > 0 &&
    (packet.qos === 2 || client.qos1AwaitingAck > 0) &&
    session.inboundQos2Size + client.qos1AwaitingAck >= limits.receiveMaximum
  ) {
    // More unacknowledged QoS 1/2 than the Receive Maximum we announced (§3.3.4): QoS 2 awaiting
    // PUBREL, and QoS 1 whose PUBACK waits for a store commit (without a store there are none).
    throw new ProtocolError(
      "PROTOCOL_ERROR",
      ReasonCode.ReceiveMaximumExceeded,
      "MQTT-3.3.4-7",
      "receive maximum exceeded",
    );
  }

  // Clients may not publish into the broker's own topics.
  const reserved = topic.startsWith("$SYS") || topic.startsWith("$share/");
  const allowed =
    !reserved &&
    core.authorizer.canPublish({ clientId: client.clientId, username: client.username }, topic);
  let reasonCode = 0;
  if (!allowed) {
    reasonCode = ReasonCode.NotAuthorized;
    core.stats.publishDenied++;
    core.logger.warn({ clientId: client.clientId, topic }, "publish denied");
  } else if (packet.payload.length > limits.maxPayloadSize) {
    // Mosquitto's message_size_limit: dropped and counted; a 5.0 client learns it from the
    // acknowledgement (0x97 Quota exceeded: PUBACK/PUBREC have no packet-size code).
    reasonCode = ReasonCode.QuotaExceeded;
    core.stats.drop("too_large");
    core.logger.warn(
      { clientId: client.clientId, topic, bytes: packet.payload.length },
      `publish dropped: payload larger than ${limits.maxPayloadSize} bytes`,
    );
  } else {
    const expiry = props?.messageExpiryInterval;
    const msg: Message = {
      topic,
      payload: packet.payload,
      qos: packet.qos,
      retain: packet.retain,
      properties: v5 ? forwardedProperties(props) : undefined,
      expiresAt: expiry === undefined ? 0 : Date.now() + expiry * 1000,
      origin: client.clientId,
    };
    // A retained message with an empty payload deletes the retained one and is not stored [MQTT-3.3.1-6], [MQTT-3.3.1-7].
    if (packet.retain) core.storeRetained(msg);
    const delivered = core.publish(msg);
    if (delivered === 0 && v5) reasonCode = ReasonCode.NoMatchingSubscribers;
  }

  // With a store, the acknowledgement waits for the commit of what this PUBLISH staged (the
  // message, its queue and in-flight entries, the retained topic, the inbound QoS 2 id).
  if (packet.qos === 1) {
    // 3.1.x has no way to refuse: the message is acknowledged and dropped, as Mosquitto does
    // ([MQTT-3.3.5-2] of 3.1.1: a positive acknowledgement or a close).
    const puback = v5
      ? ({ type: "puback", packetId, reasonCode } as const)
      : ({ type: "puback", packetId } as const);
    if (core.persistence === undefined) client.send(puback);
    else {
      client.qos1AwaitingAck++;
      client.ackAfterCommit(puback, () => {
        client.qos1AwaitingAck--;
      });
    }
  } else if (packet.qos === 2) {
    if (reasonCode < 0x80) {
      session.inboundQos2.add(packetId);
      // Method B [MQTT-4.3.3-?]: the id is kept until PUBREL, across a restart for a stored session.
      if (session.stored) core.persistence?.addInboundQos2(session, packetId);
    }
    client.ackAfterCommit(
      v5 ? { type: "pubrec", packetId, reasonCode } : { type: "pubrec", packetId },
    );
  }
}
