/** Writing a staged batch of the LMDB store in its transaction. */
import type { Batch } from "./lmdb-batch.js";
import {
  clientEnd,
  clientPart,
  decodeDelivery,
  decodeInflight,
  encodeDelivery,
  encodeInflight,
  encodeMessage,
  encodeSession,
  type FloorTuple,
  packetKey,
  queueKey,
  type RetainedTuple,
  retainedKey,
  u64,
} from "./lmdb-codec.js";
import type { Db, MetaDb, Tables } from "./lmdb-open.js";

const REMOVE_CHUNK = 1024;
/**
 * Queue entries of deleted sessions removed per transaction by default, at
 * most: 10-25 ms of the event loop per commit, however long the queues (a
 * 100,000-entry queue removed in one transaction blocked it for 0.4-1.2 s).
 */
export const QUEUE_DELETE_CHUNK = 1000;

/** What a write did about deleted sessions' queues. */
export interface WriteOutcome {
  /** Floors whose queue has no entry below them any more (their records are removed). */
  finished: FloorTuple[];
  /** Entries below a floor remain for later transactions. */
  more: boolean;
}

/**
 * Writes one batch; runs inside the write transaction. Reference counts are
 * worked out here from what is actually replaced and removed (see
 * `lmdb-batch.ts`); a message staged in the batch is written only if
 * something refers to it, and a stored message goes with its last reference.
 *
 * A deleted session's in-flight and inbound entries (at most 65,535 of each)
 * go at once; its queue entries, below the queue floor recorded in `floors`,
 * up to `deleteChunk` per transaction, this batch's deletions first (see
 * `lmdb.ts`, "Deleting a session").
 */
export function writeBatch(
  db: Tables,
  meta: MetaDb,
  batch: Batch,
  counters: [number, number],
  deleteChunk: number,
): WriteOutcome {
  const refs = new Map<number, number>();
  const bump = (id: number, by: number) => refs.set(id, (refs.get(id) ?? 0) + by);

  for (const [clientId, floor] of batch.cleared) {
    const client = clientPart(clientId);
    // A later deletion's floor is higher: it covers what an earlier one had left.
    db.floors.putSync(client, [clientId, floor] satisfies FloorTuple);
    const end = clientEnd(client);
    removeRange(db.inflight, client, end, Infinity, (v) => bump(decodeInflight(v).messageId, -1));
    removeRange(db.inbound, client, end, Infinity);
  }
  for (const [clientId, session] of batch.sessions) {
    const key = clientPart(clientId);
    if (session) db.sessions.putSync(key, encodeSession(session));
    else db.sessions.removeSync(key);
  }
  for (const [clientId, entries] of batch.queues) {
    const client = clientPart(clientId);
    for (const [seq, delivery] of entries) {
      const key = queueKey(client, seq);
      if (delivery) {
        // A seq is never reused: nothing to replace.
        db.queue.putSync(key, encodeDelivery(delivery));
        bump(delivery.messageId, 1);
      } else {
        const old = db.queue.get(key);
        if (old === undefined) continue;
        bump(decodeDelivery(old).messageId, -1);
        db.queue.removeSync(key);
      }
    }
  }
  for (const [clientId, entries] of batch.inflight) {
    const client = clientPart(clientId);
    for (const [packetId, entry] of entries) {
      const key = packetKey(client, packetId);
      const old = db.inflight.get(key);
      if (old !== undefined) bump(decodeInflight(old).messageId, -1);
      if (entry) {
        db.inflight.putSync(key, encodeInflight(entry));
        bump(entry.messageId, 1);
      } else if (old !== undefined) db.inflight.removeSync(key);
    }
  }
  for (const [clientId, entries] of batch.inbound) {
    const client = clientPart(clientId);
    for (const [packetId, present] of entries) {
      const key = packetKey(client, packetId);
      if (present) db.inbound.putSync(key, true);
      else db.inbound.removeSync(key);
    }
  }
  for (const [topic, id] of batch.retained) {
    const key = retainedKey(topic);
    const old = db.retained.get(key) as RetainedTuple | undefined;
    if (old !== undefined) bump(old[1], -1);
    if (id !== null) {
      db.retained.putSync(key, [topic, id] satisfies RetainedTuple);
      bump(id, 1);
    } else if (old !== undefined) db.retained.removeSync(key);
  }
  const outcome = deleteBelowFloors(db, batch, deleteChunk, (v) =>
    bump(decodeDelivery(v).messageId, -1),
  );
  for (const [id, delta] of refs) {
    const key = u64(id);
    const fresh = batch.messages.get(id);
    if (fresh !== undefined) {
      if (delta > 0) {
        db.messages.putSync(key, encodeMessage(fresh));
        db.refs.putSync(key, delta);
      }
      continue;
    }
    if (delta === 0) continue;
    const count = db.refs.get(key) as number | undefined;
    if (count === undefined) continue; // not stored: a reference to a message already dropped
    if (count + delta > 0) db.refs.putSync(key, count + delta);
    else {
      db.refs.removeSync(key);
      db.messages.removeSync(key);
    }
  }
  meta.putSync("counters", counters);
  return outcome;
}

/**
 * Removes up to `chunk` queue entries below the floors of deleted sessions
 * (this batch's deletions first: they are usually short and then gone in
 * this commit) and the floors with nothing left below them.
 */
function deleteBelowFloors(
  db: Tables,
  batch: Batch,
  chunk: number,
  each: (value: unknown) => void,
): WriteOutcome {
  const floors: [Buffer, FloorTuple][] = [];
  for (const [clientId, floor] of batch.cleared)
    floors.push([clientPart(clientId), [clientId, floor]]);
  for (const { key, value } of db.floors.getRange()) {
    const tuple = value as FloorTuple;
    if (!batch.cleared.has(tuple[0])) floors.push([Buffer.from(key), tuple]);
  }
  const finished: FloorTuple[] = [];
  let budget = chunk;
  for (const [client, tuple] of floors) {
    if (budget === 0) return { finished, more: true };
    const removed = removeRange(db.queue, client, queueKey(client, tuple[1]), budget, each);
    if (removed === budget) return { finished, more: true }; // perhaps more below this floor
    budget -= removed;
    db.floors.removeSync(client);
    finished.push(tuple);
  }
  return { finished, more: false };
}

/**
 * Removes the keys in [start, end) from a table, at most `limit`, in chunks
 * (inside the write transaction); returns how many it removed.
 */
function removeRange(
  db: Db,
  start: Buffer,
  end: Buffer,
  limit: number,
  each?: (value: unknown) => void,
): number {
  let removed = 0;
  while (removed < limit) {
    const chunk = Math.min(REMOVE_CHUNK, limit - removed);
    const keys: Buffer[] = [];
    for (const { key, value } of db.getRange({ start, end, limit: chunk })) {
      each?.(value);
      keys.push(Buffer.from(key));
    }
    for (const key of keys) db.removeSync(key);
    removed += keys.length;
    if (keys.length < chunk) break;
  }
  return removed;
}
