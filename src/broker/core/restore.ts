/**
 * Recovery on start: rebuilds the core's sessions and retained messages from
 * the store, applying the time the broker was down to Session Expiry, Will
 * Delay and Message Expiry.
 *
 * Queues are not loaded: each session learns how many entries (and payload
 * bytes) its queue holds in the store, and its connection pages them in when
 * the client is back (`paging.ts`), dropping expired ones then. So a million
 * queued messages cost the heap nothing at start.
 */
import { parseSharedSubscription, type QoS } from "../../protocol/index.js";
import type { StoredSession } from "../store/index.js";
import type { BrokerCore } from "./broker-core.js";
import type { Message } from "./message.js";
import { messageFromStore, type Persistence } from "./persistence.js";
import { Session, type SessionSubscription } from "./session/session.js";

export async function restore(core: BrokerCore, persistence: Persistence): Promise<void> {
  const store = persistence.store;
  const now = Date.now();
  const messages = new Map<number, Message | null>();
  /** The message of a stored id, one object per id (null: gone or expired). */
  const message = async (id: number): Promise<Message | null> => {
    let m = messages.get(id);
    if (m === undefined) {
      const stored = await store.getMessage(id);
      m = stored === undefined ? null : messageFromStore(id, stored);
      messages.set(id, m);
    }
    return m;
  };

  // Retained messages first, so wills published below find them in place.
  let retained = 0;
  for (const { topic, messageId, message: stored } of await store.listRetained()) {
    if (stored.expiresAt !== 0 && stored.expiresAt <= now) {
      persistence.clearRetained(topic);
      continue;
    }
    // With its store id: a session that queues it later refers to the stored copy.
    if (core.retained.set(messageFromStore(messageId, stored))) retained++;
  }

  const restored: { session: Session; record: StoredSession }[] = [];
  let queued = 0;
  for (const record of await store.listSessions()) {
    const session = new Session(record.clientId, record.version);
    session.expiryInterval = record.expiryInterval;
    session.will = record.will;
    session.username = record.willUsername;
    session.stored = true;
    session.disconnectedAt = record.disconnectedAt === 0 ? now : record.disconnectedAt;
    for (const s of record.subscriptions) {
      const shared = parseSharedSubscription(s.filter);
      const sub: SessionSubscription = {
        filter: s.filter,
        topicFilter: shared?.filter ?? s.filter,
        group: shared?.group,
        options: {
          qos: s.qos,
          noLocal: s.noLocal,
          retainAsPublished: s.retainAsPublished,
          retainHandling: s.retainHandling,
        },
        subscriptionId: s.subscriptionId,
      };
      session.subscriptions.set(s.filter, sub);
      core.router.add(session, sub);
    }
    for (const f of await store.listInflight(record.clientId)) {
      const msg = await message(f.messageId);
      if (msg === null) {
        persistence.deleteInflight(session, f.packetId);
        continue;
      }
      // Kept even when expired: a message whose delivery started is completed [MQTT-4.3.3-7].
      session.inflight.set(f.packetId, {
        msg,
        qos: f.qos as QoS,
        retain: f.retain,
        subscriptionIds: f.subscriptionIds,
        packetId: f.packetId,
        state: f.state,
        storeOrder: f.order,
      });
      if (f.order >= persistence.nextOrder) persistence.nextOrder = f.order + 1;
    }
    for (const id of await store.listInboundQos2(record.clientId)) session.inboundQos2.add(id);
    const { length, bytes } = await store.queueSize(record.clientId);
    session.queue.stored = length;
    session.queue.storedBytes = bytes;
    queued += length;
    core.sessions.set(record.clientId, session);
    restored.push({ session, record });
  }

  // The clocks of the offline sessions run on from when their client went away.
  for (const { session } of restored) {
    const elapsed = Math.max(0, now - session.disconnectedAt);
    core.scheduleWill(session, elapsed);
    if (core.sessions.get(session.clientId) === session) core.scheduleExpiry(session, elapsed);
  }
  await persistence.commitSoon();
  core.logger.info(
    { sessions: core.sessions.size, queued, retained },
    `restored ${core.sessions.size} sessions, ${queued} queued messages, ${retained} retained messages`,
  );
}
