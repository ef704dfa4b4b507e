/**
 * Paging of stored queues: the unloaded tail of a stored session's queue
 * (see `session/queue.ts`) is read from the store a page at a time while its
 * client is connected and taking messages, so the heap holds at most about
 * a page per connected session however much is queued on disk.
 */
import type { QoS } from "../../protocol/index.js";
import type { BrokerCore } from "./broker-core.js";
import { messageFromStore, type Persistence } from "./persistence.js";
import type { Session } from "./session/session.js";

/** Entries read from the store at a time. */
export const QUEUE_PAGE = 500;

/**
 * Loaded entries of a stored session's queue beyond which new ones stay in
 * the store only (a connected client that is not keeping up).
 */
export const QUEUE_LOADED_MAX = 1000;

/**
 * Starts reading the next page of `session`'s unloaded queue tail unless one
 * is being read, nothing is unloaded, or enough is loaded; the client's
 * connection is pumped when the page is in.
 */
export function pageIn(core: BrokerCore, persistence: Persistence, session: Session): void {
  const q = session.queue;
  if (q.loading || !q.hasTail || q.loaded >= QUEUE_PAGE / 2 || !session.stored) return;
  q.loading = true;
  readPage(core, persistence, session).then(
    () => {
      q.loading = false;
      session.owner?.pump();
    },
    (err: unknown) => {
      q.loading = false;
      core.logger.error(
        { clientId: session.clientId, err },
        "reading queued messages from the store failed; they stay queued",
      );
    },
  );
}

async function readPage(
  core: BrokerCore,
  persistence: Persistence,
  session: Session,
): Promise<void> {
  const q = session.queue;
  const store = persistence.store;
  const clientId = session.clientId;
  // Unloaded entries now: the read below sees all of them (up to a page), none added later.
  const unloaded = q.stored + q.dropHead;
  const entries = await store.readQueue(clientId, q.cursor, QUEUE_PAGE);
  const messages = await Promise.all(entries.map((e) => store.getMessage(e.delivery.messageId)));
  // The session ended, or was replaced by a clean start, while reading: its entries are gone.
  if (!session.stored || core.sessions.get(clientId) !== session) return;
  const now = Date.now();
  let dequeued = 0;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    const stored = messages[i];
    const bytes = entry.delivery.bytes ?? stored?.payload.length ?? 0;
    q.cursor = entry.seq;
    if (q.dropHead > 0) {
      // Dropped (drop-oldest, already counted) while it was not loaded.
      q.dropHead--;
      store.dequeue(clientId, entry.seq);
      dequeued++;
      continue;
    }
    q.takeStored(bytes);
    if (stored === undefined) {
      store.dequeue(clientId, entry.seq);
      dequeued++;
      continue;
    }
    if (stored.expiresAt !== 0 && stored.expiresAt <= now) {
      store.dequeue(clientId, entry.seq);
      dequeued++;
      core.stats.drop("expired");
      continue;
    }
    q.push({
      msg: messageFromStore(entry.delivery.messageId, stored),
      qos: entry.delivery.qos as QoS,
      retain: entry.delivery.retain,
      subscriptionIds: entry.delivery.subscriptionIds,
      storeSeq: entry.seq,
    });
  }
  if (entries.length < QUEUE_PAGE && entries.length < unloaded) {
    // The counts said more than the store holds: trust the store (keep only what came since).
    const since = Math.max(0, q.stored + q.dropHead - (unloaded - entries.length));
    q.dropHead = Math.min(q.dropHead, since);
    q.stored = since - q.dropHead;
    if (q.stored === 0) q.storedBytes = 0;
  }
  if (dequeued > 0) persistence.commitSoon();
}

/**
 * The client of a stored session went away: its loaded queue entries are
 * dropped from memory (they are all in the store) and read again when it is
 * back, so offline sessions cost the heap nothing for their queues.
 */
export function unloadQueue(session: Session): void {
  const q = session.queue;
  if (!session.stored || q.loading || q.dropHead > 0 || q.loaded === 0) return;
  let first: number | undefined;
  for (const d of q) {
    // Entries not in the store, or with a shared-group link the store does not keep, stay loaded.
    if (d.storeSeq === undefined || d.group !== undefined) return;
    first ??= d.storeSeq;
  }
  if (first === undefined) return;
  q.unload(first - 1);
}
