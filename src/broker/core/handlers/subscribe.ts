/**
 * SUBSCRIBE (§3.8): per-filter checks answered in SUBACK, subscription
 * options and identifiers, replacing an identical subscription, shared
 * subscriptions, and the retained messages a new subscription receives.
 */
import {
  isValidTopicFilter,
  ProtocolError,
  parseSharedSubscription,
  protocolError,
  type QoS,
  ReasonCode,
  SubackFailure,
  type SubscribePacket,
} from "../../../protocol/index.js";
import type { Client } from "../client.js";
import type { Message } from "../message.js";
import type { Delivery } from "../session/queue.js";
import type { SessionSubscription } from "../session/session.js";
import { withinTopicLimits } from "../topic-limits.js";

export function handleSubscribe(client: Client, packet: SubscribePacket): void {
  const core = client.core;
  const session = client.session;
  if (session === null) return;
  const v5 = client.version === 5;
  const limits = core.limits;
  const subscriptionId = packet.properties?.subscriptionIdentifier;
  const reasonCodes: number[] = [];
  const retained: { sub: SessionSubscription; messages: Message[] }[] = [];
  const now = Date.now();

  // No Local on a shared subscription fails the whole packet [MQTT-3.8.3-4]: check before changing anything.
  for (const s of packet.subscriptions) {
    if (s.noLocal === true && s.topicFilter.startsWith("$share/")) {
      throw protocolError("MQTT-3.8.3-4", "No Local set on a shared subscription");
    }
  }
  for (const s of packet.subscriptions) {
    const filter = s.topicFilter;
    let shared: { group: string; filter: string } | undefined;
    try {
      shared = parseSharedSubscription(filter);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      reasonCodes.push(v5 ? ReasonCode.TopicFilterInvalid : SubackFailure);
      continue;
    }
    const topicFilter = shared?.filter ?? filter;
    if (shared !== undefined && s.noLocal === true) {
      // No Local on a Shared Subscription is a Protocol Error [MQTT-3.8.3-4].
      throw protocolError("MQTT-3.8.3-4", "No Local set on a shared subscription");
    }
    if (!isValidTopicFilter(topicFilter) || !withinTopicLimits(topicFilter, limits)) {
      reasonCodes.push(v5 ? ReasonCode.TopicFilterInvalid : SubackFailure);
      continue;
    }
    const existing = session.subscriptions.get(filter);
    if (existing === undefined && session.subscriptionCount >= limits.maxSubscriptionsPerClient) {
      reasonCodes.push(v5 ? ReasonCode.QuotaExceeded : SubackFailure);
      continue;
    }
    if (
      !core.authorizer.canSubscribe(
        { clientId: client.clientId, username: client.username },
        filter,
      )
    ) {
      core.logger.warn({ clientId: client.clientId, filter }, "subscribe denied");
      reasonCodes.push(v5 ? ReasonCode.NotAuthorized : SubackFailure);
      continue;
    }
    const qos = Math.min(s.qos, limits.maximumQoS) as QoS;
    const sub: SessionSubscription = {
      filter,
      topicFilter,
      group: shared?.group,
      options: {
        qos,
        noLocal: s.noLocal ?? false,
        retainAsPublished: s.retainAsPublished ?? false,
        retainHandling: s.retainHandling ?? 0,
      },
      subscriptionId,
    };
    // An identical filter replaces the existing subscription [MQTT-3.8.4-3].
    if (existing !== undefined) core.router.remove(session, existing);
    session.subscriptions.set(filter, sub);
    core.router.add(session, sub);
    reasonCodes.push(qos);
    // Retained messages: not for shared subscriptions (§4.8.2); Retain Handling 0 always, 1 only if new [MQTT-3.3.1-9], [MQTT-3.3.1-10], 2 never [MQTT-3.3.1-11].
    const rh = sub.options.retainHandling;
    if (
      shared === undefined &&
      limits.retainAvailable &&
      (rh === 0 || (rh === 1 && existing === undefined))
    ) {
      const messages = core.retained.match(topicFilter, now);
      if (messages.length > 0) retained.push({ sub, messages });
    }
  }

  const suback = { type: "suback", packetId: packet.packetId, reasonCodes } as const;
  if (session.stored) {
    // SUBACK once the subscription is durable: a client told it is subscribed, whose session a
    // crash then brings back without it, would miss messages silently. What follows (retained
    // and live messages) waits behind it.
    client.core.saveSession(session);
    client.ackAfterCommit(suback);
  } else client.send(suback);

  // Retained messages follow the SUBACK, with RETAIN set [MQTT-3.3.1-8], each only if the
  // client may read its topic (an ACL may grant `#` but read rights on part of the tree).
  // However many there are, they go out as the socket takes them (Client.deliverRetained).
  const deliveries: Delivery[] = [];
  for (const { sub, messages } of retained) {
    const subscriptionIds = sub.subscriptionId === undefined ? undefined : [sub.subscriptionId];
    for (const msg of messages) {
      if (sub.options.noLocal && msg.origin === client.clientId) continue;
      if (!core.mayRead(client, msg.topic)) continue;
      deliveries.push({
        msg,
        qos: Math.min(msg.qos, sub.options.qos) as QoS,
        retain: true,
        subscriptionIds,
      });
    }
  }
  client.deliverRetained(deliveries);
}
