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
  packetKey,
  queueKey,
  type RetainedTuple,
  retainedKey,
  u64,
} from "./lmdb-codec.js";
import type { Db, MetaDb, Tables } from "./lmdb-open.js";

const REMOVE_CHUNK = 1024;

/**
 * Writes one batch; runs inside the write transaction. Reference counts are
 * worked out here from what is actually replaced and removed (see
 * `lmdb-batch.ts`); a message staged in the batch is written only if
 * something refers to it, and a stored message goes with its last reference.
 */
export function writeBatch(
  db: Tables,
  meta: MetaDb,
  batch: Batch,
  counters: [number, number],
): void {
  const refs = new Map<number, number>();
  const bump = (id: number, by: number) => refs.set(id, (refs.get(id) ?? 0) + by);

  for (const clientId of batch.cleared) {
    const client = clientPart(clientId);
    removeRange(db.queue, client, (v) => bump(decodeDelivery(v).messageId, -1));
    removeRange(db.inflight, client, (v) => bump(decodeInflight(v).messageId, -1));
    removeRange(db.inbound, client);
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
}

/** Removes every key of one client from a table, in chunks (inside the write transaction). */
function removeRange(db: Db, client: Buffer, each?: (value: unknown) => void): void {
  const end = clientEnd(client);
  for (;;) {
    const keys: Buffer[] = [];
    for (const { key, value } of db.getRange({ start: client, end, limit: REMOVE_CHUNK })) {
      each?.(value);
      keys.push(Buffer.from(key));
    }
    for (const key of keys) db.removeSync(key);
    if (keys.length < REMOVE_CHUNK) return;
  }
}
